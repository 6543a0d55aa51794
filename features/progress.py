"""Progress of a job's named steps: a rich bar on a terminal, plain lines when not.

``with Steps("linli train", 4) as steps: with steps.step("fit"): ...`` shows which step
runs and how long each took; ``steps.timings`` keeps the seconds per step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TextIO


class Steps:
    """A job of ``total`` named steps."""

    def __init__(
        self, job: str, total: int, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.job, self.total, self.enabled = job, total, enabled
        self.stream = stream or sys.stderr
        self.timings: dict[str, float] = {}
        self._done = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Steps:
        if self.enabled and self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.job, total=self.total)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step; show it while it runs."""
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self.job}: {name}")
        elif self.enabled:
            print(f"{self.job}: [{self._done + 1}/{self.total}] {name} ...", file=self.stream)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        self._done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
        elif self.enabled:
            print(f"{self.job}: [{self._done}/{self.total}] {name} done in {self.timings[name]:.1f}s", file=self.stream)  # fmt: skip
