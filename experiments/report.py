"""The BI report: one self-contained HTML page of the loop's funnels, value and model health.

``linli report --out report.html [--features DIR] [--matching DIR] [--screenshot docs/report.png]``

Read from the feature store (``linli features build``), the matching outputs
(``segments.parquet`` from ``linli segments``; value tiers stand in without them) and the
MLflow registry. Sections, each a plot with a title, axis labels and units:

1. **segment -> live view -> 接龙**: every member present in a group when one of its lives
   started counts as invited; ``live_view`` events of that live make them a viewer, 接龙 lines
   of that live a joiner. Per segment, per group (top groups) and per live.
2. **LTV per segment**: cumulative revenue per user by 30-day month since the first order
   (a month counts only users observed that long, so late joiners do not drag it down).
3. **value-tier movement**: the RFM tiers of the tag rules recomputed at each month end
   (stacked counts) and the transitions between the last two month ends.
4. **repurchase**: share of a month's buyers who buy again the next month; per category,
   share of a category's buyers who buy it again within 30 days.
5. **item associations**: the item pairs with the highest lift among baskets (support,
   confidence and lift as in :mod:`training.bundles`).
6. **model health**: the champion (version, kind, trained at, holdout metrics), metrics over
   registered versions, the last retrain decisions and A/B runs, and the data volume per
   day and event type with the last 7 days against the 28 before (drift flagged outside
   x0.5 .. x2), next to the volume the champion was trained on.

Plots are inline SVG (matplotlib, glyphs as paths): no script, no external file, nothing
for a browser to fetch. ``--screenshot`` opens the page in headless Chromium, fails on any
console message, and writes a PNG. The page is logged to MLflow as an artifact (``report/``).
Pure functions compute the tables; plotting and I/O sit at the edges.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import store
from features.live_response import live_invitations
from features.schema import PURCHASE_EVENTS, Col
from features.settings import Settings, load_settings

log = logging.getLogger("linli.report")

MONTH = pd.Timedelta(days=30)
DRIFT_LOW, DRIFT_HIGH = 0.5, 2.0
SEGMENT = "segment"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


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
    from features.tags import rfm, value_tiers

    rows = []
    for t in ends:
        p = purchases[purchases[Col.TS] < t]
        if not len(p):
            continue
        tiers = value_tiers(rfm(p, snapshot=t), rules)
        rows.append(
            pd.DataFrame(
                {
                    "snapshot": t,
                    Col.USER_ID: tiers[Col.USER_ID].astype(str),
                    "tier": tiers[Col.TAG].astype(str),
                }
            )
        )
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["snapshot", Col.USER_ID, "tier"])
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


# -- inputs (I/O) -------------------------------------------------------------------------------------
@dataclass
class ReportData:
    """What the report reads, loaded once."""

    events: pd.DataFrame
    baskets: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    lives: pd.DataFrame
    members: pd.DataFrame
    groups: pd.DataFrame
    segment_of: pd.Series  # user_id -> segment name
    segment_source: str
    summary: dict[str, Any] = field(default_factory=dict)


def _read(features: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    p = features / name
    if not p.exists():
        return pd.DataFrame(columns=columns or [])
    if columns:
        import pyarrow.parquet as pq

        have = set(pq.read_schema(p).names)
        columns = [c for c in columns if c in have]
    return pd.read_parquet(p, columns=columns)


def segments_for(
    features: Path, matching: Path | None, users: pd.DataFrame
) -> tuple[pd.Series, str]:
    """user_id -> segment name: discovered segments when found, else the value tier."""
    for folder in [matching, features.resolve().parent / "matching"]:
        if folder is not None and (folder / "segments.parquet").exists():
            seg = pd.read_parquet(folder / "segments.parquet")
            col = Col.SEGMENT_NAME if Col.SEGMENT_NAME in seg.columns else Col.SEGMENT_ID
            s = pd.Series(seg[col].astype(str).to_numpy(), index=seg[Col.USER_ID].astype(str))
            return s[~s.index.duplicated()], f"discovered segments ({folder / 'segments.parquet'})"
    tiers = users.get("value_tier", pd.Series("(none)", index=users.index)).astype(str)
    s = pd.Series(("tier " + tiers).to_numpy(), index=users[Col.USER_ID].astype(str))
    return s, "value tier (no segments.parquet; run `linli segments`)"


def load_report_data(features: Path | str, matching: Path | None = None) -> ReportData:
    """Read the feature store tables the report needs."""
    features = Path(features)
    if not (features / store.EVENTS).exists():
        raise FileNotFoundError(f"no feature store at {features} (run `linli features build`)")
    ev_cols = [
        Col.TS,
        Col.EVENT_TYPE,
        Col.USER_ID,
        Col.ITEM_ID,
        Col.LIVE_ID,
        Col.GROUP_ID,
        Col.AMOUNT,
        Col.ORDER_ID,
    ]
    events = _read(features, store.EVENTS, ev_cols)
    users = _read(features, store.USERS)
    seg, source = segments_for(features, matching, users)
    summary = (
        json.loads((features / store.SUMMARY).read_text())
        if (features / store.SUMMARY).exists()
        else {}
    )
    return ReportData(
        events=events,
        baskets=_read(features, store.BASKETS),
        items=_read(features, store.ITEMS),
        users=users,
        lives=_read(features, store.LIVE_SESSIONS),
        members=_read(features, store.GROUP_MEMBERS),
        groups=_read(features, store.GROUPS),
        segment_of=seg,
        segment_source=source,
        summary=summary,
    )


def model_health(settings: Settings) -> dict[str, Any]:
    """Registry versions, the champion's run, the latest retrain and A/B runs (empty without MLflow)."""
    from training import tracking

    out: dict[str, Any] = {}
    try:
        table = tracking.versions(settings)
    except Exception as exc:  # no store / no registered model: the section says so
        return {"error": f"{type(exc).__name__}: {exc}"}
    out["versions"] = table
    champ = tracking.alias_version("champion", settings)
    out["champion"] = champ
    if champ is not None:
        row = table[table["version"].astype(str) == champ]
        if len(row) and row.iloc[0]["run_id"]:
            out["champion_run"] = tracking.run_data(row.iloc[0]["run_id"], settings)
            out["champion_created"] = str(row.iloc[0]["created"])
            out["champion_kind"] = row.iloc[0]["kind"]
    for kind in ("retrain", "ab", "online-ab"):
        try:
            runs = tracking.search_runs(f"tags.`{tracking.TAG_RUN_TYPE}` = '{kind}'", settings, 5)
        except Exception:  # older stores without the tag
            runs = pd.DataFrame()
        out[f"runs_{kind}"] = runs
    return out


