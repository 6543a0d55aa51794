"""Model tests: one contract class run against every registered kind, plus per-model behaviour.

The synthetic world has two blocks: users 0-14 buy only items 0-9, users 15-29 only items
10-19, each from a personal subset of 6 in-block items with one favourite bought in every
basket. Two cold users (with a block tag only) and one cold item exist in the id maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.engine.frames import interactions_of_events
from features.matrix import (
    BasketCol,
    IdMap,
    Interactions,
    attach_groups,
    hold_out_last_baskets,
    one_hot,
)
from features.schema import Col
from training.models import REGISTRY, Recommender, build_model, model_class, top_k
from training.models.blend import RepeatBlend

N_USERS, N_ITEMS, BLOCK_USERS, BLOCK_ITEMS = 30, 20, 15, 10
COLD_USERS = (30, 31)  # in the id map, no events; tag block A / block B
COLD_ITEM = 20
N_BASKETS = 5
SNAPSHOT = pd.Timestamp("2026-03-01T00:00:00+08:00")

# small settings so the whole file stays fast; kinds absent here use their defaults
PARAMS: dict[str, dict[str, object]] = {
    "itemknn": {"neighbours": 10},
    "als": {"factors": 4, "iterations": 15, "regularization": 0.1},
    "bpr": {"factors": 8, "iterations": 150, "learning_rate": 0.05},
    "lightfm": {"no_components": 8, "epochs": 30, "learning_rate": 0.05},
    "tifuknn": {"neighbours": 5, "group_size": 3},
    "blend": {
        "base": "itemknn",
        "base_params": {"neighbours": 10},
        "weights": (0.0, 0.5, 1.0),
        "half_lives": (None, 7.0),
        "base_shares": (0.5, 1.0),  # keep the base in play so the block check means something
        "tune_k": 2,  # at k=10 every mix recalls the whole tiny basket
    },
}
ALL_KINDS = sorted(REGISTRY)
COLLABORATIVE = {"itemknn", "als", "bpr", "lightfm", "tifuknn", "blend", "group_popularity"}
PERSONAL = {"repeat", "p_topfreq", "gp_topfreq", "blend", "tifuknn"}


def user_block(u: np.ndarray | int) -> np.ndarray:
    """Block of users (cold users: by their tag)."""
    u = np.asarray(u)
    return np.where(u >= N_USERS, u - N_USERS, u // BLOCK_USERS)


def item_block(i: np.ndarray | int) -> np.ndarray:
    """Block of items (the cold item: -1)."""
    i = np.asarray(i)
    return np.where(i >= N_ITEMS, -1, i // BLOCK_ITEMS)


def _events(seed: int = 7) -> tuple[pd.DataFrame, dict[int, int]]:
    """Order events of the two-block world and each user's favourite item."""
    rng = np.random.default_rng(seed)
    rows, favourite = [], {}
    for u in range(N_USERS):
        b = u // BLOCK_USERS
        liked = rng.choice(np.arange(b * BLOCK_ITEMS, (b + 1) * BLOCK_ITEMS), 6, replace=False)
        favourite[u] = int(liked[0])
        for k in range(N_BASKETS):
            basket = {liked[0], *rng.choice(liked[1:], 2, replace=False)}
            ts = SNAPSHOT - pd.Timedelta(days=3 * (N_BASKETS - k) + u % 3)
            rows += [(f"u{u:02d}", f"i{i:02d}", f"o{u}-{k}", ts, "order") for i in sorted(basket)]
    ev = pd.DataFrame(
        rows, columns=[Col.USER_ID, Col.ITEM_ID, Col.ORDER_ID, Col.TS, Col.EVENT_TYPE]
    )
    views = ev.iloc[::7].assign(**{Col.EVENT_TYPE: "view", Col.ORDER_ID: None})
    return pd.concat([ev, views], ignore_index=True), favourite


