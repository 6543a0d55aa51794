"""Unified customer id: identifiers joined by identity links become one `user_id`.

A `user_id` is the canonical identifier of the person in `type:value` form,
WeCom preferred (then openid, phone, member card, others; earliest seen first).
Ids are stable across rebuilds: given the previous identity table, a person
keeps their id; when a link joins two known people, the older id survives and
the merge is logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.encoding import factorize, join_pairs
from features.schema import ID_TYPE_PREFERENCE, Col, IdType

KEY = "id_key"
FIRST_SEEN = "first_seen"
KEPT = "kept_user_id"
ABSORBED = "absorbed_user_id"


@dataclass(frozen=True)
class Identity:
    """The identifier -> user map and the merges that produced it."""

    table: pd.DataFrame  # id_type, id_value, user_id, first_seen
    merges: pd.DataFrame  # kept_user_id, absorbed_user_id, first_seen_kept, first_seen_absorbed
    # identifiers that would have joined too many people (id_key, people, links, reason)
    suspicious: pd.DataFrame = field(default_factory=lambda: _empty_suspicious())

    def lookup(self, id_type: pd.Series, id_value: pd.Series) -> pd.Series:
        """The user_id of each (id_type, id_value) pair; missing where unknown."""
        codes, ut, uv = pair_codes(id_type, id_value)
        mapping = pd.Series(self.table[Col.USER_ID].to_numpy(), index=self.keys().to_numpy())
        known = id_keys(ut, uv).map(mapping).astype(object).to_numpy()
        users = np.concatenate([known, np.array([None], dtype=object)])  # code -1 -> missing
        return pd.Series(users[codes], index=id_type.index, dtype="string")

    def keys(self) -> pd.Series:
        return id_keys(self.table[Col.ID_TYPE], self.table[Col.ID_VALUE])


def normalize_id_type(id_type: pd.Series) -> pd.Series:
    """Lower-case, trimmed id types."""
    return id_type.astype("string").str.strip().str.lower()


def normalize_id_value(id_type: pd.Series, id_value: pd.Series) -> pd.Series:
    """Identifier values in one canonical form; phones become their 11 national digits."""
    value = id_value.astype("string").str.strip()
    is_phone = normalize_id_type(id_type) == IdType.PHONE
    if is_phone.any():
        digits = value[is_phone].str.replace(r"\D", "", regex=True)
        national = digits.str.replace(r"^(?:0086|86)(?=1\d{10}$)", "", regex=True)
        value = value.copy()
        value[is_phone] = national.mask(national == "", value[is_phone])
    return value


def id_keys(id_type: pd.Series, id_value: pd.Series) -> pd.Series:
    """`type:value` keys after normalisation (the form a user_id takes)."""
    t = normalize_id_type(id_type)
    return t + ":" + normalize_id_value(t, id_value)


def split_key(keys: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split `type:value` references (leaders, referrers) into type and value."""
    parts = keys.astype("string").str.split(":", n=1)
    return parts.str[0], parts.str[1]


