"""Pure ranking over an artifact bundle: per user, per group (aggregation strategies), similar items.

Everything here works on dense indices of :class:`serving.artifacts.Bundle`; the service
maps ids to indices and shapes the answer. Hard constraints (``allergy:`` / ``avoid:``)
are applied in every function that returns items for a user, whatever the model scores.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from serving import group_rebuy as gr
from serving.artifacts import Bundle, Variant

Strategy = Literal["average", "least_misery", "most_pleasure", "borda", "fair"]
STRATEGIES: tuple[str, ...] = ("average", "least_misery", "most_pleasure", "borda", "fair")
ConstraintMode = Literal["exclude", "flag"]
Fallback = Literal["group_popular", "global_popular"]

NEG = np.float32(-np.inf)
_EPS = np.float32(1e-6)
BORDA_DEPTH = 100  # Borda points go to each member's 100 best pool items
_PHONE_PREFIX = re.compile(r"^(?:0086|86)(?=1\d{10}$)")


# -- identifiers -----------------------------------------------------------------------------
def id_key(identifier: str) -> str:
    """`type:value` in the normalised form of :func:`features.identity.id_keys` (phones -> 11 digits)."""
    text = identifier.strip()
    if ":" not in text:
        return text
    t, v = text.split(":", 1)
    t, v = t.strip().lower(), v.strip()
    if t == "phone":
        digits = re.sub(r"\D", "", v)
        national = _PHONE_PREFIX.sub("", digits)
        v = national if national else v
    return f"{t}:{v}"


def resolve_user(bundle: Bundle, identifier: str) -> int | None:
    """User index of any identifier (`wecom:...`, `phone:...`, the unified id); None if unknown."""
    key = id_key(identifier)
    u = bundle.identifiers.get(key)
    if u is None and key != identifier:
        u = bundle.identifiers.get(identifier)
    return u


# -- A/B routing -----------------------------------------------------------------------------
def bucket(unit: str, salt: str) -> float:
    """A stable number in [0, 1) for a routing unit (user id) and an experiment salt."""
    h = hashlib.sha256(f"{salt}\x1f{unit}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def choose_variant(bundle: Bundle, unit: str, enabled: bool, share: float, salt: str) -> str:
    """'challenger' for a `share` of units (stable hash), else 'champion' (or the only variant)."""
    names = bundle.variants
    if enabled and "challenger" in names and bucket(unit, salt) < share:
        return "challenger"
    return "champion" if "champion" in names else next(iter(names))


# -- results ---------------------------------------------------------------------------------
@dataclass
class Ranked:
    """A ranked list of item indices with scores and short reasons."""

    items: np.ndarray
    scores: np.ndarray
    reasons: list[str]
    fallback: Fallback | None = None
    conflicts: np.ndarray | None = None  # per item: members whose constraints it breaks
    info: dict[str, object] = field(default_factory=dict)


# -- helpers ---------------------------------------------------------------------------------
def allowed_mask(
    bundle: Bundle, categories: list[int] | None = None, candidates: np.ndarray | None = None
) -> np.ndarray | None:
    """Bool mask of items passing a category filter and a candidate whitelist (None = all)."""
    mask: np.ndarray | None = None
    if categories:
        mask = np.isin(bundle.item_category, np.asarray(categories, np.int32))
    if candidates is not None:
        cand = np.zeros(bundle.n_items, bool)
        cand[np.asarray(candidates, np.int64)] = True
        mask = cand if mask is None else mask & cand
    return mask


def pop_unit(bundle: Bundle) -> np.ndarray:
    """Global popularity scaled into [0, 1) (cached on the bundle)."""
    cached = getattr(bundle, "_pop_unit", None)
    if cached is None:
        p = bundle.popularity.astype(np.float32)
        top = float(p.max(initial=0.0))
        cached = p / np.float32(top * 1.001 + 1e-9) if top > 0 else np.zeros_like(p)
        bundle._pop_unit = cached  # type: ignore[attr-defined]
    return cached  # type: ignore[no-any-return]


def recent_unit(bundle: Bundle, days: float | None) -> np.ndarray:
    """Buyers of each item in the last `days` days, scaled to [0, 1] (cached on the bundle)."""
    cache: dict[float | None, np.ndarray] | None = getattr(bundle, "_recent_unit", None)
    if cache is None:
        cache = {}
        bundle._recent_unit = cache  # type: ignore[attr-defined]
    if days not in cache:
        cache[days] = gr.recent_buyers_unit(bundle.last_purchase_age, days)
    return cache[days]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best finite scores, best first (ties: lower index first)."""
    n = len(scores)
    if n == 0 or k <= 0:
        return np.empty(0, np.int64)
    kk = min(k, n)
    part = np.argpartition(-scores, kk - 1)[:kk] if kk < n else np.arange(n)
    order = np.lexsort((part, -scores[part]))
    idx = part[order]
    return idx[np.isfinite(scores[idx])].astype(np.int64)


