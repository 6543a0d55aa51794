"""Item-item kNN: items bought by the same users are similar; score = sum of similarities to the user's items."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from features.matrix import Interactions
from training.models._common import (
    SIGNAL_HELP,
    Signal,
    popularity,
    signal_matrix,
    top_n_per_row,
    unit_scale,
)
from training.models.base import ModelConfig, Recommender

_BLOCK = 2048  # items per block of the similarity product (caps memory)


class ItemKNNConfig(ModelConfig):
    """Item-item nearest neighbours over the user-item matrix."""

    kind: Literal["itemknn"] = "itemknn"
    signal: Signal = Field("purchases", description=SIGNAL_HELP)
    similarity: Literal["cosine", "cooccurrence", "asymmetric"] = Field(
        "cosine",
        description="'cosine' = co-occurrence / (|i| |j|); 'cooccurrence' = raw co-occurrence; "
        "'asymmetric' = co-occurrence / (|i|^a |j|^(1-a)) with a = asymmetry",
    )
    asymmetry: float = Field(
        0.5, ge=0.0, le=1.0, description="a of the asymmetric cosine (0.5 = cosine)"
    )
    shrink: float = Field(
        0.0, ge=0.0, description="added to the denominator: damps pairs seen only a few times"
    )
    neighbours: int = Field(100, ge=1, description="similar items kept per item (sparsity)")
    profile: Signal = Field(
        "purchases", description="which user-item matrix weighs the user's items when scoring"
    )


class ItemKNN(Recommender):
    """Sparse item-item similarity (top-N neighbours per item); user scores = profile @ similarity."""

    config_class = ItemKNNConfig
    config: ItemKNNConfig

    def _fit(self, data: Interactions) -> None:
        c = self.config
        x = signal_matrix(data, c.signal).astype(np.float64)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        if c.similarity == "cosine":
            left, right = norms, norms
        elif c.similarity == "asymmetric":
            left, right = norms ** (2 * c.asymmetry), norms ** (2 * (1 - c.asymmetry))
        else:
            left = right = np.ones_like(norms)
        xc = x.tocsc()
        blocks = []
        for start in range(0, self.n_items, _BLOCK):
            stop = min(start + _BLOCK, self.n_items)
            coo = (xc[:, start:stop].T.tocsr() @ x).tocoo()  # block items x all items
            off = coo.row + start != coo.col  # an item is not its own neighbour
            row, col, co = coo.row[off], coo.col[off], coo.data[off]
            den = left[start + row] * right[col] + c.shrink
            vals = np.divide(co, den, out=np.zeros_like(co), where=den > 0)
            s = sp.csr_matrix((vals, (row, col)), shape=coo.shape)
            blocks.append(top_n_per_row(s, c.neighbours))
        sim = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, 0))
        self.similarity = sp.csr_matrix(sim, dtype=np.float32)
        self.profile = signal_matrix(data, c.profile)
        # a negligible popularity term orders ties and gives users without history a list
        self.tie_break = unit_scale(popularity(data, "binary")) * np.float32(1e-6)

    def _score(self, users: np.ndarray) -> np.ndarray:
        s = np.asarray((self.profile[users] @ self.similarity).todense(), dtype=np.float32)
        return s + self.tie_break[None, :]

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The n most similar items to `item` and their similarities."""
        row = self.similarity[item]
        order = np.argsort(-row.data, kind="stable")[:n]
        return row.indices[order].astype(np.int64), row.data[order]
