"""Offline A/B: champion vs challenger on the same holdout, per-user metrics, paired bootstrap CIs.

``linli ab --features DIR [--champion alias:champion] --challenger model:als [--challenger-param factors=64]``

A *variant* is a registered version (``alias:champion``, ``version:3``) or a config
(``model:KIND`` plus ``--champion-param`` / ``--challenger-param key=value``). Both are
scored on one holdout fold of the feature store (``--holdout temporal`` (default) or
``next-basket``, the folds of ``linli train``):

- a config is fit on the fold's training part (``fit``);
- a registered version is scored as it is (``frozen``) when the data it was trained on
  ended before the holdout cut: it never saw the holdout, so the comparison is "the
  model that serves now" against the challenger. Otherwise (a next-basket fold, or a
  version trained on the holdout period) its config is refit on the fold (``refit``),
  so that neither side has seen the truth. ``--mode frozen|refit`` forces one.
  A frozen model scores the users it knows; the others get the fold's popular items,
  as the server's fallback gives them.

Per user: recall, NDCG, MAP, precision and hit rate at k = 5, 10, 20
(:mod:`training.evaluation.metrics`). For each metric the difference of the means
(challenger - champion) gets a paired bootstrap confidence interval and a two-sided
bootstrap p-value (users resampled with replacement, one draw shared by both variants
and every metric), overall and per segment: the discovered segments when
``segments.parquet`` sits in ``<features>/../matching`` (``linli segments``), else the
value tiers of the tag rules (``--segments tier|history|FILE`` chooses).

MLflow: one parent run (tag ``linli.run_type=ab``) with the differences, their CIs and
p-values, the table (``ab_table.csv``) and the per-segment difference plot; one child run
per variant (``linli.run_type=ab-variant``, ``linli.ab.variant=champion|challenger``) with
the same metric names, its config and its per-user values. Tick the two child runs and
press *Compare*: the MLflow UI shows them side by side.

The comparison itself is :mod:`training.evaluation.compare`; this module writes, plots,
logs and prints it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import ab_verdict
from features.cli_parser import LinliParser, existing_dir, one_line
from features.errors import LinliInputError
from features.progress import Steps
from training.evaluation.compare import (
    ALL,
    CHALLENGER,
    CHAMPION,
    DEFAULT_METRICS,
    ABResult,
    VariantResult,
    VariantSpec,
    run_ab,
)
from training.mlflow_layout import version_label
from training.settings import Settings, load_settings

log = logging.getLogger("linli.ab")

TAG_AB_ID = "linli.ab.id"
TAG_AB_VARIANT = "linli.ab.variant"
TAG_AB_WINNER, TAG_AB_VERDICT = ab_verdict.TAG_AB_WINNER, ab_verdict.TAG_AB_VERDICT


# -- plots and logging (I/O) ---------------------------------------------------------------------------
def plot_segment_diff(
    table: pd.DataFrame, metric: str, path: Path | str, alpha: float = 0.05
) -> Path:
    """Forest plot: the difference of ``metric`` with its CI, overall and per segment."""
    from experiments.plots import pyplot, save

    plt = pyplot()
    t = table[table["metric"] == metric].copy()
    t = pd.concat([t[t["segment"] == ALL], t[t["segment"] != ALL].sort_values("diff")])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(t) + 1.6))
    y = np.arange(len(t))[::-1]
    sig = (t["ci_low"] > 0) | (t["ci_high"] < 0)
    colors = np.where(t["diff"] > 0, "#38a169", "#e53e3e")
    colors = np.where(sig, colors, "#718096")
    err = np.vstack(
        [(t["diff"] - t["ci_low"]).clip(lower=0), (t["ci_high"] - t["diff"]).clip(lower=0)]
    )
    err = np.nan_to_num(err)
    ax.errorbar(t["diff"], y, xerr=err, fmt="none", ecolor="#a0aec0", elinewidth=2, capsize=3)
    ax.scatter(t["diff"], y, c=colors, zorder=3, s=36)
    ax.axvline(0, color="#2d3748", lw=1)
    ax.set_yticks(y, [f"{s} (n={n:,})" for s, n in zip(t["segment"], t["n_users"], strict=True)])
    ax.set_xlabel(f"challenger − champion, {metric} (absolute difference of per-user means)")
    ax.set_ylabel("segment (users evaluated)")
    ax.set_title(f"Offline A/B by segment: {metric}, {100 * (1 - alpha):.0f}% paired bootstrap CI")
    return save(fig, path)


def _slug(text: str) -> str:
    """A metric-name-safe form of a segment name."""
    s = re.sub(r"[^0-9A-Za-z_.-]+", "_", text).strip("_")
    return s[:60] or "segment"


def segment_slugs(names: Sequence[str]) -> dict[str, str]:
    """Unique metric-safe slugs for segment names (``tier_gold``, ``fitness_light_meals``, ...)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for i, name in enumerate(sorted(set(names))):
        slug = _slug(name)
        if slug in used or slug == "segment":
            slug = f"{slug}_{i}"
        used.add(slug)
        out[name] = slug
    return out


