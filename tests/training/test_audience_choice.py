"""How the audience picks its scorer: the rules and the classifier judged on the latest past cut."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from training import audience_model as am
from training.audience_signals import ABSENT, FEATURES


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Small fits, as :func:`training.audience.score_audience` runs them: one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _signals(rng: np.random.Generator, n: int, taste: np.ndarray) -> pd.DataFrame:
    """Signals of users with a steady taste: all-time theme count tracks it, recent counts are noise."""
    x = pd.DataFrame({f: np.full(n, ABSENT.get(f, 0.0)) for f in FEATURES})
    x["theme_all"] = rng.poisson(taste * 12.0).astype(float)
    x["theme_decay"] = rng.poisson(taste * 0.5).astype(float)  # one recent month: noisy
    x["baskets_all"] = rng.poisson(20.0, n).astype(float)
    return x


def _training_set(seed: int, cuts: int, n: int = 600) -> am.TrainingSet:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(cuts):
        taste = rng.beta(1.0, 3.0, n)
        xs.append(_signals(rng, n, taste))
        ys.append(rng.random(n) < taste)
    x = pd.concat(xs, ignore_index=True)
    m = np.vstack([am._matrix(f) for f in xs])
    return am.TrainingSet(x, np.concatenate(ys), m, list(range(cuts)), [n] * cuts, 30.0)


def test_top_precision_is_the_mean_of_the_top_shares() -> None:
    y = np.array([True] * 5 + [False] * 15)
    score = np.arange(20, 0, -1, dtype=float)  # the five buyers first
    assert am.top_precision(score, y) == (1.0 + 1.0) / 2  # top 1 and top 4 are buyers
    assert am.top_precision(-score, y) == 0.0
    assert np.isnan(am.top_precision(score, np.zeros(20, bool)))


def test_one_past_cut_picks_the_better_rule_with_its_validation_figures() -> None:
    ts = _training_set(seed=0, cuts=1)
    model, info = am.choose_model(ts, "hgb", seed=0, min_positives=20)
    assert model.kind == "count" and model.classifier is None  # steady taste: all-time count
    assert info["validation_count"] > info["validation_fallback"]
    assert "too few past cuts" in info["why"]
    x = ts.x.iloc[:5]
    assert np.array_equal(am.predict(model, x), am.count_score(x))


def test_the_classifier_is_kept_only_when_it_ties_the_best_rule() -> None:
    ts = _training_set(seed=1, cuts=3)
    model, info = am.choose_model(ts, "hgb", seed=0, min_positives=20)
    best_rule = max(info["validation_count"], info["validation_fallback"])
    assert np.isfinite(info["validation_model"])
    assert (model.kind == "hgb") == (info["validation_model"] >= best_rule)
    again, _ = am.choose_model(ts, "hgb", seed=0, min_positives=20)
    x = ts.x.iloc[:50]
    assert np.array_equal(am.predict(model, x), am.predict(again, x))  # seeded


def test_no_past_cut_means_the_fallback_rule() -> None:
    empty = am.TrainingSet(pd.DataFrame(columns=list(FEATURES)), np.zeros(0, bool))
    model, info = am.choose_model(empty, "hgb", seed=0, min_positives=20)
    assert model.kind == "fallback" and info["why"]