# -- rendering ------------------------------------------------------------------------------------------
def _pct(ax: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))


def plot_segment_funnel(seg: pd.DataFrame) -> str:
    """Grouped bars: view rate and 接龙 per viewer, per segment."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    s = seg.head(10).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(s) + 1.5))
    y = np.arange(len(s))
    ax.barh(
        y + 0.2, s["view_rate"], height=0.4, color=PALETTE[0], label="invited -> watched the live"
    )
    ax.barh(
        y - 0.2,
        s["jielong_per_viewer"],
        height=0.4,
        color=PALETTE[1],
        label="watched -> joined the 接龙",
    )
    ax.set_yticks(y, [f"{i} (n={n:,})" for i, n in zip(s.index, s["invited"], strict=True)])
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("conversion (% of invited members / % of viewers)")
    ax.set_ylabel("segment (member-live invitations)")
    ax.set_title("Segment -> live-view -> 接龙 conversion")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    return to_svg(fig)


def plot_group_funnel(grp: pd.DataFrame, names: pd.Series) -> str:
    """Bars per group: view rate and 接龙 per viewer."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    g = grp.head(16)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    x = np.arange(len(g))
    ax.bar(
        x - 0.2, g["view_rate"], width=0.4, color=PALETTE[0], label="view rate (viewers / invited)"
    )
    ax.bar(x + 0.2, g["jielong_per_viewer"], width=0.4, color=PALETTE[1], label="接龙 per viewer")
    labels = [f"{names.get(i, i)}" for i in g.index]
    ax.set_xticks(x, [lab[:10] for lab in labels], rotation=45, ha="right", fontsize=8)
    _pct(ax)
    ax.set_xlabel("group (the 16 with the most invitations)")
    ax.set_ylabel("conversion (%)")
    ax.set_title("Live-view -> 接龙 conversion per group")
    ax.legend(fontsize=8)
    return to_svg(fig)