def user_scores(bundle: Bundle, variant: Variant, user: int) -> np.ndarray:
    """Model scores of every item for one known user (items the model lacks rank last, by popularity)."""
    if variant.user_vectors is not None:
        assert variant.item_vectors is not None
        s = variant.item_vectors @ variant.user_vectors[user]
        ik = variant.item_known
        if ik is not None and not ik.all():
            floor = float(s[ik].min(initial=0.0)) - 2.0
            s[~ik] = floor + pop_unit(bundle)[~ik]
        return s.astype(np.float32, copy=False)
    assert variant.topm is not None
    t = variant.topm
    lo, hi = t.indptr[user], t.indptr[user + 1]
    idx, val = t.indices[lo:hi], t.data[lo:hi]
    floor = float(val.min(initial=0.0)) - 2.0
    s = floor + pop_unit(bundle)
    s[idx] = val
    return s


def _popular_scores(bundle: Bundle, groups: np.ndarray) -> tuple[np.ndarray, Fallback]:
    """Group popularity (summed over `groups`) with global popularity as tie-break, or global."""
    base = pop_unit(bundle).copy()
    if len(groups):
        gp = bundle.group_popularity[groups].sum(axis=0)
        g = np.asarray(gp, np.float32).ravel()
        if g.max(initial=0.0) > 0:
            return g / np.float32(g.max()) + base * np.float32(0.01), "group_popular"
    return base, "global_popular"


def _purchase_reason(bundle: Bundle, user: int, items: np.ndarray) -> dict[int, str]:
    p, a = bundle.purchases, bundle.last_purchase_age
    lo, hi = p.indptr[user], p.indptr[user + 1]
    if hi == lo:
        return {}
    counts = dict(zip(p.indices[lo:hi].tolist(), p.data[lo:hi].tolist(), strict=True))
    alo, ahi = a.indptr[user], a.indptr[user + 1]
    ages = dict(zip(a.indices[alo:ahi].tolist(), a.data[alo:ahi].tolist(), strict=True))
    out = {}
    for i in items.tolist():
        if i in counts:
            n = int(round(counts[i]))
            age = ages.get(i)
            when = f", last {int(age - 1)} days ago" if age else ""
            out[i] = f"you bought it {n}x{when}"
    return out


def _name(bundle: Bundle, item: int) -> str:
    names = getattr(bundle, "_names", None)
    if names is None:
        col = "name" if "name" in bundle.items.columns else "item_id"
        names = bundle.items[col].astype(str).tolist()
        bundle._names = names  # type: ignore[attr-defined]
    return str(names[item])


def _like_reasons(bundle: Bundle, variant: Variant, user: int, items: np.ndarray) -> dict[int, str]:
    """'like X you bought' from the closest purchased item (vector models only)."""
    if variant.item_unit is None or not len(items):
        return {}
    bought = bundle.bought(user)
    if not len(bought):
        return {}
    if len(bought) > 200:
        p = bundle.purchases
        counts = p.data[p.indptr[user] : p.indptr[user + 1]]
        bought = bought[np.argsort(-counts, kind="stable")[:200]]
    sim = variant.item_unit[items] @ variant.item_unit[bought].T
    sim[items[:, None] == bought[None, :]] = -np.inf
    best = np.argmax(sim, axis=1)
    ok = np.isfinite(sim[np.arange(len(items)), best])
    return {
        int(i): f"like {_name(bundle, int(bought[b]))} you bought"
        for i, b, good in zip(items.tolist(), best.tolist(), ok.tolist(), strict=True)
        if good
    }


