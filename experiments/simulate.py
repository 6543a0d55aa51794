"""Campaign simulation: a planned live's view rate, 接龙 conversion, orders and GMV, against broadcasting.

``linli simulate --features DIR [--plan PLAN.json] [--truth WORLD/truth] [--out DIR]``

A *plan* (JSON; the built-in default is the seed article's case) names the theme the audience
is built for, the bundle to sell, the host, the audience size and the group to broadcast
to instead::

    {"name": "夏日轻食", "theme": {"items": ["鸡胸肉", "牛油果", "salad_greens"], "keywords": ["减脂餐"]},
     "bundle": ["车厘子", "西瓜", "鸡胸", "牛油果"], "host": "nutritionist", "audience_n": 120,
     "broadcast_group": "largest", "truth_theme": "light_meal"}

Two scenarios are predicted: **targeted** (the top ``audience_n`` users of the theme audience,
:func:`training.audience.score_audience`) and **broadcast** (every current member of the
group; ``largest`` = the largest general group).

The **response model** is learned from the feature store's own past lives: every member present
at a live's start is an example (watched it? joined its 接龙?). Features, computed from the
history before a cut only: the person's smoothed past view rate and 接龙-per-view rate, their
time-decayed purchase share of the live's items, subcategories and categories, days since
their last event and recent orders, and the host's smoothed past view rate and the similarity
of the live's goods to what the host usually sells. Two classifiers (scikit-learn) give P(watch)
and P(接龙 | watched): gradient-boosted trees, or a logistic regression on log-odds of the rates
and logs of the shares (it extrapolates to audiences more extreme than any past live, which
trees cannot); the family with the lower log-loss on the last 30% of the training lives is
used. P(接龙 | not watched) is the observed rate.
Orders = sum of P(接龙); GMV = sum of P(接龙) x the person's smoothed mean 接龙 basket (yuan).
The lives after the cut are a **backtest**: predicted against observed view and 接龙 rates per
live (mean absolute error, correlation).

On the synthetic world (``--truth``), the hidden response model of ``features.synth``
(``truth/personas.json``: persona-theme fit, host fit, personal propensities, activity) gives
each scenario's *actual* expected rates, printed beside the predictions, plus one seeded
draw of who watches and joins, the way the seed reports "105 of 120 watched, 82 joined".
Pure functions at the core; ``main`` reads files, writes ``simulation.json`` / ``.md`` / a
plot and logs one MLflow run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import store_layout as store
from features.schema import LIST_SEP, Col, EventType
from training.settings import Settings, load_settings

log = logging.getLogger("linli.simulate")

SEED_PLAN: dict[str, Any] = {
    "name": "夏日轻食 summer light meal (the seed case)",
    "theme": {
        "name": "夏日轻食 · light meals / fat loss",
        "items": ["鸡胸肉", "牛油果", "salad_greens"],
        "keywords": ["减脂餐"],
    },
    "bundle": ["车厘子", "西瓜", "鸡胸", "牛油果"],
    "host": "nutritionist",
    "audience_n": 120,
    "broadcast_group": "largest",
    "truth_theme": "light_meal",
}
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
def invitations(lives: pd.DataFrame, members: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Every (live, member present at its start) with viewed / joined and the live's start and host."""
    from experiments.report.tables import live_invitations

    inv = live_invitations(lives, members, events)
    meta = lives[[Col.LIVE_ID, Col.START_TS, Col.HOST_ID]].astype({Col.LIVE_ID: str})
    return inv.merge(meta, on=Col.LIVE_ID, how="left")


@dataclass
class History:
    """What is known about people, items and hosts at time ``t``."""

    t: pd.Timestamp
    people: pd.DataFrame  # index user_id: view_rate, jielong_rate, invited_log, days_since_event_log, orders_30d_log, basket
    item_share: pd.DataFrame  # user x item decayed purchase share
    sub_share: pd.DataFrame  # user x subcategory
    cat_share: pd.DataFrame  # user x category
    hosts: pd.DataFrame  # index host_id: host_view_rate, + subcategory mix columns
    live_vecs: pd.DataFrame  # index live_id: unit vector of the live's subcategories
    past: pd.DataFrame  # past invitations: live_id, pos (row of people), viewed, joined
    base_view: float
    base_jv: float
    base_basket: float


