"""The report's details for data scientists: the champion, metrics per version, retraining
runs, and a glossary of the metric names and data sources."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from experiments.report import charts as C
from experiments.report.data import ReportData
from experiments.report.page import Figures, t, table


def _champion_table(data: ReportData, health: dict[str, Any]) -> str:
    """The champion's version, training data, the data serving now and its holdout metrics."""
    run = health.get("champion_run") or {}
    params, metrics = run.get("params", {}), run.get("metrics", {})
    matrix = data.summary.get("matrix", {})
    champ = health.get("champion")
    rows = [
        (
            t("当前模型", "champion"),
            f"v{champ} ({health.get('champion_kind', '?')})" if champ else "none",
        ),
        (t("注册时间", "registered at"), str(health.get("champion_created", "–"))),
        (
            t("训练数据", "trained on"),
            f"{params.get('data.users', '?')} users × {params.get('data.items', '?')} items, "
            f"{params.get('data.nnz', '?')} non-zeros, snapshot {params.get('data.snapshot') or '?'}",
        ),
        (
            t("现在的数据", "serving data now"),
            f"{matrix.get('users', '?')} users × {matrix.get('items', '?')} items, "
            f"{matrix.get('nnz', '?')} non-zeros",
        ),
        *[
            (html.escape(k), f"{metrics[k]:.4f}")
            for k in ("ndcg_at_10", "recall_at_10", "hit_rate_at_10", "map_at_10")
            if k in metrics
        ],
    ]
    return (
        "<table class='t'>"
        + "".join(f"<tr><th>{a}</th><td>{html.escape(str(b))}</td></tr>" for a, b in rows)
        + "</table>"
    )


def health_parts(
    data: ReportData, health: dict[str, Any], figs: Figures
) -> tuple[list[str], dict[str, Any]]:
    """Champion table, metrics per registered version, the last retraining runs; numbers."""
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
    parts = [f"<h3>{t('模型健康', 'Model health')}</h3>", _champion_table(data, health)]
    versions = health.get("versions")
    if versions is not None and len(versions) and versions["ndcg_at_10"].notna().any():
        parts.append(
            figs.add(
                C.bilingual(C.version_metrics, versions),
                t(
                    "每个注册版本在留出数据上的指标；别名表示正在服务的版本。",
                    "Every registered version's holdout metrics; the aliases show what serves.",
                ),
            )
        )
    rt = health.get("runs_retrain")
    if rt is not None and len(rt) and "tags.linli.retrain.reason" in rt.columns:
        parts.append(
            f"<p class='muted'>{t('最近的重训练：', 'Last retraining runs:')}</p>"
            + table(
                rt.rename(columns=lambda c: c.split(".")[-1]),
                {
                    "start_time": ("开始", "started"),
                    "status": ("状态", "status"),
                    "decision": ("决定", "decision"),
                    "reason": ("原因", "reason"),
                },
                {"start_time": lambda v: str(v)[:16]},
                5,
            )
        )
    return parts, numbers


GLOSSARY = (
    (
        "ndcg@10",
        "前 10 个推荐的排序质量：后来买的东西排得越靠前越高（0..1）。",
        "ranking quality of the top 10: higher when what people later bought is ranked nearer the top (0..1).",
    ),
    (
        "recall@10",
        "后来买的东西有多少出现在前 10 个推荐里。",
        "the share of what people later bought that was in the top 10.",
    ),
    (
        "lift",
        "两件商品一起出现在订单里的频率是随机情况的几倍。",
        "how many times more often two items share a basket than by chance.",
    ),
    (
        "support / confidence",
        "含这对商品的订单占全部订单的比例 / 含 A 的订单里也含 B 的比例。",
        "share of all baskets holding the pair / share of baskets with A that also hold B.",
    ),
    (
        "RFM",
        "最近一次购买多近（R）、买得多频繁（F）、花了多少钱（M）；会员等级按这三项的五分位计算。",
        "recency, frequency, monetary: how recently, how often, how much; tiers come from their quintiles.",
    ),
    (
        "champion / challenger",
        "正在服务的模型 / 等待与之比较的新模型。",
        "the model serving now / a new model compared against it.",
    ),
)


def glossary(data: ReportData) -> str:
    """The metric words in plain language, and where the data came from."""
    items = "".join(f"<li><b>{html.escape(k)}</b>: {t(zh, en)}</li>" for k, zh, en in GLOSSARY)
    return (
        f"<h3>{t('术语', 'Glossary')}</h3><ul>{items}</ul>"
        f"<p class='muted'>{t('人群来源：', 'Segments: ')}{html.escape(data.segment_source)}</p>"
    )
