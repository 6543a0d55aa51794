"""The response model's examples for many lives at once: :func:`features.live_response.live_features`
for every invitation, without a Python loop over lives.

Per live, :func:`~features.live_response.live_features` reads the History for the invited
people (O(everyone) per live: column sums over all users, every past invitation); here each
feature is gathered for all invitations together: people's rates by one index lookup, the
affinities as the row-wise dot of the invited people's share rows with the live's goods,
the similarity-weighted rates from (invitation, past invitation of the same person) pairs,
processed in blocks of lives so memory stays bounded. The values equal the per-live ones
up to floating-point summation order (``tests/training/test_response_frame.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.live_response import FEATURES, PRIOR, History, Shares, host_similarity
from features.schema import LIST_SEP, Col

LIVES_PER_BLOCK = 256  # lives whose similarity column is held at once (past lives x block)


def _live_goods(
    live_ids: np.ndarray, lives: pd.DataFrame, items: pd.DataFrame
) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """Per live: its item ids, and the sorted subcategories / categories of the known ones."""
    items_of = (
        lives.set_index(lives[Col.LIVE_ID].astype(str))[Col.ITEM_IDS]
        .astype(str)
        .str.split(LIST_SEP)
    )
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    sub_col = Col.SUBCATEGORY if Col.SUBCATEGORY in cat else Col.CATEGORY
    sub_of = dict(zip(cat.index, cat[sub_col].map(str), strict=True))
    cat_of = dict(zip(cat.index, cat[Col.CATEGORY].map(str), strict=True))
    ids, subs, cats = [], [], []
    for live in live_ids:
        its = list(items_of.get(live, []))
        known = [i for i in its if i in sub_of]
        ids.append(its)
        subs.append(sorted({sub_of[i] for i in known}))
        cats.append(sorted({cat_of[i] for i in known}))
    return ids, subs, cats


def _indicator(keys: pd.Index, per_live: list[list[str]]) -> sp.csr_matrix:
    """Lives x keys, 1 where the live names the key (keys it names twice count once)."""
    rows, cols = [], []
    for r, names in enumerate(per_live):
        pos = np.unique(keys.get_indexer(pd.Index(names, dtype=object)))
        pos = pos[pos >= 0]
        rows.append(np.full(len(pos), r, np.int64))
        cols.append(pos)
    r_ = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c_ = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_matrix(
        (np.ones(len(r_)), (r_, c_)), shape=(len(per_live), len(keys)), dtype=np.float64
    )


def _affinity(
    share: Shares, users: pd.Index, live_of: np.ndarray, per_live: list[list[str]]
) -> np.ndarray:
    """Per invitation: the person's share summed over the live's keys (0 for unknown people)."""
    out = np.zeros(len(users))
    if not len(share.users) or not len(share.keys):
        return out
    rows = share.users.get_indexer(users)
    ok = rows >= 0
    k = _indicator(share.keys, per_live)[live_of[ok]]
    out[ok] = np.asarray(share.m[rows[ok]].multiply(k).sum(axis=1)).ravel()
    return out


def _similar(
    h: History,
    people_rows: np.ndarray,
    live_of: np.ndarray,
    subs: list[list[str]],
    view: np.ndarray,
    jv: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`features.live_response.similar_rates` of every invitation."""
    sim_view, sim_jv = view.copy(), jv.copy()
    if not len(h.past) or not len(h.live_vecs):
        return sim_view, sim_jv
    lv = h.live_vecs
    lv_cols = pd.Index(lv.columns)
    lv_vals = lv.to_numpy(np.float64)
    # past invitations grouped by person (stable: each person's in their original order)
    pos = h.past["pos"].to_numpy()
    order = np.argsort(pos, kind="stable")
    starts = np.searchsorted(pos[order], np.arange(len(h.people) + 1))
    past_live = pd.Index(lv.index).get_indexer(h.past[Col.LIVE_ID].astype(str).to_numpy())[order]
    viewed = h.past["viewed"].to_numpy(np.float64)[order]
    joined = h.past["joined"].to_numpy(np.float64)[order]
    has_subs = np.array([len(s) > 0 for s in subs])
    n_lives = len(subs)
    for b0 in range(0, n_lives, LIVES_PER_BLOCK):
        b1 = min(b0 + LIVES_PER_BLOCK, n_lives)
        sim = np.zeros((len(lv_vals) + 1, b1 - b0))  # last row: past lives without a vector
        for j in range(b0, b1):
            cols = lv_cols.get_indexer(pd.Index(subs[j], dtype=object))
            cols = cols[cols >= 0]
            if len(cols):
                sim[:-1, j - b0] = lv_vals[:, cols].sum(axis=1) / np.sqrt(len(subs[j]))
        inv = np.flatnonzero((live_of >= b0) & (live_of < b1) & has_subs[live_of])
        r = people_rows[inv]
        inv, r = inv[r >= 0], r[r >= 0]
        n = starts[r + 1] - starts[r]
        pair_inv = np.repeat(np.arange(len(inv)), n)
        first = np.repeat(starts[r] - np.cumsum(n) + n, n)
        p = first + np.arange(len(pair_inv))  # index into the person-ordered past rows
        w = sim[
            np.where(past_live[p] >= 0, past_live[p], len(lv_vals)), live_of[inv][pair_inv] - b0
        ]
        d = np.bincount(pair_inv, weights=w, minlength=len(inv))
        v = np.bincount(pair_inv, weights=w * viewed[p], minlength=len(inv))
        jj = np.bincount(pair_inv, weights=w * joined[p], minlength=len(inv))
        sv = (v + PRIOR * view[inv]) / (d + PRIOR)
        sim_view[inv] = sv
        sim_jv[inv] = (jj + PRIOR * jv[inv] * sv) / (v + PRIOR * sv)
        # invitations of people with no history: the per-live formula with zero sums
        rest = np.flatnonzero((live_of >= b0) & (live_of < b1) & has_subs[live_of])
        rest = rest[people_rows[rest] < 0]
        sv0 = (PRIOR * view[rest]) / PRIOR
        sim_view[rest] = sv0
        sim_jv[rest] = (PRIOR * jv[rest] * sv0) / (PRIOR * sv0)
    return sim_view, sim_jv