def _shares(lines: pd.DataFrame, key: str, t: pd.Timestamp) -> pd.DataFrame:
    """Decayed share of each user's purchase lines per ``key`` (rows sum to 1)."""
    w = np.power(
        0.5, ((t - lines[Col.TS]).dt.total_seconds() / 86400.0).to_numpy() / HALF_LIFE_DAYS
    )
    m = pd.DataFrame(
        {
            Col.USER_ID: lines[Col.USER_ID].astype(str).to_numpy(),
            key: lines[key].astype(str).to_numpy(),
            "w": w,
        }
    )
    tab = m.pivot_table(index=Col.USER_ID, columns=key, values="w", aggfunc="sum", fill_value=0.0)
    return tab.div(tab.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)


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
    users = pd.Index(sorted(set(ev[Col.USER_ID].dropna().astype(str)) | set(per.index.astype(str))))
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
            Col.LIVE_ID: past[Col.LIVE_ID].astype(str).to_numpy(),
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


def _row_sum(share: pd.DataFrame, users: pd.Index, cols: list[str]) -> np.ndarray:
    """Per user, the sum of their shares over ``cols`` (0 for unknown users / columns)."""
    cols = [c for c in cols if c in share.columns]
    if not cols:
        return np.zeros(len(users))
    return share[cols].sum(axis=1).reindex(users).fillna(0.0).to_numpy()


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
    x["affinity_item"] = _row_sum(h.item_share, users, list(item_ids))
    x["affinity_sub"] = _row_sum(h.sub_share, users, subs)
    x["affinity_cat"] = _row_sum(h.cat_share, users, cats)
    rate = h.hosts["host_view_rate"].to_dict()
    x["host_view_rate"] = float(rate.get(host_id, h.base_view)) if host_id else h.base_view
    x["host_similarity"] = host_similarity(h, host_id, subs)
    x["days_since_event_log"] = people["days_since_event_log"].fillna(np.log1p(365.0)).to_numpy()
    x["orders_30d_log"] = people["orders_30d_log"].fillna(0.0).to_numpy()
    return x[list(FEATURES)]


def training_frame(
    h: History, inv: pd.DataFrame, lives: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """Features and labels of every invitation in ``inv`` (one live at a time)."""
    items_of = (
        lives.set_index(lives[Col.LIVE_ID].astype(str))[Col.ITEM_IDS]
        .astype(str)
        .str.split(LIST_SEP)
    )
    parts = []
    for live_id, g in inv.groupby(Col.LIVE_ID, sort=True):
        host = g[Col.HOST_ID].iloc[0]
        x = live_features(
            h,
            pd.Index(g[Col.USER_ID].astype(str)),
            list(items_of.get(live_id, [])),
            None if pd.isna(host) else str(host),
            items,
        )
        parts.append(
            x.reset_index(drop=True).assign(
                live_id=live_id,
                start_ts=g[Col.START_TS].iloc[0],
                viewed=g["viewed"].to_numpy(),
                joined=g["joined"].to_numpy(),
            )
        )
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=[*FEATURES, Col.LIVE_ID, Col.START_TS, "viewed", "joined"])
    )


