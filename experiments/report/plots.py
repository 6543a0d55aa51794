"""The report's plots: inline SVG strings (matplotlib, glyphs as paths), each with labelled axes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from experiments.report.tables import SEGMENT


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