# -- per user --------------------------------------------------------------------------------
def rank_user(
    bundle: Bundle,
    variant: Variant,
    user: int | None,
    k: int,
    exclude_bought: bool = False,
    allowed: np.ndarray | None = None,
    context_groups: np.ndarray | None = None,
) -> Ranked:
    """Top-k items for one user: model scores, or group / global popularity as a marked fallback.

    The user's hard constraints are always removed; bought items when `exclude_bought`;
    `allowed` (category filter and candidates) restricts the result.
    """
    fallback: Fallback | None = None
    if user is not None and variant.knows(user):
        s = user_scores(bundle, variant, user).copy()
    else:
        groups = bundle.user_group_list(user) if user is not None else np.empty(0, np.int32)
        if not len(groups) and context_groups is not None:
            groups = context_groups
        s, fallback = _popular_scores(bundle, np.asarray(groups, np.int64))
    if allowed is not None:
        s[~allowed] = NEG
    if user is not None:
        s[bundle.forbidden(user)] = NEG
        if exclude_bought:
            s[bundle.bought(user)] = NEG
    idx = top_k(s, k)
    reasons = _user_reasons(bundle, variant, user, idx, fallback)
    return Ranked(idx, s[idx], reasons, fallback)


def _user_reasons(
    bundle: Bundle, variant: Variant, user: int | None, idx: np.ndarray, fallback: str | None
) -> list[str]:
    if fallback == "group_popular":
        return ["popular in your group"] * len(idx)
    if fallback == "global_popular":
        return ["popular with everyone"] * len(idx)
    assert user is not None
    bought = _purchase_reason(bundle, user, idx)
    rest = np.asarray([i for i in idx.tolist() if i not in bought], np.int64)
    like = _like_reasons(bundle, variant, user, rest)
    kind = variant.info.get("kind", "model")
    return [bought.get(i) or like.get(i) or f"picked for you ({kind})" for i in idx.tolist()]


# -- per group -------------------------------------------------------------------------------
def member_conflicts(bundle: Bundle, members: np.ndarray) -> np.ndarray:
    """Per item: how many of `members` have a hard constraint against it."""
    c = bundle.constraints[members]
    counts = np.bincount(c.indices, minlength=bundle.n_items).astype(np.int32)
    if bundle.extra_constraints:
        for u in members.tolist():
            extra = bundle.extra_constraints.get(u)
            if extra is not None:
                static = bundle.constraints.indices[
                    bundle.constraints.indptr[u] : bundle.constraints.indptr[u + 1]
                ]
                counts[np.setdiff1d(extra, static)] += 1
    return counts


