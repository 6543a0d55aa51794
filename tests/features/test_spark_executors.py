"""The Spark engine checks its executors' Python before any work, and says what is missing.

The job's jieba UDF runs in the executors' Python (PYSPARK_PYTHON): on a cluster, the
workers' own interpreter. One without linli would fail the job minutes in, at the tags
step, with a traceback from another machine; the check stops it at once, in one line.
"""

from __future__ import annotations

import sys
import venv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from features.engine.spark import check_executors, spark_session
from features.errors import LinliInputError

pytestmark = pytest.mark.slow


@pytest.fixture
def session_with_python(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], object]]:
    """A Spark session (local mode) whose executors run the Python named by PYSPARK_PYTHON."""
    sessions: list[object] = []

    def start(python: str) -> object:
        monkeypatch.setenv("PYSPARK_PYTHON", python)  # read when the Spark context starts
        sessions.append(spark_session())
        return sessions[-1]

    yield start
    for s in sessions:
        s.stop()  # type: ignore[attr-defined]


def test_executors_without_the_packages_are_named_with_what_they_lack(
    session_with_python: Callable[[str], object], tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a Python with nothing installed
    session = session_with_python(str(bare / "bin" / "python"))
    with pytest.raises(LinliInputError) as err:
        check_executors(session)
    message = str(err.value)
    assert "\n" not in message
    assert str(bare / "bin" / "python") in message
    for module in ("pandas", "pyarrow", "jieba", "features.tags"):
        assert module in message
    assert "PYSPARK_PYTHON" in message  # the hint says how to fix it


def test_executors_that_cannot_start_python_are_one_line(
    session_with_python: Callable[[str], object], tmp_path: Path
) -> None:
    session = session_with_python(str(tmp_path / "no-such-python"))
    with pytest.raises(LinliInputError, match="Cannot run program") as err:
        check_executors(session)
    assert "\n" not in str(err.value) and "no-such-python" in str(err.value)


def test_executors_with_this_python_pass(session_with_python: Callable[[str], object]) -> None:
    check_executors(session_with_python(sys.executable))
