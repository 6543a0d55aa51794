"""Personal repeat purchase: what a user bought often and lately, then (optionally) global popularity.

`repeat` weighs purchase counts by recency; `p_topfreq` and `gp_topfreq` are the plain
personal-frequency baselines of the next-basket literature (Li et al., "A Next Basket
Recommendation Reality Check", TOIS 2023): P-TopFreq ranks only the user's own items by
count, GP-TopFreq fills the rest of the list with globally popular items.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from features.matrix import Interactions
from training.models._common import SIGNAL_HELP, Signal, max_scale_rows, popularity, unit_scale
from training.models.base import ModelConfig, Recommender

Fallback = Literal["popularity", "none"]
FALLBACK_HELP = (
    "what ranks below the user's own items: 'popularity' (global) or 'none' "
    "(never-bought items score -inf, so lists stop at the user's own items)"
)


class RepeatConfig(ModelConfig):
    """Repeat frequency with recency: count ** count_power * 0.5 ** (days since last purchase / half-life)."""

    kind: Literal["repeat"] = "repeat"
    half_life_days: float | None = Field(
        30.0,
        gt=0,
        description="days after which an item's repeat score halves since its last purchase; "
        "None = no recency (pure frequency)",
    )
    count_power: float = Field(
        1.0, ge=0.0, description="exponent on the purchase count (0 = recency only)"
    )
    fallback: Fallback = Field("popularity", description=FALLBACK_HELP)
    fallback_signal: Signal = Field("purchases", description=SIGNAL_HELP + " for the fallback")


class PTopFreqConfig(ModelConfig):
    """P-TopFreq: the user's own items by purchase count; nothing else."""

    kind: Literal["p_topfreq"] = "p_topfreq"


class GPTopFreqConfig(ModelConfig):
    """GP-TopFreq: the user's own items by purchase count, then globally popular items."""

    kind: Literal["gp_topfreq"] = "gp_topfreq"
    fallback_signal: Signal = Field("purchases", description=SIGNAL_HELP + " for the fallback")


def repeat_scores(
    counts: sp.csr_matrix, ages: sp.csr_matrix, half_life_days: float | None, count_power: float
) -> np.ndarray:
    """Dense raw repeat scores (0 where never bought) for rows of purchase counts and ages+1."""
    c = np.asarray(counts.todense(), dtype=np.float32)
    bought = c > 0
    rep = np.zeros_like(c)
    rep[bought] = c[bought] ** np.float32(count_power) if count_power != 1.0 else c[bought]
    if half_life_days is not None:
        a = np.asarray(ages.todense(), dtype=np.float32)[bought]
        a = np.maximum(a - 1.0, 0.0)  # stored as days + 1
        rep[bought] *= np.power(np.float32(0.5), a / np.float32(half_life_days))
        rep[bought] = np.maximum(rep[bought], np.float32(1e-30))  # bought stays > 0
    return rep


class Repeat(Recommender):
    """Recommends what the user already buys: frequent and recent first, popular items after."""

    config_class: ClassVar[type[ModelConfig]] = RepeatConfig

    def _settings(self) -> tuple[float | None, float, Fallback, Signal]:
        c = self.config
        assert isinstance(c, RepeatConfig)
        return c.half_life_days, c.count_power, c.fallback, c.fallback_signal

    def _fit(self, data: Interactions) -> None:
        _, _, fallback, signal = self._settings()
        self.counts = sp.csr_matrix(data.purchases, dtype=np.float32)
        self.ages = sp.csr_matrix(data.last_purchase_age, dtype=np.float32)
        self.item_popularity = (
            popularity(data, signal) if fallback == "popularity" else np.zeros(self.n_items)
        )

    def _score(self, users: np.ndarray) -> np.ndarray:
        half_life, power, fallback, _ = self._settings()
        rep = repeat_scores(self.counts[users], self.ages[users], half_life, power)
        bought = rep > 0
        if fallback == "popularity":
            out = np.repeat(unit_scale(self.item_popularity)[None, :], len(users), axis=0)
        else:
            out = np.full(rep.shape, -np.inf, dtype=np.float32)
        # own items above every fallback item: 1 + (0, 1]
        out[bought] = 1.0 + max_scale_rows(rep)[bought]
        return out


class PTopFreq(Repeat):
    """P-TopFreq baseline: own items by count only (lists can be shorter than k)."""

    config_class = PTopFreqConfig

    def _settings(self) -> tuple[float | None, float, Fallback, Signal]:
        return None, 1.0, "none", "purchases"


class GPTopFreq(Repeat):
    """GP-TopFreq baseline: own items by count, then global popularity."""

    config_class = GPTopFreqConfig

    def _settings(self) -> tuple[float | None, float, Fallback, Signal]:
        c = self.config
        assert isinstance(c, GPTopFreqConfig)
        return None, 1.0, "popularity", c.fallback_signal