def _vector_stats(variant: Variant, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Member vectors with the mean and sd of their scores over all items (analytic)."""
    assert variant.user_vectors is not None and variant.item_cov is not None
    assert variant.item_mean is not None
    u = variant.user_vectors[users]
    mu = u @ variant.item_mean
    var = ((u @ variant.item_cov) * u).sum(axis=1)
    sd = np.sqrt(np.maximum(var, 0.0)).astype(np.float32) + _EPS
    return u, mu.astype(np.float32), sd


def _aggregate(z: np.ndarray, strategy: str, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Group scores over the pool columns of z (members x pool), or a greedy order for 'fair'."""
    n, p = z.shape
    if strategy == "average":
        return z.mean(axis=0), None
    if strategy == "least_misery":
        return z.min(axis=0), None
    if strategy == "most_pleasure":
        return z.max(axis=0), None
    if strategy == "borda":
        # truncated Borda: each member gives (t - rank) points to their t best pool items
        t = min(BORDA_DEPTH, p)
        order = _top_per_row(z, t)
        gifts = np.tile(np.arange(t, 0, -1, dtype=np.float64), n)
        points = np.bincount(order.ravel(), weights=gifts, minlength=p)
        tie = z.mean(axis=0) * 1e-6
        return (points / n + tie).astype(np.float32), None
    # fair: GFAR (Kaya, Bridge & Tintarev, RecSys 2020) - greedy coverage of every member's top-N
    top_n = min(20, p)
    order = _top_per_row(z, top_n)
    weights = (top_n - np.arange(top_n)).astype(np.float32)
    weights /= weights.sum()
    prel = np.zeros((n, p), np.float32)
    prel[np.arange(n)[:, None], order] = weights[None, :]
    tie = z.mean(axis=0)
    tie = (tie - tie.min()) / (np.ptp(tie) + _EPS) * np.float32(1e-6)
    remaining = np.ones(n, np.float32)
    chosen: list[int] = []
    gains: list[float] = []
    taken = np.zeros(p, bool)
    for _ in range(min(k, p)):
        gain = remaining @ prel + tie
        gain[taken] = -np.inf
        j = int(np.argmax(gain))
        if not np.isfinite(gain[j]):
            break
        chosen.append(j)
        gains.append(float(gain[j]))
        taken[j] = True
        remaining *= 1.0 - prel[:, j]
    score = np.full(p, -np.inf, np.float32)
    score[chosen] = np.asarray(gains, np.float32)
    return score, np.asarray(chosen, np.int64)


def _top_per_row(z: np.ndarray, t: int) -> np.ndarray:
    """Per row, the column indices of its t largest values, best first (linear-time selection)."""
    n, p = z.shape
    if t >= p:
        return np.argsort(-z, axis=1, kind="stable")
    part = np.argpartition(-z, t - 1, axis=1)[:, :t]
    vals = np.take_along_axis(z, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def rank_group(
    bundle: Bundle,
    variant: Variant,
    members: np.ndarray,
    k: int,
    strategy: str = "average",
    constraint_mode: ConstraintMode = "exclude",
    allowed: np.ndarray | None = None,
    pool_size: int = 1000,
    group: int | None = None,
    mix: gr.GroupMix | None = None,
) -> Ranked:
    """Top-k items for a set of members under an aggregation strategy.

    With `mix`, the strategy's score is one part of the group-rebuy mix of
    :mod:`serving.group_rebuy` (the history of `group`, when given, and the members' repeat
    purchases are the others), so the group's staples are not crowded out.

    Each member's scores are standardised (z-scores over the catalogue) before they are
    aggregated. 'average' over vectors is exact over the whole catalogue; the other strategies
    score a pool of the `pool_size` best items by average plus the group's popular items.
    Constraint mode 'exclude' drops any item a member must not get; 'flag' keeps it and
    reports per item how many members it conflicts with.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    members = np.unique(np.asarray(members, np.int64))
    conflicts = member_conflicts(bundle, members)
    ok = np.ones(bundle.n_items, bool) if allowed is None else allowed.copy()
    if constraint_mode == "exclude":
        ok &= conflicts == 0
    known = members[variant.user_known[members]] if variant.user_known is not None else members
    info: dict[str, object] = {"members": int(len(members)), "members_scored": int(len(known))}
    ug = bundle.user_groups
    groups = np.unique(ug[members].indices) if ug is not None and len(members) else np.empty(0)
    if not len(known):
        s: np.ndarray = np.asarray(bundle.purchases[members].sum(axis=0), np.float32).ravel()
        fb: Fallback = "group_popular" if s.max(initial=0.0) > 0 else "global_popular"
        if fb == "global_popular":
            s, fb = _popular_scores(bundle, np.asarray(groups, np.int64))
        else:
            s = s / np.float32(s.max()) + pop_unit(bundle) * np.float32(0.01)
        s[~ok] = NEG
        if mix is not None:
            all_items = np.arange(bundle.n_items)
            return _rebuy(bundle, members, group, all_items, s, ok, k, mix, conflicts, info, fb)
        idx = top_k(s, k)
        reasons = _group_reasons(bundle, members, idx, None, fallback=fb)
        return Ranked(idx, s[idx], reasons, fb, conflicts[idx], info)

    pm = bundle.purchases[members]
    gpop = np.asarray(pm.sum(axis=0), np.float32).ravel()
    if variant.user_vectors is not None:
        assert variant.item_vectors is not None
        u, mu, sd = _vector_stats(variant, known)
        w = (u / sd[:, None]).mean(axis=0)
        avg = variant.item_vectors @ w - np.float32((mu / sd).mean())
        if variant.item_known is not None and not variant.item_known.all():
            avg[~variant.item_known] = float(avg.min(initial=0.0)) - 10.0
        if strategy == "average":
            s = avg.astype(np.float32)
            s[~ok] = NEG
            if mix is not None:
                all_items = np.arange(bundle.n_items)
                return _rebuy(bundle, members, group, all_items, s, ok, k, mix, conflicts, info)
            idx = top_k(s, k)
            info["exact"] = True
            return Ranked(
                idx,
                s[idx],
                _group_reasons(bundle, members, idx, None, purchases=pm),
                None,
                conflicts[idx],
                info,
            )
        pool = _pool(avg, gpop, ok, pool_size)
        z = (u @ variant.item_vectors[pool].T - mu[:, None]) / sd[:, None]
        outside = avg.copy()
        outside[pool] = NEG
        outside[~ok] = NEG
        info["pool"] = int(len(pool))
    else:
        assert variant.topm is not None
        rows = variant.topm[known]
        union = np.unique(rows.indices)
        union = union[ok[union]]
        extra = top_k(np.where(ok, gpop + pop_unit(bundle) * 1e-3, NEG), 100)
        pool = np.union1d(union, extra)
        if len(pool) > max(pool_size, 5 * k):
            votes = np.bincount(rows.indices, minlength=bundle.n_items)[pool]
            pool = pool[top_k(votes.astype(np.float32) + gpop[pool] * 1e-6, pool_size)]
            pool = np.sort(pool)
        z = _topm_z(rows, pool)
        outside = None
        info["pool"] = int(len(pool))
    if not len(pool):
        return Ranked(np.empty(0, np.int64), np.empty(0, np.float32), [], None, None, info)
    score, order = _aggregate(z.astype(np.float32, copy=False), strategy, k)
    if mix is not None:
        return _rebuy(bundle, members, group, pool, score, ok, k, mix, conflicts, info)
    local = top_k(score, k) if order is None else order[:k]
    idx = pool[local]
    if strategy == "least_misery" and outside is not None and len(local):
        # an item outside the pool has min <= average <= the best average left out
        info["exact"] = bool(score[local].min() >= outside.max(initial=-np.inf))
    return Ranked(
        idx,
        score[local].astype(np.float32),
        _group_reasons(bundle, members, idx, z[:, local], purchases=pm),
        None,
        conflicts[idx],
        info,
    )


def _rebuy(
    bundle: Bundle,
    members: np.ndarray,
    group: int | None,
    pool: np.ndarray,
    pool_scores: np.ndarray,
    ok: np.ndarray,
    k: int,
    mix: gr.GroupMix,
    conflicts: np.ndarray,
    info: dict[str, object],
    fallback: Fallback | None = None,
) -> Ranked:
    """The group-rebuy mix over the whole catalogue; the strategy's pool scores are its C part."""
    n, hl = bundle.n_items, mix.half_life_days
    collab = gr.rank_unit(pool, pool_scores, n)
    gh, ga = bundle.group_history, bundle.group_history_age
    if group is not None and gh is not None and group < gh.shape[0]:
        hist = gr.history_unit(gh[[group]], ga[[group]] if ga is not None else None, hl, n)
    else:
        hist = np.zeros(n, np.float32)
    rep = gr.member_repeat_unit(bundle.purchases[members], bundle.last_purchase_age[members], hl, n)
    popular = recent_unit(bundle, mix.recent_days) if mix.popularity else None
    s = gr.mix_scores(collab, hist, rep, pop_unit(bundle), mix, popular)
    s[~ok] = NEG
    idx = gr.capped_top_k(s, k, bundle.item_category, mix.category_cap)
    info["mix"] = mix.label()
    info.pop("exact", None)
    reasons = _group_reasons(bundle, members, idx, None, fallback=fallback)
    if group is not None and gh is not None and group < gh.shape[0]:
        row = gh[group]
        times = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        reasons = [
            f"the group bought it {int(times[i])}x; {r}" if i in times else r
            for i, r in zip(idx.tolist(), reasons, strict=True)
        ]
    return Ranked(idx, s[idx], reasons, fallback, conflicts[idx], info)


def _pool(avg: np.ndarray, gpop: np.ndarray, ok: np.ndarray, size: int) -> np.ndarray:
    s = np.where(ok, avg, NEG)
    best = top_k(s, size)
    popular = top_k(np.where(ok, gpop, NEG), max(20, size // 10))
    popular = popular[gpop[popular] > 0]
    return np.union1d(best, popular).astype(np.int64)


def _topm_z(rows: object, pool: np.ndarray) -> np.ndarray:
    """Members x pool standardised scores from sparse top-M rows (missing = below the member's list).

    Vectorised over all members (one pass over the non-zeros): a per-member Python loop
    took ~150 ms for a 450-member group with top-200 lists and blocked the server.
    """
    import scipy.sparse as sp

    r = sp.csr_matrix(rows)
    n = r.shape[0]
    counts = np.diff(r.indptr)
    row = np.repeat(np.arange(n), counts)
    vals = r.data.astype(np.float64)
    has = counts > 0
    denom = np.maximum(counts, 1)
    mean = np.bincount(row, vals, minlength=n) / denom
    var = np.maximum(np.bincount(row, vals * vals, minlength=n) / denom - mean * mean, 0.0)
    sd = np.where(has, np.sqrt(var) + 1e-6, 1.0)
    low = np.zeros(n)
    if len(vals):
        starts = r.indptr[:-1][has]
        low[has] = np.minimum(np.minimum.reduceat(vals, starts), 0.0)
    floor = (low - mean) / sd - 1.0
    z = np.repeat(floor.astype(np.float32)[:, None], len(pool), axis=1)
    lut = np.full(max(int(r.shape[1]), int(pool.max(initial=-1)) + 1), -1, np.int64)
    lut[pool] = np.arange(len(pool))
    j = lut[r.indices]
    hit = j >= 0
    rh = row[hit]
    z[rh, j[hit]] = ((vals[hit] - mean[rh]) / sd[rh]).astype(np.float32)
    return z


def _group_reasons(
    bundle: Bundle,
    members: np.ndarray,
    idx: np.ndarray,
    z: np.ndarray | None,
    fallback: str | None = None,
    purchases: object | None = None,
) -> list[str]:
    if not len(idx):
        return []
    pm = bundle.purchases[members] if purchases is None else purchases
    bought_by = np.asarray((pm[:, idx] > 0).sum(axis=0)).ravel()  # type: ignore[index]
    n = len(members)
    out = []
    for j in range(len(idx)):
        parts = []
        if bought_by[j]:
            parts.append(f"bought by {int(bought_by[j])} of {n} members")
        if z is not None and z.shape[0]:
            fans = int((z[:, j] > 1.0).sum())
            if fans:
                parts.append(f"a top pick for {fans}")
        if not parts:
            parts.append("popular overall" if fallback == "global_popular" else "fits the group")
        out.append("; ".join(parts))
    return out


# -- similar items ---------------------------------------------------------------------------
def similar_items(
    bundle: Bundle,
    variant: Variant,
    item: int,
    k: int,
    user: int | None = None,
    allowed: np.ndarray | None = None,
) -> Ranked:
    """Items like `item`: cosine of item vectors, else co-purchase neighbours, else same category."""
    s: np.ndarray
    reason: str
    fallback: Fallback | None = None
    if variant.item_unit is not None and (variant.item_known is None or variant.item_known[item]):
        s = variant.item_unit @ variant.item_unit[item]
        if variant.item_known is not None:
            s[~variant.item_known] = NEG
        reason = "liked by the same people"
    else:
        nb = bundle.item_neighbours
        lo, hi = nb.indptr[item], nb.indptr[item + 1]
        s = np.full(bundle.n_items, NEG, np.float32)
        if hi > lo:
            s[nb.indices[lo:hi]] = nb.data[lo:hi]
            reason = "often bought together"
        else:
            same = bundle.item_category == bundle.item_category[item]
            s = np.where(same, pop_unit(bundle), NEG).astype(np.float32)
            reason = "popular in the same category"
            fallback = "global_popular"
    s = s.astype(np.float32, copy=True)
    s[item] = NEG
    if allowed is not None:
        s[~allowed] = NEG
    if user is not None:
        s[bundle.forbidden(user)] = NEG
    idx = top_k(s, k)
    return Ranked(idx, s[idx], [reason] * len(idx), fallback)