def invitation_frame(
    h: History, inv: pd.DataFrame, lives: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """Features and labels of every invitation in ``inv``, lives in sorted order."""
    empty = pd.DataFrame(columns=[*FEATURES, Col.LIVE_ID, Col.START_TS, "viewed", "joined"])
    if not len(inv):
        return empty
    inv = inv.assign(**{Col.LIVE_ID: inv[Col.LIVE_ID].astype(str)})
    inv = inv.iloc[np.argsort(inv[Col.LIVE_ID].to_numpy(dtype=str), kind="stable")]
    live_of, uniques = pd.factorize(inv[Col.LIVE_ID], sort=True)
    live_ids = np.asarray(uniques, dtype=object)
    first = np.searchsorted(live_of, np.arange(len(live_ids)))
    users = pd.Index(inv[Col.USER_ID].astype(str))
    item_ids, subs, cats = _live_goods(live_ids, lives, items)
    people_rows = h.people.index.get_indexer(users)

    def person(col: str, default: float) -> np.ndarray:  # reindex + fillna(default)
        v = h.people[col].to_numpy(np.float64)[np.maximum(people_rows, 0)]
        return np.where((people_rows >= 0) & ~np.isnan(v), v, default)

    x = pd.DataFrame(index=np.arange(len(inv)))
    x["view_rate"] = person("view_rate", h.base_view)
    x["jielong_rate"] = person("jielong_rate", h.base_jv)
    x["similar_view_rate"], x["similar_jielong_rate"] = _similar(
        h, people_rows, live_of, subs, x["view_rate"].to_numpy(), x["jielong_rate"].to_numpy()
    )
    x["invited_log"] = person("invited_log", 0.0)
    x["affinity_item"] = _affinity(h.item_share, users, live_of, item_ids)
    x["affinity_sub"] = _affinity(h.sub_share, users, live_of, subs)
    x["affinity_cat"] = _affinity(h.cat_share, users, live_of, cats)
    hosts = inv[Col.HOST_ID].to_numpy(dtype=object)[first]
    host = [None if pd.isna(v) else str(v) for v in hosts]
    rate = h.hosts["host_view_rate"].to_dict()
    per_live_rate = np.array(
        [float(rate.get(hh, h.base_view)) if hh else h.base_view for hh in host]
    )
    per_live_sim = np.array([host_similarity(h, hh, s) for hh, s in zip(host, subs, strict=True)])
    x["host_view_rate"] = per_live_rate[live_of]
    x["host_similarity"] = per_live_sim[live_of]
    x["days_since_event_log"] = person("days_since_event_log", float(np.log1p(365.0)))
    x["orders_30d_log"] = person("orders_30d_log", 0.0)
    out = x[list(FEATURES)].copy()
    out[Col.LIVE_ID] = live_ids[live_of]
    out[Col.START_TS] = inv[Col.START_TS].iloc[first[live_of]].reset_index(drop=True)
    out["viewed"] = inv["viewed"].to_numpy()
    out["joined"] = inv["joined"].to_numpy()
    return out.reset_index(drop=True)
