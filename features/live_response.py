"""What a person, an item and a host had done before a live: the response model's features.

A live invites the members of a group; whether each watches and joins its 接龙 depends on
their history before the live. :func:`history_at` summarises that history at a time ``t``
(people's smoothed view and 接龙 rates, decayed purchase shares of items, subcategories and
categories, hosts' view rate and the goods they sold, past invitations);
:func:`live_features` turns it into the features of one planned live for a set of users.
The campaign simulation (``experiments.simulate``) and the response model fitted for the
serving bundle (``training.response``) both use it; the serving applies the fitted model to
the History the export writes (:func:`history_tables` / :func:`history_from_tables`).
Pure pandas / numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.schema import LIST_SEP, Col, EventType

FEATURES: tuple[str, ...] = (
    "view_rate",
    "jielong_rate",
    "similar_view_rate",
    "similar_jielong_rate",
    "invited_log",
    "affinity_item",
    "affinity_sub",
    "affinity_cat",
    "host_view_rate",
    "host_similarity",
    "days_since_event_log",
    "orders_30d_log",
)
HALF_LIFE_DAYS = 30.0
PRIOR = 3.0  # pseudo-invitations / pseudo-baskets of every smoothed rate


# -- history features (pure) -------------------------------------------------------------------------
def live_invitations(
    lives: pd.DataFrame, members: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """One row per (live, member present at its start): live_id, group_id, user_id, viewed, joined."""
    lv = lives[[Col.LIVE_ID, Col.GROUP_ID, Col.START_TS]].dropna(subset=[Col.GROUP_ID])
    m = members[members[Col.USER_ID].notna()][
        [Col.GROUP_ID, Col.USER_ID, Col.JOINED_AT, Col.LEFT_AT]
    ]
    inv = lv.merge(m, on=Col.GROUP_ID, how="inner")
    joined = inv[Col.JOINED_AT].isna() | (inv[Col.JOINED_AT] <= inv[Col.START_TS])
    stayed = inv[Col.LEFT_AT].isna() | (inv[Col.LEFT_AT] > inv[Col.START_TS])
    inv = inv[joined & stayed].drop_duplicates([Col.LIVE_ID, Col.USER_ID])
    et = events[Col.EVENT_TYPE].astype(str)
    has_live = events[Col.LIVE_ID].notna() & events[Col.USER_ID].notna()

    def pairs(kind: str) -> pd.MultiIndex:
        e = events[has_live & (et == kind)]
        return pd.MultiIndex.from_arrays([e[Col.LIVE_ID].astype(str), e[Col.USER_ID].astype(str)])

    key = pd.MultiIndex.from_arrays([inv[Col.LIVE_ID].astype(str), inv[Col.USER_ID].astype(str)])
    return pd.DataFrame(
        {
            Col.LIVE_ID: inv[Col.LIVE_ID].astype(str).to_numpy(),
            Col.GROUP_ID: inv[Col.GROUP_ID].astype(str).to_numpy(),
            Col.USER_ID: inv[Col.USER_ID].astype(str).to_numpy(),
            "viewed": key.isin(pairs(str(EventType.LIVE_VIEW))),
            "joined": key.isin(pairs(str(EventType.JIELONG))),
        }
    )


def invitations(lives: pd.DataFrame, members: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Every (live, member present at its start) with viewed / joined and the live's start and host."""
    inv = live_invitations(lives, members, events)
    meta = lives[[Col.LIVE_ID, Col.START_TS, Col.HOST_ID]].astype({Col.LIVE_ID: str})
    return inv.merge(meta, on=Col.LIVE_ID, how="left")


@dataclass
class History:
    """What is known about people, items and hosts at time ``t``."""

    t: pd.Timestamp
    people: pd.DataFrame  # index user_id: view_rate, jielong_rate, invited_log, days_since_event_log, orders_30d_log, basket
    item_share: Shares  # user x item decayed purchase share
    sub_share: Shares  # user x subcategory
    cat_share: Shares  # user x category
    hosts: pd.DataFrame  # index host_id: host_view_rate, + subcategory mix columns
    live_vecs: pd.DataFrame  # index live_id: unit vector of the live's subcategories
    past: pd.DataFrame  # past invitations: live_id, pos (row of people), viewed, joined
    base_view: float
    base_jv: float
    base_basket: float


