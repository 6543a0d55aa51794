"""The foreign-data harness: every CLI command on SCHEMA-valid data unlike the synthetic world.

Each command either succeeds (exit 0) or stops with exit 2 and ONE line on stderr that
names a file (and, for a table problem, a column) and says what to do. An exit 1 (a
Linli bug caught by the error boundary) or a traceback fails the test. Commands run
in-process through the `linli` entry point; the number of examples is bounded by the
hypothesis profile (``HYPOTHESIS_PROFILE``: ``ci`` by default, ``deep`` for a long run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from foreign_world import Foreign, foreign_data
from hypothesis import HealthCheck, Phase, given, settings
from loop_world import empty_mlflow, end_runs

import linli_cli

settings.register_profile(
    "ci",
    max_examples=6,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: the note says it all
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROGRESS = re.compile(r"^linli [^:]+: \[\d+/\d+\] ")  # a job's step line, not an error
THEME = {"name": "light meal", "items": ["Chicken", "鸡胸肉", "i0"], "categories": ["meat", "肉禽"]}


def commands(data: Path, work: Path) -> list[list[str]]:
    """Every CLI command of the pipeline, in order, on one data directory."""
    f, m = str(work / "features"), str(work / "matching")
    theme = work / "theme.json"
    theme.write_text(json.dumps(THEME, ensure_ascii=False), encoding="utf-8")
    return [
        [
            "features",
            "build",
            "--data",
            str(data),
            "--out",
            f,
            "--no-progress",
            "--no-store",
            "--max-reject-rate",
            "1",
        ],  # fmt: skip
        ["train", "--model", "popularity", "--features", f, "--alias", "champion"],
        ["segments", "--features", f, "--out", m, "--no-mlflow", "--k-min", "2", "--k-max", "3"],
        ["bundles", "--features", f, "--out", m, "--no-mlflow"],
        [
            "audience",
            "--features",
            f,
            "--theme",
            str(theme),
            "--matching",
            m,
            "--no-mlflow",
        ],  # fmt: skip
        ["forecast", "--features", f, "--out", m, "--no-mlflow", "--no-mentions"],
        ["forecast", "--features", f, "--out", m, "--no-mlflow", "--level", "item"],
        ["hosts", "--features", f, "--out", m, "--no-mlflow"],
        ["koc", "--features", f, "--out", m, "--no-mlflow"],
        ["export", "--features", f, "--out", str(work / "bundle"), "--matching", m],
        [
            "report",
            "--out",
            str(work / "report.html"),
            "--features",
            f,
            "--matching",
            m,
            "--no-mlflow",
        ],  # fmt: skip
        ["simulate", "--features", f, "--out", str(work / "simulation"), "--no-mlflow"],
    ]


def run_all(data: Path, work: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Run every command; returns the problems (empty when each one behaved)."""
    problems = []
    for argv in commands(data, work):
        try:
            rc = linli_cli.app(argv)
        except SystemExit as exc:  # argparse
            rc = int(exc.code or 0)
        err = capsys.readouterr().err
        if rc == 0:
            continue
        if argv[0] == "features":
            # nothing to build on: the rest of the pipeline has no input
            lines = _errors(err)
            if rc == 2 and len(lines) == 1 and "events" in lines[0]:
                return problems
        lines = _errors(err)
        if rc != 2 or len(lines) != 1 or "Traceback" in err:
            problems.append(f"linli {argv[0]} exit {rc}: {' | '.join(lines) or err[-300:]}")
        elif not any(s in lines[0] for s in ("/", ".parquet", ".csv", ".json")):
            problems.append(f"linli {argv[0]}: error names no file: {lines[0]}")
    return problems


def _errors(err: str) -> list[str]:
    """The stderr lines that are not log lines or progress (`linli JOB: [2/4] step ...`)."""
    return [
        ln
        for ln in err.splitlines()
        if (ln.startswith("linli ") and not PROGRESS.match(ln)) or "Traceback" in ln
    ]


@pytest.mark.slow
@settings.get_profile(PROFILE)
@given(world=foreign_data())
def test_every_command_succeeds_or_says_what_to_do(
    world: Foreign,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = tmp_path_factory.mktemp("foreign")
    work = base / "work"
    work.mkdir()
    shutil.copy(empty_mlflow(tmp_path_factory.getbasetemp()), work / "mlflow.db")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("LINLI_WORK_DIR", str(work))
    monkeypatch.chdir(base)
    data = world.write(base / "data")
    try:
        problems = run_all(data, work, capsys)
    finally:
        end_runs()
    assert not problems, f"{world.note}\n" + "\n".join(problems)
