"""Repeat-aware blend: the user's own items (frequency x recency) mixed with what others buy.

    score = w * repeat / max(repeat) + (1 - w) * ((1 - v) * popularity + v * base)

per user, where `repeat` = count * 0.5 ** (days since last purchase / half-life) (0 for
never-bought items) or, when it wins the search, TIFU-KNN's decayed basket-frequency vector
(every past basket counts, recent ones more) or TIFU-KNN's whole prediction (that vector mixed
with the nearest users' vectors, so new items get a repeat part too), `base` is any
registered model's score and both `popularity` and `base` are min-max scaled to [0, 1] per
user. Own items get both parts, new items (but with TIFU-KNN's prediction) only the second. The repeat weight w, the base share v and the repeat score are learned at fit time:
each user's last basket is held out of the training interactions (then, in a second round,
the one before it), the base model is fitted on the rest, and the (repeat score, w, v) with the best Recall@k on the held-out baskets wins;
then the base model is refitted on everything (skipped when v = 0).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from features.matrix import Interactions, hold_out_last_baskets
from training.models._common import (
    SIGNAL_HELP,
    Signal,
    batches,
    max_scale_rows,
    minmax_rows,
    popularity,
)
from training.models.base import ModelConfig, Recommender, top_k
from training.models.repeat import repeat_scores
from training.models.tifuknn import TIFUKNNConfig, tifu_user_vectors

_TUNE_BATCH = 512
_TIE = np.float32(1e-4)  # `other` always breaks ties among never-bought items


def _default_weights() -> tuple[float, ...]:
    return tuple(round(float(x), 2) for x in np.linspace(0.0, 1.0, 21))


class BlendConfig(ModelConfig):
    """Repeat + popularity + base-model blend whose mix is tuned on held-out last baskets."""

    kind: Literal["blend"] = "blend"
    base: str = Field(
        "itemknn",
        description="registered model kind scoring items for the collaborative part (not blend)",
    )
    base_params: dict[str, Any] = Field(
        default_factory=dict, description="config fields of the base model"
    )
    popularity_signal: Signal = Field(
        "purchases", description=SIGNAL_HELP + " for the popularity part"
    )
    weights: tuple[float, ...] = Field(
        default_factory=_default_weights,
        description="grid of repeat weights w searched at fit time",
    )
    base_shares: tuple[float, ...] = Field(
        (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0),
        description="grid of v, the base model's share of the non-repeat part "
        "(the rest is global popularity)",
    )
    half_lives: tuple[float | None, ...] = Field(
        (None, 3.0, 7.0, 14.0, 30.0, 90.0),
        description="grid of repeat half-lives in days searched at fit time (None = no recency)",
    )
    count_power: float = Field(1.0, ge=0.0, description="exponent on the repeat purchase count")
    tifu_repeat: bool = Field(
        True,
        description="also search TIFU-KNN's decayed basket-frequency vector and TIFU-KNN's "
        "whole prediction (its published r_b, r_g, m, k, alpha) as the repeat score "
        "(needs baskets)",
    )
    tifu_knn_max_users: int = Field(
        50_000,
        ge=0,
        description="search TIFU-KNN's whole prediction only up to this many users (its "
        "user kNN costs users^2)",
    )
    weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="fixed w: when set, no search; base_share and half_life_days are used as given",
    )
    base_share: float = Field(0.5, ge=0.0, le=1.0, description="fixed v, used with `weight`")
    half_life_days: float | None = Field(
        None, gt=0.0, description="fixed half-life, used with `weight` (None = no recency)"
    )
    repeat_kind: Literal["recency", "tifu", "tifuknn"] = Field(
        "recency",
        description="fixed repeat score, used with `weight` (tifu: TIFU-KNN's own-history "
        "vector; tifuknn: its whole prediction with the neighbours)",
    )
    tune_k: int = Field(10, ge=1, description="k of the Recall@k the search maximises")
    tune_users: int = Field(4000, ge=1, description="held-out users sampled for the search (speed)")
    tune_rounds: int = Field(
        2,
        ge=1,
        description="held-out rounds of the search: round r holds out each user's r-th basket "
        "from the end (more rounds: a less noisy choice on small data)",
    )
    seed: int = Field(0, description="seed of the user sample; passed on to the base model")


class RepeatBlend(Recommender):
    """w * repeat + (1 - w) * ((1 - v) * popularity + v * base), with w, v and half-life learned."""

    config_class = BlendConfig
    config: BlendConfig

    def _base(self) -> Recommender:
        from training.models import build_model, model_class

        c = self.config
        if c.base == "blend":
            raise ValueError("a blend cannot blend itself")
        params = dict(c.base_params)
        if "seed" in model_class(c.base).config_class.model_fields:
            params.setdefault("seed", c.seed)
        return build_model(c.base, **params)

    def _fit(self, data: Interactions) -> None:
        c = self.config
        self.tuning: list[dict[str, float | str | None]] = []
        self.repeat_kind_ = c.repeat_kind if data.baskets is not None else "recency"
        if c.weight is not None:
            self.weight_, self.base_share_, self.half_life_ = (
                c.weight,
                c.base_share,
                c.half_life_days,
            )
        else:
            self.weight_, self.base_share_, self.half_life_ = self._tune(data)
        self.tifu_vectors = _tifu(data) if self.repeat_kind_ == "tifu" else None
        self.tifu_model = _tifu_knn(data) if self.repeat_kind_ == "tifuknn" else None
        self.base_model = self._base().fit(data) if self.base_share_ > 0 else None
        self.popularity = minmax_rows(popularity(data, c.popularity_signal)[None, :])[0]
        self.counts = sp.csr_matrix(data.purchases, dtype=np.float32)
        self.ages = sp.csr_matrix(data.last_purchase_age, dtype=np.float32)

    def fitted_params(self) -> dict[str, Any]:
        """The chosen mix: repeat weight, base share, half-life (None = no recency), and how."""
        out = super().fitted_params()
        best = max(self.tuning, key=lambda t: t["recall"] or 0.0) if self.tuning else None
        out.update(
            {
                "weight": float(self.weight_),
                "base_share": float(self.base_share_),
                "half_life_days": None if self.half_life_ is None else float(self.half_life_),
                "chosen_by": "config" if self.config.weight is not None else "inner holdout",
                "inner_recall": None if best is None else best["recall"],
            }
        )
        if self.base_model is not None:
            out.update({f"base.{k}": v for k, v in self.base_model.fitted_params().items()})
        return out

    def _tune(self, data: Interactions) -> tuple[float, float, float | None]:
        c = self.config
        fallback = (0.5, c.base_share, c.half_lives[0] if c.half_lives else c.half_life_days)
        if data.baskets is None or not (c.weights and c.half_lives and c.base_shares):
            return fallback
        sources: list[float | None | str] = list(c.half_lives)
        if c.tifu_repeat:
            sources.append("tifu")
            if data.shape[0] <= c.tifu_knn_max_users:  # its user kNN is quadratic in users
                sources.append("tifuknn")
        grid = [(h, w, v) for h in sources for w in c.weights for v in c.base_shares]
        hits, n_users = np.zeros(len(grid)), 0
        rng = np.random.default_rng(c.seed)
        rest = data
        for _ in range(c.tune_rounds):  # each round holds out the last basket left
            train, truth = hold_out_last_baskets(rest)
            users = np.flatnonzero(np.diff(truth.indptr) > 0)
            if len(users) == 0:
                break
            if len(users) > c.tune_users:
                users = np.sort(rng.choice(users, size=c.tune_users, replace=False))
            hits += self._round_hits(train, truth, users, sources)
            n_users += len(users)
            rest = train
        if n_users == 0:
            return fallback
        recall = hits / n_users
        self.tuning = [
            {"half_life_days": h, "weight": w, "base_share": v, "recall": float(r)}
            for (h, w, v), r in zip(grid, recall, strict=True)
        ]
        h, w, v = grid[int(np.argmax(recall))]  # first of equals, in grid order
        if h in ("tifu", "tifuknn"):
            self.repeat_kind_ = str(h)  # type: ignore[assignment]
            return float(w), float(v), None
        self.repeat_kind_ = "recency"
        return float(w), float(v), float(h) if h is not None else None

    def _round_hits(
        self,
        train: Interactions,
        truth: sp.csr_matrix,
        users: np.ndarray,
        sources: list[float | None | str],
    ) -> np.ndarray:
        """Summed Recall@k over `users` of every (repeat source, w, v) on one held-out round."""
        c = self.config
        hits = np.zeros(len(sources) * len(c.weights) * len(c.base_shares))
        base = self._base().fit(train) if any(v > 0 for v in c.base_shares) else None
        pop = minmax_rows(popularity(train, c.popularity_signal)[None, :])
        tifu = _tifu(train) if "tifu" in sources else None
        knn = _tifu_knn(train) if "tifuknn" in sources else None
        for sl in batches(len(users), _TUNE_BATCH):
            u = users[sl]
            counts, ages = train.purchases[u], train.last_purchase_age[u]
            collab = minmax_rows(base.score(u)) if base is not None else np.zeros((len(u), 1))
            reps = [self._repeat_rows(h, u, counts, ages, tifu, knn) for h in sources]
            knn_rep = reps[sources.index("tifuknn")] if knn is not None else None
            t = truth[u]
            dense_truth = np.asarray(t.todense()) > 0
            sizes = np.maximum(np.diff(t.indptr), 1)
            rows = np.arange(len(u))[:, None]
            for v_i, v in enumerate(c.base_shares):
                other = (1 - v) * pop + v * collab if v > 0 else np.repeat(pop, len(u), axis=0)
                cand, other_c = _candidates(other.astype(np.float32), counts, c.tune_k, knn_rep)
                valid = cand >= 0
                safe = np.where(valid, cand, 0)
                hit = dense_truth[rows, safe] & valid
                for h_i, rep in enumerate(reps):
                    rep_c = rep[rows, safe]
                    for w_i, w in enumerate(c.weights):
                        s = np.where(
                            valid,
                            np.float32(w) * rep_c + np.float32(1 - w + _TIE) * other_c,
                            -np.inf,
                        )
                        top = top_k(s, c.tune_k)[0]
                        got = np.take_along_axis(hit, np.maximum(top, 0), axis=1) & (top >= 0)
                        g = (h_i * len(c.weights) + w_i) * len(c.base_shares) + v_i
                        hits[g] += float((got.sum(axis=1) / sizes).sum())
        return hits

    def _repeat_rows(
        self,
        source: float | None | str,
        u: np.ndarray,
        counts: sp.csr_matrix,
        ages: sp.csr_matrix,
        tifu: sp.csr_matrix | None,
        knn: Recommender | None,
    ) -> np.ndarray:
        """One repeat source's scores for users `u`, max-scaled per row (search only)."""
        if source == "tifu" and tifu is not None:
            return max_scale_rows(np.asarray(tifu[u].todense(), np.float32))
        if source == "tifuknn" and knn is not None:
            return max_scale_rows(knn.score(u).astype(np.float32))
        hl = None if isinstance(source, str) else source
        return max_scale_rows(repeat_scores(counts, ages, hl, self.config.count_power))

    def _score(self, users: np.ndarray) -> np.ndarray:
        w, v = np.float32(self.weight_), np.float32(self.base_share_)
        counts, ages = self.counts[users], self.ages[users]
        if self.tifu_model is not None:
            rep = max_scale_rows(self.tifu_model.score(users).astype(np.float32))
        elif self.tifu_vectors is not None:
            rep = max_scale_rows(np.asarray(self.tifu_vectors[users].todense(), np.float32))
        else:
            rep = max_scale_rows(
                repeat_scores(counts, ages, self.half_life_, self.config.count_power)
            )
        other = np.repeat(((1 - v) * self.popularity)[None, :], len(users), axis=0)
        if self.base_model is not None:
            other += v * minmax_rows(self.base_model.score(users))
        return w * rep + (1 - w + _TIE) * other  # at w = 1 new items still rank by `other`

    def user_vectors(self) -> np.ndarray | None:
        """The base model's user vectors (None when the base was not needed)."""
        return self.base_model.user_vectors() if self.base_model is not None else None

    def item_vectors(self) -> np.ndarray | None:
        """The base model's item vectors (None when the base was not needed)."""
        return self.base_model.item_vectors() if self.base_model is not None else None


