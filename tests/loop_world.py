"""A small synthetic world and its feature store for the closing-the-loop tests, built once per session.

Also: an empty MLflow SQLite store made once and copied per test (creating one takes seconds),
and settings pointing the work folder and MLflow at a test's temporary directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from features.build import run as build_features
from features.synth import SynthConfig, generate, write_world
from training.settings import Settings

LOOP = SynthConfig(people=1200, months=3, seed=7)


def loop_world(base: Path) -> Path:
    """ROOT with ROOT/data, ROOT/truth (the world) and ROOT/features (its feature store)."""
    root = base / "loop_world"
    done = root / "features" / "_BUILT"
    if not done.exists():
        if root.exists():
            shutil.rmtree(root)
        write_world(generate(LOOP), root)
        build_features(root / "data", root / "features", Settings(work_dir=root / "work"), progress=False, use_store=False)  # fmt: skip
        done.write_text("ok")
    return root


def empty_mlflow(base: Path) -> Path:
    """An initialised, empty MLflow SQLite file under the session's temp folder."""
    import mlflow

    db = base / "loop-mlflow-template" / "mlflow.db"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def tracked_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: Path) -> Settings:
    """Settings whose work folder (and MLflow store) is fresh under ``tmp_path``; cwd = tmp_path."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    shutil.copy(template, work / "mlflow.db")
    monkeypatch.setenv("LINLI_WORK_DIR", str(work))
    monkeypatch.chdir(tmp_path)
    return Settings(work_dir=work)


def end_runs() -> None:
    """Close any MLflow run a failing test left open."""
    import mlflow

    while mlflow.active_run():
        mlflow.end_run()
