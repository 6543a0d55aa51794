"""Bundles on real baskets (Instacart sample, Groceries): top bundles with lift, and a held-out check.

For each feature store: mine bundles on all baskets and print the top ones; then hold
out the baskets of a random ``--test-share`` of the shoppers (Groceries has no
shoppers: every basket is its own), mine on the rest and measure on the held-out
baskets how often a basket holding one item of a top bundle holds all the rest,
against random sets whose members have the same popularity (train basket counts).

    python -m experiments.checks.bundle_check --features instacart=work/real/instacart/features \\
        --features groceries=work/real/groceries/features

Writes ``bundle_check.md`` (the tables for the README) and logs one MLflow run per dataset.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import store_layout as store
from features.schema import Col
from training.bundles import BundleCol, BundleConfig, holdout_check, mine_bundles

# per dataset: a heavy shopper's repeated baskets must not make a bundle on their own
DEFAULTS: dict[str, dict[str, Any]] = {
    "instacart": {"min_count": 10, "min_users": 10},
    "groceries": {"min_count": 10, "min_users": 10},
}


def user_split(baskets: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(baskets of the training shoppers, baskets of a random `share` of shoppers)."""
    users = np.sort(baskets[Col.USER_ID].astype(str).unique())
    rng = np.random.default_rng(seed)
    test = set(rng.choice(users, size=max(1, int(round(share * len(users)))), replace=False))
    held = baskets[Col.USER_ID].astype(str).isin(test)
    return baskets[~held], baskets[held]


def check(
    name: str,
    features: Path,
    cfg: BundleConfig,
    top: int,
    test_share: float,
    seed: int,
    n_random: int,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """(top bundles on all baskets, held-out table, held-out summary) for one feature store."""
    baskets = pd.read_parquet(features / store.BASKETS)
    items = pd.read_parquet(features / store.ITEMS)
    full = mine_bundles(baskets, items, cfg)
    train, test = user_split(baskets, test_share, seed)
    table, summary = holdout_check(train, test, items, cfg, top=top, n_random=n_random, seed=seed)
    summary = {
        **summary,
        "baskets": float(baskets[Col.ORDER_ID].nunique()),
        "shoppers": float(baskets[Col.USER_ID].nunique()),
        "bundles_found": float(len(full)),
    }
    return full, table, summary


def _markdown(
    name: str, full: pd.DataFrame, table: pd.DataFrame, s: dict[str, float], n: int
) -> str:
    lines = [
        f"### {name}: {int(s['baskets']):,} baskets, {int(s['shoppers']):,} shoppers",
        "",
        "| # | bundle | baskets | shoppers | confidence | lift |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in full.head(n).iterrows():
        names = r[BundleCol.NAMES].replace(";", " + ")
        lines.append(
            f"| {r[BundleCol.RANK]} | {names} | {r[BundleCol.COUNT]} | {r[BundleCol.N_USERS]} | "
            f"{r[BundleCol.CONFIDENCE]:.2f} | {r[BundleCol.LIFT]:.1f} |"
        )
    lines += [
        "",
        f"Held-out check (top {int(s['bundles'])} bundles mined on the other shoppers, "
        f"{int(s['test_baskets']):,} held-out baskets): a basket holding one item of a bundle "
        f"holds the rest **{s['bundle_completion']:.1%}** of the time, against "
        f"**{s['random_completion']:.1%}** for popularity-matched random sets "
        f"(x{s['ratio']:.1f}; {s['bundles_beating_random']:.0%} of bundles beat their random sets).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: bundles and their held-out check on one or more feature stores (NAME=DIR)."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.checks.bundle_check", description=__doc__
    )
    p.add_argument("--features", action="append", required=True, help="NAME=feature store dir")
    p.add_argument("--top", type=int, default=20, help="bundles in the held-out check")
    p.add_argument("--show", type=int, default=10, help="bundles printed per dataset")
    p.add_argument("--test-share", type=float, default=0.3)
    p.add_argument("--random", type=int, default=50, help="random sets per bundle")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=None, help="markdown report (default beside)")
    p.add_argument("--no-mlflow", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report, results = [], {}
    for spec in args.features:  # a couple of datasets
        name, _, path = spec.partition("=")
        features = Path(path or name)
        name = name if path else features.parent.name
        cfg = BundleConfig(**DEFAULTS.get(name, {}))
        t0 = time.perf_counter()
        full, table, summary = check(
            name, features, cfg, args.top, args.test_share, args.seed, args.random
        )
        summary["seconds"] = time.perf_counter() - t0
        results[name] = (features, cfg, full, table, summary)
        md = _markdown(name, full, table, summary, args.show)
        report.append(md)
        print(md)
    out = (
        args.out
        or Path(args.features[0].partition("=")[2] or args.features[0]).parent.parent
        / "bundle_check.md"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report), encoding="utf-8")
    print(f"report: {out}")
    if not args.no_mlflow:
        from training import tracking
        from training.settings import load_settings

        settings = load_settings()
        for name, (features, cfg, full, table, summary) in results.items():
            with tracking.run(
                f"bundle-check-{name}",
                settings,
                tags={"linli.run_type": "check", "linli.component": "bundles"},
            ):
                tracking.log_params(cfg.model_dump(mode="json"), prefix="bundles.")
                tracking.log_params(
                    {
                        "features": str(features.resolve()),
                        "test_share": args.test_share,
                        "seed": args.seed,
                    }
                )
                tracking.log_metrics(summary)
                folder = out.parent / f"bundle_check_{name}"
                folder.mkdir(exist_ok=True)
                full.to_csv(folder / "bundles.csv", index=False)
                table.to_csv(folder / "holdout.csv", index=False)
                (folder / "summary.json").write_text(json.dumps(summary, indent=1))
                tracking.log_artifact(folder, artifact_path="bundle_check")
                tracking.log_artifact(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
