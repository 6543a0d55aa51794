"""The feature store's tables written from the engine (see :mod:`features.store_layout`).

Each table is one SELECT over the job's engine tables, written as one Parquet file; every
`<x>_us` column becomes the China-time timestamp `<x>` (:meth:`Engine.write_parquet`).
Rows keep a deterministic order: events by time then input order, side tables by input order.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from features import store_layout as store
from features.engine.base import ROW, Engine
from features.engine.constraints_sql import sorted_constraints_sql
from features.engine.sql_text import buy_types
from features.engine.tags_sql import sorted_tags_sql
from features.matrix import USER_FEATURE_EXCLUDED

log = logging.getLogger(__name__)

OPTIONAL_TABLES = {  # engine table -> store file, written when the data directory has the table
    "groups_c": ("groups", store.GROUPS),
    "members_u": ("group_members", store.GROUP_MEMBERS),
    "clean_live_sessions": ("live_sessions", store.LIVE_SESSIONS),
    "clean_hosts": ("hosts", store.HOSTS),
}


def _without_row(engine: Engine, table: str) -> str:
    return ", ".join(c for c in engine.columns(table) if c != ROW)


def events_sql(engine: Engine) -> str:
    """The clean events with their user ids, in time order (ties in input order)."""
    return f"SELECT {_without_row(engine, 'ev_u')} FROM ev_u ORDER BY ts_us, {ROW}"


def baskets_sql() -> str:
    """Purchase lines with their user, time and context; quantity defaults to 1."""
    return f"""
        SELECT order_id, user_id, ts_us, item_id, coalesce(quantity, 1.0) AS quantity, amount,
               group_id, live_id, event_type
        FROM ev_u WHERE event_type IN ({buy_types()})
        ORDER BY ts_us, order_id, {ROW}
    """


def users_sql() -> str:
    """One row per user: profile (RFM), value tier, RFM score and number of identifiers."""
    return """
        SELECT p.user_id, p.first_us AS first_seen_us, p.last_us AS last_seen_us,
               p.last_order_us AS last_order_us, p.frequency, p.monetary, p.lines,
               p.recency_days, p.aov, p.orders_per_30d, t.detail AS value_tier, t.rfm_score,
               n.n_identifiers
        FROM profile p
        LEFT JOIN tiers_t t ON t.user_id = p.user_id
        LEFT JOIN (SELECT user_id, count(*) AS n_identifiers FROM ident GROUP BY user_id) n
            ON n.user_id = p.user_id
        ORDER BY p.user_id
    """


def feature_tags_sql() -> str:
    """(user_id, tag) of every tag that becomes a user side feature (not group membership)."""
    excluded = " AND ".join(f"NOT starts_with(tag, '{p}')" for p in USER_FEATURE_EXCLUDED)
    return f"SELECT user_id, tag FROM tags_t WHERE {excluded}"


def write_tables(engine: Engine, out: Path, present: set[str]) -> dict[str, int]:
    """Write events, baskets, items, users and the side tables of `present`; rows per file."""
    queries = {
        store.EVENTS: events_sql(engine),
        store.BASKETS: baskets_sql(),
        store.ITEMS: "SELECT * FROM items_c ORDER BY item_id",
        store.USERS: users_sql(),
        store.TAGS: sorted_tags_sql(),
        store.CONSTRAINTS: sorted_constraints_sql(),
    }
    for table, (name, path) in OPTIONAL_TABLES.items():
        if name in present:
            queries[path] = f"SELECT {_without_row(engine, table)} FROM {table} ORDER BY {ROW}"
    rows = {}
    for path, sql in queries.items():
        t0 = time.perf_counter()
        rows[path] = engine.write_parquet(sql, out / path)
        log.info("wrote %s: %d rows in %.2fs", path, rows[path], time.perf_counter() - t0)
    return rows


def write_rejects(engine: Engine, out: Path, table: str, unreadable: pd.DataFrame) -> int:
    """The rejected rows of `table` (as read, with their reason) as CSV; returns the count."""
    rej = engine.fetch(f"SELECT * FROM rej_{table} ORDER BY {ROW}").drop(columns=[ROW])
    if len(unreadable):  # lines no reader could split into fields
        rej = pd.concat([rej, unreadable], ignore_index=True)
    path = store.rejects_path(out, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    rej.to_csv(path, index=False, encoding="utf-8")
    return len(rej)
