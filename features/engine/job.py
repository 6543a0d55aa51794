"""The feature job's relational steps on an engine: identity over the validated tables, user
ids attached to events, members, notes and group leaders, the catalogue, and the matrix
triples made CSR matrices.

What comes back to pandas: the identity table (with merges and suspicious identifiers) and
the aggregated triples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.engine.base import ROW, Engine
from features.engine.identity_sql import key_sql, ref_type_sql, ref_value_sql, resolve_identity
from features.engine.triples_sql import (
    basket_triples,
    prepare_lines,
    purchase_triples,
    weight_triples,
)
from features.identity import ABSORBED, FIRST_SEEN, KEPT, KEY, Identity
from features.matrix import BasketCol, IdMap, Interactions
from features.schema import CHINA_TZ, Col


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


def resolve_in_engine(
    engine: Engine,
    seen: pd.DataFrame,
    links: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    max_people_per_identifier: int | None = None,
) -> Identity:
    """The job's identity SQL on given frames (the identity rules' tests).

    `seen` has columns id_key (`type:value`), first_seen: every identifier, as if seen
    outside events; `links` has the identity_links columns; `previous` is an earlier
    identity table.
    """
    parts = seen[KEY].astype("string").str.split(":", n=1)
    n, nl = len(seen), 0 if links is None else len(links)
    none = pd.Series([], dtype="string")
    engine.put(
        "ev",
        pd.DataFrame(
            {"id_type": none, "id_value": none, "ts_us": to_us(None, 0), "referrer": none}
        ),
    )
    engine.put(
        "extra_ids",
        pd.DataFrame(
            {
                "id_type": _s(parts.str[0], n),
                "id_value": _s(parts.str[1], n),
                "ts_us": to_us(seen[FIRST_SEEN], n),
            }
        ),
    )
    engine.put("extra_refs", pd.DataFrame({"referrer": none}))
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
    put_previous(engine, previous)
    return identity(engine, max_people_per_identifier)


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


def identity_views(engine: Engine) -> None:
    """The identity step's inputs as views over the validated tables (`clean_<table>`).

    Identifiers are seen in events (first seen at their earliest event), in group members
    and manual tags; referrers and group leaders are `type:value` references; identity links
    are edges. `prev` (the previous identity table) is put by the caller.
    """
    engine.view("ev", "SELECT _row, id_type, id_value, ts_us, referrer FROM clean_events")
    engine.view(
        "extra_ids",
        "SELECT id_type, id_value, CAST(NULL AS BIGINT) AS ts_us FROM clean_group_members "
        "UNION ALL SELECT id_type, id_value, CAST(NULL AS BIGINT) AS ts_us FROM clean_manual_tags",
    )
    engine.view("extra_refs", "SELECT leader AS referrer FROM clean_groups")
    engine.view(
        "links",
        "SELECT id_type_a, id_value_a, id_type_b, id_value_b, ts_us FROM clean_identity_links",
    )


def put_previous(engine: Engine, previous: pd.DataFrame | None) -> None:
    """The previous build's identity table as `prev` (id_type, id_value, user_id, first_seen_us)."""
    n = 0 if previous is None else len(previous)
    prev = previous if previous is not None else pd.DataFrame()
    engine.put(
        "prev",
        pd.DataFrame(
            {
                "id_type": _s(prev.get(Col.ID_TYPE), n),
                "id_value": _s(prev.get(Col.ID_VALUE), n),
                "user_id": _s(prev.get(Col.USER_ID), n),
                "first_seen_us": to_us(prev.get(FIRST_SEEN), n),
            }
        ),
    )


def user_of(engine: Engine, name: str, table: str, type_col: str, value_col: str) -> None:
    """Table `name`: each distinct identifier of `table` with its user id (normalised once)."""
    engine.create(
        name,
        f"""
        SELECT p.{type_col} AS id_type, p.{value_col} AS id_value, u.user_id
        FROM (SELECT DISTINCT {type_col}, {value_col} FROM {table}) p
        LEFT JOIN ident u ON u.k = {key_sql(f"p.{type_col}", f"p.{value_col}")}
        """,
    )


def user_of_reference(engine: Engine, name: str, table: str, ref_col: str) -> None:
    """Table `name`: each distinct `type:value` reference of `table` with its user id."""
    ref_k = key_sql(ref_type_sql("r.ref"), ref_value_sql("r.ref"))
    engine.create(
        name,
        f"""
        SELECT r.ref, u.user_id
        FROM (SELECT DISTINCT {ref_col} AS ref FROM {table} WHERE {ref_col} IS NOT NULL) r
        LEFT JOIN ident u ON u.k = {ref_k}
        """,
    )


def attach_users(engine: Engine) -> None:
    """`ev_u`: the clean events with user_id and referrer_user_id (a view: joins to small keys).

    Also `members_u`, `manual_u` (with user_id) and `groups_c` (with leader_user_id).
    """
    user_of(engine, "ev_keys", "clean_events", "id_type", "id_value")
    user_of_reference(engine, "ref_keys", "clean_events", "referrer")
    engine.view(
        "ev_u",
        """
        SELECT e.*, k.user_id, r.user_id AS referrer_user_id
        FROM clean_events e
        LEFT JOIN ev_keys k ON k.id_type = e.id_type AND k.id_value = e.id_value
        LEFT JOIN ref_keys r ON r.ref = e.referrer
        """,
    )
    for table, out in (("clean_group_members", "members_u"), ("clean_manual_tags", "manual_u")):
        user_of(engine, f"{out}_keys", table, "id_type", "id_value")
        engine.create(
            out,
            f"""
            SELECT t.*, k.user_id FROM {table} t
            LEFT JOIN {out}_keys k ON k.id_type = t.id_type AND k.id_value = t.id_value
            """,
        )
    user_of_reference(engine, "leader_keys", "clean_groups", "leader")
    engine.create(
        "groups_c",
        "SELECT g.*, k.user_id AS leader_user_id FROM clean_groups g "
        "LEFT JOIN leader_keys k ON k.ref = g.leader",
    )


def catalogue(engine: Engine, unknown_category: str) -> None:
    """`items_c`: the item catalogue, plus every item seen in events but absent from it.

    An item known only from events is named by its id, in category `unknown_category`.
    """
    cols = [c for c in engine.columns("clean_items") if c != ROW]
    unseen = ", ".join(
        {
            Col.ITEM_ID: "item_id",
            Col.NAME: "item_id",
            Col.CATEGORY: f"'{unknown_category}'",
        }.get(c, "NULL")
        + f" AS {c}"
        for c in cols
    )
    engine.create(
        "items_c",
        f"""
        SELECT {", ".join(cols)}, TRUE AS in_catalogue FROM clean_items
        UNION ALL
        SELECT {unseen}, FALSE AS in_catalogue
        FROM (SELECT DISTINCT item_id FROM clean_events WHERE item_id IS NOT NULL) s
        WHERE item_id NOT IN (SELECT item_id FROM clean_items)
        """,
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
    snapshot_us: int | None = None,
) -> Interactions:
    """Weights, purchases, last-purchase age and baskets from the engine's triples of `ev_u`.

    Ages count back from `snapshot_us` (UTC microseconds), by default the latest event.
    """
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
    snapshot_us = prepare_lines(engine, half_life_days, snapshot_us)
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
