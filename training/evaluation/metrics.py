"""Top-k ranking metrics, vectorised over users: recall, NDCG (standard and Reality-Check), MAP, ...

Recommendations are an int array ``users x K`` of item indices, best first, padded
with ``-1``; the truth is a ``users x items`` CSR matrix (non-zero = relevant) or a
list of item-index sets, one per row of the recommendations. Relevance is binary.

Per-user values come from :func:`user_metrics` (one column per metric and k, named
``recall_at_10``, ``ndcg_at_10``, ...); :func:`summarize` averages them, overall or
per segment. Users with an empty truth are left out of every average (their values
are NaN); users with no repeat (explore) items in their truth are left out of the
repeat (explore) recall only.

Definitions at cut-off k, for one user with truth T and hits h_1..h_k (1 if the item
at rank r is in T):

- ``recall``     sum(h) / |T|
- ``precision``  sum(h) / k
- ``hit_rate``   1 if sum(h) > 0 (the Reality-Check paper's PHR)
- ``ndcg``       DCG / IDCG with DCG = sum h_r / log2(r + 1) and IDCG over min(|T|, k)
                 ideal hits (the standard form, as sklearn's ``ndcg_score``)
- ``ndcg_paper`` the same DCG over an IDCG of all |T| items, as the code of "A Next
                 Basket Recommendation Reality Check" computes it (<= ``ndcg``)
- ``map``        sum_r P@r * h_r / min(|T|, k)
- ``repeat_recall`` / ``explore_recall``: recall over the truth items the user did
                 (did not) interact with before (needs the history matrix)

Catalogue-level: ``coverage`` (share of the catalogue recommended to anyone in the
top k) and ``novelty`` (mean -log2 of the training popularity of recommended items,
popularity = share of users who interacted with the item).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np
import pandas as pd
import scipy.sparse as sp

PER_USER_METRICS: tuple[str, ...] = (
    "recall",
    "ndcg",
    "ndcg_paper",
    "precision",
    "map",
    "hit_rate",
    "repeat_recall",
    "explore_recall",
)
CATALOGUE_METRICS: tuple[str, ...] = ("coverage", "novelty")

Truth: TypeAlias = sp.spmatrix | Sequence[Iterable[int]]


def metric_name(metric: str, k: int) -> str:
    """The one name of a metric at k used everywhere (tables, CSV, MLflow): ``recall_at_10``."""
    return f"{metric}_at_{k}"


def to_csr(truth: Truth, n_items: int | None = None) -> sp.csr_matrix:
    """A binary CSR matrix from a CSR/sparse matrix or a list of item-index sets."""
    if sp.issparse(truth):
        m = sp.csr_matrix(truth, dtype=np.float32, copy=True)
        m.eliminate_zeros()
        m.data[:] = 1.0
        return m
    rows = [np.unique(np.fromiter(t, dtype=np.int64)) for t in truth]  # type: ignore[union-attr,attr-defined]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    cols = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    # the catalogue is at least as wide as every truth item (a narrower hint is widened)
    n_items = max(n_items or 0, int(cols.max()) + 1 if cols.size else 0)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    return sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr), shape=(len(rows), n_items))


def hits(recs: np.ndarray, truth: Truth) -> np.ndarray:
    """Boolean ``users x K``: is the item at each rank in the user's truth (padding -1 never is)."""
    recs = np.asarray(recs, dtype=np.int64)
    if recs.ndim != 2:
        raise ValueError(f"recommendations must be 2-d (users x k), got shape {recs.shape}")
    n_items = max(int(recs.max()) + 1 if recs.size else 0, 0)
    t = to_csr(truth, None if sp.issparse(truth) else n_items)
    if t.shape[0] != recs.shape[0]:
        raise ValueError(f"truth has {t.shape[0]} rows, recommendations {recs.shape[0]}")
    width = max(t.shape[1], n_items, 1)
    # encode (row, item) pairs as one int64 key; sorted truth keys, searchsorted lookup
    t_rows = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
    t_keys = np.sort(t_rows * width + t.indices.astype(np.int64))
    r_keys = np.arange(recs.shape[0], dtype=np.int64)[:, None] * width + recs
    pos = np.searchsorted(t_keys, r_keys)
    pos = np.minimum(pos, max(len(t_keys) - 1, 0))
    found = (t_keys[pos] == r_keys) if len(t_keys) else np.zeros(recs.shape, bool)
    out = found & (recs >= 0)
    return _dedupe_ranks(recs, out)


