"""The verdict of an A/B test in one place: which variant wins on the lead metric, by how much,
with its CI (a CI that holds 0 is no winner), as MLflow tags and ``verdict.*`` metrics."""

from __future__ import annotations

from typing import Any

TAG_AB_WINNER = "linli.ab.winner"  # champion | challenger | none
TAG_AB_VERDICT = "linli.ab.verdict"  # the verdict in one sentence
WINNER_CODE = {"challenger": 1.0, "none": 0.0, "champion": -1.0}


def verdict(
    metric: str, diff: float, ci_low: float, ci_high: float, base: float, alpha: float = 0.05
) -> dict[str, Any]:
    """``winner``, ``text`` and the numbers of challenger − champion on ``metric``."""
    rel = diff / base if base else float("nan")
    winner = "challenger" if ci_low > 0 else "champion" if ci_high < 0 else "none"
    level = f"{100 * (1 - alpha):.0f}%"
    numbers = f"{metric} {diff:+.4f} ({rel:+.1%}), {level} CI [{ci_low:+.4f}, {ci_high:+.4f}]"
    text = (
        f"{winner} wins: {numbers}" if winner != "none" else f"no significant difference: {numbers}"
    )
    return {
        "winner": winner,
        "metric": metric,
        "diff": diff,
        "relative_diff": rel,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "text": text,
    }


def verdict_record(v: dict[str, Any]) -> tuple[dict[str, str], dict[str, float]]:
    """A verdict as run tags and ``verdict.*`` metrics (winner: +1 challenger, -1 champion, 0)."""
    tags = {TAG_AB_WINNER: v["winner"], TAG_AB_VERDICT: v["text"]}
    metrics = {
        "verdict.winner": WINNER_CODE[v["winner"]],
        "verdict.diff": v["diff"],
        "verdict.relative_diff": v["relative_diff"],
        "verdict.ci_low": v["ci_low"],
        "verdict.ci_high": v["ci_high"],
    }
    return tags, metrics
