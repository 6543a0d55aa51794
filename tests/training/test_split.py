"""Splits: temporal cut, next basket, the Ta-Feng user protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import Col
from training.evaluation.split import (
    BASKET,
    last_basket_split,
    next_basket_split,
    number_baskets,
    protocol_split,
    temporal_split,
    user_split,
)


def _lines(n_users: int = 50) -> pd.DataFrame:
    """Each user u has (u % 4) + 2 baskets of two items."""
    rows = []
    for u in range(n_users):
        for b in range(u % 4 + 2):
            rows += [(f"u{u}", b, f"i{(u + b) % 7}"), (f"u{u}", b, f"i{(u * b) % 5 + 7}")]
    return pd.DataFrame(rows, columns=[Col.USER_ID, BASKET, Col.ITEM_ID])


def test_temporal_split_cuts_globally() -> None:
    ts = pd.to_datetime(["2026-01-01", "2026-01-05", "2026-01-10", "2026-01-12"]).tz_localize(
        "Asia/Shanghai"
    )
    ev = pd.DataFrame({Col.TS: ts, "x": range(4)})
    before, after = temporal_split(ev, holdout_days=5)
    assert before["x"].tolist() == [0, 1] and after["x"].tolist() == [2, 3]
    before, after = temporal_split(ev, cutoff="2026-01-10")
    assert after["x"].tolist() == [2, 3]
    with pytest.raises(ValueError):
        temporal_split(ev)


def test_number_baskets_orders_by_time() -> None:
    df = pd.DataFrame(
        {
            Col.USER_ID: ["a", "a", "a", "b"],
            Col.ORDER_ID: ["o2", "o1", "o2", "o9"],
            Col.TS: pd.to_datetime(["2026-01-02", "2026-01-01", "2026-01-02", "2026-01-01"]),
            Col.ITEM_ID: ["x", "y", "z", "x"],
        }
    )
    out = number_baskets(df)
    assert out[BASKET].tolist() == [1, 0, 1, 0]


def test_next_basket_split_holds_out_last_basket() -> None:
    lines = _lines(8)
    history, target = next_basket_split(lines)
    assert len(history) + len(target) == len(lines)
    last = lines.groupby(Col.USER_ID)[BASKET].max()
    assert (target.groupby(Col.USER_ID)[BASKET].min() == last[target[Col.USER_ID].unique()]).all()
    assert not history.merge(target, on=[Col.USER_ID, BASKET]).shape[0]


def test_user_split_fractions_and_seed() -> None:
    users = [f"u{i}" for i in range(100)]
    a = user_split(users, seed=1)
    assert (len(a.train), len(a.val), len(a.test)) == (72, 8, 20)
    assert set(a.train) | set(a.val) | set(a.test) == set(users)
    assert not (set(a.train) & set(a.test))
    b = user_split(list(reversed(users)), seed=1)
    assert np.array_equal(a.test, b.test)  # depends on the users, not their order
    assert not np.array_equal(a.test, user_split(users, seed=2).test)


def test_protocol_split_hides_test_futures() -> None:
    lines = _lines(50)
    s = protocol_split(lines, seed=3)
    fit_keys = set(zip(s.fit[Col.USER_ID], s.fit[BASKET], strict=True))
    last = lines.groupby(Col.USER_ID)[BASKET].max()
    for u in s.users.test:
        assert (u, last[u]) not in fit_keys  # the future basket is never seen
        assert (u, 0) in fit_keys  # the history is
    for u in np.concatenate([s.users.train, s.users.val]):
        assert (u, last[u]) in fit_keys  # train/val futures may be used
    assert set(s.target[Col.USER_ID]) == set(s.evaluated) == set(s.users.test)
    assert (s.target[BASKET].to_numpy() == last[s.target[Col.USER_ID]].to_numpy()).all()


def test_protocol_validation_target() -> None:
    lines = _lines(50)
    s = protocol_split(lines, seed=3, target="val")
    last = lines.groupby(Col.USER_ID)[BASKET].max()
    fit_keys = set(zip(s.fit[Col.USER_ID], s.fit[BASKET], strict=True))
    assert set(s.evaluated) == set(s.users.val)
    for u in np.concatenate([s.users.val, s.users.test]):
        assert (u, last[u]) not in fit_keys


def test_last_basket_split_evaluates_everyone() -> None:
    lines = _lines(10)
    s = last_basket_split(lines)
    assert len(s.evaluated) == 10
    assert len(s.fit) + len(s.target) == len(lines)
