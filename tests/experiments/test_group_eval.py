"""Offline group evaluation on the small serving world: rows with both naive baselines."""

from __future__ import annotations

import pytest
from serving_world import shared_bundle

from experiments import group_eval
from serving import group_rebuy as gr


@pytest.mark.slow
def test_group_eval_rows_with_baselines(tmp_path_factory: pytest.TempPathFactory) -> None:
    features = shared_bundle(tmp_path_factory.getbasetemp()).parent / "features"
    split = group_eval.store_split(features, 14.0, 0)
    assert sum(len(t) for t in split.targets) > 0  # the world's group orders after the cut
    assert split.history.shape == (len(split.members), split.inter.shape[1])
    rows = group_eval.evaluate_groups(
        {"serving_world": features}, model="itemknn", horizon_days=14.0, seed=1
    )
    (row,) = rows
    assert row["dataset"] == "serving_world" and row["cases"] > 0
    for key in ("ours_hit", "history_pop_hit", "popularity_hit", "strategy_hit", "ours_recall"):
        assert 0.0 <= row[key] <= 1.0
    assert row["ours_vs_history_pop"] == pytest.approx(
        row["ours_hit"] / max(row["history_pop_hit"], 1e-9)
    )
    # the mix is one of the grid's, chosen on the validation cut, and same inputs -> same row
    assert row["mix"] in {m.label() for m in group_eval.mix_grid()}
    fixed = group_eval.evaluate_groups(
        {"serving_world": features}, model="itemknn", horizon_days=14.0, seed=1, mix=gr.DEFAULT_MIX
    )
    assert fixed[0]["mix"] == gr.DEFAULT_MIX.label()
    again = group_eval.evaluate_groups(
        {"serving_world": features}, model="itemknn", horizon_days=14.0, seed=1, mix=gr.DEFAULT_MIX
    )
    assert again == fixed


def test_mix_grid_keeps_the_strategy_and_holds_the_default() -> None:
    grid = group_eval.mix_grid()
    assert all(m.collaborative >= group_eval.MIN_COLLABORATIVE - 1e-9 for m in grid)
    assert gr.DEFAULT_MIX in grid  # the default is one the validation search could choose
    assert any(m.popularity > 0 and m.recent_days is not None for m in grid)
    assert len({m.label() for m in grid}) == len(grid)
