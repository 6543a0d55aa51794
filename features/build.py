"""The feature job: a data directory in the SCHEMA.md format -> a feature store directory.

`linli features build --data DIR --out DIR` (or `python -m features.build ...`).
Re-running on more data keeps user ids stable: the previous `identity.parquet`
in the output folder (or `--previous`) seeds the unification.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import store_layout as store
from features.cli_parser import LinliParser, existing_dir, one_line
from features.constraints import resolve_constraints
from features.engine import ENGINES, Engine, open_engine
from features.engine import job as engine_job
from features.engine.spark import check_master
from features.errors import LinliInputError
from features.event_store import StoreError, read_store_tables, redact
from features.identity import Identity, id_keys, resolve, sightings, split_key
from features.load import DataDir, load_data_dir
from features.matrix import (
    IdMap,
    Interactions,
    attach_groups,
    baskets,
    build_interactions,
    item_feature_matrix,
    user_feature_matrix,
)
from features.progress import Steps
from features.schema import TABLES, Col
from features.settings import Settings, load_settings
from features.tags import build_tags, load_rules, rfm, value_tiers

log = logging.getLogger("linli.features")

REFERRER_USER_ID = engine_job.REFERRER_USER_ID
PANDAS = "pandas"
DEFAULT_ENGINE = PANDAS
UNKNOWN_CATEGORY = "unknown"


@dataclass
class FeatureStore:
    """The in-memory result of the feature job (written by :func:`write_store`)."""

    events: pd.DataFrame
    identity: Identity
    items: pd.DataFrame
    users: pd.DataFrame
    tags: pd.DataFrame
    constraints: pd.DataFrame
    baskets: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # groups, members, lives, hosts
    summary: dict[str, Any] = field(default_factory=dict)
    # interaction matrices already computed by an engine (side features are added on write)
    interactions: Interactions | None = None


@contextmanager
def _step(name: str, timings: dict[str, float], bar: Steps) -> Iterator[None]:
    with bar.step(name):
        t0 = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - t0, 3)
    log.info("%s: %.2fs", name, timings[name])


def _with_user(
    df: pd.DataFrame, identity: Identity, type_col: str = Col.ID_TYPE, value_col: str = Col.ID_VALUE
) -> pd.DataFrame:
    """`df` plus the unified user_id of each row (copy-on-write: no deep copy of `df`)."""
    return df.assign(**{Col.USER_ID: identity.lookup(df[type_col], df[value_col]).to_numpy()})


def _ref_user(refs: pd.Series, identity: Identity) -> pd.Series:
    """The user_id behind each `type:value` reference; each distinct reference resolved once."""
    codes, uniq = pd.factorize(refs.astype("string"), use_na_sentinel=True)
    t, v = split_key(pd.Series(uniq, dtype="string"))
    users = np.concatenate([identity.lookup(t, v).to_numpy(dtype=object), np.array([None])])
    return pd.Series(users[codes], index=refs.index, dtype="string")


def catalogue(items: pd.DataFrame | None, events: pd.DataFrame) -> pd.DataFrame:
    """The item catalogue, extended with items seen in events but absent from it."""
    seen = pd.Series(events[Col.ITEM_ID].dropna().unique(), dtype="string")
    if items is None:
        items = pd.DataFrame(
            {
                Col.ITEM_ID: pd.Series([], dtype="string"),
                Col.NAME: pd.Series([], dtype="string"),
                Col.CATEGORY: pd.Series([], dtype="string"),
            }
        )
    known = items.assign(in_catalogue=True)
    extra = seen[~seen.isin(items[Col.ITEM_ID])]
    if len(extra):
        known = pd.concat(
            [
                known,
                pd.DataFrame(
                    {
                        Col.ITEM_ID: extra,
                        Col.NAME: extra,
                        Col.CATEGORY: UNKNOWN_CATEGORY,
                        "in_catalogue": False,
                    }
                ),
            ],
            ignore_index=True,
        )
    return known.sort_values(Col.ITEM_ID).reset_index(drop=True)


def _engine_identity(
    engine: Engine,
    events: pd.DataFrame,
    data: DataDir,
    previous_identity: pd.DataFrame | None,
    settings: Settings,
) -> Identity:
    """Register the validated inputs in `engine` and resolve identity there."""
    groups = data.clean("groups")
    extra = [t for t in (data.clean("group_members"), data.clean("manual_tags")) if t is not None]
    refs = [] if groups is None or Col.LEADER not in groups.columns else [groups[Col.LEADER]]
    engine_job.register_inputs(
        engine, events, data.clean("identity_links"), extra, refs, previous_identity
    )
    return engine_job.identity(engine, settings.features.max_people_per_identifier)


def _pandas_identity(
    events: pd.DataFrame,
    data: DataDir,
    previous_identity: pd.DataFrame | None,
    settings: Settings,
) -> Identity:
    members, manual, groups = (data.clean(t) for t in ("group_members", "manual_tags", "groups"))
    seen = [sightings(events[Col.ID_TYPE], events[Col.ID_VALUE], events[Col.TS])]
    for t in (members, manual):
        if t is not None:
            seen.append(sightings(t[Col.ID_TYPE], t[Col.ID_VALUE]))
    for refs in (events.get(Col.REFERRER), None if groups is None else groups.get(Col.LEADER)):
        if refs is not None and refs.notna().any():
            rt, rv = split_key(refs.dropna())
            seen.append(sightings(rt, rv))
    return resolve(
        pd.concat(seen, ignore_index=True),
        data.clean("identity_links"),
        previous_identity,
        settings.features.max_people_per_identifier,
    )


def build_store(
    data: DataDir,
    settings: Settings,
    previous_identity: pd.DataFrame | None = None,
    progress: bool = True,
    engine: Engine | None = None,
) -> FeatureStore:
    """Validated tables -> unified, tagged, matrix-ready feature store (no file I/O).

    With `engine`, identity resolution, attaching user ids to events and the matrix triples
    run as relational steps in it; without, in pandas.
    """
    timings: dict[str, float] = {}
    bar = Steps("linli features", 6 if engine is not None else 5, enabled=progress).start()
    events = data.clean("events")
    assert events is not None  # required table; load_data_dir raised otherwise
    members = data.clean("group_members")
    manual = data.clean("manual_tags")
    groups = data.clean("groups")

    with _step("identity", timings, bar):
        if engine is not None:
            identity = _engine_identity(engine, events, data, previous_identity, settings)
        else:
            identity = _pandas_identity(events, data, previous_identity, settings)

    with _step("attach user ids", timings, bar):
        if engine is not None:
            events = engine_job.attach_users(engine, events)
        else:
            events = _with_user(events, identity)
            if Col.REFERRER in events.columns:
                events[REFERRER_USER_ID] = _ref_user(events[Col.REFERRER], identity).to_numpy()
        if not events[Col.TS].is_monotonic_increasing:  # logs usually arrive in time order
            events = events.sort_values(Col.TS, kind="stable").reset_index(drop=True)
        tables: dict[str, pd.DataFrame] = {}
        if members is not None:
            tables["group_members"] = _with_user(members, identity)
        if groups is not None:
            g = groups.copy()
            if Col.LEADER in g.columns:
                g["leader_user_id"] = _ref_user(g[Col.LEADER], identity).to_numpy()
            tables["groups"] = g
        for name in ("live_sessions", "hosts"):
            t = data.clean(name)
            if t is not None:
                tables[name] = t
        manual_u = _with_user(manual, identity) if manual is not None else None

    rules = load_rules(settings.features.tag_rules)  # tiers and tags read the same rules
    with _step("profiles", timings, bar):
        items = catalogue(data.clean("items"), events)
        profile = engine_job.profiles(engine) if engine is not None else rfm(events)
        tiers = value_tiers(profile, rules)
        profile["value_tier"] = tiers["detail"].to_numpy()
        profile["rfm_score"] = tiers["rfm_score"].to_numpy()
        n_ids = identity.table.groupby(Col.USER_ID).size().rename("n_identifiers")
        users = profile.merge(n_ids, left_on=Col.USER_ID, right_index=True, how="left")

    with _step("tags", timings, bar):
        tags = build_tags(
            events,
            profile,
            rules,
            items=items,
            members=tables.get("group_members"),
            groups=groups,
            manual=manual_u,
        )
        constraints = resolve_constraints(tags, items, rules)

    with _step("baskets", timings, bar):
        bask = baskets(events)

    inter = None
    if engine is not None:
        with _step("matrix triples", timings, bar):
            inter = engine_job.interactions(
                engine,
                IdMap.from_values(identity.table[Col.USER_ID]),
                IdMap.from_values(items[Col.ITEM_ID]),
                settings.features.event_weights,
                settings.features.half_life_days,
            )
    bar.close()
    identifiers_raw = events[[Col.ID_TYPE, Col.ID_VALUE]].drop_duplicates()
    summary: dict[str, Any] = {
        "data_dir": str(data.root),
        "tables": {
            name: {**v.counts, "files": data.files.get(name, [])} for name, v in data.tables.items()
        },
        "tables_absent": [t for t in TABLES if t not in data.tables],
        "identifiers_in_events_raw": int(len(identifiers_raw)),
        "identifiers_in_events": int(
            id_keys(identifiers_raw[Col.ID_TYPE], identifiers_raw[Col.ID_VALUE]).nunique()
        ),
        "identifiers_total": int(len(identity.table)),
        "users_before_unification": int(len(identifiers_raw)),
        "users_after_unification": int(events[Col.USER_ID].nunique()),
        "users_total": int(identity.table[Col.USER_ID].nunique()),
        "merges_of_known_users": int(len(identity.merges)),
        "suspicious_shared_identifiers": int(len(identity.suspicious)),
        "events_kept": int(len(events)),
        "items": int(len(items)),
        "items_not_in_catalogue": int((~items["in_catalogue"]).sum()),
        "tags": int(len(tags)),
        "manual_tags": int((tags["source"] == "manual").sum()),
        "constraint_pairs": int(len(constraints)),
        "timings_s": timings,
        "engine": engine.name if engine is not None else "pandas",
    }
    return FeatureStore(
        events, identity, items, users, tags, constraints, bask, tables, summary, inter
    )


def build_matrices(fs: FeatureStore, settings: Settings) -> Interactions:
    """The user-item matrices and side features of a feature store."""
    users = IdMap.from_values(fs.identity.table[Col.USER_ID])
    items = IdMap.from_values(fs.items[Col.ITEM_ID])
    if fs.interactions is not None:
        inter = fs.interactions
    else:
        inter = build_interactions(
            fs.events,
            users,
            items,
            settings.features.event_weights,
            settings.features.half_life_days,
        )
    inter.item_features, inter.item_feature_names = item_feature_matrix(items, fs.items)
    inter.user_features, inter.user_feature_names = user_feature_matrix(users, fs.tags)
    members = fs.tables.get("group_members")
    if members is not None:
        inter = attach_groups(inter, members)
    return inter


def write_store(
    fs: FeatureStore, out: Path, settings: Settings, rejects: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    """Write every table, the matrices, the rejects and summary.json; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    (out / store.REJECTS_DIR).mkdir(exist_ok=True)
    for table, rej in rejects.items():
        rej.to_csv(store.rejects_path(out, table), index=False, encoding="utf-8")
    if fs.identity.table is not None:
        fs.identity.table.to_parquet(out / store.IDENTITY, index=False)
    if len(fs.identity.suspicious):  # shared identifiers set aside, not merged through
        fs.identity.suspicious.to_csv(out / store.SUSPICIOUS, index=False, encoding="utf-8")
    merges_path = out / store.MERGES
    merges = fs.identity.merges.assign(logged_at=pd.Timestamp.now(tz="UTC"))
    if merges_path.exists():  # the merge log is append-only across rebuilds
        merges = pd.concat([pd.read_parquet(merges_path), merges], ignore_index=True)
    merges.to_parquet(merges_path, index=False)
    writes: list[tuple[str, pd.DataFrame]] = [
        (store.EVENTS, fs.events),
        (store.ITEMS, fs.items),
        (store.USERS, fs.users),
        (store.TAGS, fs.tags),
        (store.CONSTRAINTS, fs.constraints),
        (store.BASKETS, fs.baskets),
    ]
    names = {
        "groups": store.GROUPS,
        "group_members": store.GROUP_MEMBERS,
        "live_sessions": store.LIVE_SESSIONS,
        "hosts": store.HOSTS,
    }
    writes += [(names[k], v) for k, v in fs.tables.items()]
    for name, df in writes:
        df.to_parquet(out / name, index=False)
    t0 = time.perf_counter()
    inter = build_matrices(fs, settings)
    inter.save(out / store.MATRIX_DIR)
    summary = dict(fs.summary)
    summary["timings_s"] = {**summary["timings_s"], "matrices": round(time.perf_counter() - t0, 3)}
    summary["matrix"] = {
        "users": inter.shape[0],
        "items": inter.shape[1],
        "nnz": int(inter.weights.nnz),
    }
    summary["rejects_files"] = {t: str(store.rejects_path(out, t)) for t in rejects}
    summary["out_dir"] = str(out)
    (out / store.SUMMARY).write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    return summary


