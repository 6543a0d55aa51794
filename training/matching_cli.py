"""CLIs of the matching brain: `linli segments | bundles | audience | forecast | hosts | koc`.

Each reads a feature store (``--features DIR``, the output of ``linli features build``),
runs the pure functions of its module, writes Parquet / JSON / CSV, prints a short
summary and logs one MLflow run through :mod:`training.tracking` (params = the
component's config, metrics, the output files as artifacts; ``--no-mlflow`` skips it).

Outputs go to ``--out`` (default ``<features>/../matching``, the folder ``linli export``
collects matching tables from):

| file | columns |
|---|---|
| ``segments.parquet`` | user_id, segment_id, segment_name |
| ``segment_profiles.json`` / ``.parquet`` | per segment: name, size, share, value tiers, AOV, orders/30d, top categories / items / groups, defining tags |
| ``segment_tag_lift.parquet`` | segment_id, tag, n, size, share, share_all, lift |
| ``bundles.parquet`` | bundle_id, scope (all / segment:ID / theme:NAME), rank, item_ids, names, size, count, support, n_users, confidence, lift, score, affinity (scope support / overall), price |
| ``audiences.parquet`` | theme, rank, user_id, score, reasons (one block per theme run) |
| ``forecast.parquet`` | level (item / category), key, week, horizon, forecast, seasonal_naive |
| ``forecast_holdout.parquet`` | held-out rows: level, key, origin, week, horizon, units, forecast, seasonal_naive |
| ``host_scores.parquet`` | target_id, group_id, segment_id, rank, host_id, name, tags, score, fit, history, lives, reasons |
| ``target_profiles.parquet`` / ``host_lives.parquet`` | what host matching read (profiles per group / segment; outcome of every past live) |
| ``koc.parquet`` | group_id, user_id, rank, score, talk, shares, referrals, referred_buyers, early_joins, earliness, followers, chains_joined, reasons |

``linli audience --features DIR --theme FILE --n N --out FILE.csv`` writes user_id, score,
reasons to FILE.csv, the users left out for hard constraints to FILE.excluded.csv and
counts to FILE.summary.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from features import store_layout as store
from features.cli_parser import LinliParser, existing_dir, existing_file, field_help, one_line
from features.progress import Steps
from features.schema import Col

log = logging.getLogger("linli.matching")
RUN_TYPE_TAG = "linli.run_type"
COMPONENT_TAG = "linli.component"


# ---- shared edges ----------------------------------------------------------------------------


def default_out(features: Path) -> Path:
    """``<features>/../matching``."""
    return features.resolve().parent / "matching"


def read(features: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """A feature-store table, or None when the store has no such file."""
    p = features / name
    return pd.read_parquet(p, columns=columns) if p.exists() else None


def need(features: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A feature-store table that must exist (a clear error names the file)."""
    df = read(features, name, columns)
    if df is None:
        raise FileNotFoundError(f"{features / name} is missing: run `linli features build` first")
    return df


def _event_columns(features: Path, wanted: list[str]) -> list[str]:
    import pyarrow.parquet as pq

    names = set(pq.read_schema(features / store.EVENTS).names)
    return [c for c in wanted if c in names]


@contextmanager
def mlflow_run(
    enabled: bool, name: str, component: str, features: Path
) -> Iterator[Callable[..., None]]:
    """An MLflow run for one job (or a no-op); yields ``log(params=, metrics=, files=)``."""
    if not enabled:
        yield lambda **_: None
        return
    from training import tracking
    from training.settings import load_settings

    settings = load_settings()
    tags = {RUN_TYPE_TAG: "matching", COMPONENT_TAG: component}
    with tracking.run(name, settings, tags=tags):

        def log_(
            params: dict[str, Any] | None = None,
            metrics: dict[str, float] | None = None,
            files: list[Path] | None = None,
            data: pd.DataFrame | None = None,
        ) -> None:
            if data is not None:  # what the job saw: the feature store and a digest of its input
                info = {
                    "path": str(features.resolve()),
                    "digest": tracking.frame_digest(data),
                    "rows": len(data),
                }
                tracking.log_data(info, context="training", name=features.resolve().parent.name)
            if params:
                tracking.log_params(params)
            if metrics:
                tracking.log_metrics(metrics)
            for f in files or []:
                if Path(f).exists():
                    tracking.log_artifact(f, artifact_path=component)

        yield log_


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", type=existing_dir, required=True, help="feature store directory")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default <features>/../matching)"
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log an MLflow run")