def write_outputs(result: ABResult, out: Path) -> list[Path]:
    """``ab_table.csv``, ``ab_summary.json`` and one difference plot per metric under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "ab_table.csv", out / "ab_summary.json"]
    result.table.to_csv(files[0], index=False)
    summary = {
        "config": result.config,
        "holdout": result.fold_info,
        "champion": {
            "kind": result.champion.kind,
            "mode": result.champion.mode,
            **result.champion.info,
        },
        "challenger": {
            "kind": result.challenger.kind,
            "mode": result.challenger.mode,
            **result.challenger.info,
        },
        "overall": result.table[result.table["segment"] == ALL].to_dict("records"),
        "seconds": result.seconds,
    }
    files[1].write_text(
        json.dumps(summary, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    for metric in result.config["metrics"][:2]:
        files.append(
            plot_segment_diff(
                result.table, metric, out / f"segment_diff_{metric}.png", result.config["alpha"]
            )
        )
    return files


def comparison_metrics(result: ABResult, slugs: dict[str, str]) -> dict[str, float]:
    """The parent run's metrics: both means, the difference, its CI and p-value per metric;
    the lead metric's difference per segment; users and seconds."""
    overall = result.table[result.table["segment"] == ALL]
    main = result.config["metrics"][0]
    m: dict[str, float] = {}
    for r in overall.to_dict("records"):
        name = r["metric"]
        m |= {
            f"{CHAMPION}.{name}": r[CHAMPION],
            f"{CHALLENGER}.{name}": r[CHALLENGER],
            f"diff.{name}": r["diff"],
            f"diff.{name}.ci_low": r["ci_low"],
            f"diff.{name}.ci_high": r["ci_high"],
            f"diff.{name}.p_value": r["p_value"],
        }
    for r in result.table[
        (result.table["metric"] == main) & (result.table["segment"] != ALL)
    ].to_dict("records"):
        m[f"seg.{slugs[str(r['segment'])]}.diff.{main}"] = float(r["diff"])
    return {**m, "n_users": float(overall["n_users"].max()), "seconds": result.seconds}


def verdict(result: ABResult) -> dict[str, Any]:
    """Which variant wins on the lead metric, by how much, with its CI (a CI that holds 0
    is no winner): ``winner``, ``text`` and the numbers."""
    main = result.config["metrics"][0]
    d = result.row(main)
    return ab_verdict.verdict(
        main,
        float(d["diff"]),
        float(d["ci_low"]),
        float(d["ci_high"]),
        float(d[CHAMPION]),
        float(result.config.get("alpha", 0.05)),
    )


def variant_label(v: VariantResult) -> str:
    """``blend v3 @champion`` for a registered version, the kind for a config."""
    alias = v.info.get("alias")
    return version_label(v.kind, v.info.get("version") or None, [alias] if alias else [])


def run_note(result: ABResult, ab_id: str) -> str:
    """The parent run's note: what was compared, the lead metric's difference, how to compare."""
    a, b, main = result.champion, result.challenger, result.config["metrics"][0]
    d = result.row(main)
    return (
        f"**Offline A/B** {result.config['champion']} ({a.kind}, {a.mode}) vs "
        f"{result.config['challenger']} ({b.kind}, {b.mode}) on the "
        f"{result.fold_info.get('split')} holdout ({int(d['n_users']):,} users).\n\n"
        f"{main}: {d[CHAMPION]:.4f} -> {d[CHALLENGER]:.4f}, difference {d['diff']:+.4f} "
        f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}], p = {d['p_value']:.3f}.\n\n"
        f"Compare the variants: filter `tags.{TAG_AB_ID} = '{ab_id}'`, tick both child "
        "runs, press Compare."
    )


def _log_variant(
    v: VariantResult,
    result: ABResult,
    slugs: dict[str, str],
    out: Path,
    ab_id: str,
    settings: Settings,
) -> None:
    """One child run: the variant's config, metrics overall and per segment, per-user values."""
    from training import tracking

    with tracking.run(
        f"{v.name}: {variant_label(v)} ({v.mode})",
        settings,
        nested=True,
        tags={
            tracking.TAG_RUN_TYPE: "ab-variant",
            TAG_AB_ID: ab_id,
            TAG_AB_VARIANT: v.name,
            tracking.TAG_MODEL_KIND: v.kind,
        },
    ):
        tracking.log_params(v.config)
        tracking.log_params(
            {
                "mode": v.mode,
                "variant": v.name,
                **{k: x for k, x in v.info.items() if x not in ("", None)},
            },
            prefix="ab.",
        )
        seg_rows = result.table[result.table["segment"] != ALL]
        seg_m = {
            f"seg.{slugs[str(r['segment'])]}.{r['metric']}": float(r[v.name])
            for r in seg_rows.to_dict("records")
        }
        tracking.log_metrics({**v.metrics, **seg_m})
        pu = out / v.name / "per_user.csv"  # one name in both runs: the compare view pairs them
        pu.parent.mkdir(parents=True, exist_ok=True)
        v.per_user.assign(segment=result.segments.to_numpy()).to_csv(pu, index=False)
        tracking.log_artifact(pu, "ab")


