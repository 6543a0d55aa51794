"""Matrix factorisation with `implicit` (CPU): ALS (Hu, Koren, Volinsky 2008) and BPR (Rendle et al. 2009).

Only the factors are kept after fitting; scores are dot products of user and item vectors,
so serving needs numpy only.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from features.matrix import Interactions
from training.models._common import SIGNAL_HELP, Signal, signal_matrix, single_thread_blas
from training.models.base import FactorModel, ModelConfig

SEED_HELP = "random seed of the factor initialisation (and BPR's sampling)"
THREADS_HELP = "threads implicit may use; keep 1 for bit-for-bit reproducible fits"


class ALSConfig(ModelConfig):
    """Implicit-feedback ALS: confidence 1 + alpha * signal, conjugate-gradient solver."""

    kind: Literal["als"] = "als"
    factors: int = Field(64, ge=1, description="latent dimensions")
    regularization: float = Field(0.05, ge=0.0, description="L2 penalty on the factors")
    alpha: float = Field(
        5.0, gt=0.0, description="confidence scale: positive cells weigh 1 + alpha * value"
    )
    iterations: int = Field(15, ge=1, description="ALS sweeps (users then items)")
    signal: Signal = Field("purchases", description=SIGNAL_HELP)
    seed: int = Field(42, description=SEED_HELP)
    num_threads: int = Field(1, ge=0, description=THREADS_HELP)


class BPRConfig(ModelConfig):
    """Bayesian personalised ranking by SGD on (user, bought item, other item) triples."""

    kind: Literal["bpr"] = "bpr"
    factors: int = Field(64, ge=1, description="latent dimensions (implicit adds an item bias)")
    learning_rate: float = Field(0.05, gt=0.0, description="SGD step size")
    regularization: float = Field(0.01, ge=0.0, description="L2 penalty on the factors")
    iterations: int = Field(100, ge=1, description="epochs over the positive cells")
    signal: Signal = Field(
        "binary", description=SIGNAL_HELP + " (BPR uses only which cells are set)"
    )
    seed: int = Field(42, description=SEED_HELP)
    num_threads: int = Field(1, ge=0, description=THREADS_HELP)


class _ImplicitModel(FactorModel):
    """A factor model fitted by the `implicit` library."""

    def _keep(self, model: object) -> None:
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)  # type: ignore[attr-defined]
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)  # type: ignore[attr-defined]


class ALS(_ImplicitModel):
    """Weighted matrix factorisation for implicit feedback (implicit.cpu.als)."""

    config_class = ALSConfig
    config: ALSConfig

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.config
        with single_thread_blas():
            model = AlternatingLeastSquares(
                factors=c.factors,
                regularization=c.regularization,
                alpha=c.alpha,
                iterations=c.iterations,
                random_state=c.seed,
                num_threads=c.num_threads,
            )
            model.fit(signal_matrix(data, c.signal), show_progress=False)
        self._keep(model)


class BPR(_ImplicitModel):
    """Pairwise ranking factorisation (implicit.cpu.bpr); the last factor column is the item bias."""

    config_class = BPRConfig
    config: BPRConfig

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        c = self.config
        with single_thread_blas():
            model = BayesianPersonalizedRanking(
                factors=c.factors,
                learning_rate=c.learning_rate,
                regularization=c.regularization,
                iterations=c.iterations,
                random_state=c.seed,
                num_threads=c.num_threads,
            )
            model.fit(signal_matrix(data, c.signal), show_progress=False)
        self._keep(model)