def _run(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace, prog: str) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    from pydantic import ValidationError

    from features.errors import LinliInputError

    try:
        return fn(args)
    except (LinliInputError, FileNotFoundError) as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # an option out of range: one line per bad field
        bad = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"{prog}: error: {bad}", file=sys.stderr)
        return 2


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path


# ---- segments --------------------------------------------------------------------------------


def segments_main(argv: list[str] | None = None) -> int:
    """`linli segments --features DIR [--out DIR]`: discover, name and profile segments."""
    p = LinliParser(prog="linli segments", description=segments_main.__doc__)
    _common(p)
    from training.segments import SegmentConfig as Cfg

    p.add_argument("--method", choices=["kmeans", "gmm"], help=field_help(Cfg, "method"))
    p.add_argument("--criterion", choices=["silhouette", "bic"], help=field_help(Cfg, "criterion"))
    p.add_argument("--k-min", type=int, help=field_help(Cfg, "k_min"))
    p.add_argument("--k-max", type=int, help=field_help(Cfg, "k_max"))
    p.add_argument(
        "--embedding",
        default=None,
        help="also cluster on user vectors of this model kind (e.g. als), fitted here",
    )
    return _run(_segments, p.parse_args(argv), "linli segments")


def _segments(args: argparse.Namespace) -> int:
    from features.matrix import Interactions
    from training.segments import SegmentConfig, discover, profiles

    t0 = time.perf_counter()
    f = args.features
    upd = {
        k: v
        for k, v in {
            "method": args.method,
            "criterion": args.criterion,
            "k_min": args.k_min,
            "k_max": args.k_max,
        }.items()
        if v is not None
    }
    cfg = SegmentConfig(**upd)
    with Steps("linli segments", 3 + bool(args.embedding)) as steps:
        with steps.step("read the feature store"):
            inter = Interactions.load(f / store.MATRIX_DIR)
            items, users, tags = need(f, store.ITEMS), need(f, store.USERS), need(f, store.TAGS)
            motive_cols = [Col.USER_ID, Col.TS, Col.EVENT_TYPE, Col.ITEM_ID, Col.QUANTITY]
            motive_cols += [Col.AMOUNT, Col.TEXT, Col.CHANNEL]
            events = need(f, store.EVENTS, _event_columns(f, motive_cols))
        embedding = None
        if args.embedding:
            from training.models import build_model

            with steps.step(f"fit {args.embedding} for user vectors"):
                embedding = build_model(args.embedding).fit(inter).user_vectors()
            weights = {**cfg.block_weights, "embedding": 1.0}
            cfg = cfg.model_copy(update={"block_weights": weights})
        with steps.step(f"features and clustering of {len(inter.users):,} users"):
            seg, cl, lifts = discover(inter, items, users, tags, cfg, embedding, events)
        with steps.step("profiles"):
            baskets = need(f, store.BASKETS, [Col.USER_ID, Col.ITEM_ID])
            members = read(f, store.GROUP_MEMBERS)
            prof = profiles(seg, users, baskets, items, lifts, members, cfg.top_n)
    out = args.out or default_out(f)
    out.mkdir(parents=True, exist_ok=True)
    files = [
        out / "segments.parquet",
        out / "segment_profiles.json",
        out / "segment_profiles.parquet",
        out / "segment_tag_lift.parquet",
        out / "segment_selection.json",
    ]
    seg.to_parquet(files[0], index=False)
    _write_json(files[1], prof)
    flat = pd.DataFrame(
        [
            {
                k: (json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
                for k, v in p_.items()
            }
            for p_ in prof
        ]
    )
    flat.to_parquet(files[2], index=False)
    lifts.to_parquet(files[3], index=False)
    _write_json(
        files[4],
        {"k": cl.k, "criterion": cl.criterion, "scores": cl.scores, "config": cfg.model_dump()},
    )
    seconds = time.perf_counter() - t0
    tried = f"tried {min(cl.scores)}..{max(cl.scores)}" if cl.scores else "no users"
    print(f"segments: {cl.k} (by {cl.criterion}; {tried})")
    for pr in prof:
        cats = ", ".join(c["category"] for c in pr["top_categories"][:3])
        print(
            f"  {pr['segment_id']:>3}  {pr['segment_name']:<45} {pr['size']:>6} users  "
            f"AOV {pr['aov'] or 0:>7.1f}  top: {cats}"
        )
    print(f"  -> {out}  ({seconds:.1f}s)")
    metrics = {
        "n_segments": float(cl.k),
        "selection_score": float(cl.scores.get(cl.k, float("nan"))),
        "users": float(len(seg)),
        "users_new": float((seg[Col.SEGMENT_ID] < 0).sum()),
        "seconds": seconds,
    }
    with mlflow_run(not args.no_mlflow, "segments", "segments", f) as log_:
        log_(
            params={"segments": cfg.model_dump(mode="json"), "embedding_model": args.embedding},
            metrics=metrics,
            files=files,
            data=baskets,
        )
    return 0


# ---- bundles ---------------------------------------------------------------------------------


def bundles_main(argv: list[str] | None = None) -> int:
    """`linli bundles --features DIR [--segments FILE] [--theme FILE]`: bundles from baskets."""
    p = LinliParser(prog="linli bundles", description=bundles_main.__doc__)
    _common(p)
    p.add_argument("--segments", type=Path, default=None, help="segments.parquet (per segment)")
    p.add_argument("--theme", type=Path, action="append", default=[], help="theme JSON file")
    p.add_argument("--min-count", type=int, default=None, help="baskets holding the bundle")
    p.add_argument("--min-users", type=int, default=None, help="shoppers behind those baskets")
    from training.bundles import BundleConfig

    p.add_argument("--min-lift", type=float, help=field_help(BundleConfig, "min_lift"))
    p.add_argument("--max-size", type=int, help=field_help(BundleConfig, "max_size"))
    p.add_argument("--top", type=int, default=None, help="bundles kept per scope")
    p.add_argument("--audience", type=int, default=300, help="theme audience the bundles serve")
    p.add_argument("--show", type=int, default=10, help="bundles printed")
    return _run(_bundles, p.parse_args(argv), "linli bundles")


def _bundles(args: argparse.Namespace) -> int:
    from training.audience import resolve_theme, score_audience, theme_from_json
    from training.bundles import (
        BundleCol,
        BundleConfig,
        empty_bundles,
        mine_bundles,
        scoped_bundles,
        segment_bundles,
    )

    t0 = time.perf_counter()
    f = args.features
    upd = {
        k: v
        for k, v in {
            "min_count": args.min_count,
            "min_users": args.min_users,
            "min_lift": args.min_lift,
            "max_size": args.max_size,
            "top": args.top,
        }.items()
        if v is not None
    }
    cfg = BundleConfig(**upd)
    baskets, items = need(f, store.BASKETS), need(f, store.ITEMS)
    out = args.out or default_out(f)
    seg_path = args.segments or (out / "segments.parquet")
    n_steps = 1 + seg_path.exists() + len(args.theme)
    with Steps("linli bundles", n_steps) as steps:
        with steps.step(f"mine {baskets[Col.ORDER_ID].nunique():,} baskets"):
            parts = [mine_bundles(baskets, items, cfg)]
        if seg_path.exists():
            with steps.step("per segment"):
                segs = pd.read_parquet(seg_path)
                parts.append(segment_bundles(baskets, items, segs, cfg))
        for theme_file in args.theme:  # bundles holding its goods that its audience over-buys
            with steps.step(f"theme {theme_file.name}"):
                theme = theme_from_json(theme_file.read_text(encoding="utf-8"))
                ti = resolve_theme(theme, items)
                aud = score_audience(theme, items, baskets).audience
                fans = aud[Col.USER_ID].head(max(args.audience, 1)).astype(str)
                scope = f"theme:{theme.name or theme_file.stem}"
                scopes = pd.DataFrame({Col.USER_ID: fans, "scope": scope})
                parts.append(scoped_bundles(baskets, items, scopes, cfg, must_hold=ti.all))
    kept = [p_ for p_ in parts if len(p_)]
    table = pd.concat(kept, ignore_index=True) if kept else empty_bundles()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bundles.parquet"
    table.to_parquet(path, index=False)
    seconds = time.perf_counter() - t0
    show = table[table[BundleCol.SCOPE] == "all"].head(args.show)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(
            show[
                [
                    BundleCol.NAMES,
                    BundleCol.COUNT,
                    BundleCol.N_USERS,
                    BundleCol.CONFIDENCE,
                    BundleCol.LIFT,
                    BundleCol.PRICE,
                ]
            ].to_string(index=False, float_format=lambda v: f"{v:.3f}")
        )
    n_scopes = table[BundleCol.SCOPE].nunique()
    print(f"bundles: {len(table)} in {n_scopes} scopes -> {path}  ({seconds:.1f}s)")
    top = table[table[BundleCol.SCOPE] == "all"]
    metrics = {
        "bundles": float(len(table)),
        "scopes": float(n_scopes),
        "baskets": float(baskets[Col.ORDER_ID].nunique()),
        "top10_mean_lift": float(top[BundleCol.LIFT].head(10).mean()) if len(top) else 0.0,
        "seconds": seconds,
    }
    with mlflow_run(not args.no_mlflow, "bundles", "bundles", f) as log_:
        log_(
            params={"bundles": cfg.model_dump(mode="json")},
            metrics=metrics,
            files=[path],
            data=baskets,
        )
    return 0


# ---- audience --------------------------------------------------------------------------------


def audience_main(argv: list[str] | None = None) -> int:
    """`linli audience --features DIR --theme FILE --n N --out FILE.csv`: a theme's audience."""
    p = LinliParser(prog="linli audience", description=audience_main.__doc__)
    p.add_argument("--features", type=existing_dir, required=True, help="feature store directory")
    p.add_argument("--theme", type=existing_file, required=True, help="theme JSON file")
    p.add_argument("--n", type=int, default=120, help="audience size")
    p.add_argument(
        "--out", type=Path, default=None, help="CSV (default <matching>/audience_<theme>.csv)"
    )
    p.add_argument("--matching", type=Path, default=None, help="folder of audiences.parquet")
    p.add_argument("--model", choices=["hgb", "logreg"], default="hgb", help="audience model")
    p.add_argument("--horizon-days", type=float, default=30.0, help="predicted purchase window")
    p.add_argument("--seed", type=int, default=0, help="seed of the model and the embedding")
    p.add_argument("--no-mlflow", action="store_true", help="do not log an MLflow run")
    return _run(_audience, p.parse_args(argv), "linli audience")


def _audience(args: argparse.Namespace) -> int:
    from training.audience import AudienceConfig, score_audience, theme_from_json

    t0 = time.perf_counter()
    f = args.features
    theme = theme_from_json(args.theme.read_text(encoding="utf-8"))
    cfg = AudienceConfig(model=args.model, horizon_days=args.horizon_days, seed=args.seed)
    with Steps("linli audience", 2) as steps:
        with steps.step("read the feature store"):
            items, baskets = need(f, store.ITEMS), need(f, store.BASKETS)
            cols = _event_columns(f, [Col.USER_ID, Col.TS, Col.EVENT_TYPE, Col.ITEM_ID, Col.TEXT])
            events = need(f, store.EVENTS, cols)
            constraints = read(f, store.CONSTRAINTS)
        with steps.step(f"score every user for '{theme.name}'"):
            res = score_audience(theme, items, baskets, events, constraints, cfg=cfg)
    top = res.audience.head(args.n)
    matching = args.matching or default_out(f)
    slug = "".join(ch if ch.isalnum() else "_" for ch in (theme.name or args.theme.stem))
    out = args.out or matching / f"audience_{slug}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    top[[Col.USER_ID, Col.SCORE, "reasons"]].to_csv(out, index=False, encoding="utf-8")
    excluded_path = out.with_suffix(".excluded.csv")
    res.excluded.to_csv(excluded_path, index=False, encoding="utf-8")
    summary = {**res.summary, "n": args.n, "returned": int(len(top)), "out": str(out)}
    summary_path = _write_json(out.with_suffix(".summary.json"), summary)
    matching.mkdir(parents=True, exist_ok=True)
    table_path = matching / "audiences.parquet"
    block = top[["rank", Col.USER_ID, Col.SCORE, "reasons"]].assign(theme=theme.name)
    if table_path.exists():
        old = pd.read_parquet(table_path)
        block = pd.concat([old[old["theme"] != theme.name], block], ignore_index=True)
    block.to_parquet(table_path, index=False)
    seconds = time.perf_counter() - t0
    with pd.option_context("display.width", 200, "display.max_colwidth", 110):
        print(top[[Col.USER_ID, Col.SCORE, "reasons"]].head(10).to_string(index=False))
    print(
        f"audience '{theme.name}': {len(top)} of {res.summary['users_with_signal']} users with a "
        f"signal; {res.summary['excluded_by_constraints']} left out for hard constraints "
        f"({res.summary['excluded_with_signal']} of them had a signal)"
    )
    print(f"  -> {out}  (+ {excluded_path.name}, {summary_path.name}; {seconds:.1f}s)")
    metrics = {
        k: float(v)
        for k, v in summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    with mlflow_run(not args.no_mlflow, f"audience:{theme.name}", "audience", f) as log_:
        log_(
            params={"audience": cfg.model_dump(mode="json"), "theme": theme.model_dump()},
            metrics={**metrics, "seconds": seconds},
            files=[out, excluded_path, summary_path, args.theme],
            data=baskets,
        )
    return 0


# ---- forecast --------------------------------------------------------------------------------


def _print_forecast_check(level: str, m: dict[str, float]) -> None:
    """One level's hold-out WAPE against the baselines, overall and for the top series apart."""
    base = "seasonal-naive" if m["baseline_is_seasonal"] else "naive (history < a season)"
    print(
        f"{level:>8}: held-out {m['holdout_weeks']:.0f} weeks, WAPE {m['wape']:.3f} vs "
        f"{base} {m['wape_baseline']:.3f}, Croston {m['wape_croston']:.3f}, "
        f"zero {m['wape_zero']:.3f} (4-week mean {m['wape_mean4']:.3f})"
    )
    print(
        f"{'':>8}  top {m['top_series']:.0f} by volume ({m['top_volume_share']:.0%} of units): "
        f"WAPE {m['wape_top']:.3f} vs {m['wape_baseline_top']:.3f}; the rest: "
        f"{m['wape_rest']:.3f} vs {m['wape_baseline_rest']:.3f} (Croston {m['wape_croston_rest']:.3f})"
    )


def forecast_main(argv: list[str] | None = None) -> int:
    """`linli forecast --features DIR`: weekly item / category demand, checked on held-out weeks."""
    p = LinliParser(prog="linli forecast", description=forecast_main.__doc__)
    _common(p)
    from training.forecast import ForecastConfig

    p.add_argument(
        "--level",
        choices=["item", "category", "both"],
        default="both",
        help="forecast per item, per category or both",
    )
    p.add_argument("--weeks", type=int, default=None, help="weeks ahead (1..12)")
    p.add_argument("--holdout-weeks", type=int, help=field_help(ForecastConfig, "holdout_weeks"))
    p.add_argument("--no-mentions", action="store_true", help="leave search/chat signals out")
    p.add_argument("--no-lives", action="store_true", help="leave scheduled lives out")
    p.add_argument(
        "--target", choices=["log", "poisson"], default=None, help="model target (default log)"
    )
    return _run(_forecast, p.parse_args(argv), "linli forecast")


def _forecast(args: argparse.Namespace) -> int:
    from training.forecast import (
        LEVEL,
        ForecastConfig,
        Level,
        build_design,
        forecast_ahead,
        full_weeks,
        holdout,
        min_weeks,
    )

    t0 = time.perf_counter()
    f = args.features
    upd: dict[str, Any] = {}
    if args.weeks is not None:
        upd["horizons"] = args.weeks
    if args.holdout_weeks is not None:
        upd["holdout_weeks"] = args.holdout_weeks
    if args.no_mentions:
        upd["mentions"] = False
    if args.no_lives:
        upd["planned_lives"] = False
    if args.target is not None:
        upd["target"] = args.target
    cfg = ForecastConfig(**upd)
    baskets, items = need(f, store.BASKETS), need(f, store.ITEMS)
    events = (
        need(f, store.EVENTS, _event_columns(f, [Col.TS, Col.EVENT_TYPE, Col.TEXT]))
        if cfg.mentions
        else None
    )
    lives = read(f, store.LIVE_SESSIONS)
    weeks = full_weeks(baskets[Col.TS]) if len(baskets) else pd.DatetimeIndex([])
    if len(weeks) < min_weeks(cfg):
        from features.errors import LinliInputError

        raise LinliInputError(
            f"the purchases span {len(weeks)} full week(s); the forecast needs at least "
            f"{min_weeks(cfg)} ({cfg.min_history_weeks} of history, one to train, one to check)",
            file=f / store.BASKETS,
            column=Col.TS,
            hint="add order / jielong events covering more weeks",
        )
    levels: list[Level] = ["item", "category"] if args.level == "both" else [args.level]
    ahead, held, metrics = [], [], {}
    with Steps("linli forecast", 2 * len(levels)) as steps:
        for level in levels:  # two levels
            with steps.step(f"{level}: hold-out check"):
                d = build_design(baskets, items, level, cfg, events, lives, weeks)
                test, m = holdout(d, cfg, level)
            held.append(test.assign(**{LEVEL: level}))
            metrics.update({f"{level}_{k}": v for k, v in m.items()})
            with steps.step(f"{level}: {cfg.horizons} weeks ahead"):
                fut = build_design(
                    baskets, items, level, cfg, events, lives, weeks, future_weeks=cfg.horizons
                )
                ahead.append(forecast_ahead(fut, cfg, level, cfg.horizons))
            _print_forecast_check(level, m)
    out = args.out or default_out(f)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / "forecast.parquet",
        out / "forecast_holdout.parquet",
        out / "forecast_metrics.json",
    ]
    pd.concat(ahead, ignore_index=True).to_parquet(paths[0], index=False)
    pd.concat(held, ignore_index=True).to_parquet(paths[1], index=False)
    _write_json(paths[2], metrics)
    seconds = time.perf_counter() - t0
    print(
        f"  weeks of history {len(weeks)}; forecast {cfg.horizons} weeks -> {out}  ({seconds:.1f}s)"
    )
    with mlflow_run(not args.no_mlflow, "forecast", "forecast", f) as log_:
        log_(
            params={"forecast": cfg.model_dump(mode="json"), "levels": ",".join(levels)},
            metrics={**metrics, "seconds": seconds},
            files=paths,
            data=baskets,
        )
    return 0


# ---- hosts -----------------------------------------------------------------------------------


def hosts_main(argv: list[str] | None = None) -> int:
    """`linli hosts --features DIR [--target group:G1]`: hosts ranked for every group and segment."""
    p = LinliParser(prog="linli hosts", description=hosts_main.__doc__)
    _common(p)
    p.add_argument("--segments", type=Path, default=None, help="segments.parquet (default <out>)")
    p.add_argument("--target", action="append", default=[], help="print this target's ranking")
    return _run(_hosts, p.parse_args(argv), "linli hosts")


def _hosts(args: argparse.Namespace) -> int:
    from training.hosts import (
        TARGET,
        HostConfig,
        live_outcomes,
        memberships,
        rank_all,
        target_profiles,
    )

    t0 = time.perf_counter()
    f = args.features
    cfg = HostConfig()
    hosts = need(f, store.HOSTS)
    tags, members = need(f, store.TAGS), read(f, store.GROUP_MEMBERS)
    out = args.out or default_out(f)
    seg_path = args.segments or (out / "segments.parquet")
    segments = pd.read_parquet(seg_path) if seg_path.exists() else None
    lives = read(f, store.LIVE_SESSIONS)
    history = None
    with Steps("linli hosts", 2 + (lives is not None)) as steps:
        if lives is not None:
            with steps.step(f"outcomes of {len(lives):,} past lives"):
                cols = _event_columns(f, [Col.USER_ID, Col.EVENT_TYPE, Col.LIVE_ID])
                history = live_outcomes(lives, need(f, store.EVENTS, cols), members)
        with steps.step("group and segment profiles"):
            prof = target_profiles(tags, memberships(members, segments), cfg)
        with steps.step(f"rank {len(hosts):,} hosts for every group and segment"):
            ranking = rank_all(prof, hosts, history, cfg)
    if len(ranking):
        t = ranking[TARGET].astype(str)
        ranking.insert(
            1, Col.GROUP_ID, t.str.removeprefix("group:").where(t.str.startswith("group:"))
        )
        ranking.insert(
            2, Col.SEGMENT_ID, t.str.removeprefix("segment:").where(t.str.startswith("segment:"))
        )
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / "host_scores.parquet",
        out / "target_profiles.parquet",
        out / "host_lives.parquet",
    ]
    ranking.to_parquet(paths[0], index=False)
    prof.to_parquet(paths[1], index=False)
    if history is not None:
        history.to_parquet(paths[2], index=False)
    seconds = time.perf_counter() - t0
    show = args.target or (
        list(ranking[TARGET].drop_duplicates().head(5)) if TARGET in ranking.columns else []
    )
    with pd.option_context("display.width", 220, "display.max_colwidth", 120):
        for tgt in show:
            r = ranking[ranking[TARGET] == tgt].head(3)
            print(f"{tgt}:")
            print(r[["rank", Col.HOST_ID, "name", Col.SCORE, "reasons"]].to_string(index=False))
    n_targets = ranking[TARGET].nunique() if TARGET in ranking.columns else 0
    print(f"host rankings for {n_targets} targets -> {paths[0]}  ({seconds:.1f}s)")
    with mlflow_run(not args.no_mlflow, "hosts", "hosts", f) as log_:
        log_(
            params={"hosts": cfg.model_dump(mode="json")},
            metrics={
                "targets": float(ranking[TARGET].nunique()) if len(ranking) else 0.0,
                "hosts": float(len(hosts)),
                "lives": float(len(history)) if history is not None else 0.0,
                "seconds": seconds,
            },
            files=paths,
            data=tags,
        )
    return 0