def plot_live_scatter(lv: pd.DataFrame, kinds: pd.Series) -> str:
    """Each live: view rate vs 接龙 per viewer, sized by invitations, coloured by group kind."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    kind = kinds.reindex(lv["group_id"]).fillna("?").to_numpy()
    for i, k in enumerate(sorted(set(kind))):
        m = kind == k
        ax.scatter(
            lv["view_rate"][m],
            lv["jielong_per_viewer"][m],
            s=np.clip(lv["invited"][m] / 4, 8, 200),
            alpha=0.6,
            color=PALETTE[i % len(PALETTE)],
            label=f"{k} group",
        )
    _pct(ax)
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("view rate of the live (% of invited members)")
    ax.set_ylabel("接龙 per viewer (%)")
    ax.set_title(f"Per live: view rate vs 接龙 conversion ({len(lv):,} lives; size = invited)")
    ax.legend(fontsize=8)
    return to_svg(fig)


def plot_ltv(ltv: pd.DataFrame) -> str:
    """Lines: cumulative revenue per user by month since first order, per segment."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.4))
    sizes = ltv[ltv["month"] == 1].set_index(SEGMENT)["users"].sort_values(ascending=False)
    for i, s in enumerate(sizes.index[:8]):
        d = ltv[ltv[SEGMENT] == s]
        ax.plot(
            d["month"],
            d["ltv"],
            marker="o",
            color=PALETTE[i % len(PALETTE)],
            label=f"{s} ({sizes[s]:,})",
        )
    ax.set_xticks(sorted(ltv["month"].unique()))
    ax.set_xlabel("months since the first order (30-day months)")
    ax.set_ylabel("cumulative revenue per user (yuan)")
    ax.set_title("LTV per segment (users observed at least that long)")
    ax.legend(fontsize=7, ncol=2)
    return to_svg(fig)


TIER_ORDER = ("tier:diamond", "tier:gold", "tier:regular")


def plot_tiers(snaps: pd.DataFrame, trans: pd.DataFrame) -> str:
    """Stacked buyers per tier at each month end, and the last month's transition matrix."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.4, 1]})
    counts = pd.crosstab(snaps["snapshot"].dt.strftime("%Y-%m-%d"), snaps["tier"])
    order = [t for t in TIER_ORDER if t in counts.columns] + [
        c for c in counts.columns if c not in TIER_ORDER
    ]
    bottom = np.zeros(len(counts))
    for i, t in enumerate(order[::-1]):
        ax.bar(
            counts.index, counts[t], bottom=bottom, color=PALETTE[(2 - i) % len(PALETTE)], label=t
        )
        bottom += counts[t].to_numpy()
    ax.set_xlabel("snapshot (month end, China time)")
    ax.set_ylabel("buyers (people)")
    ax.set_title("Value tiers over time (RFM rules)")
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.legend(fontsize=8)
    if len(trans):
        rows = [r for r in ("new", *TIER_ORDER) if r in trans.index]
        cols = [c for c in TIER_ORDER if c in trans.columns]
        m = trans.reindex(index=rows, columns=cols, fill_value=0)
        ax2.imshow(m.to_numpy(), cmap="Blues")
        top = max(int(m.to_numpy().max()), 1)
        for (r, c), v in np.ndenumerate(m.to_numpy()):
            color = "white" if v > top / 2 else "#1a202c"
            ax2.text(c, r, f"{v:,}", ha="center", va="center", fontsize=9, color=color)
        ax2.set_xticks(range(len(cols)), cols, fontsize=8)
        ax2.set_yticks(range(len(rows)), rows, fontsize=8)
    ax2.set_xlabel("tier at the last snapshot")
    ax2.set_ylabel("tier one month earlier")
    ax2.set_title("Tier movement in the last month (people)")
    return to_svg(fig)


def plot_repurchase(by_month: pd.DataFrame, by_cat: pd.DataFrame) -> str:
    """Repurchase rate per month and per category."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(by_month["month"], by_month["repurchase_rate"], marker="o", color=PALETTE[0])
    _pct(ax)
    ax.set_xlabel("month of purchase")
    ax.set_ylabel("buyers who buy again next month (%)")
    ax.set_title("Repurchase rate by month")
    c = by_cat.iloc[::-1]
    ax2.barh(c["category"], c["repurchase_rate"], color=PALETTE[2])
    from matplotlib.ticker import PercentFormatter

    ax2.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax2.set_xlabel("buyers who rebuy the category within 30 days (%)")
    ax2.set_ylabel("category")
    ax2.set_title("Repurchase within 30 days, by category")
    return to_svg(fig)


