"""Every option of every `linli` command has help text, states its choices, and a usage
mistake is one line.

The parsers are the real ones: each command's ``main`` runs until it parses its arguments,
where the walk stops it and reads the parser (and every subparser) it built.
"""

from __future__ import annotations

import argparse
import importlib
import io
from collections.abc import Iterator
from contextlib import redirect_stderr

import pytest

import linli_cli
from features.cli_parser import HelpFormatter, LinliParser

# option names whose value set is closed: such an option must list its choices
CLOSED = {"model", "method", "criterion", "level", "dataset", "protocol", "holdout", "mode", "format", "split", "preset", "name"}  # fmt: skip


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def _stop(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
    raise _Parsed(self)


def command_parsers(monkeypatch: pytest.MonkeyPatch) -> dict[str, argparse.ArgumentParser]:
    """The parser each `linli` command builds, keyed by command name."""
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", _stop)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", _stop)
    found: dict[str, argparse.ArgumentParser] = {}
    for name, (target, _) in linli_cli.COMMANDS.items():
        module, _, function = target.partition(":")
        entry = getattr(importlib.import_module(module), function or "main")
        with pytest.raises(_Parsed) as caught:
            entry([])
        found[name] = caught.value.parser
    return found


def options(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    """(command path, parser, action) of every option and positional, subparsers included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from options(sub, f"{path} {sub_name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, parser, action


@pytest.fixture(scope="module")
def parsers() -> dict[str, argparse.ArgumentParser]:
    with pytest.MonkeyPatch.context() as mp:
        return command_parsers(mp)


def test_every_command_uses_the_linli_parser(parsers: dict[str, argparse.ArgumentParser]) -> None:
    assert set(parsers) == set(linli_cli.COMMANDS)
    plain = [n for n, p in parsers.items() if not isinstance(p, LinliParser)]
    assert not plain, f"commands not built on LinliParser: {plain}"


def test_every_option_has_help(parsers: dict[str, argparse.ArgumentParser]) -> None:
    missing = [
        f"linli {path} {'/'.join(a.option_strings) or a.dest}"
        for name, p in parsers.items()
        for path, _, a in options(p, name)
        if not (a.help or "").strip()
    ]
    assert not missing, "options without help text:\n" + "\n".join(missing)


def test_closed_value_sets_list_their_choices(parsers: dict[str, argparse.ArgumentParser]) -> None:
    """An option named for a closed set has ``choices``, and ``--help`` shows every choice."""
    problems = []
    for name, p in parsers.items():
        for path, parser, a in options(p, name):
            if a.dest in CLOSED and a.choices is None:
                problems.append(f"linli {path} {a.dest}: no choices")
            if a.choices is not None:
                shown = parser.format_help()
                hidden = [str(c) for c in a.choices if str(c) not in shown]
                if hidden:
                    problems.append(f"linli {path} {a.dest}: --help does not show {hidden}")
    assert not problems, "\n".join(problems)


def test_help_states_defaults() -> None:
    """The formatter adds a default the help text does not state, and nothing for flags."""
    p = LinliParser(prog="x")
    p.add_argument("--n", type=int, default=7, help="how many")
    p.add_argument("--k", type=int, default=3, help="cut-off (default 3)")
    p.add_argument("--flag", action="store_true", help="a switch")
    p.add_argument("--kind", choices=["a", "b"], metavar="KIND", default="a", help="which")
    text = " ".join(p.format_help().split())
    assert "how many (default: 7)" in text
    assert "cut-off (default 3)" in text and "(default: 3)" not in text
    assert "a switch (default" not in text
    assert "which (choices: a, b; default: a)" in text
    assert isinstance(p.formatter_class, type) and issubclass(p.formatter_class, HelpFormatter)


def test_the_model_option_lists_the_registered_kinds(
    parsers: dict[str, argparse.ArgumentParser],
) -> None:
    from training.models import REGISTRY

    text = " ".join(parsers["train"].format_help().split())
    assert all(kind in text for kind in REGISTRY)
    assert "training.models" not in text


def test_a_usage_mistake_is_one_line() -> None:
    p = LinliParser(prog="linli x")
    p.add_argument("--model", choices=["a", "b"], required=True, help="kind")
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as done:
        p.parse_args(["--model", "c"])
    assert done.value.code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("linli x: error: argument --model: invalid choice: 'c'")
    assert "linli x --help" in lines[0]


def test_an_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert linli_cli.app(["trian", "--model", "als"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "linli: error: unknown command 'trian' (did you mean train? `linli --help` lists the commands)"
    ]
