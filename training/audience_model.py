"""The audience model: who buys the theme's items in the next ``horizon`` days, learned from past cuts.

Training rows come from ``windows`` earlier cuts ``snapshot - k * horizon`` (k = 1..windows;
a log shorter than two horizons uses half its length as the horizon):
the signals of every user seen by that cut (:func:`training.audience_signals.signals_at`)
and the label "bought a theme item in the following ``horizon`` days" (which lies before the
snapshot, so nothing after the snapshot is read). A seeded scikit-learn classifier
(histogram gradient boosting by default, or a logistic regression on log-scaled signals)
fits them; the probability it gives each user at the snapshot is the audience score.

With no positive (or no negative) label in the windows there is nothing to learn: the
score is then the theme's recency-decayed purchase count plus its keyword and engagement
signals (``fallback`` in the summary) — said, not hidden.

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
    return TrainingSet(x, np.concatenate(ys), cuts, sizes, horizon)


# all-time totals grow with the log's length, so earlier cuts would teach them wrongly;
# the model reads their per-30-days rates and windowed counts instead
NON_STATIONARY = ("theme_all", "baskets_all", "tenure_days")
INPUTS: tuple[str, ...] = tuple(f for f in FEATURES if f not in NON_STATIONARY)


def _matrix(x: pd.DataFrame) -> np.ndarray:
    """Signals as model input: counts log-scaled, 'days since' as a closeness in (0, 1]."""
    m = x[list(INPUTS)].to_numpy(np.float64).copy()
    for j, f in enumerate(INPUTS):
        if f in ABSENT:
            m[:, j] = 1.0 / (1.0 + m[:, j] / 30.0)
        elif f not in ("theme_rate", "affine_share", "embed_sim"):
            m[:, j] = np.log1p(np.maximum(m[:, j], 0.0))
    return m


def fit_classifier(ts: TrainingSet, kind: ModelKind, seed: int) -> Any | None:
    """The fitted classifier, or None when the labels hold one class only."""
    if len(ts.y) == 0 or ts.y.all() or not ts.y.any():
        return None
    x = _matrix(ts.x)
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


def fallback_score(x: pd.DataFrame) -> np.ndarray:
    """Without past conversions: decayed theme purchases, then keyword and engagement signals."""
    return (
        x["theme_decay"].to_numpy()
        + 0.5 * np.log1p(x["keyword_decay"].to_numpy())
        + 0.1 * np.log1p(x["engage_decay"].to_numpy())
    )


def predict(model: Any | None, x: pd.DataFrame) -> np.ndarray:
    """Probability of a theme purchase in the horizon (or the fallback score)."""
    if len(x) == 0:
        return np.zeros(0)
    if model is None:
        return fallback_score(x)
    return np.asarray(model.predict_proba(_matrix(x))[:, 1], dtype=np.float64)


def contributions(model: Any | None, x: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
    """Per user and component: score minus the score with that component's signals absent."""
    out = pd.DataFrame(index=x.index)
    for comp, feats in COMPONENTS.items():  # seven components
        off = x.copy()
        for f in feats:
            off[f] = ABSENT.get(f, 0.0)
        out[comp] = score - predict(model, off)
    return out