@dataclass(frozen=True)
class Shares:
    """A sparse users x keys matrix of purchase shares (rows sum to 1)."""

    users: pd.Index
    keys: pd.Index
    m: sp.csr_matrix

    def row_sum(self, users: pd.Index, cols: list[str]) -> np.ndarray:
        """Per user, the sum of their shares over ``cols`` (0 for unknown users / columns)."""
        pos = self.keys.get_indexer(pd.Index(cols))
        pos = np.unique(pos[pos >= 0])
        if not len(pos) or not len(self.users):
            return np.zeros(len(users))
        total = np.asarray(self.m[:, pos].sum(axis=1)).ravel()
        rows = self.users.get_indexer(users)
        return np.where(rows >= 0, total[np.maximum(rows, 0)], 0.0)

    def to_long(self, row: str) -> pd.DataFrame:
        """(row, key, share) rows, zeros left out."""
        coo = self.m.tocoo()
        return pd.DataFrame(
            {
                row: self.users.to_numpy()[coo.row].astype(str),
                "key": self.keys.to_numpy()[coo.col].astype(str),
                "share": coo.data.astype(float),
            }
        )

    @staticmethod
    def from_long(long: pd.DataFrame, row: str, value: str = "share") -> Shares:
        """Sum ``value`` per (row, key) into a sparse matrix."""
        r, users = pd.factorize(long[row].astype(str), sort=True)
        c, keys = pd.factorize(long["key"].astype(str), sort=True)
        m = sp.csr_matrix(
            (long[value].to_numpy(float), (r, c)), shape=(len(users), len(keys)), dtype=np.float64
        )
        m.sum_duplicates()
        return Shares(pd.Index(users), pd.Index(keys), m)


def _shares(lines: pd.DataFrame, key: str, t: pd.Timestamp) -> Shares:
    """Decayed share of each user's purchase lines per ``key`` (rows sum to 1)."""
    w = np.power(
        0.5, ((t - lines[Col.TS]).dt.total_seconds() / 86400.0).to_numpy() / HALF_LIFE_DAYS
    )
    m = pd.DataFrame(
        {
            Col.USER_ID: lines[Col.USER_ID].astype(str).to_numpy(),
            "key": lines[key].astype(str).to_numpy(),
            "w": w,
        }
    )
    out = Shares.from_long(m, Col.USER_ID, "w")
    tot = np.asarray(out.m.sum(axis=1)).ravel()
    inv = np.divide(1.0, tot, out=np.zeros_like(tot), where=tot > 0)
    return Shares(out.users, out.keys, sp.csr_matrix(sp.diags(inv) @ out.m))


