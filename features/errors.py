"""The one error type for bad input: names the file, the column and what to do, on one line.

Library code raises :class:`LinliInputError` (or its subclass ``SchemaError``) when the
data a user gave cannot be used; the `linli` command prints it as one line and exits 2.
Any other exception is a bug in Linli, never the user's fault.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class LinliInputError(ValueError):
    """Input Linli cannot use: `file: column X: problem; hint` (each part optional)."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = " ".join(str(message).split())
        self.file = None if file is None else str(file)
        self.column = column
        self.hint = None if hint is None else " ".join(str(hint).split())
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The whole error on one line."""
        parts = []
        if self.file:
            parts.append(f"{self.file}:")
        if self.column:
            parts.append(f"column {self.column!r}:")
        parts.append(self.message)
        text = " ".join(parts)
        return f"{text} ({self.hint})" if self.hint else text


def did_you_mean(wanted: str, present: Iterable[str]) -> str | None:
    """The closest present name to a missing one (difflib), or None."""
    close = difflib.get_close_matches(wanted, [str(p) for p in present], n=1, cutoff=0.6)
    if close:
        return close[0]
    # a short present name that is the wanted one's last part (`type` for `event_type`)
    tails = [str(p) for p in present if len(str(p)) >= 2 and wanted.endswith("_" + str(p))]
    return tails[0] if tails else None
