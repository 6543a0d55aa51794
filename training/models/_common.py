"""Helpers shared by the models: input signals, sparse top-n pruning, row normalisation, BLAS limits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import scipy.sparse as sp

from features.matrix import Interactions

Signal = Literal["weights", "purchases", "binary"]
SIGNAL_HELP = (
    "user-item matrix the model learns from: 'weights' (decayed, event-weighted), "
    "'purchases' (purchase line counts) or 'binary' (1 for any purchase)"
)


def signal_matrix(data: Interactions, signal: Signal) -> sp.csr_matrix:
    """The float32 users x items CSR a model learns from (see :data:`SIGNAL_HELP`)."""
    if signal == "weights":
        m = data.weights
    elif signal == "purchases":
        m = data.purchases
    elif signal == "binary":
        m = data.purchases.copy().tocsr()
        m.eliminate_zeros()
        m.data = np.ones_like(m.data)
    else:  # pragma: no cover - pydantic validates the literal
        raise ValueError(f"unknown signal {signal!r}")
    out = sp.csr_matrix(m, dtype=np.float32)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def popularity(data: Interactions, signal: Signal) -> np.ndarray:
    """Column sums of the signal matrix: one float32 popularity per item."""
    return np.asarray(signal_matrix(data, signal).sum(axis=0), dtype=np.float32).ravel()


def unit_scale(v: np.ndarray) -> np.ndarray:
    """`v / (max + 1)` so the result is in [0, 1) for a non-negative vector (all below any 1 + x)."""
    v = np.asarray(v, dtype=np.float32)
    top = float(v.max(initial=0.0))
    return v / np.float32(top * (1.0 + 1e-3) + 1e-12) if top > 0 else np.zeros_like(v)


def top_n_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the n largest entries of each CSR row (ties: lower column first)."""
    m = sp.csr_matrix(m)
    m.eliminate_zeros()
    m.sort_indices()
    counts = np.diff(m.indptr)
    if m.nnz == 0 or counts.max() <= n:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-m.data, rows))  # by row, then value descending (stable)
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = np.sort(order[rank < n])
    out = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    out.sort_indices()
    return out


def max_scale_rows(s: np.ndarray) -> np.ndarray:
    """Each row divided by its maximum (rows whose max is <= 0 are left as zeros)."""
    top = s.max(axis=1, keepdims=True) if s.shape[1] else np.zeros((s.shape[0], 1), s.dtype)
    out = np.zeros_like(s)
    np.divide(s, top, out=out, where=top > 0)
    return out


def minmax_rows(s: np.ndarray) -> np.ndarray:
    """Each row mapped linearly onto [0, 1] (-inf stays at 0; constant rows become 0)."""
    if np.isfinite(s).all():  # the usual case: two passes and one output, same numbers
        x = np.asarray(s, dtype=np.float32)
        lo = x.min(axis=1, keepdims=True) if x.shape[1] else np.zeros((len(x), 1), np.float32)
        hi = x.max(axis=1, keepdims=True) if x.shape[1] else lo
        span = hi - lo
        res = np.subtract(x, lo)
        np.divide(res, span, out=res, where=span > 0)
        res[(span <= 0).ravel()] = 0.0
        return res
    s = np.where(np.isfinite(s), s, np.nan).astype(np.float32)
    lo = np.nanmin(np.where(np.isnan(s), np.inf, s), axis=1, keepdims=True)
    hi = np.nanmax(np.where(np.isnan(s), -np.inf, s), axis=1, keepdims=True)
    span = hi - lo
    out = np.zeros_like(s)
    np.divide(s - lo, span, out=out, where=(span > 0) & ~np.isnan(s))
    return np.nan_to_num(out, nan=0.0)


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Limit BLAS to one thread while fitting (implicit warns and slows down otherwise)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def batches(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices covering range(n) in chunks of `size`."""
    for start in range(0, n, max(size, 1)):
        yield slice(start, min(start + size, n))
