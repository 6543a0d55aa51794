"""The real `linli` command, as a user runs it: every mistake is one line on stderr and exit 2
(no traceback); `train` and `ab` print progress, no third-party warnings, a readable summary
and a verdict.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from loop_world import empty_mlflow

from features.build import run as build_features
from features.synth import SynthConfig, generate, write_world
from training.settings import Settings

LINLI = [str(Path(sys.executable).with_name("linli"))]  # the installed console script


def linli(*args: str, work: Path) -> subprocess.CompletedProcess[str]:
    """Run ``linli ARGS`` in a fresh process whose work folder (and MLflow store) is ``work``."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "LINLI_DEBUG")}
    env |= {"LINLI_WORK_DIR": str(work), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [*LINLI, *args], env=env, capture_output=True, text=True, timeout=600, cwd=work.parent
    )


def one_line_error(done: subprocess.CompletedProcess[str], command: str, *says: str) -> None:
    """Exit 2, exactly one stderr line ``linli COMMAND...: error: ...`` naming each of ``says``."""
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"linli {command}") and ": error: " in lines[0], lines[0]
    assert "Traceback" not in done.stderr and "internal error" not in lines[0]
    for text in says:
        assert text in lines[0], (text, lines[0])


@pytest.fixture
def tiny_store(tiny_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(feature store of the three-person data, an empty work folder)."""
    work = tmp_path / "work"
    work.mkdir()
    features = tmp_path / "features"
    build_features(tiny_data, features, Settings(work_dir=work), progress=False, use_store=False)
    return features, work


@pytest.mark.slow  # eight fresh processes, ~5 s each
def test_usage_mistakes_are_one_line(tiny_store: tuple[Path, Path], tmp_path: Path) -> None:
    features, work = tiny_store
    missing = str(tmp_path / "nowhere")
    cases = [
        (("train", "--model", "nope", "--features", str(features)), "train", ("'nope'", "blend")),
        (("train", "--model", "als", "--features", missing), "train", (missing, "does not exist")),
        (("features", "build", "--data", missing), "features build", (missing,)),
        (("synth", "--out", missing, "--end", "2026-02-30"), "synth", ("2026-02-30", "YYYY-MM-DD")),
        (("ab", "--features", str(features), "--champion", "model:nope", "--no-mlflow"), "ab",
         ("model:nope", "unknown model kind", "popularity")),
        (("ab", "--features", str(features), "--champion", "best:1", "--no-mlflow"), "ab",
         ("alias:A, version:N or model:KIND",)),
        (("evaluate", "--dataset", "tafeng", "--src", missing), "evaluate", (missing,)),
        (("simulate", "--features", str(features), "--plan", missing), "simulate", (missing,)),
    ]  # fmt: skip
    for args, command, says in cases:
        one_line_error(linli(*args, work=work), command, *says)


@pytest.mark.slow
def test_registry_mistakes_progress_and_verdict(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write_world(generate(SynthConfig(people=500, months=2, seed=3)), tmp_path / "world")
    features = str(tmp_path / "features")
    build_features(tmp_path / "world" / "data", Path(features), Settings(work_dir=work),
                   progress=False, use_store=False)  # fmt: skip
    shutil.copy(empty_mlflow(tmp_path_factory.getbasetemp()), work / "mlflow.db")

    one_line_error(
        linli("ab", "--features", features, "--no-mlflow", work=work),
        "ab",
        "no registered version",
    )
    trained = linli("train", "--model", "popularity", "--features", features, "--alias",
                    "champion", work=work)  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "warning" not in trained.stderr.lower(), trained.stderr  # MLflow's pickle note too
    assert "{'" not in trained.stdout, trained.stdout  # a summary, not a config dict
    assert "trained popularity on " in trained.stdout and "registered version 1, alias champion" in trained.stdout  # fmt: skip
    assert "linli train popularity: [4/4] log to MLflow and register done" in trained.stderr

    one_line_error(
        linli("ab", "--features", features, "--champion", "alias:x", "--no-mlflow", work=work),
        "ab",
        "alias:x",
        "no alias 'x'",
        "champion (v1)",
    )
    one_line_error(
        linli("ab", "--features", features, "--challenger", "version:9", work=work),
        "ab",
        "version:9",
        "versions: 1",
    )
    one_line_error(linli("alias", "set", "--version", "9", "--alias", "x", work=work), "alias", "9")
    one_line_error(linli("alias", "delete", "--alias", "x", work=work), "alias", "'x'")

    same = linli("ab", "--features", features, "--challenger", "model:popularity",
                 "--n-boot", "200", "--no-mlflow", work=work)  # fmt: skip
    assert same.returncode == 0, same.stderr[-2000:]
    assert "verdict: no significant difference on ndcg_at_10" in same.stdout, same.stdout
    assert "\r" not in same.stderr and "warning" not in same.stderr.lower(), same.stderr
    steps = [ln for ln in same.stderr.splitlines() if "linli ab: [" in ln]
    assert len(steps) == 8 and steps[-1].split(" ", 1)[1].startswith("linli ab: [4/4] paired bootstrap")  # fmt: skip

    better = linli("ab", "--features", features, "--champion", "model:popularity",
                   "--challenger", "model:repeat", "--n-boot", "200", "--no-mlflow", work=work)  # fmt: skip
    assert better.returncode == 0, better.stderr[-2000:]
    verdict = [ln for ln in better.stdout.splitlines() if ln.startswith("verdict: ")]
    assert len(verdict) == 1 and " wins on ndcg_at_10 by " in verdict[0], better.stdout
    assert "95% CI [" in verdict[0]
