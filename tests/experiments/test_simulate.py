"""Campaign simulation: the truth mirror, the response model's backtest, and the seed case's shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loop_world import loop_world

from experiments import simulate as S
from training.settings import Settings

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loop_world(tmp_path_factory.getbasetemp())


def test_truth_mirror_reproduces_the_generators_live_propensities(world: Path) -> None:
    """truth_rates recomputes p_view / p_jielong of every past invitation exactly as synth drew them."""
    truth = world / "truth"
    personas = json.loads((truth / "personas.json").read_text(encoding="utf-8"))
    people = pd.read_parquet(truth / "people.parquet").set_index("person_id")
    lt = pd.read_parquet(truth / "live_truth.parquet")
    lives = pd.read_parquet(truth / "lives.parquet").set_index("live_id")
    hosts = pd.read_parquet(world / "data" / "hosts.parquet").set_index("host_id")["tags"]
    starts = pd.read_parquet(world / "data" / "live_sessions.parquet").set_index("live_id")[
        "start_ts"
    ]
    checked = 0
    for live_id in lt["live_id"].drop_duplicates().sample(12, random_state=0):
        rows = lt[lt["live_id"] == live_id]
        info = lives.loc[live_id]
        day = pd.Timestamp(str(starts[live_id]))
        day = day.tz_localize("Asia/Shanghai") if day.tzinfo is None else day
        got = S.truth_rates(
            people.loc[rows["person_id"]].reset_index(),
            personas,
            info["theme_key"],
            str(hosts[info["host_id"]]).split(";"),
            day,
        )
        for col in ("fit", "p_view", "p_jielong_if_view", "p_jielong"):
            np.testing.assert_allclose(
                got[col].to_numpy(), rows[col].to_numpy(), rtol=1e-4, atol=1e-5
            )
        checked += len(rows)
    assert checked > 500


def test_seed_case_shape_on_the_synthetic_world(world: Path, tmp_path: Path) -> None:
    r = S.simulate(world / "features", S.SEED_PLAN, world / "truth", Settings(work_dir=tmp_path))
    t, b = r["scenarios"]["targeted"], r["scenarios"]["broadcast"]
    assert t["predicted"]["invited"] == 120 and b["predicted"]["invited"] >= 250
    # the hidden truth: the targeted ~120 convert several times better than the whole group
    assert r["lift"]["truth"] >= 3
    assert t["truth"]["view_rate"] > 0.6 and t["truth"]["draw_viewers"] > 70
    # the models: right direction and honest about how close they come
    assert r["lift"]["predicted"] > 1.3
    assert t["predicted"]["view_rate"] > b["predicted"]["view_rate"]
    assert t["predicted"]["jielong_per_viewer"] > b["predicted"]["jielong_per_viewer"]
    assert abs(b["predicted"]["jielong_rate"] - b["truth"]["jielong_rate"]) < 0.1
    bt = r["backtest"]
    assert bt["lives"] >= 10 and bt["view_rate_mae"] < 0.2 and bt["jielong_rate_corr"] > 0.3
    assert r["plan"]["host_id"] and len(r["plan"]["bundle_items"]) == 4
    assert t["predicted"]["gmv"] > 0 and t["predicted"]["avg_order"] > r["normal_order"]
    md = S.to_markdown(r)
    assert "| targeted | 120 |" in md and "hidden truth" in md
    png = S.plot(r, tmp_path / "sim.png")
    assert png.exists()


def test_cli_writes_the_comparison(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = {**S.SEED_PLAN, "audience_n": 60, "host": "H001", "broadcast_group": "largest"}
    (tmp_path / "plan.json").write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("LINLI_WORK_DIR", str(tmp_path / "work"))
    code = S.main(
        [
            "--features",
            str(world / "features"),
            "--plan",
            str(tmp_path / "plan.json"),
            "--out",
            str(tmp_path / "o"),
            "--no-mlflow",
        ]
    )
    assert code == 0
    doc = json.loads((tmp_path / "o" / "simulation.json").read_text(encoding="utf-8"))
    assert (
        doc["plan"]["host_id"] == "H001"
        and doc["scenarios"]["targeted"]["predicted"]["invited"] == 60
    )
    assert "truth" not in doc["scenarios"]["targeted"]  # no truth folder given
    assert "Targeted vs broadcast" in capsys.readouterr().out
