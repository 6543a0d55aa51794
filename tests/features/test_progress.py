"""The progress helper: plain timestamped lines off a terminal, nothing when disabled."""

from __future__ import annotations

import io
import re

from features.progress import Steps

LINE = re.compile(r"^\d\d:\d\d:\d\d linli job: ")


def test_plain_lines_off_a_terminal() -> None:
    out = io.StringIO()
    with Steps("linli job", 2, stream=out) as steps:
        steps.note("reading the tables")
        with steps.step("fit"):
            pass
        for _ in steps.track(["a", "b"], "trial"):
            pass
        steps.advance("trial 9: ndcg 0.2100", seconds=1.5)
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert all(LINE.match(ln) for ln in lines), lines
    said = [LINE.sub("", ln) for ln in lines]
    assert said[0] == "reading the tables ..."
    assert said[1:3] == ["[1/2] fit ...", f"[1/2] fit done in {steps.timings['fit']:.1f}s"]
    assert "[2/4] trial 1/2 ..." in said and "[3/4] trial 2/2 ..." in said  # the loop adds 2
    assert said[-1] == "[4/4] trial 9: ndcg 0.2100 done in 1.5s"
    assert set(steps.timings) == {"fit", "trial 1/2", "trial 2/2", "trial 9: ndcg 0.2100"}


def test_disabled_is_silent() -> None:
    out = io.StringIO()
    with Steps("linli job", 1, enabled=False, stream=out) as steps, steps.step("fit"):
        steps.note("x")
    assert out.getvalue() == ""
    assert "fit" in steps.timings


def test_many_short_steps_print_only_the_long_ones() -> None:
    out = io.StringIO()
    with Steps("linli job", 3, stream=out, min_seconds=60.0) as steps:
        for name in ("a", "b"):
            with steps.step(name):
                pass
        steps.advance("slow one", seconds=61.0)
    said = [LINE.sub("", ln) for ln in out.getvalue().splitlines()]
    assert said == ["[3/3] slow one done in 61.0s"]
