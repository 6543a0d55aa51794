"""Group ranking that knows groups rebuy: group history + members' repeat + collaborative + popularity.

    score = h * H + m * M + p * P + (1 - h - m - p) * C   (+ a popularity tie-break)

- H: the group's own purchase history (orders / 接龙 carrying its group_id), each item's
  count decayed by 0.5 ** (days since the group last bought it / half-life), scaled to [0, 1].
- M: members' repeat signals: per member the same decayed count over their own purchases,
  scaled to [0, 1] per member, then averaged over members (one member's staple still counts).
- C: the aggregation strategy's group score (average, least misery, ...), as a rank unit in
  (0, 1] over the scored pool (1 = the strategy's best item; 0 outside the pool).
- P: popularity: how many people bought the item in the last ``recent_days`` days (days
  before the bundle's snapshot), scaled to [0, 1]; all purchases when ``recent_days`` is None.

Without it, members' standardised model scores are averaged together and what the group
keeps buying is crowded out. The weights, the half-life and the optional category cap are
defaults chosen on validation cuts by ``experiments.group_eval`` (never on its test rows).
Everything here is pure (arrays in, arrays out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class GroupMix:
    """Weights of the group-rebuy mix (the collaborative part gets 1 - history - members - popularity)."""

    history: float = 0.4
    members: float = 0.4
    half_life_days: float | None = None
    category_cap: int | None = None  # at most this many items of one category in the top k
    popularity: float = 0.0
    recent_days: float | None = None  # P counts buyers of the last N days (None: all purchases)

    def __post_init__(self) -> None:
        weights = (self.history, self.members, self.popularity)
        if min(weights) < 0 or sum(weights) > 1.0 + 1e-9:
            raise ValueError("history, members and popularity weights must be >= 0, sum <= 1")
        if self.recent_days is not None and self.recent_days <= 0:
            raise ValueError("recent_days must be > 0 (or None for all purchases)")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError("half_life_days must be > 0 (or None for no recency)")
        if self.category_cap is not None and self.category_cap < 1:
            raise ValueError("category_cap must be >= 1 (or None for no cap)")

    @property
    def collaborative(self) -> float:
        """Weight of the strategy's collaborative score."""
        return max(0.0, 1.0 - self.history - self.members - self.popularity)

    def label(self) -> str:
        """Short text naming the mix (for responses and reports)."""
        hl = "none" if self.half_life_days is None else f"{self.half_life_days:g}d"
        cap = "" if self.category_cap is None else f", cap {self.category_cap}/category"
        pop = ""
        if self.popularity:
            when = "all" if self.recent_days is None else f"last {self.recent_days:g}d"
            pop = f" + popularity {self.popularity:g} ({when})"
        return (
            f"history {self.history:g} + members {self.members:g}{pop} + "
            f"collaborative {round(self.collaborative, 6):g} (half-life {hl}{cap})"
        )


# chosen on the validation cuts of 5 synthetic presets (2,000 people) + Ta-Feng + Instacart
# households with the blend as the collaborative model: the best mean over datasets of
# (validation hit rate / the better naive validation hit rate); docs/group-ranking.md
DEFAULT_MIX = GroupMix(history=0.3, members=0.1, half_life_days=30.0, popularity=0.1)


def decayed_counts(
    counts: sp.spmatrix, ages: sp.spmatrix | None, half_life_days: float | None
) -> sp.csr_matrix:
    """Counts x 0.5 ** ((age - 1) / half-life) on the stored entries (ages are days + 1)."""
    c = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    c.sort_indices()
    if half_life_days is None or ages is None or not c.nnz:
        return c
    a = sp.csr_matrix(ages, dtype=np.float32)
    a.sort_indices()
    same = (
        a.nnz == c.nnz
        and np.array_equal(a.indptr, c.indptr)
        and np.array_equal(a.indices, c.indices)
    )
    age = a.data if same else np.asarray(a[c.nonzero()], np.float32).ravel()
    days = np.maximum(age - 1.0, 0.0)
    c.data = (c.data * np.power(np.float32(0.5), days / np.float32(half_life_days))).astype(
        np.float32
    )
    c.data = np.maximum(c.data, np.float32(1e-30))
    return c


def history_unit(
    counts: sp.spmatrix, ages: sp.spmatrix | None, half_life_days: float | None, n_items: int
) -> np.ndarray:
    """The group history H (one row of counts / ages summed over its groups), scaled to [0, 1]."""
    d = decayed_counts(counts, ages, half_life_days)
    h = np.asarray(d.sum(axis=0), np.float32).ravel() if d.shape[0] else np.zeros(n_items)
    top = float(h.max(initial=0.0))
    return (h / np.float32(top)).astype(np.float32) if top > 0 else np.zeros(n_items, np.float32)


