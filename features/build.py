"""The feature job: a data directory in the SCHEMA.md format -> a feature store directory.

`linli features build --data DIR --out DIR [--engine duckdb|spark]` (or `python -m
features.build ...`). Every transform runs as SQL in the engine, from the files to the
outputs: validation with rejects, identity resolution, attaching user ids, catalogue,
profiles, tiers, tags and constraints, baskets and the matrix triples; only the aggregated
triples and the small per-user tables come back to Python. Re-running on more data keeps
user ids stable: the previous `identity.parquet` in the output folder (or `--previous`)
seeds the unification.
"""

from __future__ import annotations

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
from features.cli_parser import LinliParser, existing_dir, one_line
from features.engine import job as engine_job
from features.engine import outputs
from features.engine.base import Engine
from features.engine.constraints_sql import resolve_constraints
from features.engine.factory import ENGINES, open_engine
from features.engine.inputs import RawTable, empty_clean_sql, load_raw
from features.engine.profiles_sql import profile_sql
from features.engine.spark import check_master
from features.engine.tags_sql import build_tags
from features.engine.validate_sql import validate_table, validation_counts
from features.errors import LinliInputError
from features.event_store import StoreError, read_store_tables, redact
from features.identity import Identity, id_keys
from features.matrix import IdMap, attach_groups, item_feature_matrix, user_feature_matrix
from features.progress import Steps
from features.schema import TABLES, Col
from features.settings import Settings, load_settings
from features.tags import MANUAL, load_rules

log = logging.getLogger("linli.features")

DEFAULT_ENGINE = "duckdb"
UNKNOWN_CATEGORY = "unknown"
STEPS = (
    "read and validate",
    "identity",
    "attach user ids",
    "profiles and tags",
    "matrix triples",
    "write",
)


@contextmanager
def _step(name: str, timings: dict[str, float], bar: Steps) -> Iterator[None]:
    with bar.step(name):
        t0 = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - t0, 3)
    log.info("%s: %.2fs", name, timings[name])


def read_and_validate(
    engine: Engine, root: Path, ingested: dict[str, pd.DataFrame], ingested_source: str
) -> tuple[dict[str, RawTable], dict[str, dict[str, Any]]]:
    """Every table of `root` read into the engine and validated: `clean_<t>` and `rej_<t>`.

    Returns the tables read and their counts (read, kept, rejected, per reason). An absent
    optional table is an empty `clean_<t>`.
    """
    raws: dict[str, RawTable] = {}
    counts: dict[str, dict[str, Any]] = {}
    for name, spec in TABLES.items():
        raw = load_raw(engine, root, spec, ingested.get(name), ingested_source)
        if raw is None:
            engine.create(f"clean_{name}", empty_clean_sql(spec))
            log.info("table %s: absent (optional)", name)
            continue
        validate_table(engine, spec, raw.name, f"clean_{name}", f"rej_{name}")
        c = validation_counts(engine, f"clean_{name}", f"rej_{name}")
        for reason in raw.unreadable[Col.REASON].astype(str):
            kind = f"rejected[{reason.split(':', 1)[0]}]"
            c["read"], c["rejected"], c[kind] = c["read"] + 1, c["rejected"] + 1, c.get(kind, 0) + 1
        raws[name], counts[name] = raw, dict(sorted(c.items(), key=_count_order))
        log.info("table %s: %s", name, counts[name])
    return raws, counts


def _count_order(kv: tuple[str, int]) -> tuple[int, str]:
    first = ("read", "kept", "rejected")
    return (first.index(kv[0]), "") if kv[0] in first else (len(first), kv[0])


