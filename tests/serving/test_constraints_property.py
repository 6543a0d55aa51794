"""Property: for random users given random hard constraints, no endpoint that returns items breaks one.

Runs every item-returning endpoint of :class:`serving.engine.Engine` (the code behind the
HTTP API) with both A/B variants; the HTTP layer itself is checked on the world's own
constrained users in tests/test_service_http.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_world import shared_bundle

from serving import schemas as s
from serving.artifacts import load_bundle
from serving.engine import Engine
from training.settings import Settings


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    bundle = load_bundle(shared_bundle(tmp_path_factory.getbasetemp()))
    work = tmp_path_factory.mktemp("prop")
    cfg = Settings(
        work_dir=work,
        serving={"experiment": {"enabled": True, "challenger_share": 0.5, "salt": "p"}},
    )
    return Engine(cfg, bundle=bundle)


def _identifiers(engine: Engine, user: int) -> list[str]:
    b = engine.bundle
    assert b is not None
    return [k for k, u in b.identifiers.items() if u == user]


def _ids(items: list[s.ItemOut]) -> set[str]:
    return {i.item_id for i in items}


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.slow
@given(data=st.data())
def test_no_endpoint_returns_a_forbidden_item(engine: Engine, data: st.DataObject) -> None:
    b = engine.bundle
    assert b is not None
    user = data.draw(st.integers(0, b.n_users - 1), label="user")
    extra = data.draw(
        st.lists(st.integers(0, b.n_items - 1), max_size=b.n_items // 2, unique=True),
        label="forbidden items",
    )
    b.extra_constraints[user] = np.asarray(extra, np.int64)
    try:
        forbidden = {str(b.items["item_id"].iloc[i]) for i in b.forbidden(user).tolist()}
        ident = data.draw(st.sampled_from(_identifiers(engine, user)), label="identifier")
        k = data.draw(st.integers(1, 60), label="k")
        cats = data.draw(
            st.none() | st.lists(st.sampled_from(list(map(str, b.categories))), max_size=3),
            label="categories",
        )

        r = engine.rank_user(
            s.RankUserRequest(
                user=ident, k=k, categories=cats or None, exclude_bought=data.draw(st.booleans())
            )
        )
        assert not _ids(r.items) & forbidden, "rank_user"

        item = str(b.items["item_id"].iloc[data.draw(st.integers(0, b.n_items - 1))])
        r2 = engine.similar(s.SimilarRequest(item_id=item, k=k, user=ident))
        assert not _ids(r2.items) & forbidden, "similar"

        seeds = data.draw(st.none() | st.sampled_from([["fruit-1"], ["meat-0"], ["veg-2"]]))
        bundles = engine.bundles(s.BundlesRequest(items=seeds, user=ident, k=5))
        for bd in bundles.bundles:
            assert not {i.item_id for i in bd.items} & forbidden, "bundles"

        others = data.draw(st.lists(st.integers(0, b.n_users - 1), max_size=30), label="others")
        members = [ident, *(str(b.users[o]) for o in others)]
        strategy = data.draw(
            st.sampled_from(["average", "least_misery", "most_pleasure", "borda", "fair"])
        )
        g = engine.rank_group(s.RankGroupRequest(users=members, k=k, strategy=strategy))
        assert not _ids(g.items) & forbidden, f"rank_group {strategy}"
        flagged = engine.rank_group(
            s.RankGroupRequest(users=members, k=k, strategy=strategy, constraint_mode="flag")
        )
        for it in flagged.items:  # flag mode may show it to the group, but must count the conflict
            if it.item_id in forbidden:
                assert it.conflicts and it.conflicts >= 1

        groups = b.user_group_list(user)
        if len(groups):
            gid = str(b.groups["group_id"].iloc[int(groups[0])])
            plan = engine.live_plan(s.LivePlanRequest(group_id=gid, k=k, audience_n=50, koc_n=0))
            assert not _ids(plan.items) & forbidden, "live plan items"
            if plan.bundle is not None:
                assert not {i.item_id for i in plan.bundle.items} & forbidden, "live plan bundle"
            assert str(b.users[user]) not in {
                a.user_id for a in plan.audience if set(plan.theme.items) & forbidden
            }

        if extra:
            theme_item = str(b.items["item_id"].iloc[extra[0]])
            aud = engine.audience(
                s.AudienceRequest(theme=s.ThemeSpec(items=[theme_item]), n=b.n_users)
            )
            assert str(b.users[user]) not in {a.user_id for a in aud.audience}, "audience"
    finally:
        b.extra_constraints.clear()


def test_the_world_has_constrained_users(engine: Engine) -> None:
    """The property above is not vacuous: the static bundle carries allergy constraints."""
    b = engine.bundle
    assert b is not None
    assert b.constraints.nnz > 50
    tags = set(b.constraint_tags["tag"].astype(str))
    assert {"allergy:mango", "avoid:seafood"} <= tags


@pytest.mark.slow  # reads the exposures the (slow) property test above logged
def test_exposures_were_logged(engine: Engine) -> None:
    files = list(Path(engine.exposures.folder).glob("exposures-*.jsonl"))
    assert files