def plot_pairs(pairs: pd.DataFrame) -> str:
    """Horizontal bars of pair lift, annotated with support."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    p = pairs.iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(p) + 1.4))
    labels = [f"{a[:14]} + {b[:14]}" for a, b in zip(p["name_a"], p["name_b"], strict=True)]
    ax.barh(labels, p["lift"], color=PALETTE[3])
    for y, (lift, sup, cnt) in enumerate(zip(p["lift"], p["support"], p["count"], strict=True)):
        ax.text(lift, y, f"  {cnt:,} baskets, support {sup:.2%}", va="center", fontsize=7)
    ax.set_xlabel("lift (x: how much more often together than by chance)")
    ax.set_ylabel("item pair")
    ax.set_title("Top item associations (pairs bought in the same basket)")
    ax.tick_params(axis="y", labelsize=8)
    return to_svg(fig)


def plot_volume(daily: pd.DataFrame, champion_snapshot: pd.Timestamp | None) -> str:
    """Events per day by type (log scale), with the champion's training snapshot marked."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    top = daily.sum().sort_values(ascending=False).index[:8]
    for i, t in enumerate(top):
        ax.plot(
            daily.index,
            daily[t].rolling(3, min_periods=1).mean(),
            lw=1.3,
            color=PALETTE[i % len(PALETTE)],
            label=t,
        )
    if champion_snapshot is not None:
        snap = champion_snapshot.tz_convert("Asia/Shanghai").tz_localize(None)
        ax.axvline(snap, color="#2d3748", ls="--", lw=1)
        ax.text(
            snap,
            ax.get_ylim()[1] if ax.get_yscale() != "log" else 1,
            " champion trained",
            fontsize=8,
            va="top",
        )
    ax.set_yscale("log")
    ax.set_xlabel("day (China time)")
    ax.set_ylabel("events per day (3-day mean, log scale)")
    ax.set_title("Data volume by event type")
    ax.legend(fontsize=7, ncol=4)
    ax.tick_params(axis="x", rotation=20)
    return to_svg(fig)


def plot_versions(versions: pd.DataFrame) -> str:
    """Holdout metrics of every registered version, aliases marked."""
    from experiments.plots import PALETTE, pyplot, to_svg

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    v = versions.sort_values("version")
    for i, m in enumerate(("ndcg_at_10", "recall_at_10")):
        ax.plot(v["version"], v[m].astype(float), marker="o", color=PALETTE[i], label=m)
    for _, r in v.iterrows():
        if r["aliases"]:
            ax.annotate(
                str(r["aliases"]),
                (r["version"], float(r["ndcg_at_10"] or 0)),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
            )
    ax.set_xticks(
        v["version"],
        [f"v{x}\n{k}" for x, k in zip(v["version"], v["kind"], strict=True)],
        fontsize=8,
    )
    ax.set_xlabel("registered version (model kind)")
    ax.set_ylabel("holdout metric at 10 (0..1)")
    ax.set_title("Model health: holdout metrics per registered version")
    ax.legend(fontsize=8)
    return to_svg(fig)


def _table(
    df: pd.DataFrame, formats: dict[str, Callable[[Any], str]] | None = None, max_rows: int = 15
) -> str:
    """An escaped HTML table."""
    if df is None or not len(df):
        return "<p class='muted'>(nothing to show)</p>"
    d = df.head(max_rows).copy()
    for c, f in (formats or {}).items():
        if c in d.columns:
            d[c] = d[c].map(lambda v, f=f: f(v) if pd.notna(v) else "–")
    return d.to_html(index=False, escape=True, border=0, classes="t", na_rep="–")