def _tifu(data: Interactions) -> sp.csr_matrix | None:
    """TIFU-KNN's own-history vectors (published settings) when the data has baskets."""
    if data.baskets is None or not len(data.baskets):
        return None
    t = TIFUKNNConfig()
    v = tifu_user_vectors(data.baskets, data.shape, t.group_size, t.within_decay, t.group_decay)
    return sp.csr_matrix(v, dtype=np.float32)


def _tifu_knn(data: Interactions) -> Recommender | None:
    """TIFU-KNN (published settings) fitted on `data` when it has baskets."""
    if data.baskets is None or not len(data.baskets):
        return None
    from training.models.tifuknn import TIFUKNN

    return TIFUKNN(TIFUKNNConfig()).fit(data)


def _candidates(
    other: np.ndarray, counts: sp.csr_matrix, k: int, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the user's bought items plus the top-k others by `other` (-1 padded), and `other` there.

    Never-bought items score (1 - w) * other whatever w is, so a blend's top-k always lies
    in this set: the search scores a few dozen candidates instead of the whole catalogue.
    `extra` (a repeat source that also scores never-bought items, TIFU-KNN's prediction)
    adds its own top-k never-bought items (the search's top-k is then near-exact for it).
    """
    counts = sp.csr_matrix(counts)
    n = other.shape[0]
    per_row = np.diff(counts.indptr)
    width = int(per_row.max(initial=0))
    bought = np.full((n, width), -1, dtype=np.int64)
    masked = other.copy()
    if counts.nnz:
        rows = np.repeat(np.arange(n), per_row)
        bought[rows, np.arange(counts.nnz) - counts.indptr[rows]] = counts.indices
        masked[rows, counts.indices] = -np.inf
    best_other = top_k(masked, k)[0]
    parts = [bought, best_other]
    if extra is not None:  # its best never-bought items not already in the list
        e = np.where(np.isfinite(masked) & (extra > 0), extra, -np.inf).astype(np.float32)
        r, j = np.nonzero(best_other >= 0)
        e[r, best_other[r, j]] = -np.inf
        parts.append(top_k(e, k)[0])
    cand = np.hstack(parts)
    vals = np.take_along_axis(other, np.maximum(cand, 0), axis=1)
    return cand, np.where(cand >= 0, vals, 0.0).astype(np.float32)
