"""A small synthetic world with its feature store, built once per test session for the matching tests."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from features.build import run as build_features
from features.synth import SynthConfig, generate, write_world
from training.settings import Settings

SMALL = SynthConfig(people=400, months=3, seed=11)


@functools.cache
def small_world() -> Path:
    """Root of a 400-person, 3-month world: ROOT/data, ROOT/truth, ROOT/features."""
    root = Path(tempfile.mkdtemp(prefix="linli-matching-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    write_world(generate(SMALL), root)
    settings = Settings(work_dir=root / "work")
    build_features(root / "data", root / "features", settings, progress=False)
    return root
