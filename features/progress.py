"""Progress of a job's named steps: a rich bar on a terminal, plain timestamped lines when not.

The one progress helper of every `linli` command (the API is stable)::

    with Steps("linli train", 4) as steps:
        steps.note("reading tables from data/")     # says what runs before the first step
        with steps.step("fit"):                     # one named step, timed
            ...
        for trial in steps.track(range(20), "trial"):   # one step per item of a loop
            ...
        steps.advance("trial 3: ndcg 0.21")         # a step that finished elsewhere (a callback)

On a terminal (``stream.isatty()``) a rich bar shows the running step and each finished
step stays as one line; otherwise every line is ``HH:MM:SS JOB: [i/n] STEP ...`` and
``... done in 1.2s`` (no carriage returns, so logs and CI output stay readable).
``steps.timings`` keeps the seconds per step; ``enabled=False`` makes it silent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


class Steps:
    """A job of ``total`` named steps (``total`` may grow with :meth:`add`)."""

    def __init__(
        self,
        job: str,
        total: int,
        enabled: bool = True,
        stream: TextIO | None = None,
        min_seconds: float = 0.0,
    ) -> None:
        self.job, self.total, self.enabled = job, total, enabled
        # off a terminal, a job of many short steps prints only the steps that took this long
        self.min_seconds = min_seconds
        self.stream = stream or sys.stderr
        self.timings: dict[str, float] = {}
        self._done = 0
        self._bar: Any = None
        self._task: Any = None
        self._t0 = time.perf_counter()

    def __enter__(self) -> Steps:
        return self.start()

    def start(self) -> Steps:
        """Show the bar (on a terminal); ``with Steps(...)`` calls it."""
        if self.enabled and _is_terminal(self.stream):
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
        self.close()

    def close(self) -> None:
        """Remove the bar; ``with Steps(...)`` calls it."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def add(self, n: int) -> None:
        """``n`` more steps than announced (a loop whose length is known late)."""
        self.total += n
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)

    def note(self, message: str) -> None:
        """Say what the job is doing between steps (e.g. before the first one starts)."""
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self.job}: {message}")
        elif self.enabled:
            self._line(f"{message} ...")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step; show it while it runs."""
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self.job}: {name}")
        elif self.enabled and not self.min_seconds:
            self._line(f"[{self._done + 1}/{self.total}] {name} ...")
        t0 = time.perf_counter()
        yield
        self._finish(name, time.perf_counter() - t0)

    def advance(self, name: str, seconds: float | None = None) -> None:
        """Count a step that ran elsewhere (an optimiser's callback); ``name`` says how it went."""
        self._finish(name, seconds)

    def track(self, items: Iterable[T], label: str, total: int | None = None) -> Iterator[T]:
        """Yield each item as one step named ``label i/n`` (the loop's length is added)."""
        seq = items if total is not None else list(items)
        n = total if total is not None else len(seq)  # type: ignore[arg-type]
        self.add(n)
        for i, item in enumerate(seq, 1):
            with self.step(f"{label} {i}/{n}"):
                yield item

    def _finish(self, name: str, seconds: float | None) -> None:
        if seconds is not None:
            self.timings[name] = round(seconds, 3)
        self._done += 1
        took = f" in {seconds:.1f}s" if seconds is not None else ""
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
            from rich.markup import escape

            self._bar.console.print(
                f"[dim]{escape(self.job)}:[/dim] {escape(name)} done{took}", highlight=False
            )
        elif self.enabled and (seconds or 0.0) >= self.min_seconds:
            self._line(f"[{self._done}/{self.total}] {name} done{took}")

    def _line(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {self.job}: {text}", file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
