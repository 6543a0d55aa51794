"""How Linli's MLflow store is laid out: one experiment per kind of job, readable run names.

Pure names only (no MLflow import): :mod:`training.tracking` applies them.

* **Experiments**: ``<base>-training``, ``<base>-tuning``, ``<base>-evaluation``,
  ``<base>-matching``, ``<base>-ab`` and ``<base>-reports``, where ``<base>`` is
  ``settings.tracking.experiment`` (``linli``). A run lands in the experiment of its
  ``linli.run_type`` tag (:data:`RUN_TYPE_EXPERIMENT`); nested runs stay with their parent.
* **Run names** of registered versions: ``blend v3 @champion`` (model kind, version, aliases),
  refreshed whenever an alias moves.
"""

from __future__ import annotations

from collections.abc import Iterable

EXPERIMENT_KINDS = ("training", "tuning", "evaluation", "matching", "ab", "reports")
DEFAULT_KIND = "training"

# linli.run_type tag -> experiment kind
RUN_TYPE_EXPERIMENT: dict[str, str] = {
    "training": "training",
    "retrain": "training",
    "tune": "tuning",
    "tune-trial": "tuning",
    "leaderboard": "evaluation",
    "leaderboard-model": "evaluation",
    "check": "evaluation",
    "simulate": "evaluation",
    "matching": "matching",
    "ab": "ab",
    "ab-variant": "ab",
    "online-ab": "ab",
    "report": "reports",
}

ROLE_ORDER = ("champion", "challenger")


def experiment_name(base: str, kind: str) -> str:
    """``linli-training`` for base ``linli`` and kind ``training``."""
    if kind not in EXPERIMENT_KINDS:
        raise ValueError(f"unknown experiment kind {kind!r} (one of {', '.join(EXPERIMENT_KINDS)})")
    return f"{base}-{kind}"


def experiment_kind(run_type: str | None) -> str:
    """The experiment kind a run of this ``linli.run_type`` belongs to (training by default)."""
    return RUN_TYPE_EXPERIMENT.get(run_type or "", DEFAULT_KIND)


def sorted_aliases(aliases: Iterable[str]) -> list[str]:
    """champion first, then challenger, then any other alias alphabetically."""
    found = set(aliases)
    return [a for a in ROLE_ORDER if a in found] + sorted(found - set(ROLE_ORDER))


def version_label(kind: str, version: str | int | None, aliases: Iterable[str] = ()) -> str:
    """``blend v3 @champion``; ``als v4``; ``repeat`` (not registered)."""
    parts = [kind or "model"]
    if version not in (None, ""):
        parts.append(f"v{version}")
    parts += [f"@{a}" for a in sorted_aliases(aliases)]
    return " ".join(parts)


def role_of(aliases: Iterable[str]) -> str:
    """The run's role tag: ``champion``, ``challenger`` or ``""``."""
    found = sorted_aliases(aliases)
    return next((a for a in found if a in ROLE_ORDER), "")
