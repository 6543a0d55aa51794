"""The matching report runs end to end on a tiny world and writes one table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from experiments.matching_report import Row, main, to_markdown


def test_rows_show_the_ratio_and_mark_short_ones() -> None:
    rows = [
        Row("w", "audience p@120", 0.6, 0.5, "naive list"),
        Row("w", "audience p@1000", 0.5, 0.5, "naive list"),
        Row("w", "segment ARI", float("nan"), float("nan"), "", "pending"),
    ]
    assert math.isclose(rows[0].ratio, 1.2) and math.isnan(rows[2].ratio)
    md = to_markdown(rows, "cmd")
    assert "| 1.200 |" in md and "1.000 (short)" in md and "| — |" in md


@pytest.mark.slow
def test_report_on_a_tiny_world(tmp_path: Path) -> None:
    rc = main(
        [
            "--presets",
            "sparse",
            "--datasets",
            "",
            "--people",
            "400",
            "--checks",
            "audience,group",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0
    rows = json.loads((tmp_path / "out" / "matching_report.json").read_text(encoding="utf-8"))
    checks = {r["check"] for r in rows}
    assert {"audience p@120", "audience p@1000", "group hit@10"} <= checks
    group = [r for r in rows if r["check"] == "group hit@10"]
    assert {r["baseline_name"] for r in group} == {"history + popular", "popularity"}
    aud = [r for r in rows if r["check"].startswith("audience")]
    assert all(r["baseline"] > 0 and r["ours"] >= 0 for r in aud)
    assert "| sparse | audience p@120 |" in (tmp_path / "out" / "matching_report.md").read_text(
        encoding="utf-8"
    )
