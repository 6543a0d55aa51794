"""The audience model: who buys the theme's items in the next ``horizon`` days, learned from past cuts.

Training rows come from ``windows`` earlier cuts ``snapshot - k * horizon`` (k = 1..windows;
a log shorter than two horizons uses half its length as the horizon):
the signals of every user seen by that cut (:func:`training.audience_signals.signals_at`)
and the label "bought a theme item in the following ``horizon`` days" (which lies before the
snapshot, so nothing after the snapshot is read). A seeded scikit-learn classifier
(histogram gradient boosting by default, or a logistic regression on log-scaled signals)
fits them; the probability it gives each user at the snapshot is the audience score.

The model must earn its place (:func:`choose_model`): fitted on the older cuts, it ranks
the users of the latest past cut and is kept only when its precision in the top 5% / 20%
there is at least that of the best rule — ``fallback`` (the theme's recency-decayed
purchase count plus its keyword and engagement signals) or ``count`` (all-time theme
purchases, the naive list's signal, with the same keyword and engagement terms). The rules
are compared on that cut too, so a log with one past cut still picks the better rule; with
no past cut the fallback is used (``model`` in the summary says which, ``why`` says why).

Per-user reasons are weighed by what each component adds to that user's probability:
the drop of the score when the component's signals are set to "never seen".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from training.audience_signals import (
    ABSENT,
    COMPONENTS,
    FEATURES,
    ThemeLog,
    labels_at,
    signals_at,
    users_at,
)

ModelKind = Literal["hgb", "logreg"]


@dataclass
class TrainingSet:
    """Stacked signals and labels of the past cuts."""

    x: pd.DataFrame
    y: np.ndarray
    m: np.ndarray = field(default_factory=lambda: np.zeros((0, len(INPUTS))))  # model input
    cuts: list[float] = field(default_factory=list)
    rows_per_cut: list[int] = field(default_factory=list)
    horizon: float = 0.0  # label window the rows were made with


def training_set(
    log: ThemeLog,
    snapshot: float,
    horizon: float,
    windows: int,
    half_life: float,
    prior: float,
    seed: int,
    embedding: bool,
) -> TrainingSet:
    """Signals at ``snapshot - k * horizon`` and the theme purchases of the next ``horizon`` days."""
    start = float(log.lines["t"].min()) if len(log.lines) else snapshot
    # a log shorter than two horizons learns "buys within half of it" (same ranking question)
    horizon = min(horizon, max((snapshot - start) / 2.0, 0.0))
    xs, ys, cuts, sizes = [], [], [], []
    for k in range(1, windows + 1):  # a handful of cuts
        cut = snapshot - k * horizon
        if horizon <= 0 or cut < start + horizon - 1e-9:  # a horizon of history before a cut
            break
        users = users_at(log, cut)
        if len(users) == 0:
            continue
        xs.append(signals_at(log, cut, users, half_life, prior, seed, embedding))
        ys.append(labels_at(log, cut, horizon, users).to_numpy())
        cuts.append(cut)
        sizes.append(len(users))
    if not xs:
        return TrainingSet(pd.DataFrame(columns=list(FEATURES)), np.zeros(0, bool))
    x = pd.concat(xs, ignore_index=True)
    m = np.vstack([_matrix(f) for f in xs])  # percentiles within each cut
    return TrainingSet(x, np.concatenate(ys), m, cuts, sizes, horizon)


# every signal, all-time totals included: the percentiles of :func:`_matrix` make a total
# comparable across cuts of different history length, and the all-time theme count is the
# naive list's own signal
INPUTS: tuple[str, ...] = FEATURES
BOUNDED = ("theme_rate", "affine_share", "embed_sim")


def _matrix(x: pd.DataFrame) -> np.ndarray:
    """Signals as model input, comparable across cuts of different history length.

    Each unbounded signal becomes its percentile among the users scored at the same cut
    (0 for a user without it; 'days since' ranks closeness), so a cut with one month of
    history and one with five teach the same thing: how high a user stands in the crowd.
    Shares and cosines stay as they are.
    """
    cols = []
    for f in INPUTS:
        v = x[f].to_numpy(np.float64)
        if f in BOUNDED:
            cols.append(v)
            continue
        closeness = -v if f in ABSENT else v
        present = v < ABSENT[f] if f in ABSENT else v > 0
        pct = pd.Series(closeness).rank(pct=True).to_numpy()
        cols.append(np.where(present, pct, 0.0))
    return np.column_stack(cols) if cols else np.zeros((len(x), 0))


def fit_classifier(ts: TrainingSet, kind: ModelKind, seed: int) -> Any | None:
    """The fitted classifier, or None when the labels hold one class only."""
    if len(ts.y) == 0 or ts.y.all() or not ts.y.any():
        return None
    x = ts.m
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model: Any = make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=500, random_state=seed)
        )
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(
            learning_rate=0.08,
            max_iter=100,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
    return model.fit(x, ts.y)


def _enough(y: np.ndarray, min_positives: int) -> bool:
    return min(int(y.sum()), int((~y).sum())) >= min_positives


def r_precision(score: np.ndarray, y: np.ndarray) -> float:
    """Share of buyers among the top R users, R = the number of buyers."""
    r = int(y.sum())
    if r == 0:
        return float("nan")
    top = np.argsort(-score, kind="stable")[:r]
    return float(y[top].mean())


# an audience is the top of the list: the candidates are compared by their precision in the
# top 5% and the top 20% of the users of the latest past cut (mean of the two)
TOP_SHARES = (0.05, 0.2)


def top_precision(score: np.ndarray, y: np.ndarray) -> float:
    """Mean precision of the top :data:`TOP_SHARES` of the users ranked by ``score``."""
    if len(y) == 0 or not y.any():
        return float("nan")
    order = np.argsort(-score, kind="stable")
    return float(np.mean([y[order[: max(int(round(s * len(y))), 1)]].mean() for s in TOP_SHARES]))


def fallback_score(x: pd.DataFrame) -> np.ndarray:
    """Without past conversions: decayed theme purchases, then keyword and engagement signals."""
    return (
        x["theme_decay"].to_numpy()
        + 0.5 * np.log1p(x["keyword_decay"].to_numpy())
        + 0.1 * np.log1p(x["engage_decay"].to_numpy())
    )


def count_score(x: pd.DataFrame) -> np.ndarray:
    """Every past theme purchase line counts alike (steady tastes), then keywords and engagement.

    The naive list's signal as a rule, with the fallback's keyword and engagement terms and
    the user's basket count as the last tie-break.
    """
    return (
        x["theme_all"].to_numpy()
        + 0.5 * np.log1p(x["keyword_decay"].to_numpy())
        + 0.1 * np.log1p(x["engage_decay"].to_numpy())
        + 1e-4 * np.log1p(x["baskets_all"].to_numpy())
    )


# the rules a learned model competes with (name -> score of the signals)
RULES = {"fallback": fallback_score, "count": count_score}


@dataclass
class AudienceModel:
    """What scores the users: a fitted classifier, or one of the :data:`RULES` by name."""

    kind: str
    classifier: Any | None = None


def choose_model(
    ts: TrainingSet, kind: ModelKind, seed: int, min_positives: int
) -> tuple[AudienceModel, dict[str, Any]]:
    """The candidate with the best top precision on the latest past cut, refitted on all cuts.

    Candidates: the rules (:data:`RULES`: recency-decayed theme purchases; all-time theme
    purchases) and, with at least two cuts and enough converters, the classifier fitted on
    the older cuts. The classifier is kept when it at least ties the best rule. Without a
    past cut with buyers: the fallback rule.
    """
    info: dict[str, Any] = {"validation_model": float("nan"), "validation_fallback": float("nan")}
    if not ts.cuts or not ts.y[: ts.rows_per_cut[0]].any():
        return AudienceModel("fallback"), {**info, "why": "no past cut with buyers to check on"}
    n_val = ts.rows_per_cut[0]  # the latest cut comes first
    y_val, x_val = ts.y[:n_val], ts.x.iloc[:n_val]
    rules = {name: top_precision(rule(x_val), y_val) for name, rule in RULES.items()}
    best = max(rules, key=lambda n: (rules[n], n == "fallback"))
    info = {f"validation_{n}": round(v, 4) for n, v in rules.items()}
    info["validation_model"] = float("nan")
    chosen = AudienceModel(best)
    why = f"the {best} rule was best on the latest cut"
    y_fit = ts.y[n_val:]
    if len(ts.cuts) < 2 or not _enough(ts.y, min_positives) or not _enough(y_fit, min_positives):
        return chosen, {**info, "why": why + " (too few past cuts or converters to learn)"}
    older = TrainingSet(ts.x.iloc[n_val:], y_fit, ts.m[n_val:])
    held = fit_classifier(older, kind, seed)
    if held is None:
        return chosen, {**info, "why": why + " (too few converters in the older cuts)"}
    r_model = top_precision(np.asarray(held.predict_proba(ts.m[:n_val])[:, 1]), y_val)
    info["validation_model"] = round(r_model, 4)
    if r_model < rules[best]:
        return chosen, {**info, "why": why + f"; the {kind} model did not beat it"}
    model = AudienceModel(kind, fit_classifier(ts, kind, seed))
    return model, {**info, "why": f"the {kind} model beat the rules on the latest cut"}


def predict(model: AudienceModel, x: pd.DataFrame) -> np.ndarray:
    """Probability of a theme purchase in the horizon (or the chosen rule's score)."""
    if len(x) == 0:
        return np.zeros(0)
    if model.classifier is None:
        return RULES.get(model.kind, fallback_score)(x)
    return np.asarray(model.classifier.predict_proba(_matrix(x))[:, 1], dtype=np.float64)


def contributions(model: AudienceModel, x: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
    """Per user and component: score minus the score with that component's signals absent."""
    out = pd.DataFrame(index=x.index)
    for comp, feats in COMPONENTS.items():  # seven components
        off = x.copy()
        for f in feats:
            off[f] = ABSENT.get(f, 0.0)
        out[comp] = score - predict(model, off)
    return out