def _dedupe_ranks(recs: np.ndarray, h: np.ndarray) -> np.ndarray:
    """A repeated item in one row counts as a hit at its first rank only."""
    if recs.shape[1] < 2:
        return h
    order = np.argsort(recs, axis=1, kind="stable")
    s = np.take_along_axis(recs, order, axis=1)
    dup_sorted = np.zeros_like(s, dtype=bool)
    dup_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return h & ~dup


def _with_width(m: sp.csr_matrix, width: int) -> sp.csr_matrix:
    """The same rows cut or zero-padded to ``width`` columns."""
    if m.shape[1] == width:
        return m
    if m.shape[1] > width:
        return m[:, :width].tocsr()
    return sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width))


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _ideal_dcg(n_rel: np.ndarray, cap: int | None) -> np.ndarray:
    """IDCG of ``n_rel`` relevant items (at most ``cap`` of them count)."""
    n = n_rel if cap is None else np.minimum(n_rel, cap)
    top = int(n.max()) if n.size else 0
    cum = np.concatenate([[0.0], np.cumsum(_discounts(max(top, 1)))])
    return cum[n]


def user_metrics(
    recs: np.ndarray,
    truth: Truth,
    ks: Sequence[int] = (10, 20),
    history: sp.spmatrix | None = None,
) -> pd.DataFrame:
    """One row per user, one column per metric and k (``recall_at_10``, ...); NaN when undefined.

    ``history`` (users x items, rows aligned with ``recs``) splits recall into items the
    user had before (repeat) and new ones (explore); without it those columns are absent.
    """
    recs = np.asarray(recs, dtype=np.int64)
    n_items = max(int(recs.max()) + 1 if recs.size else 0, 0)
    t = to_csr(truth, None if sp.issparse(truth) else n_items)
    if max(ks) > recs.shape[1]:
        raise ValueError(f"k={max(ks)} but only {recs.shape[1]} recommendations per user")
    h = hits(recs, t).astype(np.float64)
    n_rel = np.diff(t.indptr).astype(np.int64)
    valid = n_rel > 0
    cols: dict[str, np.ndarray] = {}
    disc = _discounts(recs.shape[1])
    cum_hits = np.cumsum(h, axis=1)
    rep_h = exp_h = None
    if history is not None:
        hist = _with_width(sp.csr_matrix(history), t.shape[1])
        if hist.shape[0] != t.shape[0]:
            raise ValueError(f"history has {hist.shape[0]} rows, truth {t.shape[0]}")
        rep_truth = t.multiply(hist > 0).tocsr()
        rep_truth.eliminate_zeros()
        exp_truth = (t - rep_truth).tocsr()
        exp_truth.eliminate_zeros()
        rep_h = hits(recs, rep_truth).astype(np.float64)
        exp_h = hits(recs, exp_truth).astype(np.float64)
        n_rep = np.diff(rep_truth.indptr)
        n_exp = np.diff(exp_truth.indptr)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in ks:
            hk = cum_hits[:, k - 1]
            dcg = (h[:, :k] * disc[:k]).sum(axis=1)
            prec_at_r = cum_hits[:, :k] / np.arange(1, k + 1)
            cols[metric_name("recall", k)] = np.where(valid, hk / n_rel, np.nan)
            cols[metric_name("ndcg", k)] = np.where(valid, dcg / _ideal_dcg(n_rel, k), np.nan)
            cols[metric_name("ndcg_paper", k)] = np.where(
                valid, dcg / _ideal_dcg(n_rel, None), np.nan
            )
            cols[metric_name("precision", k)] = np.where(valid, hk / k, np.nan)
            cols[metric_name("map", k)] = np.where(
                valid, (prec_at_r * h[:, :k]).sum(axis=1) / np.minimum(n_rel, k), np.nan
            )
            cols[metric_name("hit_rate", k)] = np.where(valid, (hk > 0).astype(float), np.nan)
            if rep_h is not None and exp_h is not None:
                cols[metric_name("repeat_recall", k)] = np.where(
                    n_rep > 0, rep_h[:, :k].sum(axis=1) / n_rep, np.nan
                )
                cols[metric_name("explore_recall", k)] = np.where(
                    n_exp > 0, exp_h[:, :k].sum(axis=1) / n_exp, np.nan
                )
    out = pd.DataFrame(cols)
    out["n_truth"] = n_rel
    return out


