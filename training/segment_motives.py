"""Why users buy, not just what: the motive feature blocks of segment discovery.

Two people can fill the same basket for different reasons (a price-driven shopper and a
senior buying staples both buy rice and eggs). These blocks, one row per user, describe the
motive beside the basket:

- ``price``: price sensitivity - the mean price tier of what the user buys (percentile of the
  item's price within its subcategory), the share of lines paid below the item's usual price
  (discount share), the mean paid / usual price, and the mean log price paid per unit,
- ``time``: share of the user's events per part of the day, and on weekends,
- ``channel``: share of the user's events per channel (mini-app, store, group, ad, live, ...),
- ``engagement``: share of events per event type, log event count and log active days,
- ``value``: the value tier (one-hot) from the user profile.

What users search for (:func:`search_word_counts`) joins the basket's item-level embedding
in :mod:`training.segments`; interest tags from text are a block there too.

Pure functions of the event log, the catalogue and the user profiles; no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.schema import PURCHASE_EVENTS, Col, EventType

DAY_PARTS: tuple[tuple[str, int, int], ...] = (
    ("night", 0, 6),
    ("early_morning", 6, 9),
    ("morning", 9, 12),
    ("midday", 12, 14),
    ("afternoon", 14, 18),
    ("evening", 18, 21),
    ("late", 21, 24),
)
DISCOUNT_BELOW = 0.95  # a line is discounted when paid below this share of the usual price


def _rows(users: pd.Index, ids: pd.Series) -> np.ndarray:
    """Row of each id in `users` (-1 when absent)."""
    return np.asarray(users.get_indexer(pd.Index(ids.astype(str))), dtype=np.int64)


def _share_block(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Dense rows x cols counts divided by row sums (empty rows stay 0)."""
    ok = (rows >= 0) & (cols >= 0)
    m = sp.csr_matrix(
        (np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=(n_rows, max(n_cols, 1))
    ).toarray()
    s = m.sum(axis=1, keepdims=True)
    return np.divide(m, s, out=np.zeros_like(m), where=s > 0)[:, :n_cols]


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Category codes (-1 = missing) and the vocabulary, sorted."""
    cat = pd.Categorical(values.astype("string"))
    return np.asarray(cat.codes, dtype=np.int64), [str(c) for c in cat.categories]


def price_block(
    users: pd.Index, events: pd.DataFrame, items: pd.DataFrame
) -> tuple[np.ndarray, list[str]]:
    """Mean price tier, discount share and mean log unit price of each user's purchase lines."""
    names = ["price_tier", "discount_share", "paid_ratio", "log_unit_price"]
    buys = events[events[Col.EVENT_TYPE].astype(str).isin([e.value for e in PURCHASE_EVENTS])]
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    if buys.empty or Col.PRICE not in cat.columns:
        return np.zeros((len(users), len(names))), names
    price = pd.to_numeric(cat[Col.PRICE], errors="coerce")
    group = cat[Col.SUBCATEGORY] if Col.SUBCATEGORY in cat.columns else cat[Col.CATEGORY]
    tier = price.groupby(group.astype("string").fillna("")).rank(pct=True)
    unit = (
        pd.to_numeric(buys[Col.AMOUNT], errors="coerce")
        if Col.AMOUNT in buys.columns
        else pd.Series(np.nan, index=buys.index)
    )
    if Col.QUANTITY in buys.columns:
        unit = unit / pd.to_numeric(buys[Col.QUANTITY], errors="coerce").where(lambda q: q > 0)
    # the usual price: the catalogue's, else the median paid for the item
    median_paid = unit.groupby(buys[Col.ITEM_ID].astype(str)).transform("median")
    listed = price.reindex(buys[Col.ITEM_ID]).to_numpy(dtype=float)
    usual = pd.Series(np.where(np.isfinite(listed) & (listed > 0), listed, median_paid), unit.index)
    ratio = (unit / usual).where(usual > 0)
    frame = pd.DataFrame(
        {
            "row": _rows(users, buys[Col.USER_ID]),
            "price_tier": tier.reindex(buys[Col.ITEM_ID]).to_numpy(dtype=float),
            "discount_share": (ratio < DISCOUNT_BELOW).astype(float).where(ratio.notna()),
            "paid_ratio": ratio.clip(upper=2.0),
            "log_unit_price": np.log1p(unit.clip(lower=0)),
        }
    )
    frame = frame[frame["row"] >= 0]
    mean = frame.groupby("row")[names].mean()
    out = np.zeros((len(users), len(names)))
    out[mean.index.to_numpy()] = mean.fillna(mean.mean()).fillna(0.0).to_numpy()
    # users without purchases sit at the population mean (not at "free")
    missing = np.setdiff1d(np.arange(len(users)), mean.index.to_numpy())
    out[missing] = mean.mean().fillna(0.0).to_numpy()
    return out, names


def time_block(users: pd.Index, events: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Share of each user's events per part of the day, and the weekend share."""
    ts = pd.to_datetime(events[Col.TS], errors="coerce")
    hour = ts.dt.hour.to_numpy(dtype=float, na_value=np.nan)
    part = np.full(len(events), -1, dtype=np.int64)
    for j, (_, lo, hi) in enumerate(DAY_PARTS):
        part[(hour >= lo) & (hour < hi)] = j
    rows = _rows(users, events[Col.USER_ID])
    parts = _share_block(rows, part, len(users), len(DAY_PARTS))
    weekend = _share_block(
        rows, np.where(ts.dt.day_of_week.to_numpy(na_value=-1) >= 5, 0, 1), len(users), 2
    )[:, :1]
    return np.hstack([parts, weekend]), [p[0] for p in DAY_PARTS] + ["weekend"]


def channel_block(users: pd.Index, events: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Share of each user's events per channel."""
    if Col.CHANNEL not in events.columns:
        return np.zeros((len(users), 0)), []
    codes, vocab = _codes(events[Col.CHANNEL])
    rows = _rows(users, events[Col.USER_ID])
    return _share_block(rows, codes, len(users), len(vocab)), vocab


def _user_days(rows: np.ndarray, ts: pd.Series) -> np.ndarray:
    """User row of every distinct (user row >= 0, local calendar day) pair; NaT times skipped."""
    t = pd.to_datetime(ts, errors="coerce")
    if t.dt.tz is not None:  # count local calendar days, as ``dt.floor("D")`` does
        t = t.dt.tz_localize(None)
    stamp = t.to_numpy(dtype="datetime64[ns]")
    ok = (rows >= 0) & ~np.isnat(stamp)
    day = stamp[ok].astype("datetime64[D]").view(np.int64)
    if not len(day):
        return np.zeros(0, np.int64)
    day = day - day.min()
    span = int(day.max()) + 1
    return np.unique(rows[ok] * span + day) // span


def engagement_block(users: pd.Index, events: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Share of events per event type, log event count and log active days."""
    codes, vocab = _codes(events[Col.EVENT_TYPE])
    rows = _rows(users, events[Col.USER_ID])
    shares = _share_block(rows, codes, len(users), len(vocab))
    ok = rows >= 0
    count = np.bincount(rows[ok], minlength=len(users)).astype(float)
    active = np.bincount(_user_days(rows, events[Col.TS]), minlength=len(users)).astype(float)
    extra = np.column_stack([np.log1p(count), np.log1p(active)])
    return np.hstack([shares, extra]), [*vocab, "log_events", "log_days"]


def value_block(users: pd.Index, profiles: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """One-hot value tier of each user."""
    if "value_tier" not in profiles.columns:
        return np.zeros((len(users), 0)), []
    tier = profiles.set_index(Col.USER_ID)["value_tier"]
    tier.index = tier.index.astype(str)
    codes, vocab = _codes(tier.reindex(users))
    return _share_block(np.arange(len(users)), codes, len(users), len(vocab)), vocab


def search_word_counts(users: pd.Index, events: pd.DataFrame) -> sp.csr_matrix:
    """users x search words (whitespace tokens of search texts) counts, rows in `users` order."""
    cols = [Col.USER_ID, Col.TEXT]
    if Col.TEXT not in events.columns:
        return sp.csr_matrix((len(users), 1))
    s = events.loc[events[Col.EVENT_TYPE].astype(str) == EventType.SEARCH, cols].dropna()
    words = s.assign(word=s[Col.TEXT].astype(str).str.split()).explode("word").dropna()
    rows = _rows(users, words[Col.USER_ID])
    ok = rows >= 0
    vocab, cols_ = np.unique(words["word"].to_numpy(dtype=str)[ok], return_inverse=True)
    m = sp.csr_matrix(
        (np.ones(int(ok.sum())), (rows[ok], cols_)), shape=(len(users), max(len(vocab), 1))
    )
    m.sum_duplicates()
    return m


def motive_blocks(
    users: pd.Index,
    events: pd.DataFrame,
    items: pd.DataFrame,
    profiles: pd.DataFrame,
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Every motive block of the users (rows follow `users`), with column names."""
    built = {
        "price": price_block(users, events, items),
        "time": time_block(users, events),
        "channel": channel_block(users, events),
        "engagement": engagement_block(users, events),
        "value": value_block(users, profiles),
    }
    return {k: v[0] for k, v in built.items()}, {k: v[1] for k, v in built.items()}


# tag / column values that carry no meaning: never part of a segment name
PLACEHOLDER_VALUES = frozenset(
    {"unknown", "nan", "none", "null", "na", "n/a", "undefined", "other", "-", "?", ""}
)
# motive columns read as words: column -> (label when high, label when low)
MOTIVE_WORDS: dict[str, tuple[str, str]] = {
    "price:price_tier": ("premium picks", "budget picks"),
    "price:discount_share": ("deal seekers", "full-price buyers"),
    "engagement:log_events": ("highly engaged", "light users"),
    "rfm:aov": ("big baskets", "small baskets"),
    "rfm:recency_days": ("lapsing", "recent buyers"),
    "rfm:frequency": ("frequent buyers", "occasional buyers"),
}


def _word(column: str, high: bool) -> str | None:
    """The words for a segment far above (or below) the others on one motive column."""
    if column in MOTIVE_WORDS:
        return MOTIVE_WORDS[column][0 if high else 1]
    block, _, value = column.partition(":")
    if not high or value.strip().lower() in PLACEHOLDER_VALUES:
        return None
    if block == "time":
        return f"{value.replace('_', ' ')} shoppers"
    if block == "channel":
        return f"{value} shoppers"
    if block == "buy" and value.startswith("cat="):
        return f"{value[4:]} lovers"
    return None


def motive_labels(
    blocks: dict[str, np.ndarray],
    names: dict[str, list[str]],
    segment: np.ndarray,
    min_z: float = 0.25,
) -> dict[int, list[str]]:
    """Per segment, words for the motives it stands out on (segment mean z >= `min_z`), best first.

    `segment` holds each user's segment (negative = not clustered). Names segments that no
    tag describes, and tells apart segments that would share a name.
    """
    mask = segment >= 0
    cols, words_hi, words_lo = [], [], []
    for block in ("price", "time", "channel", "engagement", "rfm", "buy"):
        for j, name in enumerate(names.get(block, [])):
            column = f"{block}:{name}"
            hi, lo = _word(column, True), _word(column, False)
            if hi or lo:
                cols.append(blocks[block][:, j])
                words_hi.append(hi)
                words_lo.append(lo)
    if not cols or not mask.any():
        return {}
    x = np.column_stack(cols)[mask]
    sd = x.std(axis=0)
    z = np.divide(x - x.mean(axis=0), sd, out=np.zeros_like(x), where=sd > 1e-9)
    seg = segment[mask]
    out: dict[int, list[str]] = {}
    for s in np.unique(seg):
        mean = z[seg == s].mean(axis=0)
        ranked = sorted(range(len(mean)), key=lambda j: -abs(mean[j]))
        picked = [
            w
            for j in ranked
            if abs(mean[j]) >= min_z and (w := words_hi[j] if mean[j] > 0 else words_lo[j])
        ]
        out[int(s)] = list(dict.fromkeys(picked))
    return out
