"""The DuckDB and Spark engines build the same feature store.

On a corrupted copy of a small synthetic world (experiments/checks/corrupt.py), and on the
clean world rebuilt over that store (ids seeded by its identity table): identity and merges, suspicious identifiers, events' user ids, users, tags, constraints,
baskets, rejects with their reasons, summary counts and the matrices (float tolerance).
One Spark session (local mode) serves the whole module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from experiments.checks.corrupt import corrupt_dir
from experiments.checks.store_diff import diff_stores
from features.build import run
from features.settings import load_settings
from features.synth import SynthConfig, generate, write_world

pytestmark = pytest.mark.slow

ENGINES = ("duckdb", "spark")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("parity")
    write_world(generate(SynthConfig(people=150, months=1, items=120, seed=11)), root / "world")
    corrupt_dir(root / "world" / "data", root / "broken", rate=0.02, seed=3)
    return {"world": root / "world" / "data", "broken": root / "broken"}


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from features.engine.spark import spark_session

    session = spark_session()
    yield session
    session.stop()  # type: ignore[attr-defined]


def _build(data: Path, out: Path, engine: str) -> dict[str, object]:
    settings = load_settings(work_dir=out.parent)
    return run(data, out, settings, progress=False, use_store=False, engine=engine)


@pytest.mark.timeout(900)
def test_both_engines_build_the_same_store_from_a_corrupted_world(
    worlds: dict[str, Path], spark: object, tmp_path: Path
) -> None:
    summaries = {e: _build(worlds["broken"], tmp_path / e, e) for e in ENGINES}
    assert {s["engine"] for s in summaries.values()} == set(ENGINES)
    assert diff_stores(tmp_path / "duckdb", tmp_path / "spark") == []
    s = summaries["duckdb"]
    assert s["users_after_unification"] < s["identifiers_in_events_raw"]  # links did merge ids
    rejects = pd.read_csv(tmp_path / "spark" / "rejects" / "events.csv", dtype=str)
    assert len(rejects) and rejects["reason"].notna().all()  # rejects with reasons, in both


@pytest.mark.timeout(900)
def test_a_rebuild_of_the_clean_world_seeded_by_the_previous_identity_matches(
    worlds: dict[str, Path], spark: object, tmp_path: Path
) -> None:
    """The clean world, built over the corrupted world's store: same store on both engines."""
    _build(worlds["broken"], tmp_path / "duckdb", "duckdb")  # the earlier build, once
    shutil.copytree(tmp_path / "duckdb", tmp_path / "spark")
    for e in ENGINES:  # the rebuild reads OUT/identity.parquet of the earlier build
        _build(worlds["world"], tmp_path / e, e)
    assert diff_stores(tmp_path / "duckdb", tmp_path / "spark") == []
