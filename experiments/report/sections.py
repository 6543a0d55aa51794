"""The report page: one function per section, each returning its HTML and the numbers behind it."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pandas as pd

from experiments.report.data import ReportData, model_health
from experiments.report.plots import (
    plot_group_funnel,
    plot_live_scatter,
    plot_ltv,
    plot_pairs,
    plot_repurchase,
    plot_segment_funnel,
    plot_tiers,
    plot_versions,
    plot_volume,
)
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


Section = tuple[list[str], dict[str, Any]]  # HTML parts and the numbers behind them


def header_section(data: ReportData, title: str) -> Section:
    """Title, data window and the headline counts."""
    ev, bk = data.events, data.baskets
    end, start = ev[Col.TS].max(), ev[Col.TS].min()
    gmv = float(bk[Col.AMOUNT].fillna(0).sum()) if len(bk) else 0.0
    kpis = {
        "people": f"{len(data.users):,}",
        "events": f"{len(ev):,}",
        "orders (incl. 接龙)": f"{bk[Col.ORDER_ID].nunique():,}" if len(bk) else "0",
        "GMV (yuan)": f"{gmv:,.0f}",
        "lives": f"{len(data.lives):,}",
        "groups": f"{len(data.groups):,}",
    }
    parts = [
        f"<h1>{html.escape(title)}</h1><p class='muted'>data {start:%Y-%m-%d} .. {end:%Y-%m-%d} (China time) · segments: {html.escape(data.segment_source)} · generated {pd.Timestamp.now(tz='Asia/Shanghai'):%Y-%m-%d %H:%M}</p>",
        "<div class='kpis'>"
        + "".join(
            f"<div class='kpi'><b>{v}</b><span>{html.escape(k)}</span></div>"
            for k, v in kpis.items()
        )
        + "</div>",
    ]
    return parts, {"window": [str(start), str(end)], "segments": data.segment_source}


def _group_column(data: ReportData, col: str) -> pd.Series:
    """A column of the groups table indexed by group id (empty when the table lacks it)."""
    g = data.groups
    if col not in g:
        return pd.Series(dtype=str)
    return g.set_index(g[Col.GROUP_ID].astype(str))[col].astype(str)


def funnel_section(data: ReportData) -> Section:
    """1. segment -> live view -> 接龙, per segment, per group and per live."""
    parts = ["<h2>1. Segment → live view → 接龙</h2>"]
    if not (len(data.lives) and len(data.members)):
        parts.append("<p class='muted'>No live sessions or group members in the feature store.</p>")
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
    numbers: dict[str, Any] = {
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
            plot_group_funnel(grp, _group_column(data, Col.NAME)),
            "Per group: share of invited members who watched, and share of viewers who joined the 接龙.",
        )
    )
    parts.append(
        _figure(
            plot_live_scatter(lv, _group_column(data, Col.KIND)),
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
    return parts, numbers


def ltv_section(data: ReportData) -> Section:
    """2. cumulative revenue per user by month since the first order, per segment."""
    ltv = ltv_curves(data.baskets, data.segment_of, data.events[Col.TS].max())
    parts = [
        "<h2>2. LTV per segment</h2>",
        _figure(
            plot_ltv(ltv),
            "Mean revenue per user accumulated since their first order; month m averages the users first seen at least m months before the end.",
        ),
    ]
    return parts, {"ltv": ltv.to_dict("records")}


def tier_section(data: ReportData, settings: Settings) -> Section:
    """3. the value tiers recomputed at each month end, and the last transitions."""
    from features.tags import load_rules

    ev = data.events
    buys = ev[ev[Col.EVENT_TYPE].astype(str).isin([str(e) for e in PURCHASE_EVENTS])]
    rules = load_rules(settings.features.tag_rules)
    snaps = tier_snapshots(
        buys[[Col.USER_ID, Col.TS, Col.ORDER_ID, Col.AMOUNT, Col.ITEM_ID, Col.EVENT_TYPE]],
        rules,
        month_ends(ev[Col.TS].min(), ev[Col.TS].max()),
    )
    trans = tier_transitions(snaps)
    counts = (
        pd.crosstab(snaps["snapshot"].astype(str), snaps["tier"]).to_dict("index")
        if len(snaps)
        else {}
    )
    parts = [
        "<h2>3. Value-tier movement</h2>",
        _figure(
            plot_tiers(snaps, trans),
            "Tiers from recency, frequency and monetary quintiles (features/tag_rules.yaml), recomputed at each month end.",
        ),
    ]
    return parts, {"tier_counts": counts}


def repurchase_section(data: ReportData) -> Section:
    """4. the share of buyers who come back, per month and per category."""
    rm, rc = repurchase_by_month(data.baskets), repurchase_by_category(data.baskets, data.items)
    parts = [
        "<h2>4. Repurchase</h2>",
        _figure(
            plot_repurchase(rm, rc),
            "Grocery is repeat buying: the share of buyers who come back, overall and per category.",
        ),
    ]
    return parts, {"repurchase_by_month": rm.to_dict("records")}


def associations_section(data: ReportData) -> Section:
    """5. the item pairs with the highest lift among baskets."""
    bk = data.baskets
    parts = ["<h2>5. Top item associations</h2>"]
    pairs = item_pairs(
        bk,
        data.items,
        min_count=max(10, int(bk[Col.ORDER_ID].nunique() * 0.0005)) if len(bk) else 10,
    )
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
    return parts, {"top_pairs": pairs.head(5).to_dict("records")}


def _champion_table(data: ReportData, health: dict[str, Any]) -> str:
    """The champion's version, training data, the data serving now and its holdout metrics."""
    run = health.get("champion_run") or {}
    params, metrics = run.get("params", {}), run.get("metrics", {})
    matrix = data.summary.get("matrix", {})
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
            f"{params.get('data.users', '?')} users × {params.get('data.items', '?')} items, {params.get('data.nnz', '?')} non-zeros, snapshot {params.get('data.snapshot') or '?'}",
        ),
        (
            "serving data now",
            f"{matrix.get('users', '?')} users × {matrix.get('items', '?')} items, {matrix.get('nnz', '?')} non-zeros",
        ),
        *[
            (k, f"{metrics[k]:.4f}")
            for k in ("ndcg_at_10", "recall_at_10", "hit_rate_at_10", "map_at_10")
            if k in metrics
        ],
    ]
    return (
        "<table class='t'>"
        + "".join(
            f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>"
            for a, b in rows
        )
        + "</table>"
    )


