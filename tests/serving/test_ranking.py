"""Pure ranking over a small exported bundle: filters, fallbacks, group strategies vs brute force."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_world import shared_bundle

from features.identity import id_keys
from serving import artifacts as art
from serving import matching, ranking
from serving.exposures import ExposureLog, read_exposures


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def b(bundle_dir: Path) -> art.Bundle:
    return art.load_bundle(bundle_dir)


def _constrained_user(b: art.Bundle) -> int:
    return int(b.constraint_tags[art.USER].iloc[0])


# -- bundle --------------------------------------------------------------------------------------
def test_bundle_holds_both_variants_and_every_identifier(b: art.Bundle) -> None:
    assert set(b.variants) == {"champion", "challenger"}
    assert b.variants["champion"].kind == "vectors"
    assert b.variants["challenger"].kind == "topm"
    assert b.variants["champion"].info["version"] == "1"
    # phone +86 139-0000-0003 was linked to wecom:w3: both resolve to the same person
    assert ranking.resolve_user(b, "phone:+86 139-0000-0003") == ranking.resolve_user(b, "wecom:w3")
    assert ranking.resolve_user(b, "openid:o-4") == ranking.resolve_user(b, "wecom:w4")
    assert ranking.resolve_user(b, "wecom:nobody") is None


def test_broken_bundle_is_rejected_with_the_file_named(bundle_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(bundle_dir, broken)
    (broken / art.POPULARITY).unlink()
    with pytest.raises(art.BundleError, match="popularity.npy"):
        art.load_bundle(broken)
    shutil.rmtree(broken)
    shutil.copytree(bundle_dir, broken)
    np.save(broken / art.VARIANTS_DIR / "champion" / art.ITEM_VECTORS, np.zeros((3, 8), np.float32))
    with pytest.raises(art.BundleError, match="champion"):
        art.load_bundle(broken)
    with pytest.raises(art.BundleError, match="no artifact bundle"):
        art.load_bundle(tmp_path / "missing")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["phone", "PHONE ", "wecom", "openid", "member_card", "x"]),
    st.text(alphabet="0123456789+-() abc长", min_size=1, max_size=20),
)
def test_id_key_matches_the_feature_job(id_type: str, value: str) -> None:
    expected = id_keys(pd.Series([id_type]), pd.Series([value])).iloc[0]
    assert ranking.id_key(f"{id_type}:{value}") == expected


# -- per user ------------------------------------------------------------------------------------
def test_user_ranking_is_sorted_bounded_and_safe(b: art.Bundle) -> None:
    u = _constrained_user(b)
    for v in b.variants.values():
        r = ranking.rank_user(b, v, u, 10)
        assert r.fallback is None
        assert len(r.items) == len(set(r.items.tolist())) <= 10
        assert np.all(np.diff(r.scores) <= 1e-6)
        assert not set(r.items.tolist()) & set(b.forbidden(u).tolist())
        assert all(r.reasons)


def test_exclude_bought_category_and_candidates(b: art.Bundle) -> None:
    v = b.variants["champion"]
    u = next(i for i in range(b.n_users) if len(b.bought(i)) >= 3 and v.knows(i))
    bought = set(b.bought(u).tolist())
    r = ranking.rank_user(b, v, u, 50, exclude_bought=True)
    assert not bought & set(r.items.tolist())
    fruit = int(np.flatnonzero(b.categories == "fruit")[0])
    r = ranking.rank_user(b, v, u, 50, allowed=ranking.allowed_mask(b, [fruit]))
    assert len(r.items) and (b.item_category[r.items] == fruit).all()
    cand = np.asarray([0, 1, 2], np.int64)
    r = ranking.rank_user(b, v, u, 50, allowed=ranking.allowed_mask(b, None, cand))
    assert set(r.items.tolist()) <= {0, 1, 2}


def test_unknown_and_cold_users_get_marked_fallbacks(b: art.Bundle) -> None:
    v = b.variants["champion"]
    r = ranking.rank_user(b, v, None, 5)
    assert r.fallback == "global_popular" and len(r.items) == 5
    g = np.asarray([b.group_index["g2"]])
    r = ranking.rank_user(b, v, None, 5, context_groups=g)
    assert r.fallback == "group_popular"
    cold = [u for u in range(b.n_users) if not v.knows(u) and len(b.user_group_list(u))]
    assert cold, "the world has people who never bought"
    r = ranking.rank_user(b, v, cold[0], 5)
    assert r.fallback == "group_popular"
    assert not set(r.items.tolist()) & set(b.forbidden(cold[0]).tolist())


def test_runtime_constraints_apply_at_once(b: art.Bundle) -> None:
    v = b.variants["champion"]
    u = next(i for i in range(b.n_users) if v.knows(i))
    top = ranking.rank_user(b, v, u, 3).items
    b.extra_constraints[u] = top[:1].copy()
    try:
        assert top[0] not in ranking.rank_user(b, v, u, 3).items
    finally:
        b.extra_constraints.clear()


# -- per group -----------------------------------------------------------------------------------
def _brute_z(b: art.Bundle, v: art.Variant, members: np.ndarray) -> np.ndarray:
    s = v.user_vectors[members] @ v.item_vectors.T
    return (s - s.mean(axis=1, keepdims=True)) / (s.std(axis=1, keepdims=True) + 1e-6)


@pytest.mark.parametrize("strategy", ranking.STRATEGIES)
@pytest.mark.parametrize("mode", ["exclude", "flag"])
def test_group_strategies_match_brute_force(b: art.Bundle, strategy: str, mode: str) -> None:
    v = b.variants["champion"]
    members = b.members(b.group_index["g1"]).astype(np.int64)
    r = ranking.rank_group(b, v, members, 8, strategy, mode)  # type: ignore[arg-type]
    conflicts = np.zeros(b.n_items, int)
    for m in members:
        conflicts[b.forbidden(int(m))] += 1
    assert len(r.items) == len(set(r.items.tolist())) <= 8
    assert r.conflicts is not None
    assert (r.conflicts == conflicts[r.items]).all()
    if mode == "exclude":
        assert (conflicts[r.items] == 0).all()
    known = members[v.user_known[members]]
    z = _brute_z(b, v, known)
    ok = (conflicts == 0) if mode == "exclude" else np.ones(b.n_items, bool)
    if strategy in ("average", "least_misery", "most_pleasure"):
        agg = {"average": z.mean(0), "least_misery": z.min(0), "most_pleasure": z.max(0)}[strategy]
        agg = np.where(ok, agg, -np.inf)
        expected = np.argsort(-agg, kind="stable")[:8]
        # the catalogue is smaller than the pool, so every strategy is exact here
        assert np.allclose(np.sort(agg[r.items]), np.sort(agg[expected]), atol=1e-3)
    elif strategy == "borda":
        assert np.all(np.diff(r.scores) <= 1e-6)
    else:  # fair: every pick adds coverage; the first pick is the best-covered item
        assert len(r.items) == 8


def test_fair_strategy_serves_the_minority(b: art.Bundle) -> None:
    """Two camps with different tastes: the fair list covers the smaller camp, average may not."""
    v = b.variants["champion"]
    known = np.flatnonzero(v.user_known)
    s = v.user_vectors[known] @ v.item_vectors.T
    fav = s.argmax(axis=1)
    counts = np.bincount(fav, minlength=b.n_items)
    a, c = np.argsort(-counts)[:2]
    camp_a, camp_c = known[fav == a][:12], known[fav == c][:3]
    members = np.concatenate([camp_a, camp_c])
    r = ranking.rank_group(b, v, members, 5, "fair", "flag")
    z = _brute_z(b, v, camp_c)
    best_for_c = set(np.argsort(-z.mean(0))[:10].tolist())
    assert best_for_c & set(r.items.tolist())


def test_group_ranking_over_topm_variant_and_unknown_members(b: art.Bundle) -> None:
    v = b.variants["challenger"]
    members = b.members(b.group_index["g3"]).astype(np.int64)
    for strategy in ranking.STRATEGIES:
        r = ranking.rank_group(b, v, members, 6, strategy)
        assert 0 < len(r.items) <= 6
        assert r.conflicts is not None and (r.conflicts == 0).all()
    cold = np.asarray([u for u in range(b.n_users) if not v.knows(u)][:3], np.int64)
    r = ranking.rank_group(b, v, cold, 5)
    assert r.fallback in ("group_popular", "global_popular")


# -- items, audience, routing, exposures -----------------------------------------------------------
def test_similar_items_exclude_self_and_user_constraints(b: art.Bundle) -> None:
    u = _constrained_user(b)
    for v in b.variants.values():
        for item in range(0, b.n_items, 5):
            r = ranking.similar_items(b, v, item, 10, user=u)
            assert item not in r.items
            assert not set(r.items.tolist()) & set(b.forbidden(u).tolist())


def test_audience_leaves_out_constrained_users(b: art.Bundle) -> None:
    mango = b.item_index["fruit-0"]
    theme = matching.Theme(name="mango", items=np.asarray([mango]), keywords=["减脂餐"])
    for v in b.variants.values():
        df, info = matching.audience(b, v, theme, 500)
        users = [ranking.resolve_user(b, u) for u in df["user_id"]]
        assert all(mango not in b.forbidden(u) for u in users if u is not None)
        assert info["excluded_by_constraints"] > 0
        assert (df["reasons"].str.len() > 0).all()


def test_audience_puts_the_given_users_with_a_signal_before_everyone_else(b: art.Bundle) -> None:
    theme = matching.Theme(name="fruit", items=np.asarray([b.item_index["fruit-0"]]), keywords=[])
    v = b.variants["champion"]
    everyone, _ = matching.audience(b, v, theme, b.n_users)
    ranked = [ranking.resolve_user(b, u) for u in everyone["user_id"]]
    group = np.asarray(ranked[-40:] + [u for u in range(b.n_users) if u not in ranked][:10])
    n = 30
    df, _ = matching.audience(b, v, theme, n, first=group)
    rows = [ranking.resolve_user(b, u) for u in df["user_id"]]
    qualified = [u for u in ranked if u in set(group.tolist())]  # a signal and no conflict
    assert rows[:n] == qualified[:n]  # the group's qualified members, in score order, first
    df, _ = matching.audience(b, v, theme, 60, first=group)
    rows = [ranking.resolve_user(b, u) for u in df["user_id"]]
    assert rows[:40] == qualified and len(rows) == 60  # then everyone else, by score
    assert rows[40:] == [u for u in ranked if u not in set(group.tolist())][:20]


def test_variant_routing_is_stable_and_proportional(b: art.Bundle) -> None:
    picks = [ranking.choose_variant(b, f"wecom:w{i}", True, 0.3, "s1") for i in range(2000)]
    share = np.mean([p == "challenger" for p in picks])
    assert 0.25 < share < 0.35
    again = [ranking.choose_variant(b, f"wecom:w{i}", True, 0.3, "s1") for i in range(2000)]
    assert picks == again
    assert ranking.choose_variant(b, "wecom:w1", False, 1.0, "s1") == "champion"


def test_exposure_log_is_append_only_jsonl(tmp_path: Path) -> None:
    log = ExposureLog(tmp_path)
    for i in range(3):
        log.write({"request_id": f"r{i}", "user_id": "u", "variant": "champion", "items": ["a"]})
    log.close()
    files = list(tmp_path.glob("exposures-*.jsonl"))
    assert len(files) == 1
    with files[0].open("a") as fh:
        fh.write('{"torn": ')  # a crashed writer's last line is skipped, not fatal
    df = read_exposures(tmp_path)
    assert df["request_id"].tolist() == ["r0", "r1", "r2"]
    assert df["ts"].dt.tz is not None
    assert json.loads(files[0].read_text().splitlines()[0])["items"] == ["a"]


def test_the_server_imports_no_training_code() -> None:
    """serving must not load training code: mlflow, optuna, implicit, lightfm stay out."""
    import subprocess
    import sys

    code = (
        "import sys, serving.service\n"
        "bad = [m for m in ('mlflow', 'optuna', 'implicit', 'lightfm', 'training', 'sklearn')\n"
        "       if any(k == m or k.startswith(m + '.') for k in sys.modules)]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == ""