def history_at(
    t: pd.Timestamp,
    inv: pd.DataFrame,
    events: pd.DataFrame,
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    lives: pd.DataFrame,
) -> History:
    """People's, items' and hosts' history strictly before ``t``."""
    past = inv[inv[Col.START_TS] < t]
    base_view = float(past["viewed"].mean()) if len(past) else 0.3
    viewed = past[past["viewed"]]
    base_jv = float(viewed["joined"].mean()) if len(viewed) else 0.3
    per = past.groupby(Col.USER_ID).agg(invited=("viewed", "size"), viewed=("viewed", "sum"))
    per["jv"] = viewed.groupby(Col.USER_ID)["joined"].sum()
    per = per.fillna(0.0)
    ev = events[events[Col.TS] < t]
    last = ev.groupby(Col.USER_ID)[Col.TS].max()
    b = baskets[(baskets[Col.TS] < t) & baskets[Col.USER_ID].notna()]
    recent = b[b[Col.TS] >= t - pd.Timedelta(days=30)].groupby(Col.USER_ID)[Col.ORDER_ID].nunique()
    live_b = b[(b[Col.EVENT_TYPE].astype(str) == str(EventType.JIELONG)) & b[Col.LIVE_ID].notna()]
    order_amount = live_b.groupby([Col.USER_ID, Col.ORDER_ID])[Col.AMOUNT].sum()
    base_basket = (
        float(order_amount.mean())
        if len(order_amount)
        else float(b.groupby(Col.ORDER_ID)[Col.AMOUNT].sum().mean() or 0.0)
    )
    ob = order_amount.groupby(level=0).agg(["sum", "size"])
    seen = ev[Col.USER_ID].dropna().astype(str).unique()  # distinct first: no pass per event
    users = pd.Index(sorted(set(seen.tolist()) | set(per.index.astype(str))))
    people = pd.DataFrame(index=users)
    p = per.reindex(users).fillna(0.0)
    people["view_rate"] = (p["viewed"] + PRIOR * base_view) / (p["invited"] + PRIOR)
    people["jielong_rate"] = (p["jv"] + PRIOR * base_jv) / (p["viewed"] + PRIOR)
    people["invited_log"] = np.log1p(p["invited"])
    age = (t - last.reindex(users)).dt.total_seconds() / 86400.0
    people["days_since_event_log"] = np.log1p(age.fillna(365.0).clip(lower=0))
    people["orders_30d_log"] = np.log1p(recent.reindex(users).fillna(0.0))
    obr = ob.reindex(users).fillna(0.0)
    people["basket"] = (obr["sum"] + PRIOR * base_basket) / (obr["size"] + PRIOR)
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    lines = b[[Col.USER_ID, Col.ITEM_ID, Col.TS]].assign(
        subcategory=b[Col.ITEM_ID]
        .map(cat[Col.SUBCATEGORY] if Col.SUBCATEGORY in cat else cat[Col.CATEGORY])
        .fillna("?"),
        category=b[Col.ITEM_ID].map(cat[Col.CATEGORY]).fillna("?"),
    )
    # hosts: smoothed view rate of their past lives and the subcategory mix of what they sold
    hp = past.groupby(Col.HOST_ID).agg(invited=("viewed", "size"), viewed=("viewed", "sum"))
    hosts = pd.DataFrame({"host_view_rate": (hp["viewed"] + 30 * base_view) / (hp["invited"] + 30)})
    pl = lives[(lives[Col.START_TS] < t) & lives[Col.HOST_ID].notna()]
    sold = (
        pl[[Col.HOST_ID, Col.ITEM_IDS]]
        .assign(item=pl[Col.ITEM_IDS].astype(str).str.split(LIST_SEP))
        .explode("item")
    )
    sold["sub"] = sold["item"].map(
        cat[Col.SUBCATEGORY] if Col.SUBCATEGORY in cat else cat[Col.CATEGORY]
    )
    mix = pd.crosstab(sold[Col.HOST_ID], sold["sub"]) if len(sold) else pd.DataFrame()
    mix = mix.div(np.sqrt((mix**2).sum(axis=1)), axis=0) if len(mix) else mix
    hosts = hosts.join(mix.add_prefix("sub:"), how="outer")
    hosts["host_view_rate"] = hosts["host_view_rate"].fillna(base_view)
    sub_of = cat[Col.SUBCATEGORY] if Col.SUBCATEGORY in cat else cat[Col.CATEGORY]
    vecs = (
        pl[[Col.LIVE_ID, Col.ITEM_IDS]]
        .assign(item=pl[Col.ITEM_IDS].astype(str).str.split(LIST_SEP))
        .explode("item")
    )
    vecs = (
        pd.crosstab(vecs[Col.LIVE_ID].astype(str), vecs["item"].map(sub_of)).clip(upper=1)
        if len(vecs)
        else pd.DataFrame()
    )
    vecs = vecs.div(np.sqrt((vecs**2).sum(axis=1)), axis=0) if len(vecs) else vecs
    past_rows = pd.DataFrame(
        {
            Col.LIVE_ID: pd.Categorical(past[Col.LIVE_ID].astype(str).to_numpy()),
            "pos": users.get_indexer(pd.Index(past[Col.USER_ID].astype(str))),
            "viewed": past["viewed"].to_numpy(float),
            "joined": (past["viewed"] & past["joined"]).to_numpy(float),
        }
    )
    return History(
        t=t,
        people=people,
        item_share=_shares(lines, Col.ITEM_ID, t),
        sub_share=_shares(lines, "subcategory", t),
        cat_share=_shares(lines, "category", t),
        hosts=hosts.fillna(0.0),
        live_vecs=vecs,
        past=past_rows[past_rows["pos"] >= 0],
        base_view=base_view,
        base_jv=base_jv,
        base_basket=base_basket,
    )