def _registry_runs(health: dict[str, Any]) -> list[str]:
    """Metrics over registered versions, the last retraining runs and the last A/B analyses."""
    parts = []
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
    return parts


def model_health_section(data: ReportData, settings: Settings, read_registry: bool) -> Section:
    """6. the champion and the registry (the data-volume part follows in volume_section)."""
    parts = ["<h2>6. Model health</h2>"]
    health: dict[str, Any] = (
        model_health(settings) if read_registry else {"error": "MLflow not read (--no-mlflow)"}
    )
    if "error" in health:
        parts.append(f"<p class='muted'>Registry not available: {html.escape(health['error'])}</p>")
        return parts, {}
    run = health.get("champion_run") or {}
    params, metrics = run.get("params", {}), run.get("metrics", {})
    snap_text = params.get("data.snapshot")
    numbers = {
        "champion": {
            "version": health.get("champion"),
            "kind": health.get("champion_kind"),
            **{k: metrics.get(k) for k in ("ndcg_at_10", "recall_at_10")},
        },
        "champion_snapshot": pd.Timestamp(snap_text) if snap_text else None,
    }
    parts.append(_champion_table(data, health))
    parts += _registry_runs(health)
    return parts, numbers


def volume_section(data: ReportData, champion_snapshot: pd.Timestamp | None) -> Section:
    """Events per day and the last 7 days against the 28 before (drift flagged)."""
    daily = daily_volume(data.events)
    drift = volume_drift(daily)
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
    parts = [
        _figure(
            plot_volume(daily, champion_snapshot),
            "Events per day; the dashed line is the end of the data the champion was trained on.",
        ),
        f"<p class='muted'>Data volume, last 7 days vs the 28 days before (drift outside x{DRIFT_LOW}..x{DRIFT_HIGH}):</p>"
        + drift_html,
    ]
    return parts, {"drift": drift.to_dict("records")}


def build_report(
    data: ReportData,
    settings: Settings,
    title: str = "Linli BI report",
    read_registry: bool = True,
) -> tuple[str, dict[str, Any]]:
    """The HTML page and the numbers behind it (for MLflow and tests), section by section."""
    parts: list[str] = []
    numbers: dict[str, Any] = {}
    health_parts, health = model_health_section(data, settings, read_registry)
    champion_snapshot = health.pop("champion_snapshot", None)
    for section in (
        header_section(data, title),
        funnel_section(data),
        ltv_section(data),
        tier_section(data, settings),
        repurchase_section(data),
        associations_section(data),
        (health_parts, health),
        volume_section(data, champion_snapshot),
    ):
        parts += section[0]
        numbers |= section[1]
    body = "\n".join(parts)
    page = f"<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>\n{body}\n</main></body></html>\n"
    return page, numbers
