"""The job benchmark measures a real `linli` process and tabulates worlds against each other."""

from __future__ import annotations

import os
from pathlib import Path

from experiments.benchmarks.bench_jobs import Measured, measure, table_lines


def test_measure_a_real_process_and_tabulate(tmp_path: Path) -> None:
    m = measure(["--help"], dict(os.environ), tmp_path / "log")
    assert m.rc == 0 and m.seconds > 0 and m.cpu > 0 and m.peak_mb > 10
    assert "usage: linli COMMAND" in (tmp_path / "log").read_text()
    bad = measure(["no-such-command"], dict(os.environ), tmp_path / "log")
    assert bad.rc != 0 and "(exit" in bad.cell()
    heads = ["small", "large"]
    results = {
        "export": {"small": Measured(2.0, 1.0, 100, 0), "large": Measured(30.0, 12.0, 900, 0)}
    }
    lines = table_lines(results, heads, {"small": 1_000, "large": 120_000})
    assert lines[0] == "| step | small | large | CPU ratio (last / first) | events / CPU s (last) |"
    assert lines[2] == (
        "| export | 2.0 s (1.0 s CPU) / 100 MB | 30.0 s (12.0 s CPU) / 900 MB | x12.0 | 10,000 |"
    )
