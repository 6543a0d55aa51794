"""Segment discovery: recovers hidden personas on a small world, names them, profiles them, saves them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matching_world import small_world
from sklearn.metrics import adjusted_rand_score

from experiments.synth_truth import load_user_truth
from features import store_layout as store
from features.matrix import Interactions
from features.schema import Col
from training.segments import (
    NEW_SEGMENT,
    NEW_SEGMENT_NAME,
    SegmentConfig,
    cluster,
    discover,
    name_segments,
    profiles,
    relabel_by_size,
    tag_lift,
)

FAST = SegmentConfig(k_min=3, k_max=8, n_init=2, silhouette_sample=1000)


@pytest.fixture(scope="module")
def found() -> tuple[pd.DataFrame, object, pd.DataFrame, Path]:
    f = small_world() / "features"
    inter = Interactions.load(f / store.MATRIX_DIR)
    items, users, tags = (pd.read_parquet(f / n) for n in (store.ITEMS, store.USERS, store.TAGS))
    seg, cl, lifts = discover(inter, items, users, tags, FAST)
    return seg, cl, lifts, f


def test_segments_recover_personas(found: tuple) -> None:
    seg, cl, _, f = found
    truth = load_user_truth(f, f.parent / "truth")
    m = seg.merge(truth, on=Col.USER_ID)
    assert adjusted_rand_score(m["persona"], m[Col.SEGMENT_ID]) >= 0.6
    assert FAST.k_min <= cl.k <= FAST.k_max
    assert set(cl.scores) == set(range(FAST.k_min, FAST.k_max + 1))


def test_each_persona_lands_in_a_recognisable_segment(found: tuple) -> None:
    seg, _, _, f = found
    truth = load_user_truth(f, f.parent / "truth")
    m = seg.merge(truth, on=Col.USER_ID)
    best = m.groupby("persona")[Col.SEGMENT_NAME].agg(lambda s: s.value_counts().index[0])
    expected = {
        "fitness": "fitness",
        "young_parents": "young parents",
        "home_bakers": "bakers",
        "premium_family": "premium",
        "price_sensitive": "bargain",
        "elderly_staples": "seniors",
    }
    for persona, word in expected.items():
        assert word in best[persona], (persona, best[persona])


def test_output_columns_and_unique_names(found: tuple) -> None:
    seg, _, _, _ = found
    assert list(seg.columns) == [Col.USER_ID, Col.SEGMENT_ID, Col.SEGMENT_NAME]
    assert seg[Col.USER_ID].is_unique
    names = seg.groupby(Col.SEGMENT_ID)[Col.SEGMENT_NAME].nunique()
    assert (names == 1).all()
    assert seg.drop_duplicates(Col.SEGMENT_ID)[Col.SEGMENT_NAME].is_unique


def test_profiles_hold_what_operators_read(found: tuple) -> None:
    seg, _, lifts, f = found
    prof = profiles(
        seg,
        pd.read_parquet(f / store.USERS),
        pd.read_parquet(f / store.BASKETS),
        pd.read_parquet(f / store.ITEMS),
        lifts,
        pd.read_parquet(f / store.GROUP_MEMBERS),
    )
    assert sum(p["size"] for p in prof) == len(seg)
    for p in prof:
        for key in (
            "segment_name",
            "size",
            "share",
            "aov",
            "orders_per_30d",
            "value_tiers",
            "top_categories",
            "top_items",
            "top_groups",
            "defining_tags",
        ):
            assert key in p
        if p["segment_id"] != NEW_SEGMENT:
            assert p["top_categories"] and p["top_items"]
            assert sum(p["value_tiers"].values()) == pytest.approx(1.0, abs=1e-3)
    json.dumps(prof, ensure_ascii=False)  # serialisable as is


def test_relabel_by_size_orders_largest_first() -> None:
    labels = np.array([2, 2, 2, 0, 1, 1])
    assert relabel_by_size(labels).tolist() == [0, 0, 0, 2, 1, 1]


def test_cluster_picks_k_by_silhouette_on_clear_blobs() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, (4, 5))
    x = np.vstack([c + rng.normal(0, 0.3, (60, 5)) for c in centers])
    cl = cluster(x, SegmentConfig(k_min=2, k_max=7, components=5))
    assert cl.k == 4
    gm = cluster(x, SegmentConfig(k_min=2, k_max=7, components=5, method="gmm", criterion="bic"))
    assert gm.k == 4


def test_naming_uses_over_represented_tags_and_stays_unique() -> None:
    assign = pd.DataFrame(
        {
            Col.USER_ID: [f"u{i}" for i in range(8)],
            Col.SEGMENT_ID: [0, 0, 0, 0, 1, 1, 1, NEW_SEGMENT],
        }
    )
    tags = pd.DataFrame(
        {
            Col.USER_ID: ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u0"],
            Col.TAG: ["interest:fitness"] * 4
            + ["interest:fitness", "prefers:fruit", "prefers:fruit", "group:g1"],
        }
    )
    lifts = tag_lift(assign, tags, ("group:",))
    names = name_segments(lifts, [NEW_SEGMENT, 0, 1], SegmentConfig(name_min_lift=1.2))
    assert names[0].startswith("fitness / light meals")
    assert "fruit lovers" in names[1]
    assert names[NEW_SEGMENT] == NEW_SEGMENT_NAME
    assert "g1" not in " ".join(names.values())


def test_cli_writes_segments_beside_profiles(tmp_path: Path) -> None:
    from training.matching_cli import segments_main

    f = small_world() / "features"
    assert (
        segments_main(["--features", str(f), "--out", str(tmp_path), "--no-mlflow", "--k-max", "8"])
        == 0
    )
    seg = pd.read_parquet(tmp_path / "segments.parquet")
    assert list(seg.columns) == [Col.USER_ID, Col.SEGMENT_ID, Col.SEGMENT_NAME]
    prof = json.loads((tmp_path / "segment_profiles.json").read_text(encoding="utf-8"))
    assert {p["segment_id"] for p in prof} == set(seg[Col.SEGMENT_ID])
    flat = pd.read_parquet(tmp_path / "segment_profiles.parquet")
    assert flat[Col.SEGMENT_ID].is_unique