def log_ab(
    result: ABResult,
    out: Path,
    settings: Settings,
    run_name: str | None = None,
    nested: bool = False,
    tags: dict[str, str] | None = None,
) -> str:
    """One parent run (differences, CIs, table, plots) and a child run per variant; parent id."""
    from training import tracking

    files = write_outputs(result, out)
    ab_id = uuid.uuid4().hex[:12]
    name = run_name or f"A/B {variant_label(result.champion)} vs {variant_label(result.challenger)}"
    verdict_tags, verdict_metrics = ab_verdict.verdict_record(verdict(result))
    slugs = segment_slugs(result.table["segment"].unique().tolist())
    with tracking.run(
        name,
        settings,
        nested=nested,
        tags={tracking.TAG_RUN_TYPE: "ab", TAG_AB_ID: ab_id, **(tags or {})},
    ) as parent:
        tracking.log_params(
            {k: v for k, v in result.config.items() if k != "metrics"}, prefix="ab."
        )
        tracking.log_params({"metrics": ",".join(result.config["metrics"])}, prefix="ab.")
        tracking.log_params(result.fold_info, prefix="holdout.")
        tracking.log_metrics({**comparison_metrics(result, slugs), **verdict_metrics})
        tracking.set_tags(verdict_tags)
        for f in files:
            tracking.log_artifact(f, "ab")
        tracking.set_tags(
            {
                "mlflow.note.content": run_note(result, ab_id),
                "linli.ab.decision_metric": result.config["metrics"][0],
            }
        )
        for v in (result.champion, result.challenger):
            _log_variant(v, result, slugs, out, ab_id, settings)
    return parent


def verdict_line(result: ABResult) -> str:
    """One line: which variant wins on the lead metric, by how much, with its CI and p-value,
    or that the difference is not significant at the run's alpha."""
    main, alpha = result.config["metrics"][0], result.config["alpha"]
    d = result.row(main)
    lo, hi, diff = float(d["ci_low"]), float(d["ci_high"]), float(d["diff"])
    level = f"{100 * (1 - alpha):.0f}% CI"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"verdict: too few users to decide on {main} ({int(d['n_users']):,} users)"
    base = float(d[CHAMPION])
    rel = f" ({diff / base:+.1%})" if base else ""
    p = _p(float(d["p_value"]))
    stats = (
        f"champion {base:.4f}, challenger {float(d[CHALLENGER]):.4f}, "
        f"challenger - champion {diff:+.4f}{rel}, {level} [{lo:+.4f}, {hi:+.4f}], "
        f"p {p if p.startswith('<') else '= ' + p}"
    )
    winner = verdict(result)["winner"]  # the one rule, as logged to MLflow
    if winner != "none":
        return (
            f"verdict: {winner} {result.config[winner]} wins on {main} by {abs(diff):.4f} ({stats})"
        )
    return f"verdict: no significant difference on {main} ({stats})"


def check_variant(spec: VariantSpec, settings: Settings) -> None:
    """A variant that names an unknown model kind, alias or version: one clear error."""
    from training.models import REGISTRY

    flag = f"--{spec.name} {spec.label}"
    if not spec.registered:
        if spec.kind not in REGISTRY:
            raise LinliInputError(
                f"{flag}: unknown model kind",
                hint=f"use alias:A, version:N or model:KIND with KIND one of {', '.join(REGISTRY)}",
            )
        return
    from training import tracking

    table = tracking.versions(settings)
    name = settings.tracking.registered_model
    if not len(table):
        raise LinliInputError(
            f"{flag}: no registered version of {name} yet",
            hint="`linli train --model KIND --alias champion` registers one; or use model:KIND",
        )
    if spec.alias is not None:
        known = {
            a: int(v) for s, v in zip(table["aliases"], table["version"], strict=True)
            for a in str(s).split(",") if a
        }  # fmt: skip
        if spec.alias not in known:
            listed = ", ".join(f"{a} (v{v})" for a, v in sorted(known.items())) or "none"
            raise LinliInputError(
                f"{flag}: {name} has no alias {spec.alias!r}",
                hint=f"aliases: {listed}; `linli alias set --version N --alias {spec.alias}` sets it",
            )
    elif not str(spec.version).isdigit() or int(str(spec.version)) not in set(table["version"]):
        versions = ", ".join(str(v) for v in table["version"])
        raise LinliInputError(
            f"{flag}: {name} has no version {spec.version!r}",
            hint=f"versions: {versions}; `linli alias show` lists them",
        )


