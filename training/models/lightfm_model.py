"""LightFM (Kula 2015): factorisation over identity + side features, trained with WARP by default.

Users and items are represented by the sum of their feature embeddings (an identity
feature each, plus tags / categories from :class:`features.matrix.Interactions`), so users
and items without interactions still get vectors from their features. After fitting only
the representations are kept, folded into dot-product vectors:
user = [embedding, bias, 1], item = [embedding, 1, bias].
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from sklearn.preprocessing import normalize

from features.matrix import Interactions
from training.models._common import SIGNAL_HELP, Signal, signal_matrix
from training.models.base import FactorModel, ModelConfig


class LightFMConfig(ModelConfig):
    """Hybrid matrix factorisation with user and item side features."""

    kind: Literal["lightfm"] = "lightfm"
    no_components: int = Field(48, ge=1, description="latent dimensions")
    loss: Literal["warp", "bpr", "logistic", "warp-kos"] = Field(
        "warp", description="training loss; WARP optimises the top of the ranking"
    )
    learning_rate: float = Field(0.02, gt=0.0, description="initial adagrad step size")
    epochs: int = Field(15, ge=1, description="passes over the interactions")
    item_alpha: float = Field(1e-6, ge=0.0, description="L2 penalty on item feature embeddings")
    user_alpha: float = Field(1e-6, ge=0.0, description="L2 penalty on user feature embeddings")
    max_sampled: int = Field(
        30, ge=1, description="WARP: negatives tried per positive before giving up"
    )
    signal: Signal = Field(
        "binary",
        description=SIGNAL_HELP + "; non-binary values become LightFM sample weights",
    )
    user_features: bool = Field(True, description="use Interactions.user_features (tags)")
    item_features: bool = Field(True, description="use Interactions.item_features (catalogue)")
    seed: int = Field(42, description="random seed of initialisation and sampling")


def _with_identity(side: sp.csr_matrix | None, n: int, use: bool) -> sp.csr_matrix:
    """[identity | side features], rows L1-normalised (LightFM's recommended scaling)."""
    eye = sp.identity(n, dtype=np.float32, format="csr")
    if use and side is not None and side.shape[1] > 0:
        m = sp.hstack([eye, sp.csr_matrix(side, dtype=np.float32)], format="csr")
    else:
        m = eye
    return sp.csr_matrix(normalize(m, norm="l1", axis=1), dtype=np.float32)


class LightFMHybrid(FactorModel):
    """LightFM with identity + side features; cold users and items are scored from their features."""

    config_class = LightFMConfig
    config: LightFMConfig

    def _fit(self, data: Interactions) -> None:
        from lightfm import LightFM

        c = self.config
        x = signal_matrix(data, c.signal).tocoo()
        interactions = sp.coo_matrix(
            (np.ones_like(x.data), (x.row, x.col)), shape=x.shape, dtype=np.float32
        )
        weights = None if c.signal == "binary" or c.loss == "warp-kos" else x
        uf = _with_identity(data.user_features, self.n_users, c.user_features)
        itf = _with_identity(data.item_features, self.n_items, c.item_features)
        model = LightFM(
            no_components=c.no_components,
            loss=c.loss,
            learning_rate=c.learning_rate,
            item_alpha=c.item_alpha,
            user_alpha=c.user_alpha,
            max_sampled=c.max_sampled,
            random_state=np.random.RandomState(c.seed),
        )
        model.fit(
            interactions,
            user_features=uf,
            item_features=itf,
            sample_weight=weights,
            epochs=c.epochs,
            num_threads=1,
        )
        ub, ue = model.get_user_representations(uf)
        ib, ie = model.get_item_representations(itf)
        ones_u = np.ones((self.n_users, 1), np.float32)
        ones_i = np.ones((self.n_items, 1), np.float32)
        # [embedding, bias, 1] per user and [embedding, 1, bias] per item: the dot product
        # is LightFM's score, biases included
        self.user_factors = np.hstack([ue, ub[:, None], ones_u]).astype(np.float32)
        self.item_factors = np.hstack([ie, ones_i, ib[:, None]]).astype(np.float32)
