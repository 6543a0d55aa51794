"""The feature job's relational steps on an engine: register inputs, resolve identity, attach
user ids to events, and turn the matrix triples into CSR matrices.

Pandas holds only what goes in (the validated tables) and what comes back (the identity
table, each event's user ids, one profile row per user, the aggregated triples).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.engine.base import Engine
from features.engine.identity_sql import key_sql, ref_type_sql, ref_value_sql, resolve_identity
from features.engine.profiles_sql import profile_sql
from features.engine.triples_sql import (
    basket_triples,
    prepare_lines,
    purchase_triples,
    weight_triples,
)
from features.identity import ABSORBED, FIRST_SEEN, KEPT, KEY, Identity
from features.matrix import BasketCol, IdMap, Interactions
from features.schema import CHINA_TZ, Col

REFERRER_USER_ID = "referrer_user_id"


def to_us(ts: pd.Series | None, n: int) -> pd.Series:
    """Microseconds since the epoch (UTC) of each timestamp, missing where NaT or absent."""
    if ts is None:
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    t = pd.to_datetime(ts, utc=True)
    us = t.dt.tz_localize(None).astype("datetime64[us]").to_numpy().astype(np.int64)
    out = pd.Series(us, dtype="Int64")
    out[t.isna().to_numpy()] = pd.NA
    return out


def from_us(us: pd.Series) -> pd.Series:
    """UTC timestamps (ns) from microseconds since the epoch."""
    return pd.to_datetime(pd.Series(us, dtype="Int64"), unit="us", utc=True).astype(
        "datetime64[ns, UTC]"
    )


def _s(values: pd.Series | None, n: int) -> pd.Series:
    if values is None:
        return pd.Series(pd.NA, index=range(n), dtype="string")
    return pd.Series(values.to_numpy(), dtype="string")


def register_inputs(
    engine: Engine,
    events: pd.DataFrame,
    links: pd.DataFrame | None,
    extra_ids: list[pd.DataFrame],
    extra_refs: list[pd.Series],
    previous: pd.DataFrame | None,
) -> None:
    """Put the validated inputs the relational steps read into the engine.

    `extra_ids` are frames of identifiers seen outside events (id_type, id_value and, when
    known, first_seen); `extra_refs` are `type:value` references (group leaders).
    """
    n = len(events)
    engine.put(
        "ev",
        pd.DataFrame(
            {
                "_row": np.arange(n, dtype=np.int64),
                "id_type": _s(events.get(Col.ID_TYPE), n),
                "id_value": _s(events.get(Col.ID_VALUE), n),
                "ts_us": to_us(events.get(Col.TS), n),
                "event_type": _s(events.get(Col.EVENT_TYPE), n),
                "item_id": _s(events.get(Col.ITEM_ID), n),
                "order_id": _s(events.get(Col.ORDER_ID), n),
                "amount": pd.Series(
                    events[Col.AMOUNT].to_numpy(np.float64)
                    if Col.AMOUNT in events.columns
                    else np.full(n, np.nan),
                    dtype="float64",
                ),
                "referrer": _s(events.get(Col.REFERRER), n),
            }
        ),
    )
    ids = [
        pd.DataFrame(
            {
                "id_type": _s(t[Col.ID_TYPE], len(t)),
                "id_value": _s(t[Col.ID_VALUE], len(t)),
                "ts_us": to_us(t.get(FIRST_SEEN), len(t)),
            }
        )
        for t in extra_ids
    ]
    engine.put("extra_ids", pd.concat([_empty_ids(), *ids], ignore_index=True))
    refs = [pd.Series(r.dropna().to_numpy(), dtype="string") for r in extra_refs]
    engine.put(
        "extra_refs",
        pd.DataFrame({"referrer": pd.concat([pd.Series([], dtype="string"), *refs])}),
    )
    nl = 0 if links is None else len(links)
    engine.put(
        "links",
        pd.DataFrame(
            {
                c: _s(None if links is None else links[c], nl)
                for c in (Col.ID_TYPE_A, Col.ID_VALUE_A, Col.ID_TYPE_B, Col.ID_VALUE_B)
            }
            | {"ts_us": to_us(None if links is None else links.get(Col.TS), nl)}
        ),
    )
    np_ = 0 if previous is None else len(previous)
    prev = previous if previous is not None else pd.DataFrame()
    engine.put(
        "prev",
        pd.DataFrame(
            {
                "id_type": _s(prev.get(Col.ID_TYPE), np_),
                "id_value": _s(prev.get(Col.ID_VALUE), np_),
                "user_id": _s(prev.get(Col.USER_ID), np_),
                "first_seen_us": to_us(prev.get(FIRST_SEEN), np_),
            }
        ),
    )


def resolve_in_engine(
    engine: Engine,
    seen: pd.DataFrame,
    links: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    max_people_per_identifier: int | None = None,
) -> Identity:
    """:func:`features.identity.resolve`'s contract, run in `engine`.

    `seen` has columns id_key (`type:value`), first_seen.
    """
    keys = seen[KEY].astype("string")
    parts = keys.str.split(":", n=1)
    ids = pd.DataFrame(
        {
            Col.ID_TYPE: parts.str[0],
            Col.ID_VALUE: parts.str[1],
            FIRST_SEEN: seen[FIRST_SEEN].to_numpy(),
        }
    )
    register_inputs(engine, pd.DataFrame(), links, [ids], [], previous)
    return identity(engine, max_people_per_identifier)


def _empty_ids() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id_type": pd.Series([], dtype="string"),
            "id_value": pd.Series([], dtype="string"),
            "ts_us": pd.Series([], dtype="Int64"),
        }
    )


def identity(engine: Engine, max_people_per_identifier: int | None) -> Identity:
    """Resolve identity in the engine and bring back the identity, merge and suspicious tables."""
    resolve_identity(engine, max_people_per_identifier)
    t = engine.fetch(
        "SELECT id_type, id_value, user_id, first_seen_us FROM ident "
        "ORDER BY user_id, id_type, id_value"
    )
    table = pd.DataFrame(
        {
            Col.ID_TYPE: t["id_type"].astype("string"),
            Col.ID_VALUE: t["id_value"].astype("string"),
            Col.USER_ID: t["user_id"].astype("string"),
            FIRST_SEEN: from_us(t["first_seen_us"]),
        }
    )
    m = engine.fetch("SELECT * FROM merges_t ORDER BY kept_user_id, absorbed_user_id")
    merges = pd.DataFrame(
        {
            KEPT: m["kept_user_id"].astype("string"),
            ABSORBED: m["absorbed_user_id"].astype("string"),
            "first_seen_absorbed": from_us(m["first_seen_absorbed_us"]),
            "first_seen_kept": from_us(m["first_seen_kept_us"]),
            "reason": m["reason"].astype("string"),
        }
    )
    s = engine.fetch("SELECT id_key, people, links, reason FROM suspicious_t ORDER BY id_key")
    suspicious = pd.DataFrame(
        {
            KEY: s["id_key"].astype("string"),
            "people": s["people"].astype("int64"),
            "links": s["links"].astype("int64"),
            "reason": s["reason"].astype("string"),
        }
    )
    return Identity(table=table, merges=merges, suspicious=suspicious)


def attach_users(engine: Engine, events: pd.DataFrame) -> pd.DataFrame:
    """`events` (in the order registered) plus user_id and, with referrers, referrer_user_id."""
    ref_k = key_sql(ref_type_sql("referrer"), ref_value_sql("referrer"))
    # keys are normalised once per distinct identifier, then joined back to the events
    engine.create(
        "ev_keys",
        f"""
        SELECT p.id_type, p.id_value, u.user_id
        FROM (SELECT DISTINCT id_type, id_value FROM ev) p
        LEFT JOIN ident u ON u.k = {key_sql("p.id_type", "p.id_value")}
        """,
    )
    engine.create(
        "ref_keys",
        f"""
        SELECT r.referrer, u.user_id
        FROM (SELECT DISTINCT referrer FROM ev WHERE referrer IS NOT NULL) r
        LEFT JOIN ident u ON u.k = {ref_k}
        """,
    )
    engine.create(
        "ev_u",
        """
        SELECT e._row, e.ts_us, e.event_type, e.item_id, e.order_id, e.amount,
               k.user_id, r.user_id AS referrer_user_id
        FROM ev e
        LEFT JOIN ev_keys k ON k.id_type = e.id_type AND k.id_value = e.id_value
        LEFT JOIN ref_keys r ON r.referrer = e.referrer
        """,
        keep=True,
    )
    got = engine.fetch("SELECT user_id, referrer_user_id FROM ev_u ORDER BY _row")
    out = events.assign(**{Col.USER_ID: got["user_id"].astype("string").to_numpy()})
    if Col.REFERRER in events.columns:
        out[REFERRER_USER_ID] = got["referrer_user_id"].astype("string").to_numpy()
    return out


def profiles(engine: Engine) -> pd.DataFrame:
    """Recency, frequency, monetary, AOV and activity span per user (:func:`features.tags.rfm`)."""
    p = engine.fetch(profile_sql())
    china = CHINA_TZ
    return pd.DataFrame(
        {
            Col.USER_ID: p["user_id"].astype("string").to_numpy(),
            "first_seen": from_us(p["first_us"]).dt.tz_convert(china).to_numpy(),
            "last_seen": from_us(p["last_us"]).dt.tz_convert(china).to_numpy(),
            "last_order": from_us(p["last_order_us"]).dt.tz_convert(china).to_numpy(),
            "frequency": p["frequency"].to_numpy(np.int64),
            "monetary": p["monetary"].to_numpy(np.float64),
            "lines": p["lines"].to_numpy(np.int64),
            "recency_days": p["recency_days"].to_numpy(np.float64),
            "aov": p["aov"].to_numpy(np.float64),
            "orders_per_30d": p["orders_per_30d"].to_numpy(np.float64),
        }
    )


def _csr(
    t: pd.DataFrame, col: str, shape: tuple[int, int], dtype: type = np.float32
) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (t[col].to_numpy(dtype), (t["u"].to_numpy(np.int64), t["i"].to_numpy(np.int64))),
        shape=shape,
    )
    return m


def interactions(
    engine: Engine,
    users: IdMap,
    items: IdMap,
    event_weights: dict[str, float],
    half_life_days: float,
) -> Interactions:
    """Weights, purchases, last-purchase age and baskets from the engine's triples."""
    engine.put(
        "umap",
        pd.DataFrame({"user_id": pd.Series(users.ids, dtype="string"), "u": np.arange(len(users))}),
    )
    engine.put(
        "imap",
        pd.DataFrame({"item_id": pd.Series(items.ids, dtype="string"), "i": np.arange(len(items))}),
    )
    engine.put(
        "ew",
        pd.DataFrame(
            {
                "event_type": pd.Series(list(event_weights), dtype="string"),
                "w": np.array(list(event_weights.values()), dtype=np.float64),
            }
        ),
    )
    snapshot_us = prepare_lines(engine, half_life_days)
    shape = (len(users), len(items))
    w = weight_triples(engine)
    p = purchase_triples(engine)
    b = basket_triples(engine)
    baskets = pd.DataFrame(
        {
            BasketCol.USER: b["user"].to_numpy(np.int64),
            BasketCol.BASKET: b["basket"].to_numpy(np.int64),
            BasketCol.ITEM: b["item"].to_numpy(np.int64),
            BasketCol.AGE: b["age"].to_numpy(np.float64),
            BasketCol.WEIGHT: b["weight"].to_numpy(np.float64),
            BasketCol.COUNT: b["count"].to_numpy(np.int64),
        }
    )
    snapshot = pd.Timestamp(snapshot_us, unit="us", tz="UTC").tz_convert(CHINA_TZ)
    return Interactions(
        users,
        items,
        _csr(w, "v", shape),
        _csr(p, "n", shape),
        _csr(p, "age1", shape),
        snapshot,
        baskets=baskets,
    )
