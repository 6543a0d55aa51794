"""The matching brain against the synthetic world's hidden truth.

On a world written by ``linli synth`` (``WORLD/data``, ``WORLD/truth``; the feature
store ``WORLD/features`` is built when missing):

- segments: adjusted Rand index of the discovered segments against the hidden personas,
  and the name of each persona's best-matching segment,
- the seed's case: the light-meal theme (``experiments/themes/light_meal.json``) at
  N = 120, precision against the fitness persona, and hard-constraint conflicts in it,
- hosts: share of interest groups whose top host's tags fit the group's theme,
- KOC: Spearman correlation of the KOC score with the hidden KOC propensity (mean over
  groups) and the share of each group's top 5 in its true top 10%,
- forecast (``--forecast-world``, a world of 13+ months so that a seasonal-naive
  baseline exists): held-out WAPE of items and categories against seasonal-naive.

    python -m experiments.checks.synth_check --world work/world --forecast-world work/world15

Prints a report, writes ``WORLD/synth_check.json`` and logs one MLflow run.
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

from experiments.synth_truth import PERSONA, load_user_truth
from features import store_layout as store
from features.matrix import Interactions
from features.schema import Col
from training.settings import Settings, load_settings

THEMES_DIR = Path(__file__).with_name("themes")
# interest-group type (truth/groups.parquet) -> host tags that fit it (features.synth THEMES)
GROUP_TYPE_HOST_TAGS = {
    "fitness": {"nutritionist", "fitness"},
    "parents": {"mother", "baby"},
    "baking": {"baker"},
    "vip": {"premium", "imported"},
    "deals": {"deals", "bargain"},
}


def ensure_features(world: Path, settings: Settings) -> Path:
    """WORLD/features, built from WORLD/data when missing."""
    f = world / "features"
    if not (f / store.SUMMARY).exists():
        from features.build import run

        run(world / "data", f, settings, progress=False)
    return f


def check_segments(f: Path, truth: pd.DataFrame) -> dict[str, Any]:
    """ARI vs personas, k, and the best-matching segment name per persona."""
    from sklearn.metrics import adjusted_rand_score

    from training.segments import NEW_SEGMENT, discover

    t0 = time.perf_counter()
    inter = Interactions.load(f / store.MATRIX_DIR)
    items, users, tags = (pd.read_parquet(f / n) for n in (store.ITEMS, store.USERS, store.TAGS))
    seg, cl, _ = discover(inter, items, users, tags)
    m = seg.merge(truth, on=Col.USER_ID)
    active = m[m[Col.SEGMENT_ID] != NEW_SEGMENT]
    best = (
        m.groupby(PERSONA)[Col.SEGMENT_NAME]
        .agg(
            lambda s: f"{s.value_counts().index[0]} ({s.value_counts(normalize=True).iloc[0]:.0%})"
        )
        .to_dict()
    )
    return {
        "ari": float(adjusted_rand_score(m[PERSONA], m[Col.SEGMENT_ID])),
        "ari_active": float(adjusted_rand_score(active[PERSONA], active[Col.SEGMENT_ID])),
        "k": cl.k,
        "criterion": cl.criterion,
        "scores": {int(k): round(v, 4) for k, v in cl.scores.items()},
        "users": len(m),
        "persona_to_segment": best,
        "seconds": time.perf_counter() - t0,
    }


def check_seed_audience(f: Path, truth: pd.DataFrame, n: int) -> dict[str, Any]:
    """Precision of the light-meal audience against the fitness persona; constraint conflicts."""
    from training.audience import resolve_theme, score_audience, theme_from_json

    t0 = time.perf_counter()
    theme = theme_from_json((THEMES_DIR / "light_meal.json").read_text(encoding="utf-8"))
    items, baskets = pd.read_parquet(f / store.ITEMS), pd.read_parquet(f / store.BASKETS)
    events = pd.read_parquet(
        f / store.EVENTS, columns=[Col.USER_ID, Col.TS, Col.EVENT_TYPE, Col.ITEM_ID, Col.TEXT]
    )
    cons = pd.read_parquet(f / store.CONSTRAINTS)
    inter = Interactions.load(f / store.MATRIX_DIR)
    res = score_audience(theme, items, baskets, events, cons, pd.Index(inter.users.ids), inter)
    top = res.audience.head(n).merge(truth, on=Col.USER_ID, how="left")
    ti = resolve_theme(theme, items)
    forbidden = set(cons.loc[cons[Col.ITEM_ID].isin(ti.all), Col.USER_ID])
    fitness = int((truth[PERSONA] == "fitness").sum())
    return {
        "n": n,
        "precision_fitness": float((top[PERSONA] == "fitness").mean()),
        "fitness_people": fitness,
        "constrained_in_audience": int(top[Col.USER_ID].isin(forbidden).sum()),
        "excluded_by_constraints": res.summary["excluded_by_constraints"],
        "examples": top[[Col.USER_ID, Col.SCORE, "reasons"]].head(3).to_dict("records"),
        "seconds": time.perf_counter() - t0,
    }


def check_hosts(f: Path, world: Path) -> dict[str, Any]:
    """Share of interest groups whose top-ranked host's tags fit the group's theme."""
    from training.hosts import live_outcomes, memberships, rank_all, target_profiles

    members = pd.read_parquet(f / store.GROUP_MEMBERS)
    events = pd.read_parquet(f / store.EVENTS, columns=[Col.USER_ID, Col.EVENT_TYPE, Col.LIVE_ID])
    hist = live_outcomes(pd.read_parquet(f / store.LIVE_SESSIONS), events, members)
    prof = target_profiles(pd.read_parquet(f / store.TAGS), memberships(members))
    ranking = rank_all(prof, pd.read_parquet(f / store.HOSTS), hist)
    top = ranking[ranking["rank"] == 1].assign(**{Col.GROUP_ID: lambda x: x["target_id"].str[6:]})
    top = top.merge(pd.read_parquet(world / "truth" / "groups.parquet"), on=Col.GROUP_ID)
    top = top[top["group_type"].isin(list(GROUP_TYPE_HOST_TAGS))]
    hit = [
        bool(GROUP_TYPE_HOST_TAGS[t] & set(str(tags).split(";")))
        for t, tags in zip(top["group_type"], top["tags"], strict=True)
    ]
    return {"interest_groups": len(hit), "top1_fits": float(np.mean(hit)) if hit else float("nan")}


def check_koc(f: Path, world: Path, truth: pd.DataFrame) -> dict[str, Any]:
    """Rank correlation with the hidden KOC propensity and top-5 precision per group."""
    from scipy.stats import spearmanr

    from training.koc import koc_scores

    events = pd.read_parquet(f / store.EVENTS)
    k = koc_scores(events, pd.read_parquet(f / store.GROUP_MEMBERS))
    people = pd.read_parquet(world / "truth" / "people.parquet")[["person_id", "koc_propensity"]]
    m = k.merge(truth, on=Col.USER_ID).merge(people, on="person_id")
    rho = [
        spearmanr(g[Col.SCORE], g["koc_propensity"]).statistic
        for _, g in m.groupby(Col.GROUP_ID)
        if len(g) > 5
    ]
    m["true_top"] = m.groupby(Col.GROUP_ID)["koc_propensity"].rank(ascending=False, pct=True) <= 0.1
    return {
        "spearman_mean": float(np.nanmean(rho)),
        "top5_in_true_top10pct": float(m.loc[m["rank"] <= 5, "true_top"].mean()),
        "random_top5_in_true_top10pct": float(m["true_top"].mean()),
    }


def check_forecast(world: Path, settings: Settings) -> dict[str, Any]:
    """Held-out WAPE of model and seasonal-naive, per level."""
    from training.forecast import ForecastConfig, build_design, full_weeks, holdout

    f = ensure_features(world, settings)
    cfg = ForecastConfig()
    baskets, items = pd.read_parquet(f / store.BASKETS), pd.read_parquet(f / store.ITEMS)
    events = pd.read_parquet(f / store.EVENTS, columns=[Col.TS, Col.EVENT_TYPE, Col.TEXT])
    lives = pd.read_parquet(f / store.LIVE_SESSIONS)
    weeks = full_weeks(baskets[Col.TS])
    out: dict[str, Any] = {"weeks": len(weeks), "holdout_weeks": cfg.holdout_weeks}
    for level in ("item", "category"):  # two levels
        d = build_design(baskets, items, level, cfg, events, lives, weeks)  # type: ignore[arg-type]
        _, m = holdout(d, cfg, level)
        out[level] = {k: round(v, 4) for k, v in m.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: every synthetic-world check; a JSON report and one MLflow run."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.checks.synth_check", description=__doc__
    )
    p.add_argument("--world", type=Path, required=True, help="world with data/ and truth/")
    p.add_argument("--forecast-world", type=Path, default=None, help="a 13+ month world")
    p.add_argument("--n", type=int, default=120, help="audience size of the seed case")
    p.add_argument("--no-mlflow", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    f = ensure_features(args.world, settings)
    truth = load_user_truth(f, args.world / "truth")
    report: dict[str, Any] = {"world": str(args.world)}
    report["segments"] = check_segments(f, truth)
    print("segments:", json.dumps(report["segments"], ensure_ascii=False, indent=1))
    report["seed_audience"] = check_seed_audience(f, truth, args.n)
    print("seed audience:", json.dumps(report["seed_audience"], ensure_ascii=False, indent=1))
    report["hosts"] = check_hosts(f, args.world)
    print("hosts:", report["hosts"])
    report["koc"] = check_koc(f, args.world, truth)
    print("koc:", report["koc"])
    if args.forecast_world is not None:
        report["forecast"] = check_forecast(args.forecast_world, settings)
        print("forecast:", json.dumps(report["forecast"], indent=1))
    out = args.world / "synth_check.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(f"report: {out}")
    if not args.no_mlflow:
        from training import tracking

        metrics = {
            "segments_ari": report["segments"]["ari"],
            "segments_k": report["segments"]["k"],
            "seed_precision_fitness": report["seed_audience"]["precision_fitness"],
            "seed_constrained_in_audience": report["seed_audience"]["constrained_in_audience"],
            "hosts_top1_fits": report["hosts"]["top1_fits"],
            "koc_spearman": report["koc"]["spearman_mean"],
            "koc_top5_precision": report["koc"]["top5_in_true_top10pct"],
        }
        if "forecast" in report:
            for level in ("item", "category"):
                metrics[f"forecast_{level}_wape"] = report["forecast"][level]["wape"]
                metrics[f"forecast_{level}_wape_seasonal_naive"] = report["forecast"][level][
                    "wape_baseline"
                ]
        with tracking.run("synth-check", settings, tags={"linli.run_type": "check"}):
            tracking.log_params({"world": str(args.world.resolve()), "n": args.n})
            if args.forecast_world is not None:
                tracking.log_params({"forecast_world": str(args.forecast_world.resolve())})
            tracking.log_metrics(metrics)
            tracking.log_artifact(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
