"""The A/B runs in MLflow as verdict rows: what was compared, who wins, by how much, the CI."""

from __future__ import annotations

from typing import Any

import pandas as pd

# the metric a verdict is read on when a run carries no verdict tag, in order of preference
LEAD_METRICS = ("ndcg_at_10", "conversion", "ctr", "revenue_per_exposure", "recall_at_10")
METRIC_WORDS = {
    "ndcg_at_10": ("推荐排序质量 (ndcg@10)", "ranking quality (ndcg@10)"),
    "recall_at_10": (
        "前 10 个推荐命中后来购买的比例 (recall@10)",
        "share of later buys in the top 10 (recall@10)",
    ),
    "conversion": ("曝光后购买的比例", "share of exposures that led to a purchase"),
    "ctr": ("曝光后点击的比例", "share of exposures that were clicked"),
    "revenue_per_exposure": ("每次曝光带来的收入（元）", "revenue per exposure (yuan)"),
}


def _get(r: pd.Series, key: str) -> Any:
    v = r.get(key)
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def _lead_metric(r: pd.Series) -> str | None:
    tagged = _get(r, "tags.linli.ab.decision_metric")
    candidates = ([tagged] if tagged else []) + list(LEAD_METRICS)
    return next((m for m in candidates if _get(r, f"metrics.diff.{m}") is not None), None)


def winner_of(ci_low: float, ci_high: float) -> str:
    """challenger when the CI is above 0, champion when below, else none."""
    return "challenger" if ci_low > 0 else "champion" if ci_high < 0 else "none"


def ab_rows(runs: pd.DataFrame | None, kind: str, max_runs: int = 5) -> pd.DataFrame:
    """One row per A/B run (newest first): label, started, metric, diff, CI, p, winner,
    verdict (the run's ``linli.ab.verdict`` tag when it has one)."""
    cols = ["kind", "label", "started", "metric", "diff", "ci_low", "ci_high", "p", "winner"]
    if runs is None or not len(runs):
        return pd.DataFrame(columns=[*cols, "verdict"])
    rows = []
    for _, r in runs.head(max_runs).iterrows():
        metric = _lead_metric(r)
        if metric is None:
            continue
        diff = float(r[f"metrics.diff.{metric}"])
        lo = _get(r, f"metrics.diff.{metric}.ci_low")
        hi = _get(r, f"metrics.diff.{metric}.ci_high")
        lo, hi = (float(lo), float(hi)) if lo is not None and hi is not None else (diff, diff)
        winner = _get(r, "tags.linli.ab.winner") or winner_of(lo, hi)
        rows.append(
            {
                "kind": kind,
                "label": str(_get(r, "tags.mlflow.runName") or str(r["run_id"])[:8]),
                "started": str(r["start_time"])[:16],
                "metric": metric,
                "diff": diff,
                "ci_low": lo,
                "ci_high": hi,
                "p": _get(r, f"metrics.diff.{metric}.p_value"),
                "winner": winner,
                "verdict": _get(r, "tags.linli.ab.verdict") or "",
            }
        )
    return pd.DataFrame(rows, columns=[*cols, "verdict"])


def verdict_words(row: pd.Series) -> tuple[str, str]:
    """The verdict of one row in plain words (zh, en)."""
    zh_m, en_m = METRIC_WORDS.get(str(row["metric"]), (str(row["metric"]), str(row["metric"])))
    size = f"{row['diff']:+.4f}（95% 区间 {row['ci_low']:+.4f} 至 {row['ci_high']:+.4f}）"
    size_en = f"{row['diff']:+.4f} (95% CI {row['ci_low']:+.4f} to {row['ci_high']:+.4f})"
    if row["winner"] == "challenger":
        return (f"新模型更好：{zh_m} 提高 {size}", f"the challenger wins: {en_m} {size_en}")
    if row["winner"] == "champion":
        return (f"当前模型更好：新模型的{zh_m} 变化 {size}", f"the champion wins: {en_m} {size_en}")
    return (
        f"没有显著差别：{zh_m} 差 {size}",
        f"no clear winner: {en_m} {size_en}",
    )