def build(
    engine: Engine,
    data_dir: Path,
    out: Path,
    settings: Settings,
    previous_identity: pd.DataFrame | None = None,
    ingested: dict[str, pd.DataFrame] | None = None,
    ingested_source: str = "",
    progress: bool = True,
) -> tuple[dict[str, Any], Identity]:
    """Run every step in `engine` and write the feature store to `out`; returns the summary."""
    timings: dict[str, float] = {}
    bar = Steps("linli features", len(STEPS), enabled=progress).start()
    rules = load_rules(settings.features.tag_rules)  # tiers and tags read the same rules
    out.mkdir(parents=True, exist_ok=True)
    with _step(STEPS[0], timings, bar):
        raws, counts = read_and_validate(engine, data_dir, ingested or {}, ingested_source)
        _stop_without_events(engine, raws, counts, out)
    with _step(STEPS[1], timings, bar):
        engine_job.identity_views(engine)
        engine_job.put_previous(engine, previous_identity)
        identity = engine_job.identity(engine, settings.features.max_people_per_identifier)
    with _step(STEPS[2], timings, bar):
        engine_job.attach_users(engine)
        engine_job.catalogue(engine, UNKNOWN_CATEGORY)
    with _step(STEPS[3], timings, bar):
        engine.create("profile", profile_sql())
        build_tags(engine, rules)
        resolve_constraints(engine, rules)
    with _step(STEPS[4], timings, bar):
        users = IdMap.from_values(identity.table[Col.USER_ID])
        item_ids = engine.fetch("SELECT item_id FROM items_c ORDER BY item_id")["item_id"]
        inter = engine_job.interactions(
            engine,
            users,
            IdMap.from_values(item_ids),
            settings.features.event_weights,
            settings.features.half_life_days,
        )
    with _step(STEPS[5], timings, bar):
        present = set(raws)
        outputs.write_tables(engine, out, present)
        write_identity(identity, out)
        for name, raw in raws.items():
            outputs.write_rejects(engine, out, name, raw.unreadable)
        catalogue = pd.read_parquet(out / store.ITEMS)
        inter.item_features, inter.item_feature_names = item_feature_matrix(inter.items, catalogue)
        user_tags = engine.fetch(outputs.feature_tags_sql())
        inter.user_features, inter.user_feature_names = user_feature_matrix(users, user_tags)
        if "group_members" in present:
            members = pd.read_parquet(
                out / store.GROUP_MEMBERS, columns=[Col.USER_ID, Col.GROUP_ID, Col.LEFT_AT]
            )
            inter = attach_groups(inter, members)
        inter.save(out / store.MATRIX_DIR)
    bar.close()
    summary = _summary(engine, data_dir, raws, counts, identity)
    summary["timings_s"] = timings
    summary["matrix"] = {
        "users": inter.shape[0],
        "items": inter.shape[1],
        "nnz": int(inter.weights.nnz),
    }
    summary["engine"] = engine.name
    return summary, identity


def write_identity(identity: Identity, out: Path) -> None:
    """identity.parquet, the append-only merge log and the suspicious shared identifiers."""
    identity.table.to_parquet(out / store.IDENTITY, index=False)
    if len(identity.suspicious):  # shared identifiers set aside, not merged through
        identity.suspicious.to_csv(out / store.SUSPICIOUS, index=False, encoding="utf-8")
    merges_path = out / store.MERGES
    merges = identity.merges.assign(logged_at=pd.Timestamp.now(tz="UTC"))
    if merges_path.exists():  # the merge log is append-only across rebuilds
        merges = pd.concat([pd.read_parquet(merges_path), merges], ignore_index=True)
    merges.to_parquet(merges_path, index=False)


