"""The report's charts as Plotly figure specs (plain dicts), drawn by the reader's browser.

Every chart is built once per language (``zh`` and ``en``) by a pure function of the tables;
the page inlines plotly.js and draws them, so every label is text in the reader's own fonts
(nothing is rasterised where a font may lack Chinese glyphs). :func:`check_chart` refuses a
chart without a title and a title on every axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from experiments.report.tables import SEGMENT

Figure = dict[str, Any]
Chart = dict[str, Figure]  # language -> figure
LANGS = ("zh", "en")
PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#718096", "#b7791f")
TIER_ORDER = ("tier:diamond", "tier:gold", "tier:regular")
TIER_NAMES = {
    "tier:diamond": ("钻石", "diamond"),
    "tier:gold": ("黄金", "gold"),
    "tier:regular": ("普通", "regular"),
    "new": ("新客", "new"),
}


def pick(lang: str, zh: str, en: str) -> str:
    """The label in ``lang``."""
    return zh if lang == "zh" else en


def tier_name(tier: str, lang: str) -> str:
    """``tier:gold`` -> 黄金 / gold."""
    zh, en = TIER_NAMES.get(tier, (tier, tier))
    return pick(lang, zh, en)


def layout(title: str, x: str, y: str, height: int = 420, **extra: Any) -> dict[str, Any]:
    """A layout with a title, both axis titles and the page's look."""
    out: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "y": 0.98, "yanchor": "top", "font": {"size": 16}},
        "xaxis": {"title": {"text": x, "standoff": 8}, "automargin": True},
        "yaxis": {"title": {"text": y, "standoff": 8}, "automargin": True},
        "height": height + 30,
        "margin": {"l": 60, "r": 20, "t": 80, "b": 50},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def check_chart(fig: Figure) -> Figure:
    """Refuse a figure without a title or an axis title; the figure."""
    lay = fig.get("layout", {})
    missing = [] if (lay.get("title") or {}).get("text") else ["title"]
    for axis in (k for k in lay if k.startswith(("xaxis", "yaxis"))):
        if not (lay[axis].get("title") or {}).get("text"):
            missing.append(f"{axis} title")
    if missing:
        raise ValueError(f"chart lacks {', '.join(missing)}: {lay.get('title')}")
    return fig


def bilingual(build: Callable[..., Figure], *args: Any) -> Chart:
    """The chart in every language, each checked."""
    return {lang: check_chart(build(*args, lang=lang)) for lang in LANGS}


def _floats(s: pd.Series | np.ndarray) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in np.asarray(s, dtype=float)]


def segment_funnel(seg: pd.DataFrame, lang: str) -> Figure:
    """Grouped bars: view rate and 接龙 per viewer, per segment."""
    s = seg.head(10).iloc[::-1]
    labels = [f"{i} (n={n:,})" for i, n in zip(s.index, s["invited"], strict=True)]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": _floats(s[col]),
            "y": labels,
            "name": name,
            "marker": {"color": PALETTE[i]},
        }
        for i, (col, name) in enumerate(
            (
                ("view_rate", pick(lang, "受邀 → 观看直播", "invited → watched the live")),
                ("jielong_per_viewer", pick(lang, "观看 → 参加接龙", "watched → joined the 接龙")),
            )
        )
    ]
    return {
        "data": data,
        "layout": layout(
            pick(lang, "人群 → 观看直播 → 接龙 转化", "Segment → live view → 接龙 conversion"),
            pick(
                lang, "转化率（占受邀成员 / 占观看者）", "conversion (% of invited / % of viewers)"
            ),
            pick(lang, "人群（成员-直播邀请数）", "segment (member-live invitations)"),
            height=max(320, 36 * len(s) + 160),
            barmode="group",
            xaxis={"tickformat": ".0%"},
        ),
    }


