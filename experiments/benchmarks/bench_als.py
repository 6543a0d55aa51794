"""Benchmark: ALS seconds per iteration on a synthetic world of at least 1 million interactions.

`python -m experiments.benchmarks.bench_als [--people 25000]` generates a world, builds its
feature store, and fits the `als` model (64 factors, 15 iterations, event-weighted
interactions) with one BLAS thread and implicit's `num_threads` 1 and 2. The
one-thread fit is the configuration Linli ships; the ratio says what a second
core buys.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from features import store_layout as store
from features.build import run
from features.matrix import Interactions
from features.synth import SynthConfig, generate, write_world
from training.models import build_model
from training.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or reuse) the world, time ALS fits, print seconds per iteration."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.bench_als", description=__doc__
    )
    p.add_argument("--people", type=int, default=25_000)
    p.add_argument("--dir", type=Path, default=Path("work/bench_als"))
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    features = a.dir / "features"
    if not (features / store.MATRIX_DIR / "meta.json").exists():
        world = generate(SynthConfig(people=a.people, months=6, seed=a.seed), progress=True)
        write_world(world, a.dir / "world", "parquet")
        run(a.dir / "world" / "data", features, load_settings(work_dir=a.dir), progress=True)
    inter = Interactions.load(features / store.MATRIX_DIR)
    result: dict[str, object] = {
        "users": inter.shape[0],
        "items": inter.shape[1],
        "interactions": int(inter.weights.nnz),
    }
    per_iteration: dict[int, float] = {}
    for threads in (1, 2):
        model = build_model(
            "als",
            factors=64,
            iterations=a.iterations,
            signal="weights",
            num_threads=threads,
            seed=a.seed,
        )
        t0 = time.perf_counter()
        model.fit(inter)
        per_iteration[threads] = (time.perf_counter() - t0) / a.iterations
        result[f"s_per_iteration_threads_{threads}"] = round(per_iteration[threads], 3)
    result["speedup_2_threads"] = round(per_iteration[1] / per_iteration[2], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