def similar_rates(
    h: History, users: pd.Index, subs: list[str], view: np.ndarray, jv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's view and 接龙-per-view rates on past lives weighted by their goods' similarity.

    A live's weight is the cosine of its subcategory vector with this live's; the rates are
    shrunk toward the user's overall rates with ``PRIOR`` pseudo-lives of full similarity.
    """
    if not len(h.past) or not len(h.live_vecs) or not subs:
        return view, jv
    cols = [s for s in subs if s in h.live_vecs.columns]
    sim = (
        h.live_vecs[cols].sum(axis=1) / np.sqrt(len(subs))
        if cols
        else pd.Series(0.0, index=h.live_vecs.index)
    )
    w = h.past[Col.LIVE_ID].map(sim).fillna(0.0).to_numpy()
    pos = h.past["pos"].to_numpy()
    n = len(h.people)
    den = np.bincount(pos, weights=w, minlength=n)
    num_v = np.bincount(pos, weights=w * h.past["viewed"].to_numpy(), minlength=n)
    num_j = np.bincount(pos, weights=w * h.past["joined"].to_numpy(), minlength=n)
    rows = h.people.index.get_indexer(users)
    ok = rows >= 0
    d, v, j = (np.where(ok, a[np.maximum(rows, 0)], 0.0) for a in (den, num_v, num_j))
    sim_view = (v + PRIOR * view) / (d + PRIOR)
    sim_jv = (j + PRIOR * jv * sim_view) / (v + PRIOR * sim_view)
    return sim_view, sim_jv


def item_classes(item_ids: list[str], items: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The subcategories and categories of a list of items."""
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    known = [i for i in item_ids if i in cat.index]
    sub_col = Col.SUBCATEGORY if Col.SUBCATEGORY in cat else Col.CATEGORY
    subs = sorted({str(cat.at[i, sub_col]) for i in known})
    return subs, sorted({str(cat.at[i, Col.CATEGORY]) for i in known})


def host_similarity(h: History, host_id: str | None, subs: list[str]) -> float:
    """Cosine of the live's subcategories with the mix of goods the host sold before (0 if new)."""
    if host_id is None or host_id not in h.hosts.index or not subs:
        return 0.0
    row = h.hosts.loc[host_id].to_dict()
    return float(sum(float(row.get(f"sub:{s}", 0.0)) for s in subs) / np.sqrt(len(subs)))


def live_features(
    h: History, users: pd.Index, item_ids: list[str], host_id: str | None, items: pd.DataFrame
) -> pd.DataFrame:
    """The model's features for ``users`` invited to one live of ``item_ids`` hosted by ``host_id``."""
    subs, cats = item_classes(item_ids, items)
    people = h.people.reindex(users)
    x = pd.DataFrame(index=users)
    x["view_rate"] = people["view_rate"].fillna(h.base_view).to_numpy()
    x["jielong_rate"] = people["jielong_rate"].fillna(h.base_jv).to_numpy()
    x["similar_view_rate"], x["similar_jielong_rate"] = similar_rates(
        h, users, subs, x["view_rate"].to_numpy(), x["jielong_rate"].to_numpy()
    )
    x["invited_log"] = people["invited_log"].fillna(0.0).to_numpy()
    x["affinity_item"] = h.item_share.row_sum(users, list(item_ids))
    x["affinity_sub"] = h.sub_share.row_sum(users, subs)
    x["affinity_cat"] = h.cat_share.row_sum(users, cats)
    rate = h.hosts["host_view_rate"].to_dict()
    x["host_view_rate"] = float(rate.get(host_id, h.base_view)) if host_id else h.base_view
    x["host_similarity"] = host_similarity(h, host_id, subs)
    x["days_since_event_log"] = people["days_since_event_log"].fillna(np.log1p(365.0)).to_numpy()
    x["orders_30d_log"] = people["orders_30d_log"].fillna(0.0).to_numpy()
    return x[list(FEATURES)]


# -- the logistic design (fitted in training, applied in serving) -----------------------------------
RATE_FEATURES = (
    "view_rate",
    "jielong_rate",
    "similar_view_rate",
    "similar_jielong_rate",
    "host_view_rate",
)
SHARE_FEATURES = ("affinity_item", "affinity_sub", "affinity_cat", "host_similarity")


_RATE_COLS = np.asarray([FEATURES.index(c) for c in RATE_FEATURES])
_SHARE_COLS = np.asarray([FEATURES.index(c) for c in SHARE_FEATURES])


def log_odds_array(a: np.ndarray) -> np.ndarray:
    """:func:`log_odds_design` on a rows x FEATURES array (the serving's numpy path)."""
    d = np.array(a, dtype=float, copy=True)
    r = np.clip(d[:, _RATE_COLS], 1e-3, 1 - 1e-3)
    d[:, _RATE_COLS] = np.log(r / (1 - r))
    d[:, _SHARE_COLS] = np.log(d[:, _SHARE_COLS] + 0.02)
    return d


def log_odds_design(x: pd.DataFrame) -> pd.DataFrame:
    """Rates as log-odds, shares as logs: the response is multiplicative in them."""
    d = log_odds_array(x[list(FEATURES)].to_numpy(float))
    return pd.DataFrame(d, index=x.index, columns=list(FEATURES))


# -- the History as tables (written into the serving bundle) ----------------------------------------
def _long(share: pd.DataFrame, key: str) -> pd.DataFrame:
    """A users x keys share matrix as (user_id, key, share) rows, zeros left out."""
    s = pd.Series(share.stack())
    s = s[s.to_numpy() != 0]
    return pd.DataFrame(
        {
            Col.USER_ID: s.index.get_level_values(0).astype(str),
            key: s.index.get_level_values(1).astype(str),
            "share": s.to_numpy(float),
        }
    )


def _wide(long: pd.DataFrame, row: str, key: str) -> pd.DataFrame:
    if not len(long):
        return pd.DataFrame()
    return long.pivot_table(index=row, columns=key, values="share", aggfunc="sum", fill_value=0.0)


def history_tables(h: History) -> tuple[dict[str, pd.DataFrame], dict[str, float | str]]:
    """A History as parquet-ready tables and its scalars (inverse: :func:`history_from_tables`)."""
    people = h.people.rename_axis(Col.USER_ID).reset_index()
    hosts = h.hosts.rename_axis(Col.HOST_ID).reset_index()
    vecs = h.live_vecs.rename_axis(index=Col.LIVE_ID, columns=None)
    tables = {
        "people": people,
        "item_share": h.item_share.to_long(Col.USER_ID),
        "sub_share": h.sub_share.to_long(Col.USER_ID),
        "cat_share": h.cat_share.to_long(Col.USER_ID),
        "hosts": hosts.astype({Col.HOST_ID: str}),
        "live_vecs": _long(vecs, "key").rename(columns={Col.USER_ID: Col.LIVE_ID}),
        "past": h.past.reset_index(drop=True).astype({Col.LIVE_ID: str}),
    }
    scalars: dict[str, float | str] = {
        "t": str(h.t),
        "base_view": h.base_view,
        "base_jv": h.base_jv,
        "base_basket": h.base_basket,
    }
    return tables, scalars


def history_from_tables(
    tables: dict[str, pd.DataFrame], scalars: dict[str, float | str]
) -> History:
    """The History :func:`history_tables` wrote."""
    people = tables["people"].set_index(Col.USER_ID)
    people.index = people.index.astype(str)
    return History(
        t=pd.Timestamp(str(scalars["t"])),
        people=people,
        item_share=Shares.from_long(tables["item_share"], Col.USER_ID),
        sub_share=Shares.from_long(tables["sub_share"], Col.USER_ID),
        cat_share=Shares.from_long(tables["cat_share"], Col.USER_ID),
        hosts=tables["hosts"].set_index(Col.HOST_ID),
        live_vecs=_wide(tables["live_vecs"], Col.LIVE_ID, "key"),
        past=tables["past"].astype({Col.LIVE_ID: "category"}),
        base_view=float(scalars["base_view"]),
        base_jv=float(scalars["base_jv"]),
        base_basket=float(scalars["base_basket"]),
    )