def coverage(recs: np.ndarray, n_items: int, k: int | None = None) -> float:
    """Share of the catalogue (n_items) that appears in anyone's top k."""
    r = np.asarray(recs, dtype=np.int64)[:, :k] if k else np.asarray(recs, dtype=np.int64)
    seen = np.unique(r[r >= 0])
    return float(len(seen) / n_items) if n_items else 0.0


def item_popularity(train: sp.spmatrix) -> np.ndarray:
    """Share of users who interacted with each item in the training matrix."""
    m = sp.csr_matrix(train)
    n_users = max(m.shape[0], 1)
    return np.asarray((m > 0).sum(axis=0)).ravel() / n_users


def novelty(recs: np.ndarray, popularity: np.ndarray, k: int | None = None) -> float:
    """Mean -log2(popularity) of recommended items (never-seen items count as the rarest seen one)."""
    r = np.asarray(recs, dtype=np.int64)[:, :k] if k else np.asarray(recs, dtype=np.int64)
    r = r[r >= 0]
    if not r.size:
        return float("nan")
    positive = popularity[popularity > 0]
    floor = float(positive.min()) if positive.size else 1.0
    p = np.clip(popularity[r], floor, 1.0)
    return float(np.mean(-np.log2(p)))


def catalogue_metrics(
    recs: np.ndarray, n_items: int, popularity: np.ndarray, ks: Sequence[int] = (10, 20)
) -> dict[str, float]:
    """``coverage_at_k`` and ``novelty_at_k`` for every k."""
    out: dict[str, float] = {}
    for k in ks:
        out[metric_name("coverage", k)] = coverage(recs, n_items, k)
        out[metric_name("novelty", k)] = novelty(recs, popularity, k)
    return out


def summarize(
    per_user: pd.DataFrame, segments: pd.Series | Mapping[int, str] | np.ndarray | None = None
) -> pd.DataFrame:
    """Mean of every per-user metric (NaN-skipping) plus ``n_users``; one row, or one per segment.

    ``segments`` gives a segment per row of ``per_user`` (a Series aligned on its index,
    an array of the same length, or a mapping from row position to segment); rows
    without a segment fall in ``"(none)"``.
    """
    metrics = per_user.drop(columns=["n_truth"], errors="ignore")
    valid = per_user["n_truth"] > 0 if "n_truth" in per_user else pd.Series(True, per_user.index)
    if segments is None:
        row = metrics[valid].mean(axis=0, skipna=True).to_frame().T
        row.insert(0, "n_users", int(valid.sum()))
        row.index = pd.Index(["all"], name="segment")
        return row
    if isinstance(segments, Mapping):
        seg = pd.Series([segments.get(i) for i in range(len(per_user))], index=per_user.index)
    elif isinstance(segments, pd.Series):
        seg = segments.reindex(per_user.index)
    else:
        seg = pd.Series(np.asarray(segments), index=per_user.index)
    seg = seg.astype("object").where(seg.notna(), "(none)").astype(str)
    grouped = metrics[valid].groupby(seg[valid], sort=True)
    out = grouped.mean()
    out.insert(0, "n_users", grouped.size())
    out.index.name = "segment"
    return out


def evaluate_recs(
    recs: np.ndarray,
    truth: Truth,
    ks: Sequence[int] = (10, 20),
    history: sp.spmatrix | None = None,
    popularity: np.ndarray | None = None,
    n_items: int | None = None,
) -> dict[str, float]:
    """Every metric averaged over users with a truth, plus catalogue metrics when popularity is given."""
    per_user = user_metrics(recs, truth, ks, history)
    out = {str(k): float(v) for k, v in summarize(per_user).iloc[0].items() if k != "n_users"}
    if popularity is not None:
        out.update(catalogue_metrics(recs, n_items or len(popularity), popularity, ks))
    return out