def make_world() -> tuple[Interactions, dict[int, int]]:
    """The synthetic interactions (with baskets, groups, side features) and favourites."""
    events, favourite = _events()
    users = IdMap.from_values([f"u{u:02d}" for u in range(N_USERS + len(COLD_USERS))])
    items = IdMap.from_values([f"i{i:02d}" for i in range(N_ITEMS + 1)])
    inter = interactions_of_events(
        events, users, items, {"order": 1.0, "view": 0.2}, half_life_days=30.0, snapshot=SNAPSHOT
    )
    uid = users.ids
    tags = pd.Series(np.where(user_block(np.arange(len(uid))) == 0, "A", "B"))
    inter.user_features, inter.user_feature_names = one_hot(uid, users, tags, "block=")
    iid = items.ids[:N_ITEMS]
    cats = pd.Series(np.where(item_block(np.arange(N_ITEMS)) == 0, "A", "B"))
    inter.item_features, inter.item_feature_names = one_hot(iid, items, cats, "cat=")
    grouped = [u for u in range(N_USERS) if u not in (14, 29)]  # two users without a group
    members = pd.DataFrame(
        {
            Col.USER_ID: [f"u{u:02d}" for u in grouped],
            Col.GROUP_ID: [f"g{u // BLOCK_USERS}" for u in grouped],
        }
    )
    attach_groups(inter, members)
    return inter, favourite


@pytest.fixture(scope="module")
def world() -> tuple[Interactions, dict[int, int]]:
    """The synthetic world, built once per module."""
    return make_world()


_FITTED: dict[str, Recommender] = {}


def fit(kind: str, data: Interactions) -> Recommender:
    """A model of `kind` with the test settings, fitted on `data`."""
    return build_model(kind, **PARAMS.get(kind, {})).fit(data)


@pytest.fixture(params=ALL_KINDS)
def fitted(
    request: pytest.FixtureRequest, world: tuple[Interactions, dict[int, int]]
) -> Recommender:
    """Each registered kind, fitted once per test session on the synthetic world."""
    kind = request.param
    if kind not in _FITTED:
        _FITTED[kind] = fit(kind, world[0])
    return _FITTED[kind]


def kind_of(model: Recommender) -> str:
    return model.config.kind


