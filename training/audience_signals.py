"""Per-user signals of a theme at a cut date: the features the audience model learns from.

:func:`theme_log` resolves once what every cut needs (purchase lines flagged theme /
affine-category, engagement events, keyword hits in texts); :func:`signals_at` aggregates it
as of a cut (nothing after the cut is read) and :func:`labels_at` says who bought the theme
in the ``horizon`` days after it. Times are float days since the epoch. Pure functions.

Signals by component (:data:`COMPONENTS`; the reasons are given per component):

- ``recent``   theme purchase lines in 30 / 90 days, all time, decayed; days since the last,
- ``rate``     smoothed share of the user's baskets holding a theme item, theme baskets,
- ``category`` lines of other items of the theme's categories (90 days), their share,
- ``engage``   views / clicks / carts of theme items (decayed, 30 days), of the categories,
- ``keyword``  searches, live comments, chat messages holding a theme keyword (jieba),
- ``similar``  cosine of the user's purchase embedding (truncated SVD) with the theme's items,
- ``activity`` baskets in 30 / 90 days and all time, days since the last, spend in 90 days,
               live-stream views in 30 days (the value tier and engagement of a shopper).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.schema import PURCHASE_EVENTS, Col, EventType

DAY_S = 86400.0
CAP_DAYS = 365.0  # "days since" of a user who never did it
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
VERBS = {
    EventType.SEARCH.value: "searched",
    EventType.MESSAGE.value: "said in chat",
    EventType.LIVE_COMMENT.value: "commented in a live",
}
ENGAGE_EVENTS = (EventType.VIEW.value, EventType.CLICK.value, EventType.CART.value)

COMPONENTS: dict[str, tuple[str, ...]] = {
    "recent": (
        "theme_30",
        "theme_90",
        "theme_all",
        "theme_per_30",
        "theme_decay",
        "theme_days_since",
    ),
    "rate": ("theme_rate", "theme_baskets"),
    "category": ("affine_90", "affine_share"),
    "engage": ("engage_decay", "engage_30", "engage_affine_30"),
    "keyword": ("keyword_decay", "keyword_90"),
    "similar": ("embed_sim",),
    "activity": (
        "tenure_days",
        "baskets_per_30",
        "baskets_30",
        "baskets_90",
        "baskets_all",
        "days_since_basket",
        "spend_90",
        "lives_30",
    ),
}
FEATURES: tuple[str, ...] = tuple(f for fs in COMPONENTS.values() for f in fs)
# the value of a feature for a user who never showed that signal
ABSENT = {"theme_days_since": CAP_DAYS, "days_since_basket": CAP_DAYS}


def to_days(ts: pd.Series) -> np.ndarray:
    """Timestamps -> float days since the epoch (tz-aware or naive UTC)."""
    t = pd.to_datetime(ts)
    if getattr(t.dt, "tz", None) is None:
        t = t.dt.tz_localize("UTC")
    return ((t - EPOCH).dt.total_seconds() / DAY_S).to_numpy(np.float64)


@dataclass
class ThemeLog:
    """What the theme's signals are aggregated from, resolved once for every cut."""

    lines: pd.DataFrame  # user_id, t, basket, item (code), theme, affine, amount, label
    engage: pd.DataFrame  # user_id, t, theme, affine, label
    lives: pd.DataFrame  # user_id, t
    keywords: pd.DataFrame  # user_id, t, verb, keyword
    n_items: int  # size of the item code space of ``lines.item``
    theme_codes: np.ndarray  # item codes of the theme's items


def _lines(
    purchases: pd.DataFrame, theme: pd.Index, affine: pd.Index, labels: pd.Series
) -> tuple[pd.DataFrame, int, np.ndarray]:
    buys = purchases[purchases[Col.USER_ID].notna() & purchases[Col.ITEM_ID].notna()]
    item = buys[Col.ITEM_ID].astype("string")
    codes, uniq = pd.factorize(item)
    basket = (
        buys[Col.ORDER_ID].astype("string")
        if Col.ORDER_ID in buys.columns
        else buys[Col.USER_ID].astype("string") + buys[Col.TS].dt.floor("D").astype("string")
    )
    amount = buys[Col.AMOUNT] if Col.AMOUNT in buys.columns else pd.Series(0.0, index=buys.index)
    is_theme = item.isin(theme).to_numpy()
    lines = pd.DataFrame(
        {
            Col.USER_ID: buys[Col.USER_ID].astype("string").to_numpy(),
            "t": to_days(buys[Col.TS]),
            "basket": pd.factorize(basket)[0],
            "item": codes,
            "theme": is_theme,
            "affine": item.isin(affine).to_numpy() & ~is_theme,
            "amount": pd.to_numeric(amount, errors="coerce").fillna(0.0).to_numpy(np.float64),
            "label": labels.reindex(item.to_numpy()).to_numpy(),
        }
    )
    theme_codes = np.flatnonzero(pd.Index(uniq).isin(theme))
    return lines, len(uniq), theme_codes


