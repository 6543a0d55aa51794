"""Group ranking that knows groups rebuy: the pure mix, then rank_group over a real bundle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from serving_world import shared_bundle

from serving import artifacts as art
from serving import group_rebuy as gr
from serving import ranking


@pytest.fixture(scope="module")
def b(tmp_path_factory: pytest.TempPathFactory) -> art.Bundle:
    return art.load_bundle(shared_bundle(tmp_path_factory.getbasetemp()))


# -- pure parts ------------------------------------------------------------------------------
def test_decay_and_units() -> None:
    counts = sp.csr_matrix(np.array([[4.0, 0.0, 1.0], [0.0, 2.0, 2.0]], np.float32))
    ages = sp.csr_matrix(np.array([[31.0, 0.0, 1.0], [0.0, 1.0, 61.0]], np.float32))
    decayed = gr.decayed_counts(counts, ages, 30.0).toarray()
    assert np.allclose(decayed, [[2.0, 0.0, 1.0], [0.0, 2.0, 0.5]])
    assert np.allclose(gr.decayed_counts(counts, ages, None).toarray(), counts.toarray())
    h = gr.history_unit(counts[[0]], ages[[0]], 30.0, 3)
    assert np.allclose(h, [1.0, 0.0, 0.5])
    m = gr.member_repeat_unit(counts, ages, 30.0, 3)  # each member scaled to 1, then averaged
    assert np.allclose(m, [(1.0 + 0.0) / 2, (0.0 + 1.0) / 2, (0.5 + 0.25) / 2])


def test_recent_buyers_and_the_popularity_part() -> None:
    # 3 users x 3 items, days since the last purchase + 1 (0 = never)
    ages = sp.csr_matrix(np.array([[1.0, 40.0, 0.0], [3.0, 50.0, 0.0], [0.0, 60.0, 2.0]]))
    assert np.allclose(gr.recent_buyers_unit(ages, 14.0), [1.0, 0.0, 0.5])
    assert np.allclose(gr.recent_buyers_unit(ages, None), [2 / 3, 1.0, 1 / 3])
    zero = np.zeros(3, np.float32)
    pop = np.array([0.1, 0.9, 0.0], np.float32)
    mix = gr.GroupMix(history=0.0, members=0.0, popularity=0.5, recent_days=14.0)
    recent = gr.recent_buyers_unit(ages, 14.0)
    collab = np.array([0.0, 0.0, 0.4], np.float32)
    s = gr.mix_scores(collab, zero, zero, pop, mix, recent)
    assert np.allclose(s, 0.5 * recent + 0.5 * collab + 1e-3 * pop)
    assert int(np.argmax(s)) == 0  # bought lately by two of three beats the collaborative pick
    assert "popularity 0.5 (last 14d)" in mix.label() and mix.collaborative == 0.5
    with pytest.raises(ValueError):
        gr.GroupMix(history=0.5, members=0.3, popularity=0.3)
    with pytest.raises(ValueError):
        gr.GroupMix(popularity=0.2, recent_days=0.0)


def test_capped_top_k_matches_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    for t in range(300):
        n = int(rng.integers(1, 300))
        s = rng.integers(0, 4, n).astype(np.float32)  # many ties
        s[rng.random(n) < 0.2] = -np.inf
        cats = rng.integers(0, int(rng.integers(1, 5)), n)
        k, cap = int(rng.integers(1, 25)), [None, 1, 2][t % 3]
        finite = np.flatnonzero(np.isfinite(s))
        order = finite[np.lexsort((finite, -s[finite]))]  # best first, ties to the lower index
        got = gr.capped_top_k(s, k, cats, cap)
        assert len(got) == min(k, len(order)) and len(set(got.tolist())) == len(got)
        if cap is None:
            assert got.tolist() == order[:k].tolist()
        else:
            per = np.bincount(cats[got], minlength=cats.max() + 1)
            room = sum(min(cap, int((cats[order] == c).sum())) for c in range(cats.max() + 1))
            assert per.max() <= cap or len(got) > room  # over the cap only once it ran out
            assert got[0] == order[0]


def test_rank_unit_and_cap() -> None:
    u = gr.rank_unit(np.array([0, 2, 3]), np.array([0.1, 0.9, -np.inf], np.float32), 5)
    assert u[2] == 1.0 and 0 < u[0] < 1 and u[1] == u[3] == u[4] == 0.0
    scores = np.array([9, 8, 7, 6, 5, 4], np.float32)
    cats = np.array([0, 0, 0, 1, 1, 2])
    assert gr.capped_top_k(scores, 4, cats, None).tolist() == [0, 1, 2, 3]
    top = gr.capped_top_k(scores, 4, cats, 1)
    assert top.tolist()[:3] == [0, 3, 5] and len(top) == 4  # filled once categories run out
    with pytest.raises(ValueError):
        gr.GroupMix(history=0.8, members=0.5)


# -- over a bundle ---------------------------------------------------------------------------
def _with_history(b: art.Bundle, group: int, item: int, count: float) -> art.Bundle:
    gh = b.group_history.tolil(copy=True)  # type: ignore[union-attr]
    ga = b.group_history_age.tolil(copy=True)  # type: ignore[union-attr]
    gh[group, item] = count
    ga[group, item] = 2.0
    return dataclasses.replace(b, group_history=gh.tocsr(), group_history_age=ga.tocsr())


def test_bundle_carries_the_group_history(b: art.Bundle) -> None:
    assert b.group_history is not None and b.group_history.shape == (len(b.groups), b.n_items)
    assert b.group_history.nnz > 0  # the world's orders carry their group_id
    assert b.group_history_age is not None and (b.group_history_age.data >= 1).all()


@pytest.mark.parametrize("variant", ["champion", "challenger"])
def test_a_groups_staple_is_not_crowded_out(b: art.Bundle, variant: str) -> None:
    v = b.variants[variant]
    g = b.group_index["g1"]
    members = b.members(g).astype(np.int64)
    plain = ranking.rank_group(b, v, members, 5, "average")
    conflicts = ranking.member_conflicts(b, members)
    staple = next(
        i
        for i in np.argsort(b.popularity, kind="stable").tolist()
        if conflicts[i] == 0 and i not in plain.items
    )
    bb = _with_history(b, g, staple, 50.0)
    heavy = gr.GroupMix(history=0.6, members=0.2)  # history outweighs the strategy
    mixed = ranking.rank_group(bb, v, members, 5, "average", group=g, mix=heavy)
    assert staple in mixed.items.tolist()
    assert staple not in ranking.rank_group(bb, v, members, 5, "average").items.tolist()
    reason = mixed.reasons[mixed.items.tolist().index(staple)]
    assert reason.startswith("the group bought it 50x")
    assert mixed.info["mix"] == heavy.label()
    # the default mix: the same staple climbs once the group's history holds it
    n = b.n_items
    before = ranking.rank_group(b, v, members, n, "average", group=g, mix=gr.DEFAULT_MIX)
    after = ranking.rank_group(bb, v, members, n, "average", group=g, mix=gr.DEFAULT_MIX)
    assert after.items.tolist().index(staple) < before.items.tolist().index(staple)
    assert after.info["mix"] == gr.DEFAULT_MIX.label()


def test_constraints_hold_even_for_a_staple(b: art.Bundle) -> None:
    v = b.variants["champion"]
    g = b.group_index["g1"]
    members = b.members(g).astype(np.int64)
    conflicts = ranking.member_conflicts(b, members)
    banned = int(np.flatnonzero(conflicts)[0])
    bb = _with_history(b, g, banned, 1000.0)
    for strategy in ranking.STRATEGIES:
        r = ranking.rank_group(bb, v, members, 10, strategy, group=g, mix=gr.DEFAULT_MIX)
        assert banned not in r.items.tolist() and (conflicts[r.items] == 0).all()
        assert 0 < len(r.items) == len(set(r.items.tolist())) <= 10
    f = ranking.rank_group(bb, v, members, 10, "average", "flag", group=g, mix=gr.DEFAULT_MIX)
    assert banned in f.items.tolist()
    assert f.conflicts is not None and f.conflicts[f.items.tolist().index(banned)] > 0


def test_category_cap_and_cold_members(b: art.Bundle) -> None:
    v = b.variants["challenger"]
    g = b.group_index["g2"]
    members = b.members(g).astype(np.int64)
    capped = dataclasses.replace(gr.DEFAULT_MIX, category_cap=2)
    r = ranking.rank_group(b, v, members, 8, "borda", group=g, mix=capped)
    counts = np.bincount(b.item_category[r.items])
    assert len(r.items) == 8 and counts.max() <= max(2, int(np.ceil(8 / len(counts))))
    cold = np.asarray([u for u in range(b.n_users) if not v.knows(u)][:3], np.int64)
    r = ranking.rank_group(b, v, cold, 5, group=None, mix=gr.DEFAULT_MIX)
    assert r.fallback in ("group_popular", "global_popular") and len(r.items) == 5


def test_old_bundles_without_group_history_still_load(b: art.Bundle, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(b.path, copy)
    (copy / art.GROUP_HISTORY).unlink()
    (copy / art.GROUP_HISTORY_AGE).unlink()
    old = art.load_bundle(copy)
    assert old.group_history is not None and old.group_history.nnz == 0
    g = old.group_index["g1"]
    r = ranking.rank_group(
        old, old.variants["champion"], old.members(g), 5, group=g, mix=gr.DEFAULT_MIX
    )
    assert len(r.items) == 5
