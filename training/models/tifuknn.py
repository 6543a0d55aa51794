"""TIFU-KNN (Hu, He, Gao, Zhang, SIGIR 2020): temporal item-frequency user vectors + user kNN.

A user's baskets (oldest first) are multi-hot vectors; basket j of n weighs r_b ** (n-1-j)
(within-basket-sequence decay, as in the authors' code). The sequence is cut into m
consecutive groups (fewer when n < m, one basket each); each group is the mean of its
baskets and group g weighs r_g ** (m-1-g); the user vector is the sum over groups divided
by the number of groups. Prediction = alpha * own vector + (1 - alpha) * mean of the k
nearest users' vectors. The authors' code (HaojiHu/TIFUKNN, and the copy in
liming-7/A-Next-Basket-Recommendation-Reality-Check) finds neighbours by Euclidean
distance; cosine is offered as an option. Ta-Feng settings there: k=300, r_b=0.9,
r_g=0.7, alpha=0.7, m=7.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from features.matrix import BasketCol, Interactions
from training.models._common import batches
from training.models.base import ModelConfig, Recommender

_QUERY_BLOCK = 1024  # users per block of the user-user similarity product


class TIFUKNNConfig(ModelConfig):
    """TIFU-KNN hyper-parameters (defaults: the published Ta-Feng setting)."""

    kind: Literal["tifuknn"] = "tifuknn"
    neighbours: int = Field(300, ge=1, description="k: nearest users averaged into the score")
    group_size: int = Field(
        7,
        ge=1,
        description="m: number of consecutive groups a user's basket sequence is cut into "
        "(called 'group size' in the paper's code)",
    )
    within_decay: float = Field(
        0.9, gt=0.0, le=1.0, description="r_b: decay per basket back from the last one"
    )
    group_decay: float = Field(
        0.7, gt=0.0, le=1.0, description="r_g: decay per group back from the last one"
    )
    alpha: float = Field(
        0.7, ge=0.0, le=1.0, description="weight of the user's own vector vs the neighbours' mean"
    )
    metric: Literal["euclidean", "cosine"] = Field(
        "euclidean", description="distance for the user kNN (the authors' code: euclidean)"
    )


def tifu_user_vectors(
    baskets: pd.DataFrame,
    shape: tuple[int, int],
    group_size: int,
    within_decay: float,
    group_decay: float,
) -> sp.csr_matrix:
    """Users x items TIFU vectors from ordered baskets (:class:`BasketCol` columns)."""
    b = baskets[[BasketCol.USER, BasketCol.BASKET, BasketCol.ITEM]].drop_duplicates()
    user = b[BasketCol.USER].to_numpy(np.int64)
    pos = (b.groupby(BasketCol.USER)[BasketCol.BASKET].rank(method="dense").to_numpy() - 1).astype(
        np.int64
    )
    n = (pd.Series(pos).groupby(user).transform("max").to_numpy() + 1).astype(np.int64)
    m = group_size
    base = n // m
    extra = n - base * m  # the last `extra` groups hold base + 1 baskets
    boundary = (m - extra) * base
    short = n < m
    in_head = pos < boundary
    safe_base = np.maximum(base, 1)
    group = np.where(
        short,
        pos,
        np.where(in_head, pos // safe_base, (m - extra) + (pos - boundary) // (base + 1)),
    )
    size = np.where(short, 1, np.where(in_head, base, base + 1))
    n_groups = np.where(short, n, m)
    value = (
        np.power(within_decay, (n - 1 - pos).astype(np.float64))
        * np.power(group_decay, (m - 1 - group).astype(np.float64))
        / size
        / n_groups
    )
    v = sp.csr_matrix((value, (user, b[BasketCol.ITEM].to_numpy(np.int64))), shape=shape)
    v.sum_duplicates()
    return v


def knn_graph(v: sp.csr_matrix, k: int, metric: str) -> sp.csr_matrix:
    """Users x users matrix with 1/k at each user's k nearest other non-empty users."""
    n = v.shape[0]
    sq = np.asarray(v.multiply(v).sum(axis=1), dtype=np.float64).ravel()
    empty = sq <= 0
    pool = int((~empty).sum())
    vt = v.T.tocsc()
    rows, cols = [], []
    for sl in batches(n, _QUERY_BLOCK):
        q = np.arange(sl.start, sl.stop)
        q = q[~empty[q]]
        if len(q) == 0:
            continue
        dot = np.asarray((v[q] @ vt).todense(), dtype=np.float64)
        if metric == "cosine":
            norm = np.sqrt(sq)
            dist = 1.0 - dot / np.maximum(np.outer(norm[q], norm), 1e-30)
        else:
            dist = sq[q][:, None] + sq[None, :] - 2.0 * dot
        dist[:, empty] = np.inf
        dist[np.arange(len(q)), q] = np.inf  # not one's own neighbour
        kk = min(k, pool - 1)
        if kk < 1:
            continue
        nearest = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
        rows.append(np.repeat(q, kk))
        cols.append(nearest.ravel())
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = np.bincount(r, minlength=n).astype(np.float32)
    vals = 1.0 / counts[r]
    g = sp.csr_matrix((vals.astype(np.float32), (r, c)), shape=(n, n))
    g.sort_indices()
    return g


class TIFUKNN(Recommender):
    """Next-basket scores: alpha * own decayed item frequencies + (1 - alpha) * neighbours' mean."""

    config_class = TIFUKNNConfig
    config: TIFUKNNConfig

    def _fit(self, data: Interactions) -> None:
        c = self.config
        baskets = data.baskets
        if baskets is None:  # no order information: every purchase counts as one basket
            coo = data.purchases.tocoo()
            baskets = pd.DataFrame(
                {BasketCol.USER: coo.row, BasketCol.BASKET: 0, BasketCol.ITEM: coo.col}
            )
        v = tifu_user_vectors(baskets, data.shape, c.group_size, c.within_decay, c.group_decay)
        self.vectors = sp.csr_matrix(v, dtype=np.float32)
        self.graph = knn_graph(v, c.neighbours, c.metric)
        self.mean_vector = np.asarray(v.mean(axis=0), dtype=np.float32).ravel()

    def _score(self, users: np.ndarray) -> np.ndarray:
        a = np.float32(self.config.alpha)
        own = np.asarray(self.vectors[users].todense(), dtype=np.float32)
        g = self.graph[users]
        nb = np.asarray((g @ self.vectors).todense(), dtype=np.float32)
        lonely = np.diff(g.indptr) == 0  # users without history (or neighbours): the mean user
        nb[lonely] = self.mean_vector
        return a * own + (1 - a) * nb
