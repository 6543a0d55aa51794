"""The `linli` command: one entry point whose subcommands load their package only when called."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

# subcommand -> ("module" with main(argv) -> int, or "module:function"; one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("features.synth", "write a synthetic group-buying world (data dir + ground truth)"),
    "adapt": ("features.adapters", "convert a real public dataset into a SCHEMA data directory"),
    "features": (
        "features.build",
        "build the feature store: `linli features build --data D --out O`",
    ),
    "evaluate": ("experiments.evaluate", "leaderboard: models x seeded splits on a dataset"),
    "train": ("training.train", "fit, log to MLflow and register a model on a feature store"),
    "tune": ("experiments.tune", "Optuna search, one nested MLflow run per trial, best refit"),
    "alias": ("training.tracking", "registry aliases: `linli alias set --version N --alias A`"),
    "export": (
        "training.export",
        "registered champion/challenger + feature store -> serving bundle",
    ),
    "serve": ("serving.cli", "run the BentoML server on a bundle: `linli serve --port 3000`"),
    "users": ("serving.users_cli", "member profiles and tag queries: `linli users query EXPR`"),
    "segments": ("training.matching_cli:segments_main", "discover, name and profile user segments"),
    "bundles": (
        "training.matching_cli:bundles_main",
        "bundles of complementary items from baskets",
    ),
    "audience": ("training.matching_cli:audience_main", "theme audience: top-N users with reasons"),
    "forecast": ("training.matching_cli:forecast_main", "weekly item / category demand forecast"),
    "hosts": (
        "training.matching_cli:hosts_main",
        "rank live-stream hosts for every group and segment",
    ),
    "koc": ("training.matching_cli:koc_main", "rank group members by influence (KOC scores)"),
    "ab": ("experiments.ab", "offline A/B: champion vs challenger on one holdout, bootstrap CIs"),
    "online-ab": ("experiments.online_ab", "online A/B from the exposure log and later events"),
    "retrain": ("experiments.retrain", "retrain on new data; promote only a challenger that wins"),
    "report": ("experiments.report", "the BI report: one self-contained HTML page with plots"),
    "simulate": ("experiments.simulate", "campaign simulation: targeted live vs broadcast"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: linli COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`linli COMMAND --help` for the options of one command."]
    return "\n".join(lines)


def app(argv: list[str] | None = None) -> int:
    """Dispatch `linli COMMAND ...` to COMMAND's module."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"linli: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[name][0].partition(":")
    module = importlib.import_module(module_name)
    entry = getattr(module, function or "main")
    return _guarded(name, lambda: int(entry(rest) or 0))


def _guarded(name: str, run: Callable[[], int]) -> int:
    """Run one command: bad input is one line on stderr and exit 2, a Linli bug exit 1.

    Never a traceback for the user (``LINLI_DEBUG=1`` shows it for a bug report).
    """
    from features.errors import LinliInputError

    try:
        return run()
    except LinliInputError as exc:
        print(f"linli {name}: error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"linli {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in Linli: one line, the traceback only on request
        if os.environ.get("LINLI_DEBUG"):
            raise
        what = " ".join(str(exc).split())[:300]
        print(
            f"linli {name}: internal error: {type(exc).__name__}: {what} "
            "(a bug in Linli, not in your data; rerun with LINLI_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


def main() -> None:
    """Console-script entry point."""
    raise SystemExit(app())


if __name__ == "__main__":
    main()
