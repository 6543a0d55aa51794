"""The `linli` command: one entry point whose subcommands load their package only when called."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
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
        from features.errors import did_you_mean

        close = did_you_mean(name, COMMANDS)
        hint = f"did you mean {close}? " if close else ""
        print(
            f"linli: error: unknown command {name!r} ({hint}`linli --help` lists the commands)",
            file=sys.stderr,
        )
        return 2
    quiet_third_party()
    module_name, _, function = COMMANDS[name][0].partition(":")
    module = importlib.import_module(module_name)
    entry = getattr(module, function or "main")
    return _guarded(name, lambda: int(entry(rest) or 0))


# (logger, start of the message) of third-party log records a normal run does not show
QUIET_RECORDS: tuple[tuple[str, str], ...] = (
    # logging a model pickles the Linli wrapper class; its state is checked by digest on load
    ("mlflow.pyfunc", "Passing a Python object as `python_model`"),
)


# (category, module regex, message regex) of third-party warnings whose cause is not ours
QUIET_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    # MLflow's SQL store uses a SQLAlchemy loader option SQLAlchemy 2.1 deprecates
    (DeprecationWarning, r"mlflow\.store\.tracking\.sqlalchemy_store", r"The ``noload`` loader"),
)


class _DropRecords(logging.Filter):
    """Drops the records of one logger whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_third_party() -> None:
    """No third-party chatter on a normal run: MLflow logs warnings and errors only
    (``MLFLOW_LOGGING_LEVEL`` overrides) and the records in ``QUIET_RECORDS`` are dropped."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for category, module, message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    by_logger: dict[str, tuple[str, ...]] = {}
    for logger, prefix in QUIET_RECORDS:
        by_logger[logger] = (*by_logger.get(logger, ()), prefix)
    for logger, prefixes in by_logger.items():
        log = logging.getLogger(logger)
        if not any(isinstance(f, _DropRecords) for f in log.filters):
            log.addFilter(_DropRecords(prefixes))


def _user_mistake(exc: Exception) -> str | None:
    """The message of a third-party error that is the user's mistake, not a bug in Linli
    (MLflow's "not found" for a registered model, version or alias that does not exist)."""
    if type(exc).__name__ == "MlflowException" and getattr(exc, "error_code", "") in (
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
    ):
        return " ".join(str(getattr(exc, "message", exc)).split())
    return None


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
        mistake = _user_mistake(exc)
        if mistake is not None:
            hint = (
                " (`linli alias show` lists them)"
                if "alias" in mistake or "Version" in mistake
                else ""
            )
            print(f"linli {name}: error: {mistake}{hint}", file=sys.stderr)
            return 2
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
