"""The argument parser every `linli` command uses.

``LinliParser`` is ``argparse.ArgumentParser`` with two differences: ``--help`` states each
option's default and choices, and a usage mistake is one line on stderr (exit 2) that names
the option and points at ``--help`` instead of a usage block. Subparsers inherit both.

Value types for options that name something that must exist (``existing_dir``,
``existing_file``, ``existing_path``) or that are dates (``iso_date``) turn a mistake into
the same one line before the job starts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help lines end with ``(default: X)`` when the default says something and the text
    does not already name it; choices hidden by a ``metavar`` are listed too."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.help is argparse.SUPPRESS:
            return action.help
        extra = []
        if action.choices is not None and action.metavar is not None:
            listed = ", ".join(str(c) for c in action.choices)
            if listed not in text:
                extra.append(f"choices: {listed}")
        if _states_default(action) and "default" not in text.lower():
            extra.append("default: %(default)s")
        return f"{text} ({'; '.join(extra)})" if extra else text


def _states_default(action: argparse.Action) -> bool:
    """Whether the default is worth printing (not None/False/empty, not a flag)."""
    if not action.option_strings or action.default is None or action.default is False:
        return False  # identity: a default of 0 is worth printing, though 0 == False
    if action.default in ([], "", argparse.SUPPRESS):
        return False
    return action.nargs != 0


class LinliParser(argparse.ArgumentParser):
    """``ArgumentParser`` with defaults in ``--help`` and one-line usage errors."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        """One line: ``PROG: error: MESSAGE (see PROG --help)``, exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def choices_help(what: str, values: Iterable[str]) -> str:
    """``what: a, b, c`` for an option whose value is a list of names (``--models``)."""
    return f"{what}: {', '.join(values)}"


def existing_dir(value: str) -> Path:
    """An argparse type: a folder that exists."""
    path = Path(value)
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{value} {what}")
    return path


def existing_file(value: str) -> Path:
    """An argparse type: a file that exists."""
    path = Path(value)
    if not path.is_file():
        what = "is a folder, not a file" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{value} {what}")
    return path


def existing_path(value: str) -> Path:
    """An argparse type: a file or folder that exists."""
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value} does not exist")
    return path


def iso_date(value: str) -> dt.date:
    """An argparse type: a calendar date written ``YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date (write YYYY-MM-DD, e.g. 2026-05-01)"
        ) from None


def fail(prog: str, message: str) -> NoReturn:
    """Stop a command with one line on stderr and exit 2 (a mistake found after parsing)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def one_line(exc: BaseException) -> str:
    """An exception as one line: a pydantic ValidationError as ``field: problem; ...``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors()]
        except (TypeError, KeyError):
            parts = []
        if parts:
            return "; ".join(parts)
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())


def field_help(config: Any, name: str) -> str:
    """Help for an option that overrides a pydantic config field: its description and default."""
    info = config.model_fields[name]
    text = (info.description or name.replace("_", " ")).rstrip(".")
    return f"{text} (default: {info.default})"