def group_funnel(grp: pd.DataFrame, names: pd.Series, lang: str) -> Figure:
    """Bars per group: view rate and 接龙 per viewer."""
    g = grp.head(16)
    labels = [str(names.get(i, i))[:14] for i in g.index]
    data = [
        {"type": "bar", "x": labels, "y": _floats(g[col]), "name": name}
        | {"marker": {"color": PALETTE[i]}}
        for i, (col, name) in enumerate(
            (
                ("view_rate", pick(lang, "观看率（观看 / 受邀）", "view rate (viewers / invited)")),
                ("jielong_per_viewer", pick(lang, "观看者接龙率", "接龙 per viewer")),
            )
        )
    ]
    return {
        "data": data,
        "layout": layout(
            pick(lang, "各群：观看直播 → 接龙 转化", "Live view → 接龙 conversion per group"),
            pick(lang, "群（受邀最多的 16 个）", "group (the 16 with the most invitations)"),
            pick(lang, "转化率", "conversion"),
            barmode="group",
            yaxis={"tickformat": ".0%"},
            xaxis={"tickangle": -40},
        ),
    }


def live_scatter(lv: pd.DataFrame, kinds: pd.Series, lang: str) -> Figure:
    """Each live: view rate vs 接龙 per viewer, sized by invitations, coloured by group kind."""
    kind = kinds.reindex(lv["group_id"].astype(str)).fillna("?").to_numpy()
    data = []
    for i, k in enumerate(sorted(set(kind))):
        m = kind == k
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": _floats(lv["view_rate"][m]),
                "y": _floats(lv["jielong_per_viewer"][m]),
                "name": pick(lang, f"{k} 群", f"{k} group"),
                "text": lv["live_id"][m].astype(str).tolist(),
                "marker": {
                    "size": np.clip(np.sqrt(lv["invited"][m].to_numpy(float)), 4, 30).tolist(),
                    "color": PALETTE[i % len(PALETTE)],
                    "opacity": 0.6,
                },
            }
        )
    return {
        "data": data,
        "layout": layout(
            pick(
                lang,
                f"每场直播：观看率与接龙转化（{len(lv):,} 场，点越大受邀越多）",
                f"Per live: view rate vs 接龙 conversion ({len(lv):,} lives; size = invited)",
            ),
            pick(lang, "直播观看率（占受邀成员）", "view rate of the live (% of invited members)"),
            pick(lang, "观看者接龙率", "接龙 per viewer"),
            xaxis={"tickformat": ".0%"},
            yaxis={"tickformat": ".0%"},
        ),
    }


def ltv_lines(ltv: pd.DataFrame, lang: str) -> Figure:
    """Lines: cumulative revenue per user by month since first order, per segment."""
    sizes = ltv[ltv["month"] == 1].set_index(SEGMENT)["users"].sort_values(ascending=False)
    data = []
    for i, s in enumerate(sizes.index[:8]):
        d = ltv[ltv[SEGMENT] == s]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": d["month"].astype(int).tolist(),
                "y": _floats(d["ltv"]),
                "name": f"{s} ({sizes[s]:,})",
                "line": {"color": PALETTE[i % len(PALETTE)]},
            }
        )
    return {
        "data": data,
        "layout": layout(
            pick(lang, "各人群的客户终身价值（累计消费）", "Lifetime value per segment"),
            pick(
                lang, "首单后的月数（30 天为一月）", "months since the first order (30-day months)"
            ),
            pick(lang, "人均累计消费（元）", "cumulative revenue per person (yuan)"),
            xaxis={"dtick": 1},
        ),
    }


def tier_counts(snaps: pd.DataFrame, lang: str) -> Figure:
    """Stacked buyers per value tier at each month end."""
    counts = pd.crosstab(snaps["snapshot"].dt.strftime("%Y-%m-%d"), snaps["tier"])
    order = [t for t in TIER_ORDER if t in counts.columns] + [
        c for c in counts.columns if c not in TIER_ORDER
    ]
    data = [
        {
            "type": "bar",
            "x": counts.index.tolist(),
            "y": counts[t].astype(int).tolist(),
            "name": tier_name(t, lang),
            "marker": {"color": PALETTE[i % len(PALETTE)]},
        }
        for i, t in enumerate(order)
    ]
    return {
        "data": data,
        "layout": layout(
            pick(lang, "会员价值等级（每月底）", "Member value tiers at each month end"),
            pick(lang, "月底（北京时间）", "month end (China time)"),
            pick(lang, "购买过的会员（人）", "buyers (people)"),
            barmode="stack",
        ),
    }


