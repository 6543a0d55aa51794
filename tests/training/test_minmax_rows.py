"""Row min-max scaling: the fast path for finite scores gives the very numbers of the general one."""

from __future__ import annotations

import numpy as np
import pytest

from training.models._common import minmax_rows


def _general(s: np.ndarray) -> np.ndarray:
    """The definition: non-finite entries ignored and mapped to 0, constant rows to 0."""
    s = np.where(np.isfinite(s), s, np.nan).astype(np.float32)
    lo = np.nanmin(np.where(np.isnan(s), np.inf, s), axis=1, keepdims=True)
    hi = np.nanmax(np.where(np.isnan(s), -np.inf, s), axis=1, keepdims=True)
    span = hi - lo
    out = np.zeros_like(s)
    np.divide(s - lo, span, out=out, where=(span > 0) & ~np.isnan(s))
    return np.nan_to_num(out, nan=0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_equals_the_definition(dtype: type) -> None:
    a = np.random.default_rng(0).normal(size=(40, 200)).astype(dtype)
    a[3], a[5] = 2.0, 0.0  # constant rows
    got = minmax_rows(a)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, _general(a))
    assert got[0].min() == 0.0 and got[0].max() == 1.0 and not got[3].any()
    b = a.copy()
    b[7, 3], b[8] = -np.inf, -np.inf  # the general path
    np.testing.assert_array_equal(minmax_rows(b), _general(b))
    assert minmax_rows(np.zeros((3, 0))).shape == (3, 0)
