"""Theme audience as a prediction on real baskets (Instacart): do our top-N buy the theme next?

Each user's last order is held out. For a theme (a department or an aisle) we rank
users with :func:`training.audience.score_audience` on the rest and compare with the
top-N users by past purchase lines of that theme; precision@N = share of the top-N
whose held-out order holds an item of the theme (base rate: share of all users).

    python -m experiments.checks.audience_check --features work/matching/real/instacart/features

Logs one MLflow run (params, per-theme and mean precision, the table as an artifact).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features import store_layout as store
from features.matrix import IdMap, build_interactions
from features.schema import Col
from training.audience import AudienceConfig, Theme, resolve_theme, score_audience
from training.settings import load_settings

DEFAULT_THEMES = (
    "category:produce",
    "category:dairy eggs",
    "category:snacks",
    "category:beverages",
    "category:frozen",
    "category:bakery",
    "category:meat seafood",
    "category:pantry",
    "category:deli",
    "category:household",
    "category:babies",
    "category:breakfast",
    "subcategory:fresh fruits",
    "subcategory:yogurt",
    "subcategory:packaged cheese",
    "subcategory:chips pretzels",
    "subcategory:soft drinks",
    "subcategory:fresh herbs",
    "subcategory:frozen meals",
    "subcategory:soy lactosefree",
)


def last_order_split(baskets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every line but each user's last order, the last orders' lines)."""
    first = baskets.groupby([Col.USER_ID, Col.ORDER_ID], sort=False)[Col.TS].min().reset_index()
    first = first.sort_values([Col.USER_ID, Col.TS, Col.ORDER_ID], kind="stable")
    last = first.groupby(Col.USER_ID, sort=False).tail(1)[Col.ORDER_ID]
    held = baskets[Col.ORDER_ID].isin(last)
    return baskets[~held].reset_index(drop=True), baskets[held].reset_index(drop=True)


def precision_at(ranked: pd.Index, truth: set[str], n: int) -> float:
    """Share of the first n ranked users in `truth`."""
    top = ranked[:n]
    return float(np.mean([u in truth for u in top])) if len(top) else float("nan")


def count_baseline(train: pd.DataFrame, theme_items: pd.Index) -> pd.Index:
    """Users by past purchase lines of theme items, most first (ties: user id)."""
    hit = train[train[Col.ITEM_ID].isin(theme_items)]
    n = hit.groupby(Col.USER_ID).size()
    order = np.lexsort((n.index.to_numpy(), -n.to_numpy()))
    return pd.Index(n.index.to_numpy()[order])


def evaluate(
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    themes: list[str],
    ns: list[int],
    cfg: AudienceConfig,
    half_life_days: float,
    event_weights: dict[str, float],
) -> pd.DataFrame:
    """One row per theme: base rate, ours and count-baseline precision at each N."""
    train, test = last_order_split(baskets)
    users = IdMap.from_values(baskets[Col.USER_ID])
    item_map = IdMap.from_values(items[Col.ITEM_ID])
    inter = build_interactions(train, users, item_map, event_weights, half_life_days)
    rows = []
    for spec in themes:  # a few themes
        kind, value = spec.split(":", 1)
        theme = Theme(name=value, categories=[value])
        ti = resolve_theme(theme, items)
        truth = set(test.loc[test[Col.ITEM_ID].isin(ti.all), Col.USER_ID])
        res = score_audience(theme, items, train, inter=inter, cfg=cfg, users=pd.Index(users.ids))
        ours = pd.Index(res.audience[Col.USER_ID].astype(str))
        base = count_baseline(train, ti.all)
        row: dict[str, object] = {
            "theme": spec,
            "items": len(ti.all),
            "base_rate": len(truth) / len(users),
        }
        for n in ns:
            row[f"ours_p@{n}"] = precision_at(ours, truth, n)
            row[f"count_p@{n}"] = precision_at(base, truth, n)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """CLI: evaluate the theme audience against the past-count baseline on held-out last orders."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.checks.audience_check", description=__doc__
    )
    p.add_argument("--features", type=Path, required=True, help="Instacart feature store")
    p.add_argument("--theme", action="append", default=None, help="category:X or subcategory:X")
    p.add_argument("--n", type=int, action="append", default=None, help="N (repeatable)")
    p.add_argument("--out", type=Path, default=None, help="CSV of the table")
    p.add_argument("--cf-model", default=None, help="CF model kind (default from config)")
    p.add_argument("--no-mlflow", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    baskets = pd.read_parquet(args.features / store.BASKETS)
    items = pd.read_parquet(args.features / store.ITEMS)
    cfg = AudienceConfig()
    if args.cf_model is not None:
        cfg = cfg.model_copy(
            update={"cf_model": None if args.cf_model == "none" else args.cf_model}
        )
    ns = args.n or [50, 100]
    t0 = time.perf_counter()
    table = evaluate(
        baskets,
        items,
        args.theme or list(DEFAULT_THEMES),
        ns,
        cfg,
        settings.features.half_life_days,
        settings.features.event_weights,
    )
    seconds = time.perf_counter() - t0
    mean = table.drop(columns=["theme", "items"]).mean()
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        print("\nmean over themes:\n" + mean.to_string())
    out = args.out or (args.features.parent / "audience_check.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"\ntable: {out}  ({seconds:.1f}s)")
    if not args.no_mlflow:
        from training import tracking

        with tracking.run("audience-check-instacart", settings, tags={"linli.run_type": "check"}):
            tracking.log_params(cfg.model_dump(mode="json"), prefix="audience.")
            tracking.log_params({"features": str(args.features), "themes": len(table)})
            tracking.log_metrics({f"mean_{k}".replace("@", "_at_"): v for k, v in mean.items()})
            tracking.log_artifact(out)
            (out.with_suffix(".json")).write_text(json.dumps(mean.to_dict(), indent=1))
            tracking.log_artifact(out.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