def tier_moves(trans: pd.DataFrame, lang: str) -> Figure:
    """Heat map: tier a month before (rows) -> tier at the last month end (columns)."""
    rows = [r for r in ("new", *TIER_ORDER) if r in trans.index]
    cols = [c for c in TIER_ORDER if c in trans.columns]
    m = trans.reindex(index=rows, columns=cols, fill_value=0).astype(int)
    values = m.to_numpy()
    return {
        "data": [
            {
                "type": "heatmap",
                "z": values.tolist(),
                "x": [tier_name(c, lang) for c in cols],
                "y": [tier_name(r, lang) for r in rows],
                "text": [[f"{v:,}" for v in row] for row in values],
                "texttemplate": "%{text}",
                "colorscale": "Blues",
                "showscale": False,
            }
        ],
        "layout": layout(
            pick(lang, "上个月的等级变化（人）", "Tier movement in the last month (people)"),
            pick(lang, "最近一个月底的等级", "tier at the last month end"),
            pick(lang, "一个月前的等级", "tier one month earlier"),
            height=340,
            yaxis={"autorange": "reversed"},
        ),
    }


def repurchase_months(by_month: pd.DataFrame, lang: str) -> Figure:
    """Share of a month's buyers who buy again the next month."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": by_month["month"].astype(str).tolist(),
                "y": _floats(by_month["repurchase_rate"]),
                "name": pick(lang, "复购率", "repurchase rate"),
                "line": {"color": PALETTE[0]},
            }
        ],
        "layout": layout(
            pick(lang, "每月复购率", "Repurchase rate by month"),
            pick(lang, "购买月份", "month of purchase"),
            pick(lang, "下个月再次购买的买家占比", "buyers who buy again next month"),
            height=360,
            yaxis={"tickformat": ".0%"},
        ),
    }


def repurchase_categories(by_cat: pd.DataFrame, lang: str) -> Figure:
    """Per category: share of its buyers who buy it again within 30 days."""
    c = by_cat.iloc[::-1]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": _floats(c["repurchase_rate"]),
                "y": c["category"].astype(str).tolist(),
                "name": pick(lang, "30 天内复购", "rebuy within 30 days"),
                "marker": {"color": PALETTE[2]},
            }
        ],
        "layout": layout(
            pick(lang, "各品类 30 天内复购率", "Repurchase within 30 days, by category"),
            pick(
                lang, "30 天内再次购买该品类的买家占比", "buyers who rebuy the category in 30 days"
            ),
            pick(lang, "品类", "category"),
            height=max(320, 26 * len(c) + 140),
            xaxis={"tickformat": ".0%"},
        ),
    }


def pair_lift(pairs: pd.DataFrame, lang: str) -> Figure:
    """Horizontal bars: how many times more often a pair is bought together than by chance."""
    p = pairs.iloc[::-1]
    labels = [f"{a[:14]} + {b[:14]}" for a, b in zip(p["name_a"], p["name_b"], strict=True)]
    text = [pick(lang, f"{c:,} 单", f"{c:,} baskets") for c in p["count"].astype(int).tolist()]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": _floats(p["lift"]),
                "y": labels,
                "text": text,
                "textposition": "outside",
                "name": pick(lang, "倍数", "times"),
                "marker": {"color": PALETTE[3]},
            }
        ],
        "layout": layout(
            pick(lang, "最常一起买的商品组合", "Items most often bought together"),
            pick(
                lang,
                "同一订单中一起出现的次数是随机情况的几倍",
                "times more often in one basket than by chance",
            ),
            pick(lang, "商品组合", "item pair"),
            height=max(340, 30 * len(p) + 140),
        ),
    }


def volume_lines(daily: pd.DataFrame, snapshot: pd.Timestamp | None, lang: str) -> Figure:
    """Events per day by type (log scale), with the champion's training snapshot marked."""
    top = daily.sum().sort_values(ascending=False).index[:8]
    x = [d.strftime("%Y-%m-%d") for d in pd.DatetimeIndex(daily.index)]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": _floats(daily[t].rolling(3, min_periods=1).mean()),
            "name": str(t),
            "line": {"color": PALETTE[i % len(PALETTE)], "width": 1.4},
        }
        for i, t in enumerate(top)
    ]
    extra: dict[str, Any] = {"yaxis": {"type": "log"}}
    if snapshot is not None:
        day = snapshot.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d")
        extra["shapes"] = [
            {
                "type": "line",
                "x0": day,
                "x1": day,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dash", "color": "#2d3748", "width": 1},
            }
        ]
        extra["annotations"] = [
            {
                "x": day,
                "yref": "paper",
                "y": 1,
                "text": pick(lang, "当前模型训练截止", "champion trained"),
                "showarrow": False,
                "xanchor": "left",
            }
        ]
    return {
        "data": data,
        "layout": layout(
            pick(lang, "每天的数据量（按事件类型）", "Data volume by event type"),
            pick(lang, "日期（北京时间）", "day (China time)"),
            pick(
                lang, "每天事件数（3 日均值，对数刻度）", "events per day (3-day mean, log scale)"
            ),
            **extra,
        ),
    }