def member_repeat_unit(
    counts: sp.spmatrix, ages: sp.spmatrix | None, half_life_days: float | None, n_items: int
) -> np.ndarray:
    """Members' repeat signal M: each member's decayed counts scaled to [0, 1], averaged."""
    d = decayed_counts(counts, ages, half_life_days)
    n = d.shape[0]
    if n == 0 or not d.nnz:
        return np.zeros(n_items, np.float32)
    row_max = np.asarray(d.max(axis=1).todense(), np.float32).ravel()
    scale = np.where(row_max > 0, 1.0 / np.maximum(row_max, 1e-30), 0.0).astype(np.float32)
    scaled = sp.diags(scale) @ d
    return (np.asarray(scaled.sum(axis=0), np.float32).ravel() / np.float32(n)).astype(np.float32)


def rank_unit(pool: np.ndarray, pool_scores: np.ndarray, n_items: int) -> np.ndarray:
    """The strategy's pool scores as a rank unit: best = 1, worst in pool > 0, outside pool = 0."""
    out = np.zeros(n_items, np.float32)
    finite = np.isfinite(pool_scores)
    p = pool[finite]
    if not len(p):
        return out
    order = np.lexsort((p, -pool_scores[finite]))
    n = len(p)
    out[p[order]] = (n - np.arange(n, dtype=np.float32)) / np.float32(n)
    return out


def recent_buyers_unit(last_purchase_age: sp.spmatrix, days: float | None) -> np.ndarray:
    """Per item: users whose last purchase of it is at most `days` old, scaled to [0, 1].

    `last_purchase_age` is users x items, days since the last purchase + 1 (0 = never);
    `days` None counts every buyer.
    """
    a = sp.csr_matrix(last_purchase_age)
    keep = a.data > 0 if days is None else (a.data > 0) & (a.data <= days + 1.0)
    counts = np.bincount(a.indices[keep], minlength=a.shape[1]).astype(np.float32)
    top = float(counts.max(initial=0.0))
    return counts / np.float32(top) if top > 0 else counts


def mix_scores(
    collab: np.ndarray,
    history: np.ndarray,
    members: np.ndarray,
    popularity: np.ndarray,
    mix: GroupMix,
    popular: np.ndarray | None = None,
) -> np.ndarray:
    """h * H + m * M + p * P + c * C + 1e-3 * popularity (popularity in [0, 1) breaks ties).

    `popular` is P (:func:`recent_buyers_unit` for ``mix.recent_days``); without it the
    popularity weight falls on `popularity`.
    """
    s = (
        np.float32(mix.history) * history
        + np.float32(mix.members) * members
        + np.float32(mix.collaborative) * collab
    )
    if mix.popularity:
        p = popularity if popular is None else popular
        s = s + np.float32(mix.popularity) * p
    return (s + np.float32(1e-3) * popularity).astype(np.float32)


def capped_top_k(
    scores: np.ndarray, k: int, categories: np.ndarray | None, cap: int | None
) -> np.ndarray:
    """Top-k finite scores, at most `cap` per category (filled from the rest if too few).

    Ties go to the lower index. Only the best ``k * 20`` items are sorted (a partition, not a
    sort of the catalogue) unless the cap needs more of them.
    """
    uncapped = cap is None or categories is None
    head = _best(scores, k if uncapped else k * 20)
    if uncapped or len(head) <= k:
        return head[:k]
    taken, full = _capped(head, k, categories, cap)  # type: ignore[arg-type]
    if full or len(head) == int(np.isfinite(scores).sum()):
        return taken
    return _capped(_best(scores, len(scores)), k, categories, cap)[0]  # type: ignore[arg-type]


def _best(scores: np.ndarray, m: int) -> np.ndarray:
    """The m best finite scores, best first, ties to the lower index."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > m:
        s = scores[finite]
        cut = np.partition(-s, m - 1)[m - 1]  # the m-th best score (negated)
        finite = finite[-s <= cut]  # everything tied with it stays: ties resolve below
    order = finite[np.lexsort((finite, -scores[finite]))]
    return order[:m].astype(np.int64)


def _capped(order: np.ndarray, k: int, categories: np.ndarray, cap: int) -> tuple[np.ndarray, bool]:
    """Greedy over `order`: at most `cap` per category, filled from the skipped ones if short;
    and whether the cap alone filled k."""
    taken: list[int] = []
    spill: list[int] = []
    per: dict[int, int] = {}
    for i in order.tolist():
        c = int(categories[i])
        if per.get(c, 0) < cap:
            per[c] = per.get(c, 0) + 1
            taken.append(i)
            if len(taken) == k:
                break
        elif len(spill) < k:
            spill.append(i)
    full = len(taken) == k
    if not full:
        taken.extend(spill[: k - len(taken)])
    return np.asarray(taken, np.int64), full