def _summary(
    engine: Engine,
    data_dir: Path,
    raws: dict[str, RawTable],
    counts: dict[str, dict[str, Any]],
    identity: Identity,
) -> dict[str, Any]:
    """What the job read, kept, unified and produced (summary.json)."""
    ids = engine.fetch(  # ev_keys: each distinct (id_type, id_value) of the events, once
        f"""
        SELECT (SELECT count(*) FROM ev_keys) AS raw_ids,
               (SELECT count(DISTINCT {engine_job.key_sql("id_type", "id_value")})
                FROM ev_keys) AS ids,
               (SELECT count(DISTINCT user_id) FROM ev_keys) AS users,
               (SELECT count(*) FROM clean_events) AS events,
               (SELECT count(*) FROM items_c) AS items,
               (SELECT count(*) FROM items_c WHERE NOT in_catalogue) AS unlisted,
               (SELECT count(*) FROM tags_t) AS tags,
               (SELECT count(*) FROM tags_t WHERE source = '{MANUAL}') AS manual,
               (SELECT count(*) FROM constraints_t) AS pairs
        """
    ).iloc[0]
    return {
        "data_dir": str(data_dir),
        "tables": {name: {**counts[name], "files": raws[name].sources} for name in raws},
        "tables_absent": [t for t in TABLES if t not in raws],
        "identifiers_in_events_raw": int(ids["raw_ids"]),
        "identifiers_in_events": int(ids["ids"]),
        "identifiers_total": int(len(identity.table)),
        "users_before_unification": int(ids["raw_ids"]),
        "users_after_unification": int(ids["users"]),
        "users_total": int(identity.table[Col.USER_ID].nunique()),
        "merges_of_known_users": int(len(identity.merges)),
        "suspicious_shared_identifiers": int(len(identity.suspicious)),
        "events_kept": int(ids["events"]),
        "items": int(ids["items"]),
        "items_not_in_catalogue": int(ids["unlisted"]),
        "tags": int(ids["tags"]),
        "manual_tags": int(ids["manual"]),
        "constraint_pairs": int(ids["pairs"]),
        "encodings": {p: e for r in raws.values() for p, e in r.encodings.items()},
    }


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
    """Read, validate, build and write the feature store; returns the summary.

    Rows of the ingestion store (``settings.store_url``) are added to the data directory's
    files when `use_store` (default ``settings.store.read_by_feature_job``) and a store exists.
    """
    t0 = time.perf_counter()
    if not Path(data_dir).is_dir():
        raise LinliInputError(
            "data directory not found",
            file=data_dir,
            hint="pass the folder holding events.csv etc.",
        )
    if use_store is None:
        use_store = settings.store.read_by_feature_job
    ingested = read_store_tables(settings.store_url) if use_store else {}
    prev_path = previous if previous is not None else out / store.IDENTITY
    prev = pd.read_parquet(prev_path) if prev_path.exists() else None
    prev_snapshot = _previous_snapshot(out)
    if prev is not None:
        log.info("seeding identity from %s (%d identifiers)", prev_path, len(prev))
    with open_engine(
        engine, spark_master=spark_master, memory_limit=settings.features.engine_memory_limit
    ) as eng:
        summary, identity = build(
            eng,
            Path(data_dir),
            out,
            settings,
            prev,
            ingested,
            redact(settings.store_url),
            progress,
        )
        summary["rebuild"] = rebuild_report(eng, prev, identity, prev_snapshot)
    summary["reject_rates"] = reject_rates(summary["tables"])
    summary["max_reject_rate"] = settings.features.max_reject_rate
    summary["event_store"] = {
        "url": redact(settings.store_url) if use_store else None,
        "rows": {name: int(len(df)) for name, df in ingested.items()},
    }
    summary["rejects_files"] = {t: str(store.rejects_path(out, t)) for t in summary["tables"]}
    summary["out_dir"] = str(out)
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
    engine: Engine,
    prev: pd.DataFrame | None,
    identity: Identity,
    prev_snapshot: pd.Timestamp | None,
) -> dict[str, Any]:
    """What a rebuild over an earlier store kept and redid (empty dict on a first build).

    Every step is recomputed over all events (the job is a full recompute); the report says
    how much of that input is new and that every earlier identifier kept its user id.
    """
    if prev is None or not len(prev):
        return {}
    key = id_keys(prev[Col.ID_TYPE], prev[Col.ID_VALUE])
    before = pd.Series(prev[Col.USER_ID].to_numpy(), index=key.to_numpy())
    now_t = identity.table
    now = pd.Series(
        now_t[Col.USER_ID].to_numpy(), index=id_keys(now_t[Col.ID_TYPE], now_t[Col.ID_VALUE])
    )
    common = before.index.intersection(now.index)
    absorbed = set(identity.merges["absorbed_user_id"].astype(str))
    changed = before[common] != now[common]
    n_events = engine.count("clean_events")
    newer = n_events
    if prev_snapshot is not None:
        snap_us = int(prev_snapshot.tz_convert("UTC").value // 1000)
        newer = int(engine.scalar(f"SELECT count(*) FROM clean_events WHERE ts_us > {snap_us}"))  # type: ignore[call-overload]
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


def _stop_without_events(
    engine: Engine, raws: dict[str, RawTable], counts: dict[str, dict[str, Any]], out: Path
) -> None:
    """No valid event at all: write the rejects (nothing is lost) and stop with one line."""
    if counts["events"]["kept"]:
        return
    outputs.write_rejects(engine, out, "events", raws["events"].unreadable)
    path = store.rejects_path(out, "events")
    n = counts["events"]["read"]
    reasons = reject_reasons(counts["events"])
    raise LinliInputError(
        f"no valid event rows (read {n}, rejected {n}{': ' + reasons if reasons else ''})",
        file=(raws["events"].sources or [str(out)])[0],
        hint=f"every row is in {path}; fix them or add rows"
        if n
        else "the file has a header and no rows; add events",
    )


def reject_rates(tables: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Share of each table's rows that were rejected."""
    return {t: round(c["rejected"] / c["read"], 4) for t, c in tables.items() if c["read"]}


def reject_reasons(counts: dict[str, Any], top: int = 2) -> str:
    """The most common reject reasons (their kind) of a table's counts, for a one-line message."""
    kinds = {k[len("rejected[") : -1]: v for k, v in counts.items() if k.startswith("rejected[")}
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    return "; ".join(f"{k} x{v}" for k, v in ranked[:top])


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
    echo(f"  time {s['timings_s']['total']:.1f}s [{s.get('engine', DEFAULT_ENGINE)}]")


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
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="what runs the job's transforms: duckdb (embedded, in this process) or spark "
        f"(local mode, or a cluster with --spark-master) (default {DEFAULT_ENGINE})",
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
