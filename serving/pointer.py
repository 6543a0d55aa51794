"""The served bundle as a pointer: ``bundle -> bundle-v<N>``, flipped in one atomic step.

A promotion never renames the live folder. The new bundle is written beside it
(``bundle-v<N>``), an *intent record* (``bundle.intent.json``: the pointer's old and new
targets) is written and synced, then the symlink is replaced with :func:`os.replace`, the
one atomic step: a reader (or a restarted server) sees the old bundle or the new one,
never none and never half of one. The flip is the commit point of a promotion:

- the pointer names the intent's new target: the promotion happened; what follows it (the
  registry alias, done by the retraining job) is rolled forward;
- otherwise it did not: the pointer is put back on the old target (it may be missing if the
  job was killed while turning a plain folder into a pointer) and the new folder removed.

:func:`reconcile` does the bundle half of that, and runs at server start and at the start of
every retraining job; it skips while a promotion holds the lock (``bundle.lock``). This module
knows nothing of the registry (the server imports no training code); the retraining job
(:mod:`training.retrain`) finishes the registry half from the same intent record.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("linli.serving.pointer")

COMMITTED = "committed"  # the pointer names the new target: roll forward
ROLLED_BACK = "rolled back"  # it does not: the pointer is on the old target again
CLEAN = "clean"  # no promotion was under way
BUSY = "busy"  # a promotion is running now: leave it alone


def intent_path(bundle: Path) -> Path:
    """``<bundle>.intent.json``."""
    return bundle.with_name(f"{bundle.name}.intent.json")


def lock_path(bundle: Path) -> Path:
    """``<bundle>.lock``: held by a promotion from its intent record to its end."""
    return bundle.with_name(f"{bundle.name}.lock")


def versioned(bundle: Path, version: str) -> Path:
    """The folder of one version's bundle: ``<bundle>-v<version>``."""
    return bundle.with_name(f"{bundle.name}-v{version}")


def target(bundle: Path) -> str | None:
    """The name the pointer names (a plain folder names itself; None when there is nothing)."""
    if bundle.is_symlink():
        return Path(os.readlink(bundle)).name
    return bundle.name if bundle.is_dir() else None


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(doc, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def read_intent(bundle: Path) -> dict[str, Any] | None:
    """The pending intent record, if any (an unreadable one counts as none)."""
    path = intent_path(bundle)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "new" in doc and "old" in doc else None


def write_intent(bundle: Path, old: str | None, new: str, **extra: Any) -> dict[str, Any]:
    """Record (synced to disk) that the pointer is about to move from `old` to `new`."""
    doc = {"old": old, "new": new, **extra}
    _write_json(intent_path(bundle), doc)
    return doc


def clear_intent(bundle: Path) -> None:
    """The promotion is finished (or undone): forget its intent record."""
    with contextlib.suppress(FileNotFoundError):
        intent_path(bundle).unlink()
        _sync_dir(bundle.parent)


def point(bundle: Path, name: str) -> None:
    """Make `bundle` a symlink to the sibling `name`, atomically (:func:`os.replace`).

    A plain folder at `bundle` cannot be replaced by a link in one step; call :func:`adopt`
    first (under an intent record).
    """
    if bundle.is_dir() and not bundle.is_symlink():
        raise IsADirectoryError(f"{bundle} is a folder, not a pointer; adopt it first")
    tmp = bundle.with_name(f".{bundle.name}.link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(name, tmp)  # relative: the pair can be moved together
    os.replace(tmp, bundle)
    _sync_dir(bundle.parent)


def adopt(bundle: Path, name: str) -> None:
    """Turn a plain bundle folder into ``bundle -> name`` (two steps: run under an intent)."""
    if bundle.is_dir() and not bundle.is_symlink():
        os.rename(bundle, bundle.with_name(name))
        _sync_dir(bundle.parent)
    point(bundle, name)


@contextlib.contextmanager
def promotion_lock(bundle: Path, wait: bool = True) -> Iterator[bool]:
    """Hold ``<bundle>.lock`` (yields False at once when `wait` is off and it is taken)."""
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with lock_path(bundle).open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def settle(bundle: Path, intent: dict[str, Any]) -> str:
    """The bundle half of recovery for a pending intent (the caller holds the lock)."""
    if target(bundle) == intent["new"]:
        return COMMITTED
    old = intent.get("old")
    if old and bundle.with_name(old).is_dir() and target(bundle) != old:
        point(bundle, old)  # the job died while adopting a plain folder: put the pointer back
    new_dir = bundle.with_name(intent["new"])
    if intent["new"] != old and new_dir.is_dir():
        shutil.rmtree(new_dir, ignore_errors=True)
    clear_intent(bundle)
    return ROLLED_BACK


def reconcile(bundle: Path) -> str:
    """Finish or undo a promotion killed half-way (bundle side); one of the states above.

    A committed promotion keeps its intent record until the retraining job has moved the
    registry alias too (:func:`training.retrain.reconcile`).
    """
    bundle = Path(bundle)
    if read_intent(bundle) is None:
        return CLEAN
    with promotion_lock(bundle, wait=False) as mine:
        if not mine:
            return BUSY
        intent = read_intent(bundle)
        if intent is None:
            return CLEAN
        state = settle(bundle, intent)
    log.warning(
        "promotion %s -> %s found half-done: %s (serving %s)",
        intent.get("old"),
        intent["new"],
        state,
        target(bundle),
    )
    return state