# -- the response model --------------------------------------------------------------------------------
@dataclass
class ResponseModel:
    """P(watch), P(接龙 | watched) classifiers and the rate of 接龙 without watching."""

    view: Any
    join_if_view: Any
    p_join_no_view: float
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: pd.DataFrame) -> pd.DataFrame:
        """p_view, p_jielong_if_view, p_jielong per row."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            pv = self.view.predict_proba(x[list(FEATURES)])[:, 1]
            pj = self.join_if_view.predict_proba(x[list(FEATURES)])[:, 1]
        return pd.DataFrame(
            {
                "p_view": pv,
                "p_jielong_if_view": pj,
                "p_jielong": pv * pj + (1 - pv) * self.p_join_no_view,
            },
            index=x.index,
        )


RATE_FEATURES = (
    "view_rate",
    "jielong_rate",
    "similar_view_rate",
    "similar_jielong_rate",
    "host_view_rate",
)
SHARE_FEATURES = ("affinity_item", "affinity_sub", "affinity_cat", "host_similarity")


def log_odds_design(x: pd.DataFrame) -> pd.DataFrame:
    """Rates as log-odds, shares as logs: the response is multiplicative in them."""
    d = x[list(FEATURES)].astype(float).copy()
    for c in RATE_FEATURES:
        r = d[c].clip(1e-3, 1 - 1e-3)
        d[c] = np.log(r / (1 - r))
    for c in SHARE_FEATURES:
        d[c] = np.log(d[c] + 0.02)
    return d


def classifier(family: str, seed: int) -> Any:
    """``boosting`` (gradient-boosted trees) or ``logistic`` (on the log-odds design)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if family == "boosting":
        return HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.08,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=seed,
        )
    if family == "logistic":
        return make_pipeline(
            FunctionTransformer(log_odds_design),
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=3000),
        )
    raise ValueError(f"unknown model family {family!r}")


FAMILIES = ("boosting", "logistic")


def _fit_pair(frame: pd.DataFrame, family: str, seed: int) -> tuple[Any, Any]:
    """Fit P(watch) and P(接龙 | watched) with one thread (OpenMP on busy cores is 20x slower)."""
    from threadpoolctl import threadpool_limits

    x = frame[list(FEATURES)]
    seen = frame["viewed"].to_numpy(bool)
    with threadpool_limits(1):
        view = classifier(family, seed).fit(x, frame["viewed"].astype(int))
        join = classifier(family, seed).fit(x[seen], frame.loc[seen, "joined"].astype(int))
    return view, join


def choose_family(
    frame: pd.DataFrame, seed: int = 0, share: float = 0.3
) -> tuple[str, dict[str, float]]:
    """The family with the lower log-loss of P(接龙) on the last ``share`` of the training lives."""
    from sklearn.metrics import log_loss

    cut = frame[Col.START_TS].quantile(1 - share)
    fit, val = frame[frame[Col.START_TS] <= cut], frame[frame[Col.START_TS] > cut]
    if fit["viewed"].nunique() < 2 or fit["joined"].nunique() < 2 or val["joined"].nunique() < 2:
        return "logistic", {}
    losses = {}
    for fam in FAMILIES:
        view, join = _fit_pair(fit, fam, seed)
        no_view = float(fit.loc[~fit["viewed"], "joined"].mean())
        model = ResponseModel(view, join, no_view)
        pred = model.predict(val)
        pv, pj = pred["p_view"].to_numpy(), pred["p_jielong_if_view"].to_numpy()
        p = np.clip(pv * pj + (1 - pv) * no_view, 1e-6, 1 - 1e-6)
        losses[fam] = float(log_loss(val["joined"].astype(int), p, labels=[0, 1]))
    return min(losses, key=lambda f: losses[f]), losses


def fit_response(frame: pd.DataFrame, seed: int = 0, family: str = "auto") -> ResponseModel:
    """P(watch) and P(接龙 | watched) classifiers (family by validation on the last lives when auto)."""
    losses: dict[str, float] = {}
    if family == "auto":
        family, losses = choose_family(frame, seed)
    view, join = _fit_pair(frame, family, seed)
    seen = frame["viewed"].to_numpy(bool)
    no_view = frame.loc[~seen, "joined"]
    info = {
        "family": family,
        **{f"validation_log_loss.{k}": v for k, v in losses.items()},
        "examples": int(len(frame)),
        "viewers": int(seen.sum()),
        "lives": int(frame[Col.LIVE_ID].nunique()),
    }
    return ResponseModel(view, join, float(no_view.mean()) if len(no_view) else 0.0, info)


