"""The segments' supervised reference, confusion table and errors by activity, on made-up data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.segment_ceiling import confusion, errors_by_activity, supervised_reference


def test_the_reference_is_high_when_features_hold_the_persona_and_low_when_not() -> None:
    rng = np.random.default_rng(0)
    personas = np.repeat(np.array(["a", "b", "c"]), 100)
    centres = {"a": (0.0, 0.0), "b": (6.0, 0.0), "c": (0.0, 6.0)}
    x = np.array([centres[p] for p in personas]) + rng.normal(size=(300, 2))
    assert supervised_reference(x, personas, seed=0) > 0.9
    assert abs(supervised_reference(rng.normal(size=(300, 2)), personas, seed=0)) < 0.1
    assert supervised_reference(x, personas, seed=0) == supervised_reference(x, personas, seed=0)
    assert np.isnan(supervised_reference(x, np.full(300, "a"), seed=0))  # one persona


def test_errors_sit_where_the_majority_persona_is_not() -> None:
    personas = pd.Series(["a"] * 6 + ["b"] * 4)
    segments = pd.Series([0, 0, 0, 0, 0, 1, 1, 1, 1, 0])  # one "a" in segment 1, one "b" in 0
    events = pd.Series([1, 2, 30, 40, 50, 3, 60, 70, 80, 4])
    table = confusion(personas, segments)
    assert table.loc["a", 0] == 5 and table.loc["b", 1] == 3 and table.to_numpy().sum() == 10
    errs = errors_by_activity(personas, segments, events, bins=2)
    assert errs["users"].tolist() == [5, 5]
    assert errs["error_share"].tolist() == [0.4, 0.0]  # both errors among the least active