def _keywords(events: pd.DataFrame, keywords: list[str]) -> pd.DataFrame:
    from features.tags import keyword_hits

    cols = [Col.USER_ID, "t", "verb", "keyword"]
    if not keywords or Col.TEXT not in events.columns:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    texts = events[events[Col.EVENT_TYPE].isin(list(VERBS)) & events[Col.TEXT].notna()]
    texts = texts.reset_index(drop=True)
    hits = keyword_hits(texts[Col.TEXT], {"theme": list(keywords)})
    rows = texts.loc[hits["row"].to_numpy()]
    return pd.DataFrame(
        {
            Col.USER_ID: rows[Col.USER_ID].astype("string").to_numpy(),
            "t": to_days(rows[Col.TS]),
            "verb": rows[Col.EVENT_TYPE].astype(str).map(VERBS).to_numpy(),
            "keyword": hits["kw"].astype(str).to_numpy(),
        }
    )


def theme_log(
    purchases: pd.DataFrame,
    events: pd.DataFrame | None,
    theme_items: pd.Index,
    affine_items: pd.Index,
    labels: pd.Series,
    keywords: list[str],
) -> ThemeLog:
    """Purchase lines, engagement, live views and keyword hits flagged against the theme.

    ``labels``: item_id -> the words a reason names the item by.
    """
    lines, n_items, codes = _lines(purchases, theme_items, affine_items, labels)
    ev = events if events is not None else pd.DataFrame(columns=[Col.USER_ID, Col.EVENT_TYPE])
    ev = ev[ev[Col.USER_ID].notna()]
    ev = ev[~ev[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
    eng = ev[ev[Col.EVENT_TYPE].isin(ENGAGE_EVENTS)]
    item = eng[Col.ITEM_ID].astype("string") if len(eng) else pd.Series([], dtype="string")
    engage = pd.DataFrame(
        {
            Col.USER_ID: eng[Col.USER_ID].astype("string").to_numpy(),
            "t": to_days(eng[Col.TS]) if len(eng) else np.array([], np.float64),
            "theme": item.isin(theme_items).to_numpy(),
            "affine": item.isin(affine_items).to_numpy(),
            "label": labels.reindex(item.to_numpy()).to_numpy(),
        }
    )
    live = ev[ev[Col.EVENT_TYPE] == EventType.LIVE_VIEW.value]
    lives = pd.DataFrame(
        {
            Col.USER_ID: live[Col.USER_ID].astype("string").to_numpy(),
            "t": to_days(live[Col.TS]) if len(live) else np.array([], np.float64),
        }
    )
    return ThemeLog(lines, engage, lives, _keywords(ev, keywords), n_items, codes)


def users_at(log: ThemeLog, cut: float) -> pd.Index:
    """Users seen (any purchase, engagement, live view or text) at or before the cut."""
    seen = [f.loc[f["t"] <= cut, Col.USER_ID] for f in (log.lines, log.engage, log.lives)]
    seen.append(log.keywords.loc[log.keywords["t"] <= cut, Col.USER_ID])
    return pd.Index(pd.unique(pd.concat(seen, ignore_index=True).astype("string"))).sort_values()


def _count(frame: pd.DataFrame, mask: np.ndarray, weights: np.ndarray | None = None) -> pd.Series:
    w = np.ones(int(mask.sum())) if weights is None else weights[mask]
    return pd.Series(w).groupby(frame.loc[mask, Col.USER_ID].to_numpy()).sum()


_SVD_CACHE: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}


def embedding_similarity(
    lines: pd.DataFrame, n_items: int, theme_codes: np.ndarray, seed: int, dim: int = 16
) -> pd.Series:
    """Cosine of each buyer's SVD purchase embedding with the mean embedding of the theme items."""
    if lines.empty or len(theme_codes) == 0 or n_items < 3:
        return pd.Series(dtype=float)
    from sklearn.decomposition import TruncatedSVD

    users, rows = np.unique(lines[Col.USER_ID].to_numpy(dtype=str), return_inverse=True)
    x = sp.csr_matrix(
        (np.ones(len(lines)), (rows, lines["item"].to_numpy())), shape=(len(users), n_items)
    )
    x.sum_duplicates()
    x.data = np.log1p(x.data)
    k = min(dim, n_items - 1, len(users) - 1)
    if k < 1:
        return pd.Series(dtype=float)
    digest = pd.util.hash_pandas_object(lines[[Col.USER_ID, "t", "item"]], index=False)
    key = (len(lines), n_items, k, seed, int(digest.to_numpy().sum(dtype=np.uint64)))
    if key not in _SVD_CACHE:  # themes of one log share the embedding of each cut
        svd = TruncatedSVD(n_components=k, random_state=seed, n_iter=3)
        _SVD_CACHE[key] = (svd.fit_transform(x), svd.components_)
        while len(_SVD_CACHE) > 16:
            _SVD_CACHE.pop(next(iter(_SVD_CACHE)))
    u, components = _SVD_CACHE[key]
    theme_vec = components[:, theme_codes].mean(axis=1)
    norm = np.linalg.norm(u, axis=1) * (np.linalg.norm(theme_vec) or 1.0)
    sim = np.divide(u @ theme_vec, norm, out=np.zeros(len(users)), where=norm > 0)
    return pd.Series(sim, index=pd.Index(users))


def _purchase_signals(lines: pd.DataFrame, cut: float, half_life: float, prior: float) -> dict:
    age = cut - lines["t"].to_numpy()
    decay = np.power(0.5, age / half_life)
    th = lines["theme"].to_numpy()
    out: dict[str, pd.Series] = {
        "theme_30": _count(lines, th & (age <= 30)),
        "theme_90": _count(lines, th & (age <= 90)),
        "theme_all": _count(lines, th),
        "theme_decay": _count(lines, th, decay),
        "theme_days_since": pd.Series(age[th]).groupby(lines.loc[th, Col.USER_ID].to_numpy()).min(),
        "affine_90": _count(lines, lines["affine"].to_numpy() & (age <= 90)),
        "spend_90": _count(lines, age <= 90, lines["amount"].to_numpy()),
    }
    n_all = lines.groupby(Col.USER_ID).size()
    out["affine_share"] = _count(lines, lines["affine"].to_numpy()).reindex(n_all.index) / n_all
    per_basket = lines.assign(age=age).groupby([Col.USER_ID, "basket"], sort=False)
    b = per_basket.agg(age=("age", "min"), theme=("theme", "max")).reset_index()
    by_user = b.groupby(Col.USER_ID)
    p0 = float(b["theme"].mean()) if len(b) else 0.0
    hits, n = by_user["theme"].sum(), by_user.size()
    out["theme_rate"] = (hits + prior * p0) / (n + prior)
    out["theme_baskets"] = hits.astype(float)
    out["baskets_all"] = n.astype(float)
    out["baskets_30"] = (b["age"] <= 30).groupby(b[Col.USER_ID]).sum().astype(float)
    out["baskets_90"] = (b["age"] <= 90).groupby(b[Col.USER_ID]).sum().astype(float)
    out["days_since_basket"] = by_user["age"].min()
    tenure = by_user["age"].max()
    out["tenure_days"] = tenure
    out["baskets_per_30"] = n.astype(float) * 30 / np.maximum(tenure, 30.0)
    out["theme_per_30"] = (
        out["theme_all"].reindex(tenure.index).fillna(0) * 30 / np.maximum(tenure, 30.0)
    )
    return out


def signals_at(
    log: ThemeLog,
    cut: float,
    users: pd.Index,
    half_life: float = 30.0,
    prior: float = 3.0,
    seed: int = 0,
    embedding: bool = True,
) -> pd.DataFrame:
    """One row per user in ``users``, one column per :data:`FEATURES`, as of ``cut``."""
    lines = log.lines[log.lines["t"] <= cut]
    parts = _purchase_signals(lines, cut, half_life, prior) if len(lines) else {}
    eng = log.engage[log.engage["t"] <= cut]
    e_age = cut - eng["t"].to_numpy()
    e_th = eng["theme"].to_numpy()
    parts["engage_decay"] = _count(eng, e_th, np.power(0.5, e_age / half_life))
    parts["engage_30"] = _count(eng, e_th & (e_age <= 30))
    parts["engage_affine_30"] = _count(eng, eng["affine"].to_numpy() & (e_age <= 30))
    lv = log.lives[log.lives["t"] <= cut]
    parts["lives_30"] = _count(lv, (cut - lv["t"].to_numpy()) <= 30)
    kw = log.keywords[log.keywords["t"] <= cut]
    k_age = cut - kw["t"].to_numpy(np.float64)
    parts["keyword_decay"] = _count(kw, np.ones(len(kw), bool), np.power(0.5, k_age / half_life))
    parts["keyword_90"] = _count(kw, k_age <= 90)
    if embedding:
        parts["embed_sim"] = embedding_similarity(lines, log.n_items, log.theme_codes, seed)
    frame = pd.DataFrame(index=pd.Index(users, name=Col.USER_ID))
    for f in FEATURES:
        s = parts.get(f)
        col = s.reindex(frame.index) if s is not None and len(s) else None
        frame[f] = (
            col.astype(float).fillna(ABSENT.get(f, 0.0)).to_numpy()
            if col is not None
            else ABSENT.get(f, 0.0)
        )
    return frame


def labels_at(log: ThemeLog, cut: float, horizon: float, users: pd.Index) -> pd.Series:
    """Whether each user bought a theme item in (cut, cut + horizon]."""
    ln = log.lines
    hit = (
        ln["theme"].to_numpy() & (ln["t"].to_numpy() > cut) & (ln["t"].to_numpy() <= cut + horizon)
    )
    buyers = pd.Index(pd.unique(ln.loc[hit, Col.USER_ID]))
    return pd.Series(pd.Index(users).isin(buyers), index=pd.Index(users, name=Col.USER_ID))
