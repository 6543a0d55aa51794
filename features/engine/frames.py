"""The feature job's SQL run on in-memory frames: matrices of a training fold, tiers of a report.

Training and the reports cut a store's events (a fold, the purchases before a date) and need
what the feature job computes from them. They get it from the same SQL, run by an in-process
DuckDB on the frame, so each transform keeps one implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.engine.base import ROW
from features.engine.duck import DuckEngine
from features.engine.job import _s, interactions, to_us
from features.engine.profiles_sql import profile_sql
from features.engine.tags_sql import build_tiers, fetch_tiers
from features.matrix import IdMap, Interactions
from features.schema import Col


def events_frame(events: pd.DataFrame) -> pd.DataFrame:
    """The columns the job's SQL reads of `events` (user_id, item_id, event_type, ts_us,
    order_id, amount), in the engine's types; a timestamp without a zone is UTC."""
    n = len(events)
    amount = (
        events[Col.AMOUNT]
        if Col.AMOUNT in events.columns
        else pd.Series(np.nan, index=events.index)
    )
    return pd.DataFrame(
        {
            ROW: np.arange(n, dtype=np.int64),
            "user_id": _s(events.get(Col.USER_ID), n),
            "item_id": _s(events.get(Col.ITEM_ID), n),
            "event_type": _s(events.get(Col.EVENT_TYPE), n),
            "ts_us": to_us(events[Col.TS], n),
            "order_id": _s(events.get(Col.ORDER_ID), n),
            "amount": pd.Series(amount.to_numpy(np.float64), dtype="float64"),
        }
    )


def _us(t: pd.Timestamp) -> int:
    return int(to_us(pd.Series([t]), 1).iloc[0])


def interactions_of_events(
    events: pd.DataFrame,
    users: IdMap,
    items: IdMap,
    event_weights: dict[str, float],
    half_life_days: float,
    snapshot: pd.Timestamp | None = None,
) -> Interactions:
    """:func:`interactions` of an events frame (user_id, item_id, event_type, ts[, order_id]).

    The same SQL as the feature job, run by an in-process DuckDB: the matrices of a training
    fold or of any slice of a store's events. Ages count back from `snapshot` (default the
    latest event); a timestamp without a zone is UTC.
    """
    snapshot_us = _us(snapshot) if snapshot is not None else None
    with DuckEngine() as engine:
        engine.put("ev_u", events_frame(events))
        inter = interactions(engine, users, items, event_weights, half_life_days, snapshot_us)
    if snapshot is not None:
        inter.snapshot = snapshot
    return inter


def tiers_at(
    events: pd.DataFrame, rules: dict[str, Any], snapshots: list[pd.Timestamp]
) -> pd.DataFrame:
    """The value tier of every user with an event before each snapshot (snapshot, user_id, tag).

    Each snapshot's tiers are those the feature job would give on the events before it, with
    recency counted back from the snapshot.
    """
    out = []
    with DuckEngine() as engine:
        engine.put("ev_all", events_frame(events))
        for t in snapshots:
            engine.create("ev_u", f"SELECT * FROM ev_all WHERE ts_us < {_us(t)}")
            if not engine.count("ev_u"):
                continue
            engine.create("profile", profile_sql(_us(t)))
            build_tiers(engine, rules)
            tiers = fetch_tiers(engine)
            out.append(tiers.assign(snapshot=t)[["snapshot", Col.USER_ID, Col.TAG]])
    if not out:
        return pd.DataFrame(columns=["snapshot", Col.USER_ID, Col.TAG])
    return pd.concat(out, ignore_index=True)
