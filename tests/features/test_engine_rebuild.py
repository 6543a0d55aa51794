"""A rebuild with one more day of events keeps every id stable and says how much it redid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from features.build import run
from features.settings import load_settings
from features.synth import SynthConfig, generate, write_world
from features.validate import parse_timestamps


def test_one_more_day_keeps_every_id_and_reports_the_new_share(tmp_path: Path) -> None:
    write_world(generate(SynthConfig(people=150, months=1, items=120, seed=5)), tmp_path / "w")
    full = tmp_path / "w" / "data"
    events = pd.read_parquet(full / "events.parquet")
    ts = parse_timestamps(events["ts"])
    cut = ts.max().floor("D")
    day_before = tmp_path / "before"
    shutil.copytree(full, day_before)
    events[(ts < cut).to_numpy()].to_parquet(day_before / "events.parquet", index=False)
    out = tmp_path / "store"
    settings = load_settings(work_dir=tmp_path)
    first = run(day_before, out, settings, progress=False, use_store=False, engine="duckdb")
    before = pd.read_parquet(out / "identity.parquet")
    second = run(full, out, settings, progress=False, use_store=False, engine="duckdb")
    after = pd.read_parquet(out / "identity.parquet")
    assert "rebuild" in second and not first["rebuild"]
    rb = second["rebuild"]
    assert rb["identifiers_renamed_otherwise"] == 0
    assert rb["identifiers_keeping_their_user_id"] + rb["identifiers_renamed_by_merges"] == len(
        before
    )
    joined = before.merge(after, on=["id_type", "id_value"], suffixes=("_before", "_after"))
    assert len(joined) == len(before)  # no identifier lost
    assert (joined["user_id_before"] == joined["user_id_after"]).all()  # no merge in one day here
    n_new = int((ts >= cut).sum())
    assert rb["events_after_previous_snapshot"] == n_new > 0
    assert rb["events_recomputed"] == second["events_kept"]