# ---- koc -------------------------------------------------------------------------------------


def koc_main(argv: list[str] | None = None) -> int:
    """`linli koc --features DIR [--group G1]`: members of every group ranked by influence."""
    p = LinliParser(prog="linli koc", description=koc_main.__doc__)
    _common(p)
    p.add_argument("--group", action="append", default=[], help="print this group's KOCs")
    p.add_argument("--top", type=int, default=5, help="KOCs printed per group")
    return _run(_koc, p.parse_args(argv), "linli koc")


def _koc(args: argparse.Namespace) -> int:
    from training.koc import KOCConfig, koc_scores

    t0 = time.perf_counter()
    f = args.features
    cfg = KOCConfig()
    members = need(f, store.GROUP_MEMBERS)
    cols = _event_columns(
        f,
        [
            Col.USER_ID,
            Col.TS,
            Col.EVENT_TYPE,
            Col.GROUP_ID,
            Col.LIVE_ID,
            Col.ORDER_ID,
            "referrer_user_id",
        ],
    )
    with Steps("linli koc", 2) as steps:
        with steps.step("read the events"):
            events = need(f, store.EVENTS, cols)
        with steps.step(f"score {len(members):,} memberships"):
            scores = koc_scores(events, members, cfg)
    out = args.out or default_out(f)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "koc.parquet"
    scores.to_parquet(path, index=False)
    seconds = time.perf_counter() - t0
    groups = args.group or list(scores[Col.GROUP_ID].drop_duplicates().head(3))
    with pd.option_context("display.width", 220, "display.max_colwidth", 120):
        for g in groups:
            top = scores[scores[Col.GROUP_ID] == g].head(args.top)
            print(f"{g}:")
            print(top[["rank", Col.USER_ID, Col.SCORE, "reasons"]].to_string(index=False))
    print(
        f"KOC scores for {len(scores)} memberships in {scores[Col.GROUP_ID].nunique()} groups "
        f"-> {path}  ({seconds:.1f}s)"
    )
    with mlflow_run(not args.no_mlflow, "koc", "koc", f) as log_:
        log_(
            params={"koc": cfg.model_dump(mode="json")},
            metrics={"memberships": float(len(scores)), "seconds": seconds},
            files=[path],
            data=events,
        )
    return 0


COMMANDS: dict[str, Callable[[list[str] | None], int]] = {
    "segments": segments_main,
    "bundles": bundles_main,
    "audience": audience_main,
    "forecast": forecast_main,
    "hosts": hosts_main,
    "koc": koc_main,
}


def main(argv: list[str] | None = None) -> int:
    """`python -m training.matching_cli COMMAND ...` (the same as `linli COMMAND ...`)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        print(
            f"usage: python -m training.matching_cli {{{','.join(COMMANDS)}}} ...", file=sys.stderr
        )
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