def _p(p: float) -> str:
    """A p-value for a table (bootstrap resolution is 1 / n_boot)."""
    return "<0.001" if p < 0.001 else f"{p:.3f}" if np.isfinite(p) else "–"


def format_table(result: ABResult, segments: bool = False) -> str:
    """The comparison as aligned text (overall rows; per segment for the first metric too)."""
    t = result.table
    rows = t[t["segment"] == ALL]
    if segments:
        rows = pd.concat(
            [rows, t[(t["segment"] != ALL) & (t["metric"] == result.config["metrics"][0])]]
        )
    lines = [
        f"{'segment':<28} {'metric':<18} {'users':>7} {'champion':>9} {'challenger':>10} {'diff':>9}  {'95% CI':<21} {'p':>6}"
    ]
    for r in rows.to_dict("records"):
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
        ci = f"[{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) else "(too few users)"
        lines.append(
            f"{str(r['segment'])[:28]:<28} {r['metric']:<18} {r['n_users']:>7,} {r['champion']:>9.4f} {r['challenger']:>10.4f} {r['diff']:>+9.4f}  {ci:<21} {_p(r['p_value']):>6}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli ab --features DIR --champion alias:champion --challenger model:KIND``."""
    from training.train import parse_kv

    p = LinliParser(prog="linli ab", description=__doc__.split("\n\n")[0])
    from training.models import REGISTRY

    kinds = ", ".join(REGISTRY)
    p.add_argument(
        "--features", type=existing_dir, default=None, help="feature store (WORK/features)"
    )
    p.add_argument(
        "--champion",
        default="alias:champion",
        help=f"alias:A, version:N or model:KIND (KIND one of {kinds})",
    )
    p.add_argument(
        "--challenger", default="alias:challenger", help="alias:A, version:N or model:KIND"
    )
    p.add_argument(
        "--champion-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the champion's model (repeatable)",
    )
    p.add_argument(
        "--challenger-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the challenger's model (repeatable)",
    )
    p.add_argument(
        "--holdout",
        choices=("temporal", "next-basket"),
        default="temporal",
        help="temporal: the last --holdout-days are the truth; next-basket: each user's last basket",
    )
    p.add_argument(
        "--holdout-days", type=float, default=14.0, help="window of the temporal holdout"
    )
    p.add_argument(
        "--mode",
        choices=("auto", "frozen", "refit"),
        default="auto",
        help="how registered versions are scored",
    )
    p.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help="comma-separated; the first one is plotted and leads",
    )
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    p.add_argument(
        "--alpha", type=float, default=0.05, help="1 - confidence of the intervals (0.05: 95%%)"
    )
    p.add_argument("--segments", default="auto", help="auto, tier, history or a segments.parquet")
    p.add_argument("--out", type=Path, default=None, help="output folder (WORK/ab/<time>)")
    p.add_argument("--no-mlflow", action="store_true", help="write the files only, no MLflow run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    features = args.features or settings.work_dir / "features"
    out = args.out or settings.work_dir / "ab" / time.strftime("%Y%m%d-%H%M%S")
    try:
        champ = VariantSpec.parse(CHAMPION, args.champion, parse_kv(args.champion_param))
        chall = VariantSpec.parse(CHALLENGER, args.challenger, parse_kv(args.challenger_param))
        for spec in (champ, chall):
            check_variant(spec, settings)
        with Steps("linli ab", 4) as steps:
            result = run_ab(
                features,
                champ,
                chall,
                settings,
                args.holdout,
                args.holdout_days,
                args.mode,
                [m.strip() for m in args.metrics.split(",") if m.strip()],
                args.n_boot,
                args.alpha,
                args.segments,
                steps=steps,
            )
    except LinliInputError:
        raise
    except (ValueError, KeyError, LookupError, FileNotFoundError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else one_line(exc)
        print(f"linli ab: error: {text}", file=sys.stderr)
        return 2
    print(
        f"{result.config['champion']} ({result.champion.kind}, {result.champion.mode}) vs "
        f"{result.config['challenger']} ({result.challenger.kind}, {result.challenger.mode}); "
        f"holdout {result.fold_info.get('split')}, segments by {result.config['segments']}"
    )
    print(format_table(result, segments=True))
    print(verdict_line(result))
    if args.no_mlflow:
        files = write_outputs(result, out)
        print(f"-> {files[0].parent}")
    else:
        with Steps("linli ab", 1) as steps, steps.step("log the runs to MLflow"):
            run_id = log_ab(result, out, settings)
        print(f"-> {out}; MLflow parent run {run_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
