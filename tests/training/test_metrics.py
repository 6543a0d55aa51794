"""Ranking metrics: hand-computed cases, sklearn cross-check, invariants (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from training.evaluation import metrics as M


def _d(rank: int) -> float:
    """Discount of a 1-based rank."""
    return 1.0 / math.log2(rank + 1)


RECS = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [0, -1, -1, -1]])
TRUTH = [{2, 4, 9}, {0}, {0}]


def test_hand_computed_values() -> None:
    pu = M.user_metrics(RECS, TRUTH, ks=(2, 4))
    # user 0: hits at ranks 2 and 4 of 4, truth 3 items
    assert pu.loc[0, "recall_at_2"] == pytest.approx(1 / 3)
    assert pu.loc[0, "recall_at_4"] == pytest.approx(2 / 3)
    assert pu.loc[0, "precision_at_4"] == pytest.approx(2 / 4)
    dcg4 = _d(2) + _d(4)
    assert pu.loc[0, "ndcg_at_4"] == pytest.approx(dcg4 / (_d(1) + _d(2) + _d(3)))
    assert pu.loc[0, "ndcg_at_2"] == pytest.approx(_d(2) / (_d(1) + _d(2)))
    # the paper's NDCG divides by the ideal DCG of all 3 truth items even at k=2
    assert pu.loc[0, "ndcg_paper_at_2"] == pytest.approx(_d(2) / (_d(1) + _d(2) + _d(3)))
    assert pu.loc[0, "map_at_4"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert pu.loc[0, "hit_rate_at_2"] == 1.0
    # user 1: no hit; user 2: hit at rank 1, padding ignored
    assert pu.loc[1, "recall_at_4"] == 0 and pu.loc[1, "hit_rate_at_4"] == 0
    assert pu.loc[2, "ndcg_at_4"] == pytest.approx(1.0)
    assert pu.loc[2, "precision_at_4"] == pytest.approx(1 / 4)
    summary = M.summarize(pu)
    assert summary.loc["all", "n_users"] == 3
    assert summary.loc["all", "recall_at_4"] == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_truth_items_beyond_the_recommended_ones() -> None:
    # found by hypothesis: truth items wider than the recommendations once leaked hits across rows
    recs = np.array([[0, 1]] * 4)
    pu = M.user_metrics(recs, [{0}, {0}, {0, 1, 2, 3}, {0}], ks=(2,))
    assert pu["recall_at_2"].tolist() == [1.0, 1.0, 0.5, 1.0]
    assert pu["precision_at_2"].tolist() == [0.5, 0.5, 1.0, 0.5]


def test_csr_truth_equals_sets() -> None:
    csr = M.to_csr(TRUTH, n_items=10)
    assert csr.shape == (3, 10)
    a = M.user_metrics(RECS, TRUTH, ks=(4,))
    b = M.user_metrics(RECS, csr, ks=(4,))
    assert np.allclose(a.to_numpy(float), b.to_numpy(float), equal_nan=True)


def test_empty_truth_is_left_out() -> None:
    pu = M.user_metrics(np.array([[1, 2], [1, 2]]), [{1}, set()], ks=(2,))
    assert np.isnan(pu.loc[1, "recall_at_2"])
    s = M.summarize(pu)
    assert s.loc["all", "n_users"] == 1 and s.loc["all", "recall_at_2"] == 1.0


def test_repeated_item_counts_once() -> None:
    pu = M.user_metrics(np.array([[3, 3, 3]]), [{3, 4}], ks=(3,))
    assert pu.loc[0, "recall_at_3"] == pytest.approx(0.5)
    assert pu.loc[0, "precision_at_3"] == pytest.approx(1 / 3)


def test_repeat_and_explore_recall() -> None:
    history = sp.csr_matrix(np.array([[0, 1, 1, 0, 0, 0, 0, 0, 0, 0]] * 3, dtype=np.float32))
    recs = np.array([[1, 5, 3, 4]] * 3)
    truth = [{1, 2, 4, 9}, {4, 9}, {1, 2}]
    pu = M.user_metrics(recs, truth, ks=(4,), history=history)
    # user 0: repeat truth {1, 2} (hit 1), explore {4, 9} (hit 4)
    assert pu.loc[0, "repeat_recall_at_4"] == pytest.approx(0.5)
    assert pu.loc[0, "explore_recall_at_4"] == pytest.approx(0.5)
    assert np.isnan(pu.loc[1, "repeat_recall_at_4"])  # no repeat items in the truth
    assert np.isnan(pu.loc[2, "explore_recall_at_4"])


def test_coverage_and_novelty() -> None:
    recs = np.array([[0, 1], [0, 2], [-1, -1]])
    assert M.coverage(recs, n_items=8) == pytest.approx(3 / 8)
    assert M.coverage(recs, n_items=8, k=1) == pytest.approx(1 / 8)
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0]]))
    pop = M.item_popularity(train)
    assert pop.tolist() == [1.0, 0.25, 0.25, 0.0]
    # items 0,1,0,2 -> -log2 of 1, .25, 1, .25
    assert M.novelty(recs, pop) == pytest.approx((0 + 2 + 0 + 2) / 4)
    assert M.novelty(np.array([[3]]), pop) == pytest.approx(2.0)  # unseen = rarest seen


def test_segments() -> None:
    pu = M.user_metrics(RECS, TRUTH, ks=(4,))
    seg = M.summarize(pu, np.array(["a", "b", "a"]))
    assert seg.loc["a", "n_users"] == 2
    assert seg.loc["a", "recall_at_4"] == pytest.approx((2 / 3 + 1) / 2)
    assert seg.loc["b", "recall_at_4"] == 0.0
    by_map = M.summarize(pu, {0: "x"})
    assert set(by_map.index) == {"x", "(none)"}


@pytest.mark.parametrize("k", [1, 3, 5])
def test_ndcg_matches_sklearn(k: int) -> None:
    rng = np.random.default_rng(k)
    n_users, n_items = 30, 12
    truth = (rng.random((n_users, n_items)) < 0.25).astype(float)
    truth[truth.sum(axis=1) == 0, 0] = 1.0
    scores = rng.random((n_users, n_items))
    recs = np.argsort(-scores, axis=1)[:, :k]
    ours = M.user_metrics(recs, sp.csr_matrix(truth), ks=(k,))[f"ndcg_at_{k}"].to_numpy()
    theirs = [ndcg_score(truth[[u]], scores[[u]], k=k) for u in range(n_users)]
    assert np.allclose(ours, theirs)


def test_metric_names_are_stable() -> None:
    pu = M.user_metrics(RECS, TRUTH, ks=(2,), history=sp.csr_matrix((3, 10)))
    assert {f"{m}_at_2" for m in M.PER_USER_METRICS} <= set(pu.columns)
    assert M.metric_name("recall", 10) == "recall_at_10"


@st.composite
def ranking_case(draw: st.DrawFn) -> tuple[np.ndarray, list[set[int]], int]:
    n_items = draw(st.integers(2, 15))
    n_users = draw(st.integers(1, 6))
    k = draw(st.integers(1, n_items))
    recs = np.array(
        [draw(st.permutations(range(n_items)))[:k] for _ in range(n_users)], dtype=np.int64
    )
    truth = [
        set(draw(st.sets(st.integers(0, n_items - 1), min_size=1, max_size=n_items)))
        for _ in range(n_users)
    ]
    return recs, truth, k


@settings(max_examples=60, deadline=None)
@given(ranking_case())
def test_metrics_lie_in_unit_interval(case: tuple[np.ndarray, list[set[int]], int]) -> None:
    recs, truth, k = case
    pu = M.user_metrics(recs, truth, ks=(k,)).drop(columns="n_truth")
    vals = pu.to_numpy(float)
    assert np.all((vals >= -1e-12) & (vals <= 1 + 1e-12))
    assert np.all(pu[f"ndcg_paper_at_{k}"] <= pu[f"ndcg_at_{k}"] + 1e-12)


@settings(max_examples=60, deadline=None)
@given(ranking_case())
def test_perfect_ranking_scores_one(case: tuple[np.ndarray, list[set[int]], int]) -> None:
    _, truth, _ = case
    n_items = max(max(t) for t in truth) + 1
    recs = np.array(
        [sorted(t) + [i for i in range(n_items) if i not in t] for t in truth], dtype=np.int64
    )
    k = min(len(t) for t in truth)  # every user's top k are all relevant
    pu = M.user_metrics(recs[:, :n_items], truth, ks=(k,))
    for m in ("ndcg", "precision", "map", "hit_rate"):
        assert np.allclose(pu[f"{m}_at_{k}"], 1.0), m
    full = max(len(t) for t in truth)
    pu = M.user_metrics(recs, truth, ks=(full,))
    for m in ("recall", "ndcg", "ndcg_paper", "map", "hit_rate"):
        assert np.allclose(pu[f"{m}_at_{full}"], 1.0), m