def backtest(model: ResponseModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per live: predicted vs observed view rate and 接龙 rate; their MAE and correlation."""
    pred = model.predict(frame)
    f = pd.concat(
        [
            frame[[Col.LIVE_ID, "viewed", "joined"]].reset_index(drop=True),
            pred.reset_index(drop=True),
        ],
        axis=1,
    )
    per = f.groupby(Col.LIVE_ID).agg(
        invited=("viewed", "size"),
        view_rate=("viewed", "mean"),
        pred_view_rate=("p_view", "mean"),
        jielong_rate=("joined", "mean"),
        pred_jielong_rate=("p_jielong", "mean"),
    )
    stats: dict[str, float] = {"lives": float(len(per))}
    observed = {"view_rate": "viewed", "jielong_rate": "joined"}
    predicted = {"view_rate": "p_view", "jielong_rate": "p_jielong"}
    for a in ("view_rate", "jielong_rate"):
        stats[f"{a}_mae"] = float((per[a] - per[f"pred_{a}"]).abs().mean())
        stats[f"{a}_corr"] = float(per[a].corr(per[f"pred_{a}"])) if len(per) > 2 else float("nan")
        stats[f"{a}_observed"] = float(f[observed[a]].mean())
        stats[f"{a}_predicted"] = float(f[predicted[a]].mean())
    return per.reset_index(), stats


# -- plans ------------------------------------------------------------------------------------------------
def resolve_items(entries: list[str], items: pd.DataFrame, baskets: pd.DataFrame) -> list[str]:
    """Each entry (item id, name fragment or subcategory) -> its best-selling catalogue item."""
    sales = baskets[Col.ITEM_ID].astype(str).value_counts()
    out = []
    for e in entries:
        ids = items[Col.ITEM_ID].astype(str)
        hit = items[
            (ids == e)
            | items[Col.NAME].astype(str).str.contains(e, regex=False)
            | (items.get(Col.SUBCATEGORY, pd.Series("", index=items.index)).astype(str) == e)
        ]
        if hit.empty:
            raise ValueError(f"bundle entry {e!r} matches no catalogue item")
        ranked = sales.reindex(hit[Col.ITEM_ID].astype(str)).fillna(0).sort_values(ascending=False)
        out.append(str(ranked.index[0]))
    return list(dict.fromkeys(out))


def resolve_host(spec: str | None, hosts: pd.DataFrame, h: History, subs: list[str]) -> str | None:
    """A host id, or among the hosts with that tag the one whose past goods are most like ``subs``."""
    if not spec:
        return None
    if spec in set(hosts[Col.HOST_ID].astype(str)):
        return spec
    tagged = hosts[hosts[Col.TAGS].astype(str).str.split(LIST_SEP).map(lambda t: spec in t)]
    if tagged.empty:
        raise ValueError(f"no host with id or tag {spec!r}")
    ids = pd.Index(tagged[Col.HOST_ID].astype(str))
    sim = pd.Series([host_similarity(h, i, subs) for i in ids], index=ids).round(3)
    rate = h.hosts["host_view_rate"].reindex(ids).fillna(h.base_view)
    best = pd.DataFrame({"sim": sim, "rate": rate}).sort_values(["sim", "rate"], ascending=False)
    return str(best.index[0])


def group_members_at(members: pd.DataFrame, group_id: str, t: pd.Timestamp) -> pd.Index:
    """The group's members at ``t``."""
    m = members[(members[Col.GROUP_ID].astype(str) == group_id) & members[Col.USER_ID].notna()]
    ok = (m[Col.JOINED_AT].isna() | (m[Col.JOINED_AT] <= t)) & (
        m[Col.LEFT_AT].isna() | (m[Col.LEFT_AT] > t)
    )
    return pd.Index(m.loc[ok, Col.USER_ID].astype(str).unique())


def largest_general_group(groups: pd.DataFrame, members: pd.DataFrame, t: pd.Timestamp) -> str:
    """The general group with the most current members."""
    general = groups[groups[Col.KIND].astype(str) == "general"] if Col.KIND in groups else groups
    sizes = {str(g): len(group_members_at(members, str(g), t)) for g in general[Col.GROUP_ID]}
    return max(sizes, key=lambda g: sizes[g])


def scenario(
    model: ResponseModel,
    h: History,
    users: pd.Index,
    item_ids: list[str],
    host: str | None,
    items: pd.DataFrame,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Predicted view rate, 接龙 rates, orders, GMV and average order of one audience."""
    x = live_features(h, users, item_ids, host, items)
    p = model.predict(x)
    basket = h.people["basket"].reindex(users).fillna(h.base_basket).to_numpy()
    orders = float(p["p_jielong"].sum())
    gmv = float((p["p_jielong"].to_numpy() * basket).sum())
    out = {
        "invited": float(len(users)),
        "view_rate": float(p["p_view"].mean()),
        "jielong_per_viewer": float(
            (p["p_view"] * p["p_jielong_if_view"]).sum() / max(p["p_view"].sum(), 1e-9)
        ),
        "jielong_rate": float(p["p_jielong"].mean()),
        "viewers": float(p["p_view"].sum()),
        "orders": orders,
        "gmv": gmv,
        "avg_order": gmv / orders if orders else float("nan"),
    }
    return out, p


# -- the synthetic world's truth ----------------------------------------------------------------------------
def truth_rates(
    people: pd.DataFrame,
    personas: dict[str, Any],
    theme: str,
    host_tags: list[str],
    day: pd.Timestamp,
) -> pd.DataFrame:
    """Expected p_view, p_jielong_if_view, p_jielong of each person under the hidden response model.

    Mirrors ``features.synth`` (``truth/personas.json`` ``response_model``): fit = primary persona
    fit + secondary weight x (secondary fit - primary fit); host fit = host tags meet the theme's.
    """
    fm = personas["fit_matrix"]
    fit_of = pd.DataFrame(fm["values"], index=fm["rows"], columns=fm["cols"])[theme]
    th = next(t for t in personas["themes"] if t["key"] == theme)
    hf = bool(set(host_tags) & set(th["host_tags"]))
    f1 = people["persona"].map(fit_of).to_numpy(float)
    sec = people["secondary_persona"].where(people["secondary_persona"].notna(), people["persona"])
    f2 = sec.map(fit_of).to_numpy(float)
    w = people["secondary_weight"].fillna(0.0).to_numpy(float)
    fit = f1 + w * (f2 - f1)
    d = day.tz_convert("Asia/Shanghai").tz_localize(None).normalize()
    active = (pd.to_datetime(people["active_from"]) <= d) & (
        pd.to_datetime(people["active_to"]) >= d
    )
    act = np.where(active.to_numpy(), 1.0, 0.15)
    lvp, jlp = (
        people["live_view_propensity"].to_numpy(float),
        people["jielong_propensity"].to_numpy(float),
    )
    p_view = np.clip(lvp * (0.12 + 0.88 * fit) * (1.0 if hf else 0.8) * act, 0, 0.98)
    p_jv = np.clip(jlp * (0.05 + 0.95 * fit) * (1.0 if hf else 0.7), 0, 0.97)
    p_join = p_view * p_jv + (1 - p_view) * 0.05 * p_jv * act
    return pd.DataFrame(
        {"fit": fit, "p_view": p_view, "p_jielong_if_view": p_jv, "p_jielong": p_join},
        index=people.index,
    )


def truth_scenario(
    users: pd.Index,
    user_truth: pd.DataFrame,
    people: pd.DataFrame,
    personas: dict[str, Any],
    theme: str,
    host_tags: list[str],
    day: pd.Timestamp,
    seed: int,
) -> dict[str, float]:
    """The hidden model's expected rates for ``users`` and one seeded draw of viewers and joiners."""
    ut = user_truth.set_index(Col.USER_ID).reindex(users)
    known = ut["person_id"].notna().to_numpy()
    ppl = people.set_index("person_id").reindex(ut.loc[known, "person_id"].to_numpy()).reset_index()
    r = truth_rates(ppl, personas, theme, host_tags, day)
    rng = np.random.default_rng(seed)
    viewed = rng.random(len(r)) < r["p_view"].to_numpy()
    u = rng.random(len(r))
    joined = np.where(
        viewed, u < r["p_jielong_if_view"].to_numpy(), u < 0.05 * r["p_jielong_if_view"].to_numpy()
    )
    return {
        "people_known": float(known.sum()),
        "mean_fit": float(r["fit"].mean()),
        "view_rate": float(r["p_view"].mean()),
        "jielong_per_viewer": float(
            (r["p_view"] * r["p_jielong_if_view"]).sum() / max(r["p_view"].sum(), 1e-9)
        ),
        "jielong_rate": float(r["p_jielong"].mean()),
        "orders": float(r["p_jielong"].sum()),
        "draw_viewers": float(viewed.sum()),
        "draw_joiners": float(joined.sum()),
    }


# -- the run ------------------------------------------------------------------------------------------------
def simulate(
    features: Path | str,
    plan: dict[str, Any],
    truth: Path | str | None = None,
    settings: Settings | None = None,
    backtest_days: float = 21.0,
    train_days: float = 45.0,
) -> dict[str, Any]:
    """Fit the response model, backtest it and predict the plan's two scenarios (truth when given)."""
    from training.audience import score_audience, theme_from_json

    settings = settings or load_settings()
    features = Path(features)
    t0 = time.perf_counter()
    rd = lambda n, cols=None: pd.read_parquet(features / n, columns=cols)  # noqa: E731
    events = rd(
        store.EVENTS, [Col.TS, Col.EVENT_TYPE, Col.USER_ID, Col.ITEM_ID, Col.LIVE_ID, Col.TEXT]
    )
    baskets, items = rd(store.BASKETS), rd(store.ITEMS)
    lives, members = rd(store.LIVE_SESSIONS), rd(store.GROUP_MEMBERS)
    groups, hosts = rd(store.GROUPS), rd(store.HOSTS)
    end = events[Col.TS].max()
    inv = invitations(lives, members, events)
    t_test = end - pd.Timedelta(days=backtest_days)
    t_train = t_test - pd.Timedelta(days=train_days)
    h_train = history_at(t_train, inv, events, baskets, items, lives)
    train = training_frame(
        h_train, inv[(inv[Col.START_TS] >= t_train) & (inv[Col.START_TS] < t_test)], lives, items
    )
    if train["viewed"].nunique() < 2 or train["joined"].nunique() < 2:
        raise ValueError(
            f"too few past lives between {t_train:%Y-%m-%d} and {t_test:%Y-%m-%d} to learn from"
        )
    model = fit_response(train, settings.seed)
    h_test = history_at(t_test, inv, events, baskets, items, lives)
    test = training_frame(h_test, inv[inv[Col.START_TS] >= t_test], lives, items)
    per_live, bt = backtest(model, test) if len(test) else (pd.DataFrame(), {})
    # the plan, at the end of the data
    h = history_at(end + pd.Timedelta(seconds=1), inv, events, baskets, items, lives)
    bundle = resolve_items(list(plan["bundle"]), items, baskets)
    host = resolve_host(plan.get("host"), hosts, h, item_classes(bundle, items)[0])
    theme = theme_from_json(plan["theme"])
    constraints = rd(store.CONSTRAINTS) if (features / store.CONSTRAINTS).exists() else None
    aud = score_audience(theme, items, baskets, events, constraints, cfg=None)
    n = int(plan.get("audience_n", 120))
    target = pd.Index(aud.audience[Col.USER_ID].astype(str).head(n))
    gid = plan.get("broadcast_group", "largest")
    gid = largest_general_group(groups, members, end) if gid == "largest" else str(gid)
    broadcast = group_members_at(members, gid, end)
    result: dict[str, Any] = {
        "plan": {**plan, "bundle_items": bundle, "host_id": host, "broadcast_group_id": gid},
        "model": {
            **model.info,
            "train_from": str(t_train),
            "train_to": str(t_test),
            "features": list(FEATURES),
        },
        "backtest": bt,
        "scenarios": {},
    }
    host_tags = (
        hosts.set_index(Col.HOST_ID)[Col.TAGS].astype(str).get(host, "").split(LIST_SEP)
        if host
        else []
    )
    preds = {}
    for name, users in (("targeted", target), ("broadcast", broadcast)):
        pred, p = scenario(model, h, users, bundle, host, items)
        preds[name] = p
        result["scenarios"][name] = {"predicted": pred}
    normal = baskets[baskets[Col.LIVE_ID].isna()].groupby(Col.ORDER_ID)[Col.AMOUNT].sum().mean()
    result["normal_order"] = float(normal)
    if truth is not None:
        from experiments.synth_truth import load_user_truth

        truth = Path(truth)
        personas = json.loads((truth / "personas.json").read_text(encoding="utf-8"))
        people = pd.read_parquet(truth / "people.parquet")
        ut = load_user_truth(features, truth)
        for i, (name, users) in enumerate((("targeted", target), ("broadcast", broadcast))):
            result["scenarios"][name]["truth"] = truth_scenario(
                users,
                ut,
                people,
                personas,
                plan.get("truth_theme", "light_meal"),
                host_tags,
                end,
                settings.seed + i,
            )
    s = result["scenarios"]
    result["lift"] = {
        "predicted": s["targeted"]["predicted"]["jielong_rate"]
        / max(s["broadcast"]["predicted"]["jielong_rate"], 1e-9),
        **(
            {
                "truth": s["targeted"]["truth"]["jielong_rate"]
                / max(s["broadcast"]["truth"]["jielong_rate"], 1e-9)
            }
            if truth is not None
            else {}
        ),
    }
    result["per_live"] = per_live
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def to_markdown(r: dict[str, Any]) -> str:
    """The comparison as a markdown table."""
    plan = r["plan"]
    lines = [
        f"# Campaign simulation: {plan['name']}",
        "",
        f"- bundle: {', '.join(plan['bundle_items'])}; host {plan['host_id']}; targeted = top {plan.get('audience_n', 120)} of the theme audience; broadcast = all members of {plan['broadcast_group_id']}",
        f"- response model ({r['model']['family']}): {r['model']['examples']:,} member-live examples from {r['model']['lives']} lives ({r['model']['train_from'][:10]} .. {r['model']['train_to'][:10]})",
    ]
    bt = r.get("backtest") or {}
    if bt:
        lines.append(
            f"- backtest on the {int(bt['lives'])} later lives: view rate MAE {bt['view_rate_mae']:.3f} (corr {bt['view_rate_corr']:.2f}; observed {bt['view_rate_observed']:.3f} vs predicted {bt['view_rate_predicted']:.3f}), 接龙 rate MAE {bt['jielong_rate_mae']:.3f} (corr {bt['jielong_rate_corr']:.2f}; observed {bt['jielong_rate_observed']:.3f} vs predicted {bt['jielong_rate_predicted']:.3f})"
        )
    lines += [
        "",
        "| scenario | invited | view rate pred / truth | 接龙 rate pred / truth | 接龙 per viewer pred / truth | orders pred / truth | GMV pred (yuan) | avg order pred (yuan) | one draw (watched / joined) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in r["scenarios"].items():
        p, t = s["predicted"], s.get("truth")

        def pair(k: str, fmt: str = "{:.1%}", p: dict = p, t: dict | None = t) -> str:
            return fmt.format(p[k]) + (" / " + fmt.format(t[k]) if t else "")

        draw = f"{int(t['draw_viewers'])} / {int(t['draw_joiners'])}" if t else "–"
        lines.append(
            f"| {name} | {int(p['invited'])} | {pair('view_rate')} | {pair('jielong_rate')} | {pair('jielong_per_viewer')} | {pair('orders', '{:.1f}')} | {p['gmv']:,.0f} | {p['avg_order']:.0f} | {draw} |"
        )
    lift = r["lift"]
    lines.append("")
    lines.append(
        f"Targeted vs broadcast, 接龙 conversion per invited person: x{lift['predicted']:.1f} predicted"
        + (f", x{lift['truth']:.1f} by the hidden truth." if "truth" in lift else ".")
    )
    lines.append(
        f"Average predicted 接龙 order of the targeted live: {r['scenarios']['targeted']['predicted']['avg_order']:.0f} yuan vs {r['normal_order']:.0f} yuan for a normal (non-live) order."
    )
    return "\n".join(lines) + "\n"


def plot(r: dict[str, Any], path: Path) -> Path:
    """Bars: predicted vs truth view rate and 接龙 rate, targeted vs broadcast."""
    from matplotlib.ticker import PercentFormatter

    from experiments.plots import PALETTE, pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(r["scenarios"])
    for ax, metric, title in zip(
        axes,
        ("view_rate", "jielong_rate"),
        ("Live view rate", "接龙 conversion (per invited)"),
        strict=True,
    ):
        x = np.arange(len(names))
        pred = [r["scenarios"][n]["predicted"][metric] for n in names]
        ax.bar(x - 0.2, pred, width=0.4, color=PALETTE[0], label="predicted (response model)")
        if all("truth" in r["scenarios"][n] for n in names):
            tru = [r["scenarios"][n]["truth"][metric] for n in names]
            ax.bar(x + 0.2, tru, width=0.4, color=PALETTE[1], label="truth (hidden model)")
        ax.set_xticks(
            x, [f"{n}\n({int(r['scenarios'][n]['predicted']['invited'])} people)" for n in names]
        )
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel(f"{title.split(' (')[0].lower()} (% of invited)")
        ax.set_xlabel("audience")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(f"Campaign simulation: {r['plan']['name']}", fontweight="bold")
    return save(fig, path)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli simulate --features DIR [--plan FILE] [--truth DIR]``."""
    p = argparse.ArgumentParser(prog="linli simulate", description=__doc__.split("\n\n")[0])
    p.add_argument("--features", type=Path, default=None, help="feature store (WORK/features)")
    p.add_argument(
        "--plan", type=Path, default=None, help="plan JSON (default: the seed's light-meal case)"
    )
    p.add_argument("--truth", type=Path, default=None, help="synthetic world's truth folder")
    p.add_argument("--out", type=Path, default=None, help="output folder (WORK/simulation)")
    p.add_argument("--no-mlflow", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    features = args.features or settings.work_dir / "features"
    out = args.out or settings.work_dir / "simulation"
    try:
        plan = json.loads(args.plan.read_text(encoding="utf-8")) if args.plan else SEED_PLAN
        r = simulate(features, plan, args.truth, settings)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"linli simulate: error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(r)
    (out / "simulation.md").write_text(md, encoding="utf-8")
    per_live = r.pop("per_live")
    per_live.to_csv(out / "backtest_lives.csv", index=False)
    (out / "simulation.json").write_text(
        json.dumps(r, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    png = plot(r, out / "simulation.png")
    print(md)
    print(f"-> {out}")
    if not args.no_mlflow:
        from training import tracking

        with tracking.run("simulate", settings, tags={tracking.TAG_RUN_TYPE: "simulate"}) as run_id:
            tracking.log_params(
                {
                    "plan": json.dumps(r["plan"], ensure_ascii=False),
                    "features": str(features.resolve()),
                    "truth": str(args.truth or ""),
                }
            )
            m = {f"backtest.{k}": v for k, v in r["backtest"].items()}
            for name, s in r["scenarios"].items():
                for kind, vals in s.items():
                    m |= {f"{name}.{kind}.{k}": v for k, v in vals.items()}
            m |= {f"lift.{k}": v for k, v in r["lift"].items()}
            tracking.log_metrics(m)
            for f in (
                out / "simulation.md",
                out / "simulation.json",
                out / "backtest_lives.csv",
                png,
            ):
                tracking.log_artifact(f, "simulation")
        print(f"MLflow run {run_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
