"""The audience's supervised reference: out-of-fold, seeded, informative only when signals are."""

from __future__ import annotations

import numpy as np

from experiments.audience_ceiling import out_of_fold


def test_out_of_fold_ranks_buyers_first_only_when_the_signal_holds_them() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    taste = rng.random(n)
    y = rng.random(n) < taste
    m = np.column_stack([taste, rng.random(n)])
    p = out_of_fold(m, y, seed=0)
    top = np.argsort(-p, kind="stable")[:100]
    assert y[top].mean() > y.mean() + 0.25  # the taste column tells buyers apart
    assert np.array_equal(p, out_of_fold(m, y, seed=0))  # seeded
    blind = out_of_fold(rng.random((n, 2)), y, seed=0)
    assert abs(y[np.argsort(-blind, kind="stable")[:100]].mean() - y.mean()) < 0.15
    assert not out_of_fold(m, np.zeros(n, bool), seed=0).any()  # one class: nothing to learn
