"""MLflow as a shared server: a private PostgreSQL cluster + `mlflow server` (1 worker), and the
whole path train -> register -> alias -> export -> serve run through it with MLFLOW_TRACKING_URI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pandas as pd
import pytest

from serving import artifacts as art
from serving.cli import free_port, server_env, start_server, stop_server
from training.mlflow_server import ServerError, pg_bindir, tracking_server

ROOT = Path(__file__).resolve().parents[2]
LINLI = [sys.executable, "-c", "import linli_cli, sys; sys.exit(linli_cli.main())"]


def _linli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*LINLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"linli {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_train_register_alias_export_serve_through_the_server(tmp_path: Path) -> None:
    try:
        pg_bindir()
    except ServerError as exc:
        pytest.skip(str(exc))
    pytest.importorskip("psycopg")
    work = tmp_path / "work"
    # the cluster runs as `postgres` when the tests run as root: its folder must be reachable
    state = Path(tempfile.mkdtemp(prefix="linli-mlflow-"))
    try:
        _through_the_server(tmp_path, work, state)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _through_the_server(tmp_path: Path, work: Path, state: Path) -> None:
    import mlflow

    with tracking_server(state, workers=1) as uri:
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "LINLI_WORK_DIR": str(work)}
        env.pop("PYTHONPATH", None)
        world, feats, bundle = work / "world", work / "features", work / "bundle"
        _linli(env, "synth", "--out", str(world), "--people", "300", "--months", "2",
               "--seed", "3", "--quiet")  # fmt: skip
        _linli(env, "features", "build", "--data", str(world / "data"), "--out", str(feats),
               "--no-progress")  # fmt: skip
        _linli(env, "train", "--model", "popularity", "--features", str(feats), "--alias",
               "champion")  # fmt: skip
        _linli(env, "export", "--features", str(feats), "--out", str(bundle))

        # everything went to the server: PostgreSQL rows, served artifacts, no local store
        assert not (work / "mlflow.db").exists() and not (work / "mlartifacts").exists()
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        name = "linli-recommender"
        champion = client.get_model_version_by_alias(name, "champion")
        assert champion.version == "1"
        run = client.get_run(champion.run_id)
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert any((state / "artifacts").rglob("*"))
        assert "recall_at_10" in run.data.metrics or run.data.metrics

        # serve the exported bundle: the answer names the registered champion
        port, swork = free_port(), tmp_path / "serve"
        swork.mkdir()
        proc = start_server(port, server_env(bundle, swork, workers=1), swork / "server.log")
        try:
            users = pd.read_parquet(bundle / art.USERS)["user_id"].astype(str)
            r = httpx.post(
                f"http://127.0.0.1:{port}/rank/user", json={"user": users.iloc[0], "k": 5}
            )
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["variant"] == "champion" and out["model_version"] == "1"
            assert out["known_user"] and len(out["items"]) == 5
            info = httpx.post(f"http://127.0.0.1:{port}/info", json={}).json()
            assert info["variants"]["champion"]["registered_model"] == name
        finally:
            stop_server(proc)