def run(
    data_dir: Path,
    out: Path,
    settings: Settings,
    previous: Path | None = None,
    progress: bool = True,
    use_store: bool | None = None,
    engine: str = DEFAULT_ENGINE,
    spark_master: str | None = None,
) -> dict[str, Any]:
    """Load, validate, build and write the feature store; returns the summary.

    Rows of the ingestion store (``settings.store_url``) are added to the data directory's
    files when `use_store` (default ``settings.store.read_by_feature_job``) and a store exists.
    """
    t0 = time.perf_counter()
    if progress:
        Steps("linli features", 0).note(f"reading and validating the tables in {data_dir}")
    if use_store is None:
        use_store = settings.store.read_by_feature_job
    ingested = read_store_tables(settings.store_url) if use_store else {}
    data = load_data_dir(data_dir, extra=ingested, extra_source=redact(settings.store_url))
    load_s = time.perf_counter() - t0
    _stop_without_events(data, out)
    prev_path = previous if previous is not None else out / store.IDENTITY
    prev = pd.read_parquet(prev_path) if prev_path.exists() else None
    prev_snapshot = _previous_snapshot(out)
    if prev is not None:
        log.info("seeding identity from %s (%d identifiers)", prev_path, len(prev))
    if engine == PANDAS:
        fs = build_store(data, settings, prev, progress=progress)
    else:
        with open_engine(engine, spark_master=spark_master) as eng:
            fs = build_store(data, settings, prev, progress=progress, engine=eng)
    fs.summary["timings_s"] = {"load_and_validate": round(load_s, 3), **fs.summary["timings_s"]}
    fs.summary["encodings"] = data.encodings
    fs.summary["reject_rates"] = reject_rates(fs.summary["tables"])
    fs.summary["max_reject_rate"] = settings.features.max_reject_rate
    fs.summary["event_store"] = {
        "url": redact(settings.store_url) if use_store else None,
        "rows": {name: int(len(df)) for name, df in ingested.items()},
    }
    rejects = {name: v.rejects for name, v in data.tables.items()}
    summary = write_store(fs, out, settings, rejects)
    summary["rebuild"] = rebuild_report(prev, fs, prev_snapshot)
    summary["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
    (out / store.SUMMARY).write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    return summary


def _previous_snapshot(out: Path) -> pd.Timestamp | None:
    meta = out / store.MATRIX_DIR / "meta.json"
    if not meta.exists():
        return None
    try:
        return pd.Timestamp(json.loads(meta.read_text(encoding="utf-8"))["snapshot"])
    except (ValueError, KeyError):
        return None


def rebuild_report(
    prev: pd.DataFrame | None, fs: FeatureStore, prev_snapshot: pd.Timestamp | None
) -> dict[str, Any]:
    """What a rebuild over an earlier store kept and redid (empty dict on a first build).

    Every step is recomputed over all events (the job is a full recompute); the report says
    how much of that input is new and that every earlier identifier kept its user id.
    """
    if prev is None or not len(prev):
        return {}
    key = id_keys(prev[Col.ID_TYPE], prev[Col.ID_VALUE])
    before = pd.Series(prev[Col.USER_ID].to_numpy(), index=key.to_numpy())
    now_t = fs.identity.table
    now = pd.Series(
        now_t[Col.USER_ID].to_numpy(), index=id_keys(now_t[Col.ID_TYPE], now_t[Col.ID_VALUE])
    )
    common = before.index.intersection(now.index)
    absorbed = set(fs.identity.merges["absorbed_user_id"].astype(str))
    changed = before[common] != now[common]
    n_events = len(fs.events)
    newer = (
        int((fs.events[Col.TS] > prev_snapshot).sum()) if prev_snapshot is not None else n_events
    )
    return {
        "previous_identifiers": int(len(before)),
        "identifiers_new": int(len(now.index.difference(before.index))),
        "identifiers_keeping_their_user_id": int((~changed).sum()),
        "identifiers_renamed_by_merges": int(changed[before[common].isin(absorbed)].sum()),
        "identifiers_renamed_otherwise": int(changed[~before[common].isin(absorbed)].sum()),
        "events_after_previous_snapshot": newer,
        "events_recomputed": n_events,
        "share_of_events_new": round(newer / n_events, 4) if n_events else 0.0,
    }


def _stop_without_events(data: DataDir, out: Path) -> None:
    """No valid event at all: write the rejects (nothing is lost) and stop with one line."""
    events = data.tables["events"]
    if len(events.clean):
        return
    path = store.rejects_path(out, "events")
    path.parent.mkdir(parents=True, exist_ok=True)
    events.rejects.to_csv(path, index=False, encoding="utf-8")
    n = events.counts["read"]
    reasons = reject_reasons(events.rejects)
    raise LinliInputError(
        f"no valid event rows (read {n}, rejected {n}{': ' + reasons if reasons else ''})",
        file=(data.files.get("events") or [str(data.root)])[0],
        hint=f"every row is in {path}; fix them or add rows"
        if n
        else "the file has a header and no rows; add events",
    )


def reject_rates(tables: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Share of each table's rows that were rejected."""
    return {t: round(c["rejected"] / c["read"], 4) for t, c in tables.items() if c["read"]}


def reject_reasons(rejects: pd.DataFrame, top: int = 2) -> str:
    """The most common reject reasons (their kind), for a one-line message."""
    if rejects.empty:
        return ""
    kinds = rejects[Col.REASON].astype(str).str.split(":", n=1).str[0].value_counts()
    return "; ".join(f"{k} x{v}" for k, v in kinds.head(top).items())


def check_reject_rates(summary: dict[str, Any], max_rate: float) -> None:
    """Raise a one-line error when a table lost more than `max_rate` of its rows to rejects."""
    over = {t: r for t, r in summary["reject_rates"].items() if r > max_rate}
    if not over:
        return
    table, rate = max(over.items(), key=lambda kv: kv[1])
    files = summary["tables"][table].get("files") or [summary["data_dir"]]
    rej = summary.get("rejects_files", {}).get(table, "")
    raise LinliInputError(
        f"{rate:.0%} of the {table} rows were rejected (more than --max-reject-rate "
        f"{max_rate:g}); the feature store was written, but check the data",
        file=files[0],
        hint=f"reasons are in {rej}; fix the rows, or pass --max-reject-rate {min(1.0, rate + 0.01):.2f}"
        " if this is expected",
    )


def _print_summary(s: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    echo(f"feature store: {s['out_dir']}")
    for name, c in s["tables"].items():
        echo(
            f"  {name:<15} read {c['read']:>10,}  kept {c['kept']:>10,}  rejected {c['rejected']:>8,}"
        )
    ingested = s.get("event_store") or {}
    if ingested.get("rows"):
        rows = ", ".join(f"{k} {v:,}" for k, v in ingested["rows"].items())
        echo(f"  ingestion store {ingested['url']}: {rows} (validated with the files)")
    echo(
        f"  identifiers in events {s['identifiers_in_events_raw']:,} -> users {s['users_after_unification']:,} ({s['merges_of_known_users']} merges of known users)"
    )
    echo(
        f"  matrix {s['matrix']['users']:,} users x {s['matrix']['items']:,} items, {s['matrix']['nnz']:,} non-zeros"
    )
    echo(
        f"  rejects: {Path(s['out_dir']) / store.REJECTS_DIR}/<table>.csv   summary: {Path(s['out_dir']) / store.SUMMARY}"
    )
    for path, enc in (s.get("encodings") or {}).items():
        if enc != "utf-8":
            echo(f"  read {path} as {enc}")
    for table, rate in (s.get("reject_rates") or {}).items():
        if rate > s.get("max_reject_rate", 1.0):
            echo(f"  WARNING: {rate:.0%} of {table} rows rejected")
    rb = s.get("rebuild") or {}
    if rb:
        echo(
            f"  rebuild: {rb['identifiers_keeping_their_user_id']:,} of {rb['previous_identifiers']:,} "
            f"earlier identifiers kept their user id ({rb['identifiers_renamed_by_merges']} renamed "
            f"by merges), {rb['identifiers_new']:,} new; recomputed all {rb['events_recomputed']:,} "
            f"events, {rb['events_after_previous_snapshot']:,} of them after the previous snapshot"
        )
    echo(f"  time {s['timings_s']['total']:.1f}s [{s.get('engine', 'pandas')}]")


def main(argv: list[str] | None = None) -> int:
    """CLI: `linli features build --data DIR --out DIR`."""
    p = LinliParser(prog="linli features", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="data directory -> feature store")
    b.add_argument(
        "--data", type=existing_dir, required=True, help="data directory (SCHEMA.md format)"
    )
    b.add_argument(
        "--out", type=Path, default=None, help="feature store directory (default WORK_DIR/features)"
    )
    b.add_argument(
        "--previous",
        type=Path,
        default=None,
        help="identity.parquet of an earlier build (default OUT/identity.parquet)",
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bar or step lines")
    b.add_argument(
        "--max-reject-rate",
        type=float,
        default=None,
        help="exit non-zero when a table loses more than this share of rows to rejects "
        "(default settings.features.max_reject_rate, 0.5)",
    )
    b.add_argument(
        "--no-store",
        action="store_true",
        help="leave out the rows of the ingestion store (settings.store_url)",
    )
    b.add_argument(
        "--engine",
        choices=(PANDAS, *ENGINES),
        default=DEFAULT_ENGINE,
        help="what runs identity resolution, attaching user ids and the matrix triples: "
        f"pandas, duckdb (embedded) or spark (default {DEFAULT_ENGINE})",
    )
    b.add_argument(
        "--spark-master",
        default=None,
        help="Spark master URL for --engine spark, e.g. spark://host:7077 (default local[2])",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings()
    if args.max_reject_rate is not None:
        if not 0.0 <= args.max_reject_rate <= 1.0:
            raise LinliInputError(
                f"--max-reject-rate {args.max_reject_rate} is not a share", hint="use 0..1"
            )
        settings.features.max_reject_rate = args.max_reject_rate
    out = args.out or settings.work_dir / "features"
    try:
        if args.spark_master is not None:
            if args.engine != "spark":
                raise LinliInputError(
                    "--spark-master is for --engine spark", hint="add --engine spark"
                )
            check_master(args.spark_master)
        summary = run(
            args.data,
            out,
            settings,
            args.previous,
            progress=not args.no_progress,
            use_store=False if args.no_store else None,
            engine=args.engine,
            spark_master=args.spark_master,
        )
    except (LinliInputError, FileNotFoundError, StoreError) as exc:
        print(f"linli features: error: {one_line(exc)}", file=sys.stderr)
        return 2
    _print_summary(summary)
    check_reject_rates(summary, settings.features.max_reject_rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
