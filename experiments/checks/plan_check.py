"""Live-plan check on the default world and every preset, against the plan the product used to make.

``python -m experiments.checks.plan_check [--people 600] [--seed 11] [--out DIR]``

For every world: synthesise it, build the feature store, mine bundles, fit a model
(``repeat``), export a bundle (with the live response model) and plan a live for every
group. Per world, over all groups, the coherent plan (``/live/plan``) is compared with the
former composition computed in the same run on the same bundle (the group ranking's top
theme items; the bundles table or co-purchase fallback seeded with them; the top host of
host_scores / tag overlap):

- plans listing two variants of one product (the generator's own variants: label + origin +
  base + pack, independent of the serving's normaliser),
- bundles with an item off the theme, and explicit "no bundle" notes,
- plans whose host's tags meet the theme (host tag = a theme word or speaks to one),
- the response model's backtest MAE of per-live view and 接龙 rates against the naive
  forecast (every later live at the training lives' mean rates), and the mean predicted
  rates of the plans' audiences.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.build import run as build_features
from features.matrix import Interactions
from features.synth import (
    _CATALOGUE,
    PRESETS,
    VARIANT_LABELS,
    VARIANT_ORIGINS,
    generate,
    preset_config,
    write_world,
)
from serving import matching, ranking
from serving import schemas as s
from serving.artifacts import load_bundle
from serving.engine import Engine
from training.bundles import mine_bundles
from training.export import ExportVariant, _interest_keywords, export_bundle
from training.hosts import DEFAULT_TAG_MAP
from training.models import build_model
from training.settings import Settings

WORLDS = ("default", *PRESETS)
BASES = sorted((ln.split("|")[0].lstrip("*") for ln in _CATALOGUE.strip().splitlines()), key=len)
PREFIXES = frozenset(
    lab + org
    for lab, _, _ in VARIANT_LABELS
    for org in ("", *{o for v in VARIANT_ORIGINS.values() for o in v})
)


def generator_product(name: str) -> str:
    """The catalogue base a synthetic SKU is a variant of (label + origin + base + pack + model no.)."""
    n = re.sub(r" \d+号款$", "", name).split("·")[0]
    hits = [b for b in BASES if n.endswith(b) and n[: len(n) - len(b)] in PREFIXES]
    if not hits:
        raise ValueError(f"{name!r} is no variant of a catalogue base")
    return max(hits, key=len)


def build_engine(root: Path, world: str, people: int, seed: int, model: str = "repeat") -> Engine:
    """World -> feature store -> mined bundles -> fitted model -> bundle (+ response model) -> engine."""
    months = {} if "months" in PRESETS.get(world, {}) else {"months": 3}
    cfg = preset_config(world, **months, people=people, items=300, seed=seed)
    write_world(generate(cfg), root)
    settings = Settings(work_dir=root / "work", seed=seed)
    features = root / "features"
    build_features(root / "data", features, settings, progress=False, use_store=False)
    matching_dir = root / "matching"
    matching_dir.mkdir(exist_ok=True)
    baskets = pd.read_parquet(features / "baskets.parquet")
    items = pd.read_parquet(features / "items.parquet")
    mine_bundles(baskets, items).to_parquet(matching_dir / "bundles.parquet", index=False)
    fitted = build_model(model).fit(Interactions.load(features / "matrix"))
    path = export_bundle(
        features,
        root / "bundle",
        {"champion": ExportVariant(fitted)},
        [matching_dir],
        _interest_keywords(settings),
        seed=seed,
    )
    return Engine(settings, bundle=load_bundle(path))


def host_meets_theme(host_tags: list[str], theme: dict[str, Any]) -> bool:
    """A host tag is a theme word (keyword or category) or speaks to one (the host tag map)."""
    words = {w.lower() for w in [*theme["keywords"], *theme["categories"]]}
    for t in (x.strip().lower() for x in host_tags):
        spoken = {v.split(":", 1)[1] for v in DEFAULT_TAG_MAP.get(t, [])}
        if t in words or spoken & words:
            return True
    return False


def _has_variants(names: list[str]) -> bool:
    products = [generator_product(n) for n in names]
    return len(set(products)) < len(products)


def former_plan(engine: Engine, gid: str, theme: matching.Theme, k: int = 8) -> dict[str, Any]:
    """The composition the product used before: top-k theme items, seeded bundle, top group host."""
    b = engine.bundle
    assert b is not None
    g, members = b.group_index[gid], b.members(b.group_index[gid])
    variant = b.variants["champion"]
    allowed = np.zeros(b.n_items, bool)
    allowed[theme.item_set(b)] = True
    pool = engine.serving.group_pool
    r = ranking.rank_group(b, variant, members, k, "fair", "exclude", allowed, pool)
    forbidden = set(np.flatnonzero(ranking.member_conflicts(b, members)).tolist())
    rows, _ = matching.bundles(b, variant, 1, None, theme.name, r.items[:3], None, forbidden)
    if not rows:
        rows, _ = matching.bundles(b, variant, 1, None, None, r.items[:3], None, forbidden)
    hosts, _ = matching.hosts_for_group(b, g, members, 1)
    names = b.items["name"].astype(str).to_numpy()
    tags = b.hosts.set_index("host_id")["tags"].astype(str) if b.hosts is not None else None
    return {
        "items": [str(names[i]) for i in r.items.tolist()],
        "bundle": [i["item_id"] for i in rows[0]["items"]] if rows else None,
        "host_tags": tags.get(str(hosts[0]["host_id"]), "").split(";")
        if hosts and tags is not None
        else [],
    }


def _on_theme(ids: list[str], cat: pd.Series, cats: set[str]) -> bool:
    return all(cat[i] in cats for i in ids)


def check_world(engine: Engine) -> dict[str, float]:
    """Per world: the coherent plan against the former composition over every group."""
    b = engine.bundle
    assert b is not None
    cat = b.items.set_index("item_id")["category"].astype(str)
    stats: dict[str, float] = {"groups": 0.0}
    add = lambda key, v: stats.__setitem__(key, stats.get(key, 0.0) + float(v))  # noqa: E731
    rates: list[tuple[float, float]] = []
    for gid in b.groups["group_id"].astype(str).tolist():  # a few dozen groups
        p = engine.live_plan(s.LivePlanRequest(group_id=gid, k=8, audience_n=120)).model_dump()
        t = p["theme"]
        theme = matching.Theme(
            name=t["name"],
            categories=[int(np.flatnonzero(b.categories == c)[0]) for c in t["categories"]],
            keywords=list(t["keywords"]),
        )
        old = former_plan(engine, gid, theme)
        cats = set(t["categories"])
        add("groups", 1)
        add("variants_former", _has_variants(old["items"]))
        add("variants_plan", _has_variants([i["name"] for i in p["items"]]))
        add(
            "bundle_off_theme_former",
            old["bundle"] is not None and not _on_theme(old["bundle"], cat, cats),
        )
        ids = [i["item_id"] for i in p["bundle"]["items"]] if p["bundle"] else []
        add("bundle_off_theme_plan", bool(ids) and not _on_theme(ids, cat, cats))
        add("bundle_on_theme_plan", bool(ids) and _on_theme(ids, cat, cats))
        add("no_bundle_note_plan", p["bundle"] is None and p["bundle_note"].startswith("no bundle"))
        add("host_meets_former", host_meets_theme(old["host_tags"], t))
        host = p["host"] or {}
        add("host_meets_plan", host_meets_theme(str(host.get("tags", "")).split(";"), t))
        if p["funnel"]:
            rates.append((p["funnel"]["view_rate"]["predicted"], p["funnel"]["jielong_rate"]["predicted"]))  # fmt: skip
    spec = b.manifest.get("response_model") or {}
    bt = spec.get("backtest") or {}
    stats["backtest_view_mae"] = float(bt.get("view_rate_mae", np.nan))
    stats["backtest_jielong_mae"] = float(bt.get("jielong_rate_mae", np.nan))
    stats["naive_view_mae"] = float(bt.get("view_rate_mae_naive", np.nan))
    stats["naive_jielong_mae"] = float(bt.get("jielong_rate_mae_naive", np.nan))
    stats["pred_view_rate"] = float(np.mean([r[0] for r in rates])) if rates else np.nan
    stats["pred_jielong_rate"] = float(np.mean([r[1] for r in rates])) if rates else np.nan
    return stats


def to_markdown(rows: dict[str, dict[str, float]]) -> str:
    """One line per world: former vs plan."""
    lines = [
        "| world | groups | plans with 2 variants of a product (former / plan) | bundles off theme (former / plan) | plan: on-theme bundle / 'no bundle' note | host tags meet theme (former / plan) | per-live MAE, view rate (model / naive) | per-live MAE, 接龙 rate (model / naive) | predicted view / 接龙 rate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w, r in rows.items():
        n = int(r["groups"])
        lines.append(
            f"| {w} | {n} | {r['variants_former']:.0f} / {r['variants_plan']:.0f} "
            f"| {r['bundle_off_theme_former']:.0f} / {r['bundle_off_theme_plan']:.0f} "
            f"| {r['bundle_on_theme_plan']:.0f} / {r['no_bundle_note_plan']:.0f} "
            f"| {r['host_meets_former']:.0f} / {r['host_meets_plan']:.0f} "
            f"| {r['backtest_view_mae']:.3f} / {r['naive_view_mae']:.3f} "
            f"| {r['backtest_jielong_mae']:.3f} / {r['naive_jielong_mae']:.3f} "
            f"| {r['pred_view_rate']:.1%} / {r['pred_jielong_rate']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m experiments.checks.plan_check``."""
    p = argparse.ArgumentParser(prog="python -m experiments.checks.plan_check", description=__doc__)
    p.add_argument("--people", type=int, default=600)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--worlds", default=",".join(WORLDS), help="comma-separated world names")
    p.add_argument("--out", type=Path, default=None, help="write plan_check.md here")
    args = p.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="linli-plan-check-") as tmp:
        for w in args.worlds.split(","):
            if w not in WORLDS:
                print(
                    f"plan_check: unknown world {w!r}; known: {', '.join(WORLDS)}", file=sys.stderr
                )
                return 2
            print(f"[{w}] building a {args.people}-person world (seed {args.seed}) ...", flush=True)
            rows[w] = check_world(build_engine(Path(tmp) / w, w, args.people, args.seed))
    md = to_markdown(rows)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "plan_check.md").write_text(md, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
