"""Popularity: the same ranking for everyone (global), or within the user's groups."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from features.matrix import Interactions
from training.models._common import (
    SIGNAL_HELP,
    Signal,
    max_scale_rows,
    popularity,
    signal_matrix,
    unit_scale,
)
from training.models.base import ModelConfig, Recommender


class PopularityConfig(ModelConfig):
    """Global popularity (G-TopFreq)."""

    kind: Literal["popularity"] = "popularity"
    signal: Signal = Field("purchases", description=SIGNAL_HELP)


class Popularity(Recommender):
    """Scores every item by its total signal over all users (same list for everyone)."""

    config_class = PopularityConfig
    config: PopularityConfig

    def _fit(self, data: Interactions) -> None:
        self.item_popularity = popularity(data, self.config.signal)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.repeat(self.item_popularity[None, :], len(users), axis=0)


class GroupPopularityConfig(ModelConfig):
    """Popularity within the user's groups, global popularity for users without groups."""

    kind: Literal["group_popularity"] = "group_popularity"
    signal: Signal = Field("purchases", description=SIGNAL_HELP)
    global_weight: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="share of global popularity mixed into the group score "
        "(breaks ties and fills items the groups never bought)",
    )


class GroupPopularity(Recommender):
    """Item shares of each group's purchases, averaged over the user's groups, plus a bit of global."""

    config_class = GroupPopularityConfig
    config: GroupPopularityConfig

    def _fit(self, data: Interactions) -> None:
        x = signal_matrix(data, self.config.signal)
        self.global_share = _shares(np.asarray(x.sum(axis=0), np.float32).ravel())
        if data.user_groups is None or data.user_groups.shape[1] == 0:
            self.user_groups = sp.csr_matrix((self.n_users, 0), dtype=np.float32)
            self.group_shares = sp.csr_matrix((0, self.n_items), dtype=np.float32)
            return
        ug = sp.csr_matrix(data.user_groups, dtype=np.float32)
        per_group = (ug.T @ x).tocsr()  # groups x items
        totals = np.asarray(per_group.sum(axis=1), np.float32).ravel()
        inv = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        self.group_shares = sp.csr_matrix(sp.diags(inv) @ per_group, dtype=np.float32)
        n_groups = np.asarray(ug.sum(axis=1), np.float32).ravel()
        inv_n = np.divide(1.0, n_groups, out=np.zeros_like(n_groups), where=n_groups > 0)
        self.user_groups = sp.csr_matrix(sp.diags(inv_n) @ ug, dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        glob = unit_scale(self.global_share)
        out = np.repeat(glob[None, :], len(users), axis=0)
        if self.user_groups.shape[1] == 0:
            return out
        ug = self.user_groups[users]
        group = np.asarray((ug @ self.group_shares).todense(), dtype=np.float32)
        has = np.diff(ug.indptr) > 0
        w = np.float32(self.config.global_weight)
        out[has] = (1 - w) * max_scale_rows(group[has]) + w * glob
        return out


def _shares(v: np.ndarray) -> np.ndarray:
    total = float(v.sum())
    return v / np.float32(total) if total > 0 else np.zeros_like(v)