def version_metrics(versions: pd.DataFrame, lang: str) -> Figure:
    """Holdout metrics of every registered version, aliases in the tick labels."""
    v = versions.sort_values("version")
    ticks = [
        f"v{x} {k}" + (f" @{a}" if a else "")
        for x, k, a in zip(v["version"], v["kind"], v["aliases"].fillna(""), strict=True)
    ]
    names = {
        "ndcg_at_10": pick(lang, "排序质量 ndcg@10", "ranking quality ndcg@10"),
        "recall_at_10": pick(lang, "命中率 recall@10", "share found recall@10"),
    }
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": ticks,
            "y": _floats(v[m].astype(float)),
            "name": names[m],
            "line": {"color": PALETTE[i]},
        }
        for i, m in enumerate(("ndcg_at_10", "recall_at_10"))
    ]
    return {
        "data": data,
        "layout": layout(
            pick(lang, "各注册版本的离线指标", "Holdout metrics per registered version"),
            pick(lang, "注册版本（模型类型、别名）", "registered version (model kind, alias)"),
            pick(lang, "离线指标（0..1）", "holdout metric (0..1)"),
            height=360,
        ),
    }


def ab_differences(rows: pd.DataFrame, lang: str) -> Figure:
    """Each A/B run's lead difference (challenger − champion) with its 95% CI."""
    r = rows.iloc[::-1]
    lo = (r["diff"] - r["ci_low"]).clip(lower=0)
    hi = (r["ci_high"] - r["diff"]).clip(lower=0)
    colors = [
        "#38a169" if w == "challenger" else "#e53e3e" if w == "champion" else "#718096"
        for w in r["winner"]
    ]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": _floats(r["diff"]),
                "y": [f"{lab} · {m}" for lab, m in zip(r["label"], r["metric"], strict=True)],
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": _floats(hi),
                    "arrayminus": _floats(lo),
                    "color": "#4a5568",  # the default (the marker colours) is an array
                },
                "marker": {"color": colors, "size": 10},
                "name": pick(lang, "差值与 95% 区间", "difference and 95% CI"),
            }
        ],
        "layout": layout(
            pick(lang, "A/B 测试：新模型减去当前模型", "A/B tests: challenger minus champion"),
            pick(
                lang,
                "差值（>0 表示新模型更好；线段为 95% 置信区间）",
                "difference (> 0: the challenger is better; bar = 95% CI)",
            ),
            pick(lang, "测试", "test"),
            height=max(260, 46 * len(r) + 150),
            shapes=[
                {
                    "type": "line",
                    "x0": 0,
                    "x1": 0,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#2d3748", "width": 1},
                }
            ],
            showlegend=False,
        ),
    }