class TestContract:
    """What every registered model must do (in the style of implicit's RecommenderBase tests)."""

    def test_registry_and_config(self, fitted: Recommender) -> None:
        kind = kind_of(fitted)
        assert type(fitted) is model_class(kind)
        cfg = fitted.config
        assert cfg.kind == kind
        rebuilt = build_model(kind, **cfg.model_dump(exclude={"kind"}))
        assert rebuilt.config == cfg
        for name, field in type(cfg).model_fields.items():
            assert name == "kind" or field.description, f"{kind}.{name} has no description"

    def test_scores_shape(self, fitted: Recommender, world: tuple[Interactions, dict]) -> None:
        inter = world[0]
        s = fitted.score(np.arange(inter.shape[0]))
        assert s.shape == inter.shape
        assert s.dtype == np.float32
        assert not np.isnan(s).any()
        assert np.isfinite(s).any(axis=1)[:N_USERS].all()
        with pytest.raises(IndexError):
            fitted.score([inter.shape[0]])

    def test_recommend_sorted_top_k(self, fitted: Recommender) -> None:
        users = np.arange(N_USERS + len(COLD_USERS))
        idx, val = fitted.recommend(users, k=5)
        assert idx.shape == val.shape == (len(users), 5)
        assert (val[:, :-1] >= val[:, 1:]).all()
        scores = fitted.score(users)
        ok = idx >= 0
        assert np.allclose(np.take_along_axis(scores, np.maximum(idx, 0), 1)[ok], val[ok])
        # what is left out scores no better than the last item returned
        for r in range(len(users)):
            rest = np.setdiff1d(np.arange(scores.shape[1]), idx[r][ok[r]])
            if ok[r].all():
                assert scores[r, rest].max(initial=-np.inf) <= val[r, -1] + 1e-6
        if kind_of(fitted) != "p_topfreq":  # P-TopFreq only lists what the user bought
            assert ok.all()

    def test_exclude(self, fitted: Recommender, world: tuple[Interactions, dict]) -> None:
        inter = world[0]
        users = np.arange(N_USERS)
        idx, _ = fitted.recommend(users, k=8, exclude=inter.purchases)
        bought = inter.purchases.toarray() > 0
        got = idx >= 0
        assert not bought[np.repeat(users, 8)[got.ravel()], idx[got]].any()
        sub, _ = fitted.recommend(users[:3], k=8, exclude=inter.purchases[:3])
        assert np.array_equal(sub, idx[:3])

    def test_candidates_and_padding(self, fitted: Recommender) -> None:
        cands = np.array([1, 4, 12])
        idx, val = fitted.recommend(np.arange(N_USERS), k=5, candidates=cands)
        assert np.isin(idx[idx >= 0], cands).all()
        assert (idx[:, 3:] == -1).all() and np.isneginf(val[:, 3:]).all()
        if kind_of(fitted) != "p_topfreq":
            assert (idx[:, :3] >= 0).all()

    def test_save_load(self, fitted: Recommender, tmp_path: Path) -> None:
        fitted.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(fitted) and loaded.config == fitted.config
        users = np.arange(N_USERS + len(COLD_USERS))
        a, b = fitted.recommend(users, k=6), loaded.recommend(users, k=6)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])

    def test_deterministic(self, fitted: Recommender, world: tuple[Interactions, dict]) -> None:
        again = fit(kind_of(fitted), world[0])
        users = np.arange(N_USERS + len(COLD_USERS))
        assert np.array_equal(fitted.recommend(users, 6)[0], again.recommend(users, 6)[0])

    def test_unfitted(self, fitted: Recommender) -> None:
        with pytest.raises(RuntimeError):
            build_model(kind_of(fitted)).score([0])

    def test_vectors_reproduce_scores(self, fitted: Recommender) -> None:
        u, v = fitted.user_vectors(), fitted.item_vectors()
        if u is None or v is None:
            pytest.skip("no embeddings")
        if kind_of(fitted) == "blend":
            pytest.skip("blend scores are not a dot product")
        assert np.allclose(u[:4] @ v.T, fitted.score(np.arange(4)), atol=1e-4)

    def test_learns(self, fitted: Recommender, world: tuple[Interactions, dict]) -> None:
        """The behaviour each model exists for, on the two-block world."""
        inter, favourite = world
        kind = kind_of(fitted)
        users = np.arange(N_USERS)
        checked = False
        if kind in COLLABORATIVE:
            # unseen items: 4 in-block vs 10 out-of-block (+ the cold item); random gets ~0.27
            idx, _ = fitted.recommend(users, k=4, exclude=inter.purchases)
            same = item_block(idx) == user_block(users)[:, None]
            assert same.mean() >= 0.8, f"{kind}: in-block share {same.mean():.2f}"
            checked = True
        if kind in PERSONAL:
            top1 = fitted.recommend(users, k=1)[0][:, 0]
            fav = np.array([favourite[u] for u in users])
            assert (top1 == fav).mean() >= 0.9
            checked = True
        if kind == "popularity":
            counts = np.asarray(inter.purchases.sum(axis=0)).ravel()
            assert fitted.recommend([0], k=1)[0][0, 0] == int(np.argmax(counts))
            checked = True
        if kind in ("gp_topfreq", "repeat"):  # own items, then popular ones
            idx, _ = fitted.recommend(users, k=12)
            own = inter.purchases.toarray() > 0
            n_own = own.sum(axis=1)
            for r in users:
                assert own[r, idx[r, : n_own[r]]].all() and not own[r, idx[r, n_own[r] :]].any()
        if kind == "lightfm":  # cold users are placed by their tag
            idx, _ = fitted.recommend(np.array(COLD_USERS), k=5)
            assert (item_block(idx) == user_block(np.array(COLD_USERS))[:, None]).mean() >= 0.8
        if isinstance(fitted, RepeatBlend):
            c = fitted.config
            assert fitted.weight_ in c.weights and fitted.half_life_ in c.half_lives
            assert fitted.base_share_ in c.base_shares
            sources = len(c.half_lives) + 2 * int(c.tifu_repeat)
            assert len(fitted.tuning) == len(c.weights) * sources * len(c.base_shares)
        if not checked:
            pytest.skip(f"no learning check for {kind}")


def test_every_kind_is_tested() -> None:
    assert set(PARAMS) <= set(REGISTRY)
    assert {"popularity", "p_topfreq", "gp_topfreq", "blend", "tifuknn"} <= set(REGISTRY)


