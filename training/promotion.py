"""Promotion of a registered version to the served champion, and its recovery after a crash.

The bundle half (pointer, intent record, flip) is :mod:`serving.pointer`; this module adds
the registry half (the alias ``champion``) and the export of the new version's bundle.
Order: export ``<bundle>-v<N>`` -> intent record (synced) -> [adopt a plain folder] -> flip
the pointer (the commit point) -> move the alias -> clear the intent. :func:`reconcile` runs
first in every retraining job: a flipped pointer means promoted (the alias follows), an
unflipped one means not (the pointer goes back, the alias names the previous version).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from serving import pointer
from training.settings import Settings

log = logging.getLogger("linli.promotion")
CURRENT = "current.json"
RETRAIN_DIR = "retrain"


def promote(
    features: Path,
    version: str,
    old: str | None,
    bundle_dir: Path,
    export: bool,
    settings: Settings,
) -> dict[str, Any]:
    """Write ``<bundle>-v<N>``, record the intent, flip the pointer (the commit), move the alias.

    A kill anywhere leaves either the old champion everywhere or a flipped pointer that
    :func:`reconcile` (next run) and :func:`serving.pointer.reconcile` (server start) finish.
    """
    detail: dict[str, Any] = {"version": version, "previous": old}
    if not export:
        finish(
            {"version": version, "previous_version": old, "features": str(features.resolve())},
            settings,
        )
        return detail
    new_dir = pointer.versioned(bundle_dir, version)
    export_version(features, version, new_dir, settings)
    with pointer.promotion_lock(bundle_dir):
        before = pointer.target(bundle_dir)
        adopt = None
        if bundle_dir.is_dir() and not bundle_dir.is_symlink():  # a folder from `linli export`
            adopt = free_name(bundle_dir, f"v{old or 'initial'}")
        intent = pointer.write_intent(
            bundle_dir,
            adopt or before,
            new_dir.name,
            version=version,
            previous_version=old,
            features=str(features.resolve()),
        )
        try:
            if adopt is not None:
                pointer.adopt(bundle_dir, adopt)
            pointer.point(bundle_dir, new_dir.name)  # the commit point
        except BaseException:
            if pointer.settle(bundle_dir, intent) != pointer.COMMITTED:
                raise  # not flipped: the pointer is back on the old bundle, the alias unmoved
        finish(intent, settings)
        pointer.clear_intent(bundle_dir)
    prune(bundle_dir, keep={new_dir.name, str(adopt or before)})
    return detail | {
        "bundle": str(bundle_dir),
        "serves": new_dir.name,
        "previous_bundle": adopt or before,
    }


def export_version(features: Path, version: str, out: Path, settings: Settings) -> None:
    """The bundle of one registered version (champion) into its own folder."""
    from training import tracking
    from training.export import ExportVariant, export_bundle

    loaded = tracking.load_recommender(version=version, settings=settings)
    variants = {
        "champion": ExportVariant(
            loaded.model,
            {
                "registered_model": settings.tracking.registered_model,
                "version": loaded.version,
                "run_id": loaded.run_id,
                "alias": "champion",
                "trained_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
            },
            loaded.users,
            loaded.items,
        )
    }
    if out.exists() and not out.is_symlink():
        shutil.rmtree(out)  # a leftover of a run killed before its intent record
    matching = [features.resolve().parent / "matching", settings.work_dir / "matching"]
    export_bundle(features, out, variants, matching)


def free_name(bundle_dir: Path, suffix: str) -> str:
    name = f"{bundle_dir.name}-{suffix}"
    i = 1
    while bundle_dir.with_name(name).exists():
        i += 1
        name = f"{bundle_dir.name}-{suffix}.{i}"
    return name


def prune(bundle_dir: Path, keep: set[str], n: int = 3) -> None:
    """Remove old ``<bundle>-v*`` folders, keeping the served, the previous and the newest few."""
    olds = sorted(
        (p for p in bundle_dir.parent.glob(f"{bundle_dir.name}-v*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
    )
    for p in olds[:-n] if len(olds) > n else []:
        if p.name not in keep and p.name != pointer.target(bundle_dir):
            shutil.rmtree(p, ignore_errors=True)


def finish(intent: dict[str, Any], settings: Settings) -> None:
    """The registry half of a committed promotion (idempotent): alias, challenger, pointer file."""
    from training import tracking

    version = str(intent["version"])
    tracking.set_alias("champion", version, settings)
    if tracking.alias_version("challenger", settings) == version:
        tracking.delete_alias("challenger", settings)  # it is the champion now
    current = settings.work_dir / RETRAIN_DIR / CURRENT
    current.parent.mkdir(parents=True, exist_ok=True)
    tmp = current.with_name(f".{CURRENT}.tmp")
    tmp.write_text(
        json.dumps(
            {
                "features": intent.get("features"),
                "version": version,
                "bundle": intent.get("new"),
                "at": pd.Timestamp.now(tz="UTC").isoformat(),
            }
        )
    )
    os.replace(tmp, current)


def reconcile(bundle_dir: Path, settings: Settings) -> str:
    """Finish or undo a promotion killed half-way: the pointer decides, the alias follows.

    A flipped pointer means promoted: the alias ``champion`` is moved to the intent's version
    (if the kill came first). An unflipped one means not promoted: the pointer is put back
    (:func:`serving.pointer.settle`) and the alias names the previous version.
    """
    from training import tracking

    if pointer.read_intent(bundle_dir) is None:
        return pointer.CLEAN
    with pointer.promotion_lock(bundle_dir):
        intent = pointer.read_intent(bundle_dir)
        if intent is None:
            return pointer.CLEAN
        state = pointer.settle(bundle_dir, intent)
        if state == pointer.COMMITTED:
            finish(intent, settings)
            pointer.clear_intent(bundle_dir)
        elif intent.get("previous_version"):
            tracking.set_alias("champion", str(intent["previous_version"]), settings)
    log.warning("promotion to v%s found half-done: %s", intent.get("version"), state)
    return state