def ab_summary(runs: pd.DataFrame | None, max_runs: int = 3) -> pd.DataFrame:
    """One row per (A/B run, metric): the difference, its CI and p-value, from the runs' metrics."""
    if runs is None or not len(runs):
        return pd.DataFrame()
    rows = []
    for _, r in runs.head(max_runs).iterrows():
        for col in r.index:
            if not col.startswith("metrics.diff.") or col.count(".") != 2:
                continue
            metric = col.removeprefix("metrics.diff.")
            if metric not in (
                "ndcg_at_10",
                "recall_at_10",
                "ctr",
                "conversion",
                "revenue_per_exposure",
            ):
                continue
            lo, hi = r.get(f"{col}.ci_low"), r.get(f"{col}.ci_high")
            p = r.get(f"{col}.p_value")
            if pd.isna(r[col]):
                continue
            rows.append(
                {
                    "run": str(r.get("tags.mlflow.runName", r["run_id"][:8])),
                    "started": str(r["start_time"])[:16],
                    "metric": metric,
                    "difference": f"{r[col]:+.4f}",
                    "95% CI": f"[{lo:+.4f}, {hi:+.4f}]" if pd.notna(lo) else "–",
                    "p": "<0.001"
                    if pd.notna(p) and p < 0.001
                    else (f"{p:.3f}" if pd.notna(p) else "–"),
                }
            )
    return pd.DataFrame(rows)


def pct(v: float) -> str:
    """A share as a percentage string."""
    return f"{100 * float(v):.1f}%"


CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;margin:0;background:#f7fafc;color:#1a202c}
main{max-width:1180px;margin:0 auto;padding:24px 32px}
h1{font-size:26px;margin:8px 0 2px} h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #e2e8f0;padding-bottom:4px}
.muted{color:#718096;font-size:13px} .kpis{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.kpi{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:130px}
.kpi b{display:block;font-size:20px} .kpi span{font-size:12px;color:#4a5568}
figure{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:12px 0;padding:12px}
figure svg{max-width:100%;height:auto} figcaption{font-size:13px;color:#4a5568;margin-top:6px}
table.t{border-collapse:collapse;font-size:12.5px;background:#fff;margin:8px 0}
table.t th,table.t td{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:right}
table.t th{background:#edf2f7} .flag-drift{color:#c53030;font-weight:bold}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}
"""


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def build_report(
    data: ReportData, settings: Settings | None, title: str = "Linli BI report"
) -> tuple[str, dict[str, Any]]:
    """The HTML page and the numbers behind it (for MLflow and tests)."""
    from features.tags import load_rules

    ev, bk = data.events, data.baskets
    end = ev[Col.TS].max()
    start = ev[Col.TS].min()
    numbers: dict[str, Any] = {"window": [str(start), str(end)], "segments": data.segment_source}
    parts: list[str] = []
    buys = ev[ev[Col.EVENT_TYPE].astype(str).isin([str(e) for e in PURCHASE_EVENTS])]
    gmv = float(bk[Col.AMOUNT].fillna(0).sum()) if len(bk) else 0.0
    kpis = {
        "people": f"{len(data.users):,}",
        "events": f"{len(ev):,}",
        "orders (incl. 接龙)": f"{bk[Col.ORDER_ID].nunique():,}" if len(bk) else "0",
        "GMV (yuan)": f"{gmv:,.0f}",
        "lives": f"{len(data.lives):,}",
        "groups": f"{len(data.groups):,}",
    }
    parts.append(
        f"<h1>{html.escape(title)}</h1><p class='muted'>data {start:%Y-%m-%d} .. {end:%Y-%m-%d} (China time) · segments: {html.escape(data.segment_source)} · generated {pd.Timestamp.now(tz='Asia/Shanghai'):%Y-%m-%d %H:%M}</p>"
    )
    parts.append(
        "<div class='kpis'>"
        + "".join(
            f"<div class='kpi'><b>{v}</b><span>{html.escape(k)}</span></div>"
            for k, v in kpis.items()
        )
        + "</div>"
    )
    # 1. funnels
    parts.append("<h2>1. Segment → live view → 接龙</h2>")
    if len(data.lives) and len(data.members):
        inv = live_invitations(data.lives, data.members, ev)
        seg = funnel(inv, inv[Col.USER_ID].map(data.segment_of).fillna("(none)").rename(SEGMENT))
        seg = seg[seg["invited"] >= max(30, 0.005 * len(inv))]
        grp = funnel(inv, Col.GROUP_ID)
        lv = funnel(inv, Col.LIVE_ID).reset_index()
        lv = lv.merge(
            data.lives[[Col.LIVE_ID, Col.GROUP_ID, Col.THEME, Col.HOST_ID]].astype(
                {Col.LIVE_ID: str, Col.GROUP_ID: str}
            ),
            on=Col.LIVE_ID,
            how="left",
        )
        names = (
            data.groups.set_index(data.groups[Col.GROUP_ID].astype(str))[Col.NAME].astype(str)
            if Col.NAME in data.groups
            else pd.Series(dtype=str)
        )
        kinds = (
            data.groups.set_index(data.groups[Col.GROUP_ID].astype(str))[Col.KIND].astype(str)
            if Col.KIND in data.groups
            else pd.Series(dtype=str)
        )
        numbers |= {
            "invitations": int(len(inv)),
            "view_rate": float(inv["viewed"].mean()),
            "jielong_per_viewer": float(inv.loc[inv["viewed"], "joined"].mean())
            if inv["viewed"].any()
            else None,
        }
        numbers["segment_funnel"] = seg.reset_index().to_dict("records")
        parts.append(
            _figure(
                plot_segment_funnel(seg),
                f"{len(inv):,} member-live invitations; overall {pct(numbers['view_rate'])} watched and {pct(numbers['jielong_per_viewer'] or 0)} of viewers joined the 接龙.",
            )
        )
        parts.append(
            _figure(
                plot_group_funnel(grp, names),
                "Per group: share of invited members who watched, and share of viewers who joined the 接龙.",
            )
        )
        parts.append(
            _figure(
                plot_live_scatter(lv, kinds),
                "Every live of the period; themed lives in interest groups sit top right.",
            )
        )
        top = lv.sort_values("jielong_per_viewer", ascending=False)
        top = top[top["viewers"] >= 5][
            [
                Col.LIVE_ID,
                Col.GROUP_ID,
                Col.THEME,
                "invited",
                "viewers",
                "joiners",
                "view_rate",
                "jielong_per_viewer",
            ]
        ]
        parts.append(
            "<p class='muted'>Lives with the best 接龙 conversion (at least 5 viewers):</p>"
            + _table(top, {"view_rate": pct, "jielong_per_viewer": pct}, 8)
        )
    else:
        parts.append("<p class='muted'>No live sessions or group members in the feature store.</p>")
    # 2. LTV
    parts.append("<h2>2. LTV per segment</h2>")
    ltv = ltv_curves(bk, data.segment_of, end)
    numbers["ltv"] = ltv.to_dict("records")
    parts.append(
        _figure(
            plot_ltv(ltv),
            "Mean revenue per user accumulated since their first order; month m averages the users first seen at least m months before the end.",
        )
    )
    # 3. value tiers
    parts.append("<h2>3. Value-tier movement</h2>")
    rules = load_rules((settings or load_settings()).features.tag_rules)
    snaps = tier_snapshots(
        buys[[Col.USER_ID, Col.TS, Col.ORDER_ID, Col.AMOUNT, Col.ITEM_ID, Col.EVENT_TYPE]],
        rules,
        month_ends(start, end),
    )
    trans = tier_transitions(snaps)
    numbers["tier_counts"] = (
        pd.crosstab(snaps["snapshot"].astype(str), snaps["tier"]).to_dict("index")
        if len(snaps)
        else {}
    )
    parts.append(
        _figure(
            plot_tiers(snaps, trans),
            "Tiers from recency, frequency and monetary quintiles (features/tag_rules.yaml), recomputed at each month end.",
        )
    )
    # 4. repurchase
    parts.append("<h2>4. Repurchase</h2>")
    rm, rc = repurchase_by_month(bk), repurchase_by_category(bk, data.items)
    numbers["repurchase_by_month"] = rm.to_dict("records")
    parts.append(
        _figure(
            plot_repurchase(rm, rc),
            "Grocery is repeat buying: the share of buyers who come back, overall and per category.",
        )
    )
    # 5. associations
    parts.append("<h2>5. Top item associations</h2>")
    pairs = item_pairs(
        bk,
        data.items,
        min_count=max(10, int(bk[Col.ORDER_ID].nunique() * 0.0005)) if len(bk) else 10,
    )
    numbers["top_pairs"] = pairs.head(5).to_dict("records")
    if len(pairs):
        parts.append(
            _figure(
                plot_pairs(pairs),
                "lift = P(A and B) / (P(A) P(B)) over baskets, ranked by lift x (1 - 1.96 / sqrt(baskets)) so that rare pairs need more lift; pairs in fewer baskets than the minimum are left out.",
            )
        )
        parts.append(
            _table(
                pairs[["name_a", "name_b", "count", "support", "confidence", "lift"]],
                {"support": pct, "confidence": pct, "lift": lambda v: f"{v:.2f}"},
                10,
            )
        )
    # 6. model health
    parts.append("<h2>6. Model health</h2>")
    health: dict[str, Any] = (
        model_health(settings)
        if settings is not None
        else {"error": "MLflow not read (--no-mlflow)"}
    )
    champ_snapshot = None
    if "error" in health:
        parts.append(f"<p class='muted'>Registry not available: {html.escape(health['error'])}</p>")
    else:
        run = health.get("champion_run") or {}
        params, metrics = run.get("params", {}), run.get("metrics", {})
        snap_text = params.get("data.snapshot")
        champ_snapshot = pd.Timestamp(snap_text) if snap_text else None
        numbers["champion"] = {
            "version": health.get("champion"),
            "kind": health.get("champion_kind"),
            **{k: metrics.get(k) for k in ("ndcg_at_10", "recall_at_10")},
        }
        rows = [
            (
                "champion",
                f"v{health.get('champion')} ({health.get('champion_kind', '?')})"
                if health.get("champion")
                else "none",
            ),
            ("registered at", health.get("champion_created", "–")),
            (
                "trained on",
                f"{params.get('data.users', '?')} users × {params.get('data.items', '?')} items, {params.get('data.nnz', '?')} non-zeros, snapshot {snap_text or '?'}",
            ),
            (
                "serving data now",
                f"{data.summary.get('matrix', {}).get('users', '?')} users × {data.summary.get('matrix', {}).get('items', '?')} items, {data.summary.get('matrix', {}).get('nnz', '?')} non-zeros",
            ),
            *[
                (k, f"{metrics[k]:.4f}")
                for k in ("ndcg_at_10", "recall_at_10", "hit_rate_at_10", "map_at_10")
                if k in metrics
            ],
        ]
        parts.append(
            "<table class='t'>"
            + "".join(
                f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>"
                for a, b in rows
            )
            + "</table>"
        )
        versions = health.get("versions")
        if versions is not None and len(versions) and versions["ndcg_at_10"].notna().any():
            parts.append(
                _figure(
                    plot_versions(versions),
                    "Every registered version's holdout metrics (linli train / linli retrain); the aliases show what serves.",
                )
            )
        rt = health.get("runs_retrain")
        if rt is not None and len(rt) and "tags.linli.retrain.reason" in rt.columns:
            t = rt[
                ["start_time", "status", "tags.linli.retrain.decision", "tags.linli.retrain.reason"]
            ].rename(columns=lambda c: c.split(".")[-1])
            parts.append("<p class='muted'>Last retraining runs:</p>" + _table(t, None, 5))
        for kind, title in (
            ("ab", "Last offline A/B runs"),
            ("online-ab", "Last online A/B analyses"),
        ):
            table = ab_summary(health.get(f"runs_{kind}"))
            if len(table):
                parts.append(
                    f"<p class='muted'>{title} (challenger − champion, 95% CI):</p>"
                    + _table(table, None, 6)
                )
    daily = daily_volume(ev)
    drift = volume_drift(daily)
    numbers["drift"] = drift.to_dict("records")
    parts.append(
        _figure(
            plot_volume(daily, champ_snapshot),
            "Events per day; the dashed line is the end of the data the champion was trained on.",
        )
    )
    drift_html = _table(
        drift,
        {
            "recent_per_day": lambda v: f"{v:,.1f}",
            "base_per_day": lambda v: f"{v:,.1f}",
            "ratio": lambda v: f"x{v:.2f}",
        },
        20,
    )
    drift_html = drift_html.replace("<td>drift</td>", "<td class='flag-drift'>drift</td>")
    parts.append(
        f"<p class='muted'>Data volume, last 7 days vs the 28 days before (drift outside x{DRIFT_LOW}..x{DRIFT_HIGH}):</p>"
        + drift_html
    )
    body = "\n".join(parts)
    page = f"<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>\n{body}\n</main></body></html>\n"
    return page, numbers


# -- browser check ------------------------------------------------------------------------------------
def chromium_binary() -> str | None:
    """The headless browser on PATH (chromium, chromium-browser or google-chrome)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def open_in_chromium(
    page: Path, png: Path | None = None, width: int = 1240, height: int = 900, timeout: float = 90.0
) -> list[str]:
    """Load the page in headless Chromium (optionally screenshot it); the console messages it logged."""
    binary = chromium_binary()
    if binary is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="linli-chromium-") as profile:
        cmd = [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={width},{height}",
            "--virtual-time-budget=3000",
        ]
        cmd.append(f"--screenshot={png.resolve()}" if png is not None else "--dump-dom")
        cmd.append(page.resolve().as_uri())
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if png is not None and not png.exists():
        raise RuntimeError(
            f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}"
        )
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def screenshot(page: Path, png: Path, width: int = 1240, scale: float = 0.6) -> list[str]:
    """A full-page PNG (page height estimated from the figures), downscaled; console messages."""
    from PIL import Image

    text = page.read_text(encoding="utf-8")
    height = 900 + 520 * text.count("<figure>") + 30 * text.count("<tr>")
    png.parent.mkdir(parents=True, exist_ok=True)
    messages = open_in_chromium(page, png, width, height)
    img: Image.Image = Image.open(png)
    px = np.asarray(img.convert("L"))
    rows = np.flatnonzero((px < 245).any(axis=1))  # trim the empty bottom
    if len(rows):
        img = img.crop((0, 0, img.width, min(img.height, int(rows[-1]) + 40)))
    if scale != 1.0:
        img = img.resize(
            (int(img.width * scale), int(img.height * scale)), Image.Resampling.LANCZOS
        )
    img.save(png, optimize=True)
    return messages


def write_report(
    features: Path,
    out: Path,
    settings: Settings | None,
    matching: Path | None = None,
    log_mlflow: bool = True,
) -> dict[str, Any]:
    """Build, write (and log) the page; the numbers behind it."""
    t0 = time.perf_counter()
    data = load_report_data(features, matching)
    page, numbers = build_report(data, settings if log_mlflow else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    numbers["seconds"] = round(time.perf_counter() - t0, 2)
    (out.with_suffix(".json")).write_text(
        json.dumps(numbers, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    if log_mlflow:
        from training import tracking

        with tracking.run("report", settings, tags={tracking.TAG_RUN_TYPE: "report"}):
            tracking.log_params(
                {"features": str(features.resolve()), "segments": data.segment_source}
            )
            flat = {
                k: v for k, v in numbers.items() if isinstance(v, int | float) and v is not None
            }
            tracking.log_metrics(flat)
            tracking.log_artifact(out, "report")
            tracking.log_artifact(out.with_suffix(".json"), "report")
    return numbers


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli report --out report.html [--features DIR] [--screenshot PNG]``."""
    p = argparse.ArgumentParser(prog="linli report", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML page to write")
    p.add_argument("--features", type=Path, default=None, help="feature store (WORK/features)")
    p.add_argument("--matching", type=Path, default=None, help="folder with segments.parquet")
    p.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        help="also open it in headless Chromium and save a PNG",
    )
    p.add_argument("--no-mlflow", action="store_true", help="no registry section, no MLflow run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    features = args.features or settings.work_dir / "features"
    try:
        numbers = write_report(features, args.out, settings, args.matching, not args.no_mlflow)
    except (FileNotFoundError, ValueError) as exc:
        print(f"linli report: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {numbers['seconds']}s)")
    if args.screenshot is not None:
        messages = screenshot(args.out, args.screenshot)
        print(f"screenshot: {args.screenshot}; console messages: {len(messages)}")
        for m in messages:
            print(f"  {m}", file=sys.stderr)
        if messages:
            return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    raise SystemExit(main())