def test_p_topfreq_lists_only_own_items(world: tuple[Interactions, dict]) -> None:
    inter = world[0]
    model = fit("p_topfreq", inter)
    idx, _ = model.recommend(np.arange(N_USERS), k=inter.shape[1])
    n_own = (inter.purchases.toarray() > 0).sum(axis=1)[:N_USERS]
    assert ((idx >= 0).sum(axis=1) == n_own).all()
    assert (model.recommend(list(COLD_USERS), k=3)[0] == -1).all()


def _one_user(counts: list[float], ages: list[float]) -> Interactions:
    """One user, len(counts) items: purchase counts and last-purchase age (days + 1)."""
    n = len(counts)
    m = sp.csr_matrix(np.array([counts], np.float32))
    return Interactions(
        users=IdMap(np.array(["u"], dtype=object)),
        items=IdMap(np.array([f"i{i}" for i in range(n)], dtype=object)),
        weights=m,
        purchases=m,
        last_purchase_age=sp.csr_matrix(np.array([ages], np.float32)),
        snapshot=SNAPSHOT,
    )


def test_repeat_recency_beats_stale_frequency() -> None:
    data = _one_user([5, 2, 0], [100, 2, 0])  # item 0: often but long ago; item 1: lately
    assert build_model("repeat", half_life_days=7).fit(data).recommend([0], 3)[0][0, 0] == 1
    assert build_model("p_topfreq").fit(data).recommend([0], 3)[0][0].tolist() == [0, 1, -1]
    assert build_model("gp_topfreq").fit(data).recommend([0], 3)[0][0].tolist() == [0, 1, 2]


def test_group_popularity_without_groups_is_global(world: tuple[Interactions, dict]) -> None:
    inter = world[0]
    model = fit("group_popularity", inter)
    glob = fit("popularity", inter)
    for u in (14, 29, *COLD_USERS):  # no group
        assert model.recommend([u], 5)[0][0].tolist() == glob.recommend([u], 5)[0][0].tolist()


# -- the Interactions additions (baskets, groups, hold-out) -----------------------------


def test_baskets_match_purchases(world: tuple[Interactions, dict]) -> None:
    inter = world[0]
    b = inter.baskets
    assert b is not None
    per_user = b.groupby(BasketCol.USER)[BasketCol.BASKET].agg(["min", "max", "nunique"])
    assert (per_user["min"] == 0).all() and (per_user["max"] + 1 == per_user["nunique"]).all()
    assert (per_user["nunique"] == N_BASKETS).all()
    counts = sp.csr_matrix(
        (b[BasketCol.COUNT].to_numpy(float), (b[BasketCol.USER], b[BasketCol.ITEM])),
        shape=inter.shape,
    )
    assert abs(counts - inter.purchases).max() == 0
    # chronological: a later basket is younger
    age = b.groupby([BasketCol.USER, BasketCol.BASKET])[BasketCol.AGE].first()
    assert (age.groupby(level=0).diff().dropna() < 0).all()


def test_hold_out_last_baskets(world: tuple[Interactions, dict]) -> None:
    inter = world[0]
    train, truth = hold_out_last_baskets(inter)
    b = inter.baskets
    assert b is not None and train.baskets is not None
    last = b[b[BasketCol.BASKET] == N_BASKETS - 1]
    assert truth.nnz == len(last)
    held = sp.csr_matrix(
        (last[BasketCol.COUNT].to_numpy(float), (last[BasketCol.USER], last[BasketCol.ITEM])),
        shape=inter.shape,
    )
    assert abs(train.purchases + held - inter.purchases).max() < 1e-6
    assert (train.weights.data > 0).all() and train.weights.sum() < inter.weights.sum()
    assert train.baskets[BasketCol.BASKET].max() == N_BASKETS - 2
    assert set(zip(*train.last_purchase_age.nonzero(), strict=True)) == set(
        zip(*train.purchases.nonzero(), strict=True)
    )


