"""The report's numbers (pure): live funnels, LTV, value tiers, repurchase, item pairs, data volume."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.live_response import live_invitations as live_invitations
from features.schema import Col

MONTH = pd.Timedelta(days=30)
DRIFT_LOW, DRIFT_HIGH = 0.5, 2.0
SEGMENT = "segment"


# -- funnels (pure) ------------------------------------------------------------------------------
def funnel(inv: pd.DataFrame, by: str | pd.Series) -> pd.DataFrame:
    """invited, viewers, joiners, view rate, 接龙 rate among viewers and overall, per key."""
    g = inv.groupby(by, sort=False)
    out = pd.DataFrame(
        {
            "invited": g.size(),
            "viewers": g["viewed"].sum(),
            "joiners": g["joined"].sum(),
            "joiners_among_viewers": inv.assign(_vj=inv["viewed"] & inv["joined"])
            .groupby(by, sort=False)["_vj"]
            .sum(),
        }
    )
    out["view_rate"] = out["viewers"] / out["invited"]
    out["jielong_per_viewer"] = (out["joiners_among_viewers"] / out["viewers"]).where(
        out["viewers"] > 0
    )
    out["jielong_rate"] = out["joiners"] / out["invited"]
    return out.sort_values("invited", ascending=False)


# -- value (pure) ------------------------------------------------------------------------------------
def ltv_curves(
    baskets: pd.DataFrame, segment_of: pd.Series, end: pd.Timestamp, months: int = 6
) -> pd.DataFrame:
    """Mean cumulative revenue per user (yuan) by month since the first order, per segment."""
    b = baskets[[Col.USER_ID, Col.TS, Col.AMOUNT]].dropna(subset=[Col.USER_ID])
    b = b.assign(**{Col.AMOUNT: b[Col.AMOUNT].fillna(0.0)})
    first = b.groupby(Col.USER_ID)[Col.TS].transform("min")
    month = ((b[Col.TS] - first).dt.total_seconds() // MONTH.total_seconds()).astype(int)
    per = (
        b.assign(month=month)
        .groupby([Col.USER_ID, "month"])[Col.AMOUNT]
        .sum()
        .unstack(fill_value=0)
    )
    per = per.reindex(columns=range(months), fill_value=0.0).cumsum(axis=1)
    observed = (
        (end - b.groupby(Col.USER_ID)[Col.TS].min()).dt.total_seconds() / MONTH.total_seconds()
    ).reindex(per.index)
    seg = segment_of.reindex(per.index.astype(str)).fillna("(none)").to_numpy()
    rows = []
    for m in range(months):
        ok = (observed >= m + 1).to_numpy()
        if not ok.any():
            break
        col = per[m].to_numpy()[ok]
        frame = pd.DataFrame({SEGMENT: seg[ok], "v": col})
        for s, g in frame.groupby(SEGMENT):
            rows.append({SEGMENT: s, "month": m + 1, "ltv": float(g["v"].mean()), "users": len(g)})
    return pd.DataFrame(rows, columns=[SEGMENT, "month", "ltv", "users"])


def month_ends(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """Calendar month ends (China time) after ``start`` up to ``end``, plus ``end`` itself."""
    tz = end.tz
    first = pd.Timestamp(year=start.year, month=start.month, day=1, tz=tz) + pd.offsets.MonthBegin(
        1
    )
    ends = [t for t in pd.date_range(first, end, freq="MS", tz=tz) if t > start]
    if not ends or ends[-1] < end:
        ends.append(end)
    return ends


def tier_snapshots(
    purchases: pd.DataFrame, rules: dict[str, Any], ends: list[pd.Timestamp]
) -> pd.DataFrame:
    """The value tier of every buyer at each snapshot: snapshot, user_id, tier."""
    from features.engine.frames import tiers_at

    tiers = tiers_at(purchases, rules, ends)
    return pd.DataFrame(
        {
            "snapshot": tiers["snapshot"],
            Col.USER_ID: tiers[Col.USER_ID].astype(str),
            "tier": tiers[Col.TAG].astype(str),
        }
    )


def tier_transitions(snaps: pd.DataFrame) -> pd.DataFrame:
    """Counts of users from each tier at the second-last snapshot to each at the last ("new" = no tier)."""
    times = sorted(snaps["snapshot"].unique())
    if len(times) < 2:
        return pd.DataFrame()
    a = snaps[snaps["snapshot"] == times[-2]].set_index(Col.USER_ID)["tier"]
    b = snaps[snaps["snapshot"] == times[-1]].set_index(Col.USER_ID)["tier"]
    frm = a.reindex(b.index).fillna("new")
    return pd.crosstab(frm.rename("from"), b.rename("to"))


def repurchase_by_month(baskets: pd.DataFrame) -> pd.DataFrame:
    """Per calendar month: buyers, and the share who buy again the next month."""
    b = baskets.dropna(subset=[Col.USER_ID])
    month = b[Col.TS].dt.tz_localize(None).dt.to_period("M")
    buyers = pd.DataFrame(
        {Col.USER_ID: b[Col.USER_ID].astype(str), "month": month}
    ).drop_duplicates()
    months = sorted(buyers["month"].unique())
    sets = {m: set(buyers.loc[buyers["month"] == m, Col.USER_ID]) for m in months}
    rows = [
        {
            "month": str(m),
            "buyers": len(sets[m]),
            "repurchase_rate": len(sets[m] & sets[n]) / len(sets[m]),
        }
        for m, n in zip(months[:-1], months[1:], strict=True)
        if sets[m]
    ]
    return pd.DataFrame(rows, columns=["month", "buyers", "repurchase_rate"])


def repurchase_by_category(
    baskets: pd.DataFrame, items: pd.DataFrame, days: int = 30, top: int = 12
) -> pd.DataFrame:
    """Per category: buyers, and the share who buy the category again within ``days`` of a purchase."""
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)[Col.CATEGORY].astype(str)
    b = baskets.dropna(subset=[Col.USER_ID]).assign(
        category=lambda d: d[Col.ITEM_ID].astype(str).map(cat)
    )
    days_ = b.drop_duplicates([Col.USER_ID, "category", Col.ORDER_ID])[
        [Col.USER_ID, "category", Col.TS]
    ]
    days_ = days_.sort_values([Col.USER_ID, "category", Col.TS])
    gap = days_.groupby([Col.USER_ID, "category"])[Col.TS].diff()
    again = (
        days_.assign(again=gap <= pd.Timedelta(days=days))
        .groupby([Col.USER_ID, "category"])["again"]
        .any()
    )
    end = b[Col.TS].max()
    first = days_.groupby([Col.USER_ID, "category"])[Col.TS].min()
    eligible = first <= end - pd.Timedelta(days=days)  # had the time to buy again
    frame = pd.DataFrame({"again": again, "eligible": eligible}).reset_index()
    frame = frame[frame["eligible"]]
    out = frame.groupby("category").agg(buyers=("again", "size"), repurchase_rate=("again", "mean"))
    return out.sort_values("buyers", ascending=False).head(top).reset_index()


def item_pairs(
    baskets: pd.DataFrame, items: pd.DataFrame, top: int = 15, min_count: int = 20
) -> pd.DataFrame:
    """The item pairs of highest lift: a, b, names, count, support, confidence (max), lift."""
    b = baskets.dropna(subset=[Col.ORDER_ID, Col.ITEM_ID])
    orders = pd.Index(b[Col.ORDER_ID].astype(str).unique())
    ids = pd.Index(b[Col.ITEM_ID].astype(str).unique())
    x = sp.csr_matrix(
        (
            np.ones(len(b), np.float32),
            (
                orders.get_indexer(b[Col.ORDER_ID].astype(str)),
                ids.get_indexer(b[Col.ITEM_ID].astype(str)),
            ),
        ),
        shape=(len(orders), len(ids)),
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    n = x.shape[0]
    single = np.asarray(x.sum(axis=0)).ravel()
    co = sp.triu((x.T @ x).tocsr(), k=1).tocoo()
    keep = co.data >= min_count
    a, c, cnt = co.row[keep], co.col[keep], co.data[keep]
    if not len(cnt):
        return pd.DataFrame(
            columns=["a", "b", "name_a", "name_b", "count", "support", "confidence", "lift"]
        )
    lift = cnt * n / (single[a] * single[c])
    conf = np.maximum(cnt / single[a], cnt / single[c])
    names = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)[Col.NAME].astype(str)
    out = pd.DataFrame(
        {
            "a": ids[a],
            "b": ids[c],
            "count": cnt.astype(int),
            "support": cnt / n,
            "confidence": conf,
            "lift": lift,
        }
    )
    out["name_a"] = out["a"].map(names).fillna(out["a"])
    out["name_b"] = out["b"].map(names).fillna(out["b"])
    out["score"] = out["lift"] * (1 - 1.96 / np.sqrt(out["count"]))  # little support, little trust
    return out.sort_values(["score", "count"], ascending=False).head(top).reset_index(drop=True)


# -- data volume (pure) ----------------------------------------------------------------------------
def daily_volume(events: pd.DataFrame) -> pd.DataFrame:
    """Events per China-time day (rows) and event type (columns)."""
    day = events[Col.TS].dt.tz_convert("Asia/Shanghai").dt.floor("D").dt.tz_localize(None)
    return pd.crosstab(day.rename("day"), events[Col.EVENT_TYPE].astype(str).rename("event_type"))


def volume_drift(daily: pd.DataFrame, recent: int = 7, base: int = 28) -> pd.DataFrame:
    """Per event type: mean per day over the last ``recent`` days vs the ``base`` before; flagged."""
    if len(daily) < recent + 1:
        return pd.DataFrame(
            columns=["event_type", "recent_per_day", "base_per_day", "ratio", "flag"]
        )
    full = daily.reindex(
        pd.date_range(daily.index.min(), daily.index.max(), freq="D"), fill_value=0
    )
    last = full.iloc[-recent:].mean()
    prior = full.iloc[-(recent + base) : -recent].mean()
    ratio = last / prior.replace(0, np.nan)
    flag = np.where(
        ratio.isna(), "new", np.where((ratio < DRIFT_LOW) | (ratio > DRIFT_HIGH), "drift", "ok")
    )
    return pd.DataFrame(
        {
            "event_type": full.columns,
            "recent_per_day": last.to_numpy(),
            "base_per_day": prior.to_numpy(),
            "ratio": ratio.to_numpy(),
            "flag": flag,
        }
    )
