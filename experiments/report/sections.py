"""The report page: one function per section, each returning its HTML and the numbers behind it.

The ops view comes first (a plain-words summary, funnels, value, repurchase, what sells
together, the A/B tests); model metrics, data volume, a glossary and file paths sit in a
closed "details" section at the end.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from experiments.report import charts as C
from experiments.report.ab_runs import ab_rows, verdict_words
from experiments.report.data import ReportData, model_health
from experiments.report.page import TITLE_EN, TITLE_ZH, Figures, pct, render_page, t, table
from experiments.report.tables import (
    DRIFT_HIGH,
    DRIFT_LOW,
    SEGMENT,
    daily_volume,
    funnel,
    item_pairs,
    live_invitations,
    ltv_curves,
    month_ends,
    repurchase_by_category,
    repurchase_by_month,
    tier_snapshots,
    tier_transitions,
    volume_drift,
)
from features.schema import PURCHASE_EVENTS, Col
from training.settings import Settings

Section = tuple[list[str], dict[str, Any]]  # HTML parts and the numbers behind them


def header_section(data: ReportData) -> Section:
    """Title, data window and the headline counts."""
    ev, bk = data.events, data.baskets
    end, start = ev[Col.TS].max(), ev[Col.TS].min()
    gmv = float(bk[Col.AMOUNT].fillna(0).sum()) if len(bk) else 0.0
    orders = int(bk[Col.ORDER_ID].nunique()) if len(bk) else 0
    kpis = [
        (f"{len(data.users):,}", "会员", "people"),
        (f"{orders:,}", "订单（含接龙）", "orders (incl. 接龙)"),
        (f"{gmv:,.0f}", "成交额（元）", "sales (yuan)"),
        (f"{len(data.lives):,}", "直播场次", "lives"),
        (f"{len(data.groups):,}", "社群", "groups"),
    ]
    now = pd.Timestamp.now(tz="Asia/Shanghai")
    parts = [
        f"<h1>{t(TITLE_ZH, TITLE_EN)}</h1><p class='muted'>"
        + t(
            f"数据 {start:%Y-%m-%d} 至 {end:%Y-%m-%d}（北京时间）· 生成于 {now:%Y-%m-%d %H:%M}",
            f"data {start:%Y-%m-%d} to {end:%Y-%m-%d} (China time) · made {now:%Y-%m-%d %H:%M}",
        )
        + "</p>",
        "<div class='kpis'>"
        + "".join(
            f"<div class='kpi'><b>{v}</b><span>{t(zh, en)}</span></div>" for v, zh, en in kpis
        )
        + "</div>",
    ]
    numbers = {
        "window": [str(start), str(end)],
        "segments": data.segment_source,
        "people": len(data.users),
        "orders": orders,
        "gmv": gmv,
    }
    return parts, numbers


def _group_column(data: ReportData, col: str) -> pd.Series:
    """A column of the groups table indexed by group id (empty when the table lacks it)."""
    g = data.groups
    if col not in g:
        return pd.Series(dtype=str)
    return g.set_index(g[Col.GROUP_ID].astype(str))[col].astype(str)


def funnel_section(data: ReportData, figs: Figures) -> Section:
    """1. segment -> live view -> 接龙, per segment, per group and per live."""
    parts = [f"<h2>1. {t('人群 → 观看直播 → 接龙', 'Segment → live view → 接龙')}</h2>"]
    if not (len(data.lives) and len(data.members)):
        parts.append(
            f"<p class='muted'>{t('没有直播或群成员数据。', 'No live sessions or group members in the data.')}</p>"
        )
        return parts, {}
    inv = live_invitations(data.lives, data.members, data.events)
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
    vr = float(inv["viewed"].mean())
    jr = float(inv.loc[inv["viewed"], "joined"].mean()) if inv["viewed"].any() else None
    numbers: dict[str, Any] = {
        "invitations": int(len(inv)),
        "view_rate": vr,
        "jielong_per_viewer": jr,
        "segment_funnel": seg.reset_index().to_dict("records"),
    }
    parts.append(
        figs.add(
            C.bilingual(C.segment_funnel, seg),
            t(
                f"共 {len(inv):,} 次成员受邀看直播；{pct(vr)} 观看了直播，观看者中 {pct(jr or 0)} 参加了接龙。",
                f"{len(inv):,} member-live invitations; {pct(vr)} watched and {pct(jr or 0)} of viewers joined the 接龙.",
            ),
        )
    )
    parts.append(
        figs.add(
            C.bilingual(C.group_funnel, grp, _group_column(data, Col.NAME)),
            t(
                "每个群：受邀成员中观看直播的比例，以及观看者中参加接龙的比例。",
                "Per group: share of invited members who watched, and share of viewers who joined the 接龙.",
            ),
        )
    )
    parts.append(
        figs.add(
            C.bilingual(C.live_scatter, lv, _group_column(data, Col.KIND)),
            t(
                "每个点是一场直播；越靠右上，观看和接龙越好。",
                "Each dot is one live; top right means many watched and many joined.",
            ),
        )
    )
    top = lv.sort_values("jielong_per_viewer", ascending=False)
    top = top[top["viewers"] >= 5]
    parts.append(
        f"<p class='muted'>{t('接龙转化最好的直播（至少 5 人观看）：', 'Lives with the best 接龙 conversion (at least 5 viewers):')}</p>"
        + table(
            top,
            {
                Col.LIVE_ID: ("直播", "live"),
                Col.GROUP_ID: ("群", "group"),
                Col.THEME: ("主题", "theme"),
                "invited": ("受邀", "invited"),
                "viewers": ("观看", "watched"),
                "joiners": ("接龙", "joined"),
                "view_rate": ("观看率", "view rate"),
                "jielong_per_viewer": ("观看者接龙率", "接龙 per viewer"),
            },
            {"view_rate": pct, "jielong_per_viewer": pct},
            8,
        )
    )
    return parts, numbers


def ltv_section(data: ReportData, figs: Figures) -> Section:
    """2. cumulative revenue per user by month since the first order, per segment."""
    ltv = ltv_curves(data.baskets, data.segment_of, data.events[Col.TS].max())
    parts = [
        f"<h2>2. {t('各人群的客户价值', 'Customer value per segment')}</h2>",
        figs.add(
            C.bilingual(C.ltv_lines, ltv),
            t(
                "每人从第一次下单起累计花了多少钱；第 m 个月只算已经来了至少 m 个月的人。",
                "How much each person has spent since their first order; month m counts only people who have been with us at least m months.",
            ),
        ),
    ]
    return parts, {"ltv": ltv.to_dict("records")}


def tier_section(data: ReportData, settings: Settings, figs: Figures) -> Section:
    """3. the value tiers recomputed at each month end, and the last transitions."""
    from features.tags import load_rules

    ev = data.events
    buys = ev[ev[Col.EVENT_TYPE].astype(str).isin([str(e) for e in PURCHASE_EVENTS])]
    snaps = tier_snapshots(
        buys[[Col.USER_ID, Col.TS, Col.ORDER_ID, Col.AMOUNT, Col.ITEM_ID, Col.EVENT_TYPE]],
        load_rules(settings.features.tag_rules),
        month_ends(ev[Col.TS].min(), ev[Col.TS].max()),
    )
    trans = tier_transitions(snaps)
    counts = (
        pd.crosstab(snaps["snapshot"].astype(str), snaps["tier"]).to_dict("index")
        if len(snaps)
        else {}
    )
    how = t(
        "等级看会员最近一次购买有多近、买得多频繁、花了多少钱，每个月底重新计算。",
        "A member's tier says how recently, how often and how much they bought; it is recomputed at each month end.",
    )
    parts = [f"<h2>3. {t('会员价值等级变化', 'Value-tier movement')}</h2>"]
    if len(snaps):
        parts.append(figs.add(C.bilingual(C.tier_counts, snaps), how))
    if len(trans):
        parts.append(
            figs.add(
                C.bilingual(C.tier_moves, trans),
                t(
                    "每一格：一个月前在左边等级、现在在下方等级的人数。",
                    "Each cell: people in the row's tier a month ago and the column's tier now.",
                ),
            )
        )
    return parts, {"tier_counts": counts}


def repurchase_section(data: ReportData, figs: Figures) -> Section:
    """4. the share of buyers who come back, per month and per category."""
    rm, rc = repurchase_by_month(data.baskets), repurchase_by_category(data.baskets, data.items)
    parts = [f"<h2>4. {t('复购', 'Repurchase')}</h2>"]
    if len(rm):
        parts.append(
            figs.add(
                C.bilingual(C.repurchase_months, rm),
                t(
                    "生鲜靠回头客：每个月的买家下个月还来买的比例。",
                    "Grocery lives on repeat buying: the share of a month's buyers who come back the next month.",
                ),
            )
        )
    if len(rc):
        parts.append(figs.add(C.bilingual(C.repurchase_categories, rc)))
    top = rc.sort_values("repurchase_rate", ascending=False).head(1) if len(rc) else rc
    numbers: dict[str, Any] = {"repurchase_by_month": rm.to_dict("records")}
    if len(top):
        numbers["top_repurchase"] = {
            "category": str(top.iloc[0]["category"]),
            "rate": float(top.iloc[0]["repurchase_rate"]),
        }
    return parts, numbers


def associations_section(data: ReportData, figs: Figures) -> Section:
    """5. the item pairs with the highest lift among baskets."""
    bk = data.baskets
    parts = [f"<h2>5. {t('经常一起买的商品', 'Items bought together')}</h2>"]
    pairs = item_pairs(
        bk,
        data.items,
        min_count=max(10, int(bk[Col.ORDER_ID].nunique() * 0.0005)) if len(bk) else 10,
    )
    if len(pairs):
        parts.append(
            figs.add(
                C.bilingual(C.pair_lift, pairs),
                t(
                    "倍数 = 两件商品出现在同一订单的频率是随机情况下的几倍；只列出足够多订单里出现过的组合。适合做组合套餐。",
                    "Times = how many times more often the two items share a basket than chance would give; only pairs seen in enough baskets are listed. Good candidates for bundles.",
                ),
            )
        )
        parts.append(
            table(
                pairs,
                {
                    "name_a": ("商品 A", "item A"),
                    "name_b": ("商品 B", "item B"),
                    "count": ("一起出现的订单数", "baskets with both"),
                    "support": ("占全部订单", "share of all baskets"),
                    "confidence": ("买 A 的订单里也有 B", "baskets with A that also hold B"),
                    "lift": ("倍数", "times chance"),
                },
                {
                    "count": lambda v: f"{int(v):,}",
                    "support": pct,
                    "confidence": pct,
                    "lift": lambda v: f"x{v:.2f}",
                },
                10,
            )
        )
    else:
        parts.append(
            f"<p class='muted'>{t('订单太少，还找不到稳定的商品组合。', 'Too few baskets to find reliable pairs yet.')}</p>"
        )
    return parts, {"top_pairs": pairs.head(5).to_dict("records")}


def ab_section(health: dict[str, Any], figs: Figures) -> Section:
    """6. the A/B tests in MLflow: who wins, by how much, with the CI; or a note that none ran."""
    parts = [f"<h2>6. {t('A/B 测试', 'A/B tests')}</h2>"]
    if "error" in health:
        parts.append(
            f"<p class='muted'>{t('没有读取模型记录，无法列出 A/B 测试。', 'The model registry was not read, so A/B tests cannot be listed.')}</p>"
        )
        return parts, {"ab": []}
    rows = pd.concat(
        [
            ab_rows(health.get("runs_ab"), "offline"),
            ab_rows(health.get("runs_online-ab"), "online"),
        ],
        ignore_index=True,
    )
    if not len(rows):
        parts.append(
            f"<p class='summary'>{t('还没有运行过 A/B 测试。', 'No A/B test has run yet.')}</p>"
        )
        return parts, {"ab": []}
    parts.append(
        figs.add(
            C.bilingual(C.ab_differences, rows),
            t(
                "绿色：新模型（challenger）明显更好；红色：当前模型（champion）明显更好；灰色：区间跨过 0，分不出胜负。",
                "Green: the challenger is clearly better; red: the champion is clearly better; grey: the interval crosses 0, no winner.",
            ),
        )
    )
    items = []
    for _, r in rows.iterrows():
        zh, en = verdict_words(r)
        kind = t("线上", "online") if r["kind"] == "online" else t("离线", "offline")
        items.append(
            f"<li>{html.escape(r['started'])} · {kind} · <b>{html.escape(r['label'])}</b>: "
            f"<span class='win-{html.escape(str(r['winner']))}'>{t(zh, en)}</span></li>"
        )
    parts.append("<ul>" + "".join(items) + "</ul>")
    return parts, {"ab": rows.to_dict("records")}


def ops_summary(numbers: dict[str, Any]) -> str:
    """One paragraph in plain words for operations: sales, live conversion, repurchase, A/B,
    model and data health."""
    start, end = (str(x)[:10] for x in numbers["window"])
    zh = [
        f"{start} 至 {end}，{numbers['people']:,} 位会员下了 {numbers['orders']:,} 单，成交 {numbers['gmv']:,.0f} 元。"
    ]
    en = [
        f"From {start} to {end}, {numbers['people']:,} members placed {numbers['orders']:,} orders worth {numbers['gmv']:,.0f} yuan."
    ]
    if numbers.get("view_rate") is not None:
        jr = numbers.get("jielong_per_viewer") or 0.0
        zh.append(
            f"受邀看直播的成员中 {pct(numbers['view_rate'])} 观看了，观看者中 {pct(jr)} 参加了接龙。"
        )
        en.append(
            f"Of members invited to a live, {pct(numbers['view_rate'])} watched and {pct(jr)} of viewers joined the 接龙."
        )
        seg = pd.DataFrame(numbers.get("segment_funnel") or [])
        if len(seg) and "jielong_rate" in seg:
            best = seg.sort_values("jielong_rate", ascending=False).iloc[0]
            zh.append(
                f"接龙转化最好的人群是「{best[SEGMENT]}」（受邀者 {pct(best['jielong_rate'])} 参加接龙）。"
            )
            en.append(
                f"The best-converting segment is “{best[SEGMENT]}” ({pct(best['jielong_rate'])} of those invited joined)."
            )
    top = numbers.get("top_repurchase")
    if top:
        zh.append(
            f"回头率最高的品类是 {top['category']}（{pct(top['rate'])} 的买家 30 天内再买）。"
        )
        en.append(
            f"The category people rebuy most is {top['category']} ({pct(top['rate'])} of its buyers rebuy within 30 days)."
        )
    ab = numbers.get("ab") or []
    if ab:
        vzh, ven = verdict_words(pd.Series(ab[0]))
        zh.append(f"最近一次 A/B 测试（{ab[0]['label']}）：{vzh}。")
        en.append(f"Latest A/B test ({ab[0]['label']}): {ven}.")
    else:
        zh.append("还没有运行过 A/B 测试。")
        en.append("No A/B test has run yet.")
    champ = numbers.get("champion") or {}
    if champ.get("version"):
        zh.append(f"现在推荐用的是第 {champ['version']} 版模型（{champ.get('kind') or '?'}）。")
        en.append(
            f"Recommendations come from model version {champ['version']} ({champ.get('kind') or '?'})."
        )
    drift = [d for d in numbers.get("drift") or [] if d.get("flag") == "drift"]
    if numbers.get("drift") is not None:
        if drift:
            names = "、".join(str(d["event_type"]) for d in drift)
            zh.append(f"注意：最近 7 天这些事件的数量和之前差别很大：{names}，请检查数据接入。")
            en.append(
                f"Check the data feed: the last 7 days of {', '.join(str(d['event_type']) for d in drift)} differ a lot from the 4 weeks before."
            )
        else:
            zh.append("最近 7 天的数据量正常。")
            en.append("Data volume over the last 7 days is normal.")
    return f"<p class='summary'>{t(''.join(zh), ' '.join(en))}</p>"


def details_section(
    data: ReportData, health: dict[str, Any], read_registry: bool, figs: Figures
) -> Section:
    """The closed details for data scientists: model health, data volume, glossary, sources."""
    from experiments.report.health import glossary, health_parts

    snapshot = None
    parts = [
        f"<details><summary>{t('技术细节（数据科学）', 'Details for data scientists')}</summary>"
    ]
    numbers: dict[str, Any] = {}
    if read_registry and "error" not in health:
        hp, numbers = health_parts(data, health, figs)
        parts += hp
        snapshot = numbers.pop("champion_snapshot", None)
    else:
        reason = health.get("error", "MLflow not read (--no-mlflow)")
        parts.append(
            f"<p class='muted'>{t('模型记录不可用：', 'Registry not available: ')}{html.escape(reason)}</p>"
        )
    daily = daily_volume(data.events)
    drift = volume_drift(daily)
    parts.append(f"<h3>{t('数据量', 'Data volume')}</h3>")
    parts.append(
        figs.add(
            C.bilingual(C.volume_lines, daily, snapshot),
            t(
                "虚线：当前模型训练数据的截止日。",
                "Dashed line: the end of the data the champion was trained on.",
            ),
        )
    )
    drift_html = table(
        drift,
        {
            "event_type": ("事件类型", "event type"),
            "recent_per_day": ("最近 7 天日均", "last 7 days per day"),
            "base_per_day": ("之前 28 天日均", "28 days before per day"),
            "ratio": ("比值", "ratio"),
            "flag": ("状态", "flag"),
        },
        {
            "recent_per_day": lambda v: f"{v:,.1f}",
            "base_per_day": lambda v: f"{v:,.1f}",
            "ratio": lambda v: f"x{v:.2f}",
        },
        20,
    ).replace("<td>drift</td>", "<td class='flag-drift'>drift</td>")
    parts.append(
        f"<p class='muted'>{t(f'比值超出 x{DRIFT_LOW}..x{DRIFT_HIGH} 标为 drift。', f'Drift flagged outside x{DRIFT_LOW}..x{DRIFT_HIGH}.')}</p>"
        + drift_html
    )
    parts.append(glossary(data))
    parts.append("</details>")
    return parts, {**numbers, "drift": drift.to_dict("records")}


def build_report(
    data: ReportData, settings: Settings, read_registry: bool = True
) -> tuple[str, dict[str, Any]]:
    """The HTML page and the numbers behind it (for MLflow and tests), section by section."""
    figs = Figures()
    health: dict[str, Any] = (
        model_health(settings) if read_registry else {"error": "MLflow not read (--no-mlflow)"}
    )
    head, numbers = header_section(data)
    body: list[str] = []
    for parts, nums in (
        funnel_section(data, figs),
        ltv_section(data, figs),
        tier_section(data, settings, figs),
        repurchase_section(data, figs),
        associations_section(data, figs),
        ab_section(health, figs),
        details_section(data, health, read_registry, figs),
    ):
        body += parts
        numbers |= nums
    html_body = "\n".join([*head, ops_summary(numbers), *body])
    return render_page(html_body, figs), numbers
