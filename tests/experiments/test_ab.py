"""Offline A/B: paired bootstrap, per-segment table, frozen vs refit scoring, MLflow parent + children."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loop_world import loop_world

from experiments import ab
from features.matrix import IdMap
from training.evaluation import compare as C
from training.settings import Settings

pytestmark = pytest.mark.timeout(120)


# -- statistics ------------------------------------------------------------------------------
def test_paired_bootstrap_recovers_a_known_difference() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.30, 0.1, 2000)
    b = a + 0.02 + rng.normal(0, 0.02, 2000)  # paired: the user effect cancels
    r = C.paired_bootstrap(a, b, n_boot=500, seed=1)
    assert r["n"] == 2000 and r["ci_low"] < 0.02 < r["ci_high"]
    assert r["ci_low"] > 0 and r["p_value"] < 0.01
    assert r["ci_high"] - r["ci_low"] < 0.005  # pairing makes it tight
    same = C.paired_bootstrap(a, a, n_boot=200)
    assert same["diff"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0


def test_paired_bootstrap_skips_nan_pairs_and_is_seeded() -> None:
    a = np.array([0.1, np.nan, 0.3, 0.5, 0.2, 0.4])
    b = np.array([0.2, 0.9, np.nan, 0.6, 0.2, 0.5])
    r1, r2 = C.paired_bootstrap(a, b, 300, seed=5), C.paired_bootstrap(a, b, 300, seed=5)
    assert r1 == r2 and r1["n"] == 4
    assert r1["diff"] == pytest.approx(np.mean([0.1, 0.1, 0.0, 0.1]))


def test_compare_users_per_segment_with_small_segments_left_without_ci() -> None:
    n = 300
    rng = np.random.default_rng(3)
    champ = pd.DataFrame({"recall_at_10": rng.random(n), "ndcg_at_10": rng.random(n)})
    chall = champ + np.where(np.arange(n) < 200, 0.1, -0.1)[:, None]
    seg = pd.Series(
        np.where(np.arange(n) < 200, "big", np.where(np.arange(n) < 290, "mid", "tiny"))
    )
    t = C.compare_users(champ, chall, ["recall_at_10", "ndcg_at_10"], seg, n_boot=200, min_users=20)
    assert list(t.columns) == C.TABLE_COLUMNS
    assert set(t["segment"]) == {"all", "big", "mid", "tiny"} and len(t) == 8
    big = t[(t.segment == "big") & (t.metric == "recall_at_10")].iloc[0]
    mid = t[(t.segment == "mid") & (t.metric == "recall_at_10")].iloc[0]
    assert big["diff"] == pytest.approx(0.1) and big["ci_low"] > 0
    assert mid["diff"] == pytest.approx(-0.1) and mid["ci_high"] < 0
    tiny = t[t.segment == "tiny"].iloc[0]
    assert tiny["n_users"] == 10 and np.isnan(tiny["ci_low"])


def test_variant_spec_parse() -> None:
    assert C.VariantSpec.parse("champion", "alias:champion").alias == "champion"
    assert C.VariantSpec.parse("c", "version:3").version == "3"
    spec = C.VariantSpec.parse("c", "model:als", {"factors": 8})
    assert spec.kind == "als" and spec.params == {"factors": 8} and not spec.registered
    assert C.VariantSpec.parse("c", "popularity").label == "model:popularity"
    for bad in ("alias:", "nope:x"):
        with pytest.raises(ValueError):
            C.VariantSpec.parse("c", bad)


def test_choose_mode_freezes_only_models_that_never_saw_the_holdout() -> None:
    info = {"split": "temporal", "cutoff": "2026-10-17 10:00:00+08:00"}
    before, after = pd.Timestamp("2026-09-30T23:00+08:00"), pd.Timestamp("2026-10-31T23:00+08:00")
    assert C.choose_mode("auto", before, info) == "frozen"
    assert C.choose_mode("auto", after, info) == "refit"
    assert C.choose_mode("auto", None, info) == "refit"
    assert C.choose_mode("auto", before, {"split": "next-basket"}) == "refit"
    assert C.choose_mode("frozen", after, info) == "frozen"


# -- on the synthetic world ------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loop_world(tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_frozen_model_scores_known_users_and_falls_back_for_the_others(world: Path) -> None:
    from training.models import build_model
    from training.train import holdout_fold, load_matrix

    fold = holdout_fold(
        load_matrix(world / "features"), world / "features", Settings(), "temporal", 14
    )
    model = build_model("p_topfreq").fit(fold.train)
    full, _ = C.frozen_recommendations(model, None, None, fold, 10)
    # the same model seen through id maps that lack half of the evaluated users
    known = fold.train.users.ids.copy()
    hidden = set(fold.eval_ids[::2])
    masked = np.array([u if u not in hidden else f"gone:{u}" for u in known], dtype=object)
    recs, info = C.frozen_recommendations(model, IdMap(masked), fold.train.items, fold, 10)
    assert info["fallback_users"] == len(hidden)
    popular = C.popular_items(fold, 10)
    rows = np.isin(fold.eval_ids, list(hidden))
    assert (recs[rows] == popular).all() and (recs[~rows] == full[~rows]).all()


@pytest.mark.slow
def test_configs_on_the_same_holdout_detect_the_worse_challenger(world: Path) -> None:
    res = C.run_ab(
        world / "features",
        C.VariantSpec("champion", kind="p_topfreq"),
        C.VariantSpec("challenger", kind="popularity"),
        Settings(),
        n_boot=300,
    )
    row = res.row("ndcg_at_10")
    assert res.champion.mode == res.challenger.mode == "fit"
    assert row["diff"] < 0 and row["ci_high"] < 0 and row["p_value"] < 0.05
    assert res.config["segments"] == "value tier"
    assert {"tier:diamond", "tier:gold", "tier:regular"} <= set(res.table["segment"])
    assert len(res.segments) == row["n_users"]


@pytest.mark.slow
def test_registered_versions_logged_as_parent_and_children(
    world: Path, tracked: Settings, tmp_path: Path
) -> None:
    import mlflow

    from training import tracking
    from training.models import build_model
    from training.train import load_matrix

    data = load_matrix(world / "features")
    for kind, alias in (("p_topfreq", "champion"), ("popularity", "challenger")):
        with tracking.run(f"train {kind}", tracked):
            tracking.log_training(
                build_model(kind).fit(data),
                data,
                world / "features" / "matrix",
                {},
                0.1,
                tracked,
                alias=alias,
            )
    res = C.run_ab(
        world / "features",
        C.VariantSpec("champion", alias="champion"),
        C.VariantSpec("challenger", alias="challenger"),
        tracked,
        n_boot=200,
    )
    # both saw the whole store (holdout included): auto mode refits their configs on the fold
    assert res.champion.mode == res.challenger.mode == "refit"
    assert res.champion.info["version"] == "1" and res.challenger.kind == "popularity"
    parent = ab.log_ab(res, tmp_path / "ab", tracked)
    runs = mlflow.search_runs(experiment_names=[tracked.tracking.experiment + "-ab"])
    children = runs[runs["tags.mlflow.parentRunId"] == parent]
    assert sorted(children["tags.linli.ab.variant"]) == ["challenger", "champion"]
    assert children["tags.linli.ab.id"].nunique() == 1
    for col in ("metrics.ndcg_at_10", "metrics.recall_at_10", "metrics.seg.tier_gold.ndcg_at_10"):
        assert children[col].notna().all()  # the same metric names side by side
    p = runs[runs.run_id == parent].iloc[0]
    assert p["tags.linli.run_type"] == "ab" and p["metrics.diff.ndcg_at_10.ci_high"] < 0
    assert "Compare" in p["tags.mlflow.note.content"]
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent, "ab")}
    assert {"ab/ab_table.csv", "ab/segment_diff_ndcg_at_10.png"} <= arts
