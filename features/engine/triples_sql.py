"""The (user, item, value) triples behind every interaction matrix, computed in the engine.

Input tables: `ev_u` (user_id, item_id, event_type, ts_us, order_id), `umap` (user_id, u),
`imap` (item_id, i), `ew` (event_type, w). Only the aggregated triples come back to Python,
where :func:`features.engine.job.interactions_from_triples` makes them CSR matrices.
"""

from __future__ import annotations

import pandas as pd

from features.engine.base import Engine
from features.engine.sql_text import buy_types
from features.engine.timestamps_sql import CHINA_OFFSET_S

DAY_US = 86_400_000_000
CHINA_OFFSET_US = CHINA_OFFSET_S * 1_000_000  # Asia/Shanghai: UTC+8, no DST since 1991


def exact_sum(x: str) -> str:
    """sum(`x`) of DOUBLEs rounded to 1e-12, added exactly: the same whatever the order the
    engine's parallel workers add them in (a plain float sum differs in the last bits)."""
    return f"CAST(sum(CAST({x} AS DECIMAL(38, 12))) AS DOUBLE)"


def prepare_lines(engine: Engine, half_life_days: float, snapshot_us: int | None = None) -> int:
    """Table `lines`: every known user-item event with its age (days) and decayed strength.

    Ages count back from `snapshot_us` (microseconds since the epoch, UTC), by default the
    latest event; returns the snapshot used.
    """
    if snapshot_us is None:
        snap = engine.scalar("SELECT max(ts_us) AS s FROM ev_u")
        snapshot_us = int(snap) if snap is not None else 0  # type: ignore[call-overload]
    snapshot = snapshot_us
    engine.create(
        "lines",
        f"""
        SELECT um.u, im.i, e.ts_us, e.order_id,
               CAST({snapshot} - e.ts_us AS DOUBLE) / {DAY_US}.0 AS age,
               coalesce(w.w, 0.0) * power(0.5, greatest(CAST({snapshot} - e.ts_us AS DOUBLE)
                   / {DAY_US}.0, 0.0) / {float(half_life_days)!r}) AS strength,
               e.event_type IN ({buy_types()}) AS is_buy
        FROM ev_u e
        JOIN umap um ON um.user_id = e.user_id
        JOIN imap im ON im.item_id = e.item_id
        LEFT JOIN ew w ON w.event_type = e.event_type
        WHERE e.item_id IS NOT NULL AND e.user_id IS NOT NULL
        """,
        keep=True,
    )
    return snapshot


def weight_triples(engine: Engine) -> pd.DataFrame:
    """(u, i, v): summed decayed event strength of each user-item pair."""
    return engine.fetch(
        f"SELECT u, i, {exact_sum('strength')} AS v FROM lines WHERE strength > 0 "
        "GROUP BY u, i ORDER BY u, i"
    )


def purchase_triples(engine: Engine) -> pd.DataFrame:
    """(u, i, n, age1): purchase lines and days since the last one (+1) of each pair."""
    return engine.fetch(
        """
        SELECT u, i, count(*) AS n, min(greatest(age, 0.0) + 1.0) AS age1
        FROM lines WHERE is_buy GROUP BY u, i ORDER BY u, i
        """
    )


def basket_triples(engine: Engine) -> pd.DataFrame:
    """Purchase lines as ordered baskets (columns of :class:`features.matrix.BasketCol`).

    A basket is an order, else a (China-time) day; a user's baskets are numbered 0, 1, ...
    by their earliest line, ties by order id, then by day.
    """
    engine.create(
        "bl",
        f"""
        SELECT u, i, greatest(age, 0.0) AS age, strength AS w, order_id,
               CASE WHEN order_id IS NULL
                    THEN CAST(floor(CAST(ts_us + {CHINA_OFFSET_US} AS DOUBLE) / {DAY_US}.0) AS BIGINT)
               END AS day
        FROM lines WHERE is_buy
        """,
    )
    engine.create(
        "bk",
        """
        SELECT u, order_id, day, max(age) AS bage,
               row_number() OVER (PARTITION BY u ORDER BY max(age) DESC, order_id NULLS LAST,
                                  day NULLS LAST) - 1 AS basket
        FROM bl GROUP BY u, order_id, day
        """,
    )
    return engine.fetch(
        f"""
        SELECT b.u AS "user", k.basket, b.i AS item, max(k.bage) AS age,
               {exact_sum("b.w")} AS weight, count(*) AS "count"
        FROM bl b JOIN bk k ON k.u = b.u
            AND k.order_id IS NOT DISTINCT FROM b.order_id AND k.day IS NOT DISTINCT FROM b.day
        GROUP BY b.u, k.basket, b.i
        ORDER BY 1, 2, 3
        """
    )