def test_interactions_round_trip(world: tuple[Interactions, dict], tmp_path: Path) -> None:
    inter = world[0]
    inter.save(tmp_path / "m")
    back = Interactions.load(tmp_path / "m")
    assert back.baskets is not None and inter.baskets is not None
    pd.testing.assert_frame_equal(back.baskets, inter.baskets)
    assert back.group_ids is not None and inter.group_ids is not None
    assert list(back.group_ids.ids) == list(inter.group_ids.ids)
    assert back.user_groups is not None and inter.user_groups is not None
    assert abs(back.user_groups - inter.user_groups).max() == 0


def test_attach_groups_drops_former_members(world: tuple[Interactions, dict]) -> None:
    inter = world[0]
    members = pd.DataFrame(
        {
            Col.USER_ID: ["u00", "u01"],
            Col.GROUP_ID: ["g9", "g9"],
            Col.LEFT_AT: [pd.NaT, SNAPSHOT - pd.Timedelta(days=1)],
        }
    )
    from dataclasses import replace

    out = attach_groups(replace(inter), members)
    assert out.user_groups is not None
    assert out.user_groups[0].nnz == 1 and out.user_groups[1].nnz == 0


# -- top_k property ---------------------------------------------------------------------


@st.composite
def _top_k_case(draw: st.DrawFn) -> tuple[np.ndarray, int, sp.csr_matrix, np.ndarray | None]:
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 12))
    scores = draw(
        arrays(
            np.float32,
            (rows, cols),
            elements=st.floats(-1e3, 1e3, width=32, allow_nan=False) | st.just(-np.inf),
        )
    )
    k = draw(st.integers(1, 15))
    mask = draw(arrays(np.bool_, (rows, cols)))
    cands = draw(
        st.none() | st.lists(st.integers(0, cols - 1), unique=True, max_size=cols).map(np.array)
    )
    return scores, k, sp.csr_matrix(mask.astype(np.float32)), cands


@settings(max_examples=150, deadline=None)
@given(_top_k_case())
def test_top_k_properties(case: tuple[np.ndarray, int, sp.csr_matrix, np.ndarray | None]) -> None:
    scores, k, exclude, cands = case
    idx, val = top_k(scores, k, exclude, cands)
    assert idx.shape == val.shape == (scores.shape[0], k)
    ex = exclude.toarray() > 0
    allowed = ~ex & np.isfinite(scores)
    if cands is not None:
        keep = np.zeros(scores.shape[1], bool)
        keep[cands.astype(int)] = True
        allowed &= keep
    for r in range(scores.shape[0]):
        got = idx[r][idx[r] >= 0]
        assert len(set(got.tolist())) == len(got)  # no duplicates
        assert allowed[r, got].all()  # never excluded, only candidates, never -inf
        assert len(got) == min(k, int(allowed[r].sum()))  # as many as allowed, padded with -1
        assert (idx[r][len(got) :] == -1).all() and np.isneginf(val[r][len(got) :]).all()
        assert np.array_equal(val[r][: len(got)], scores[r, got])
        if len(got):  # nothing better was left out
            assert scores[r, allowed[r]].max() == val[r, 0]
            assert (np.diff(val[r][: len(got)]) <= 0).all()


def test_blend_with_tifuknn_prediction_is_tifuknn(world: tuple[Interactions, dict]) -> None:
    """Repeat score = TIFU-KNN's whole prediction at w = 1: the blend ranks as TIFU-KNN does."""
    inter = world[0]
    blend = build_model("blend", weight=1.0, base_share=0.0, repeat_kind="tifuknn").fit(inter)
    tifu = build_model("tifuknn").fit(inter)
    users = np.arange(N_USERS)
    b_idx, _ = blend.recommend(users, k=5)
    t_idx, t_val = tifu.recommend(users, k=5)
    clear = (t_val[:, :-1] - t_val[:, 1:] > 1e-4).all(axis=1)  # no ties inside the top 5
    assert clear.sum() >= N_USERS // 4
    assert (b_idx[clear] == t_idx[clear]).all()
    # the neighbours' part reaches items the user never bought (a TIFU-KNN-like component)
    own = inter.purchases.toarray() > 0
    scores = blend.score(users)
    assert ((scores > 1e-3) & ~own[:N_USERS]).any()