def pair_codes(id_type: pd.Series, id_value: pd.Series) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Encode (id_type, id_value) pairs: codes per row (-1 when missing) and the distinct pairs."""
    sep = "\x1f"
    codes, pairs = factorize(join_pairs(id_type, id_value, sep))
    parts = pairs.str.split(sep, n=1)
    return codes, parts.str[0], parts.str[1]


def sightings(id_type: pd.Series, id_value: pd.Series, ts: pd.Series | None = None) -> pd.DataFrame:
    """Each distinct identifier key with the earliest time it was seen (NaT when the source has no time)."""
    codes, ut, uv = pair_codes(id_type, id_value)
    first = pd.Series(pd.NaT, index=range(len(ut)), dtype="datetime64[ns, UTC]")
    if ts is not None and len(codes):
        when = pd.Series(pd.to_datetime(ts, utc=True).dt.tz_localize(None).to_numpy())
        ok = codes >= 0
        mins = when[ok].groupby(codes[ok]).min()
        first[mins.index] = mins.dt.tz_localize("UTC")
    out = pd.DataFrame({KEY: id_keys(ut, uv).to_numpy(), FIRST_SEEN: first.to_numpy()})
    return out.groupby(KEY, sort=False)[FIRST_SEEN].min().reset_index()


def _empty_suspicious() -> pd.DataFrame:
    return pd.DataFrame(
        {
            KEY: pd.Series(dtype="string"),
            "people": pd.Series(dtype="int64"),
            "links": pd.Series(dtype="int64"),
            "reason": pd.Series(dtype="string"),
        }
    )


def shared_identifiers(
    a: np.ndarray, b: np.ndarray, n: int, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Link-graph nodes that would join more than `cap` people, and how many each would.

    `a`, `b` are link edges between node codes. A node with more than `cap` distinct partners
    is a candidate; it is shared when its partners, linked without any candidate, still
    fall into more than `cap` people (a family phone joins a few; a shop's phone thousands).
    """
    if not len(a):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.unique(np.concatenate([np.c_[a, b], np.c_[b, a]]), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    degree = np.bincount(pairs[:, 0], minlength=n)
    cand = np.flatnonzero(degree > cap)
    if not len(cand):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    is_cand = np.zeros(n, bool)
    is_cand[cand] = True
    keep = ~(is_cand[pairs[:, 0]] | is_cand[pairs[:, 1]])
    g = coo_matrix(
        (np.ones(int(keep.sum()), np.int8), (pairs[keep, 0], pairs[keep, 1])), shape=(n, n)
    )
    _, comp = connected_components(g, directed=False)
    people = np.array(
        [len(np.unique(comp[pairs[pairs[:, 0] == c, 1]])) for c in cand], dtype=np.int64
    )
    over = people > cap
    return cand[over], people[over]


def resolve(
    seen: pd.DataFrame,
    links: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    max_people_per_identifier: int | None = None,
) -> Identity:
    """Union identifiers through links into people and give each a stable user_id.

    With `max_people_per_identifier`, an identifier whose links would join more people than
    that (a shop's phone typed in for thousands of customers) is not merged through: its links
    are set aside and it is reported in ``Identity.suspicious``; everyone keeps their own id.

    `seen` has columns id_key, first_seen (every sighting of every identifier);
    `links` has the identity_links columns; `previous` is an earlier identity table.
    """
    frames = [seen[[KEY, FIRST_SEEN]]]
    edge_a: list[pd.Series] = []
    edge_b: list[pd.Series] = []
    if links is not None and len(links):
        ka = id_keys(links[Col.ID_TYPE_A], links[Col.ID_VALUE_A])
        kb = id_keys(links[Col.ID_TYPE_B], links[Col.ID_VALUE_B])
        lts = links[Col.TS] if Col.TS in links.columns else None
        frames += [
            sightings(links[Col.ID_TYPE_A], links[Col.ID_VALUE_A], lts),
            sightings(links[Col.ID_TYPE_B], links[Col.ID_VALUE_B], lts),
        ]
        edge_a.append(ka)
        edge_b.append(kb)
    prev = _previous_table(previous)
    if prev is not None:
        frames.append(prev[[KEY, FIRST_SEEN]])
        # everything once one person stays one person: chain each id to its user's id
        edge_a.append(prev[KEY])
        edge_b.append(prev[Col.USER_ID])
        # user ids are nodes too (normally one of the user's own keys); no sighting time of their own
        frames.append(pd.DataFrame({KEY: prev[Col.USER_ID].to_numpy(), FIRST_SEEN: pd.NaT}))

    allseen = pd.concat(frames, ignore_index=True)
    allseen[FIRST_SEEN] = pd.to_datetime(allseen[FIRST_SEEN], utc=True)
    nodes = allseen.groupby(KEY, sort=True)[FIRST_SEEN].min().reset_index()
    nodes = nodes[nodes[KEY].notna()].reset_index(drop=True)
    code = pd.Series(np.arange(len(nodes)), index=nodes[KEY].to_numpy())

    if edge_a:
        a = code.reindex(pd.concat(edge_a, ignore_index=True).to_numpy()).to_numpy()
        b = code.reindex(pd.concat(edge_b, ignore_index=True).to_numpy()).to_numpy()
        ok = ~(np.isnan(a) | np.isnan(b))
        a, b = a[ok].astype(np.int64), b[ok].astype(np.int64)
    else:
        a = b = np.zeros(0, dtype=np.int64)
    n = len(nodes)
    suspicious = _empty_suspicious()
    n_links = len(edge_a[0]) if links is not None and len(links) and edge_a else 0
    if max_people_per_identifier is not None and n_links:
        la, lb = a[: int(ok[:n_links].sum())], b[: int(ok[:n_links].sum())]
        shared, people = shared_identifiers(la, lb, n, max_people_per_identifier)
        if len(shared):
            drop = np.isin(a, shared) | np.isin(b, shared)
            drop[int(ok[:n_links].sum()) :] = False  # chains of the previous table stay
            counts = np.bincount(np.concatenate([la, lb]), minlength=n)[shared]
            a, b = a[~drop], b[~drop]
            suspicious = pd.DataFrame(
                {
                    KEY: pd.Series(nodes[KEY].to_numpy()[shared], dtype="string"),
                    "people": people,
                    "links": counts.astype(np.int64),
                    "reason": f"shared identifier: its links would join more than "
                    f"{max_people_per_identifier} people; not merged",
                }
            )
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    nodes["comp"] = comp

    types = nodes[KEY].str.split(":", n=1).str[0]
    rank = {t: i for i, t in enumerate(ID_TYPE_PREFERENCE)}
    nodes["type_rank"] = types.map(rank).fillna(len(rank)).astype(int)
    first_seen_order = nodes[FIRST_SEEN].fillna(pd.Timestamp.max.tz_localize("UTC"))
    nodes["_fs"] = first_seen_order
    minted = (
        nodes.sort_values(["comp", "type_rank", "_fs", KEY])
        .groupby("comp", sort=False)[KEY]
        .first()
    )
    user = minted.copy()
    merges = _empty_merges()
    if prev is not None:
        known = prev[[Col.USER_ID]].drop_duplicates().copy()
        known_first = prev.groupby(Col.USER_ID)[FIRST_SEEN].min()
        known["comp"] = comp[code.reindex(known[Col.USER_ID].to_numpy()).to_numpy().astype(int)]
        known[FIRST_SEEN] = (
            known[Col.USER_ID].map(known_first).fillna(pd.Timestamp.max.tz_localize("UTC"))
        )
        known = known.sort_values(["comp", FIRST_SEEN, Col.USER_ID])
        survivor = known.groupby("comp", sort=False)[Col.USER_ID].first()
        user.loc[survivor.index] = survivor
        absorbed = known[known[Col.USER_ID].to_numpy() != known["comp"].map(survivor).to_numpy()]
        if len(absorbed):
            merges = pd.DataFrame(
                {
                    KEPT: absorbed["comp"].map(survivor).to_numpy(),
                    ABSORBED: absorbed[Col.USER_ID].to_numpy(),
                    "first_seen_absorbed": absorbed[FIRST_SEEN].to_numpy(),
                }
            )
            merges["first_seen_kept"] = merges[KEPT].map(known_first).to_numpy()
            merges["reason"] = "identity link joined two known people; the older id survives"

    nodes[Col.USER_ID] = nodes["comp"].map(user)
    id_type, id_value = split_key(nodes[KEY])
    table = pd.DataFrame(
        {
            Col.ID_TYPE: id_type.astype("string"),
            Col.ID_VALUE: id_value.astype("string"),
            Col.USER_ID: nodes[Col.USER_ID].astype("string"),
            FIRST_SEEN: nodes[FIRST_SEEN],
        }
    )
    if prev is not None:  # previous user ids are ids too, but not identifiers of their own
        is_old_user = nodes[KEY].isin(prev[Col.USER_ID]) & ~nodes[KEY].isin(prev[KEY])
        table = table[~is_old_user.to_numpy()]
    table = table.sort_values([Col.USER_ID, Col.ID_TYPE, Col.ID_VALUE]).reset_index(drop=True)
    return Identity(table=table, merges=merges, suspicious=suspicious)


def _previous_table(previous: pd.DataFrame | None) -> pd.DataFrame | None:
    if previous is None or not len(previous):
        return None
    prev = previous.copy()
    prev[KEY] = id_keys(prev[Col.ID_TYPE], prev[Col.ID_VALUE])
    prev[FIRST_SEEN] = (
        pd.to_datetime(prev[FIRST_SEEN], utc=True) if FIRST_SEEN in prev.columns else pd.NaT
    )
    return prev


def _empty_merges() -> pd.DataFrame:
    return pd.DataFrame(
        {
            KEPT: pd.Series(dtype="string"),
            ABSORBED: pd.Series(dtype="string"),
            "first_seen_absorbed": pd.Series(dtype="datetime64[ns, UTC]"),
            "first_seen_kept": pd.Series(dtype="datetime64[ns, UTC]"),
            "reason": pd.Series(dtype="string"),
        }
    )
