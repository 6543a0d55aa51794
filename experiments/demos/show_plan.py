"""Print a live plan (the JSON of ``/live/plan``, read from stdin or a file) as readable text.

``curl -s -X POST localhost:3000/live/plan -H 'content-type: application/json' \\
  -d '{"group_id": "G00001", "audience_n": 120}' | python -m experiments.demos.show_plan``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _rate(r: dict[str, Any]) -> str:
    band = f" ({r['low']:.0%}-{r['high']:.0%})" if "low" in r else ""
    return f"{r['predicted']:.0%}{band}"


def _count(c: dict[str, Any]) -> str:
    band = f" ({c['low']:.0f}-{c['high']:.0f})" if "low" in c else ""
    return f"{c['predicted']:.0f}{band}"


def render(p: dict[str, Any]) -> str:
    """The plan as lines of text: theme, items, bundle, host, audience, funnel, notes."""
    t = p["theme"]
    out = [f"Live plan for {p['group_id']} · theme: {t['name']}"]
    out.append("  items (one per product):")
    out += [f"    - {i['name']}  ¥{i['price']}  [{i['reason']}]" for i in p["items"]]
    b = p.get("bundle")
    if b:
        names = " + ".join(i["name"] for i in b["items"])
        out.append(
            f"  bundle: {names}  ¥{b.get('price')}  (lift {b.get('lift', 0):.2f}; {b.get('source', '')})"
        )
    else:
        out.append(f"  bundle: {p.get('bundle_note')}")
    h = p.get("host")
    if h:
        out.append(f"  host: {h['name']} ({h['tags']}) — {h['reasons']}")
    c = p.get("audience_counts", {})
    out.append(
        f"  audience: {c.get('total', len(p['audience']))} people: {c.get('in_group', '?')} of the "
        f"group's members first, then {c.get('invitees', '?')} invitees"
    )
    f = p.get("funnel")
    if f:
        out.append(
            f"  funnel: {f['invited']} invited -> {_count(f['viewers'])} viewers "
            f"(view rate {_rate(f['view_rate'])}) -> {_count(f['jielong_orders'])} 接龙 "
            f"(rate {_rate(f['jielong_rate'])}) -> expected order value "
            f"¥{f['expected_order_value_yuan']:,.0f} (avg order ¥{f['avg_order_yuan']})"
        )
        m = f["model"]
        out.append(
            f"          response model: {m['family']}, trained on {m['trained_on_lives']} lives; "
            f"backtest on {m['backtest_lives']} later lives: MAE view {m['backtest_view_rate_mae']} "
            f"(naive {m.get('naive_view_rate_mae')}), 接龙 {m['backtest_jielong_rate_mae']} "
            f"(naive {m.get('naive_jielong_rate_mae')}); interval: {f['interval']}"
        )
    out += [f"  note: {n}" for n in p.get("notes", [])]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m experiments.demos.show_plan [PLAN.json]`` (stdin when no file)."""
    args = sys.argv[1:] if argv is None else argv
    text = Path(args[0]).read_text(encoding="utf-8") if args else sys.stdin.read()
    try:
        plan = json.loads(text)
        print(render(plan))
    except (ValueError, KeyError) as exc:
        print(f"show_plan: not a live plan: {exc}; got: {text[:200]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
