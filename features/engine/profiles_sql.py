"""User profiles in the engine: recency, frequency, monetary, AOV and activity span (RFM).

Input table: `ev_u` (user_id, ts_us, event_type, order_id, amount). Value tiers and tags are
computed from it by :mod:`features.engine.tags_sql`.
"""

from __future__ import annotations

from features.engine.sql_text import buy_types


def profile_sql(snapshot_us: int | None = None) -> str:
    """Per user: first / last event, last order, orders, spend, lines, recency, AOV, orders per 30 days.

    Recency counts back from `snapshot_us` (UTC microseconds), by default the latest event.
    """
    snap = (
        f"SELECT {int(snapshot_us)} AS snap"
        if snapshot_us is not None
        else ("SELECT max(ts_us) AS snap FROM ev_u")
    )
    return f"""
        SELECT u.user_id, u.first_us, u.last_us, o.last_order_us,
               coalesce(o.f, 0) AS frequency, coalesce(o.m, 0.0) AS monetary,
               coalesce(o.n, 0) AS lines,
               CAST(s.snap - o.last_order_us AS DOUBLE) / 1000000.0 / 86400.0 AS recency_days,
               CASE WHEN coalesce(o.f, 0) > 0 THEN coalesce(o.m, 0.0) / o.f END AS aov,
               coalesce(o.f, 0) / greatest(CAST(u.last_us - u.first_us AS DOUBLE) / 1000000.0
                   / 86400.0, 30.0) * 30.0 AS orders_per_30d
        FROM (SELECT user_id, min(ts_us) AS first_us, max(ts_us) AS last_us
              FROM ev_u WHERE user_id IS NOT NULL GROUP BY user_id) u
        LEFT JOIN (SELECT user_id, max(ts_us) AS last_order_us, count(DISTINCT order_id) AS f,
                          CAST(sum(CAST(coalesce(amount, 0.0) AS DECIMAL(38, 6))) AS DOUBLE) AS m, count(*) AS n
                   FROM ev_u WHERE event_type IN ({buy_types()}) GROUP BY user_id) o
            ON o.user_id = u.user_id
        CROSS JOIN ({snap}) s
        ORDER BY u.user_id
    """
