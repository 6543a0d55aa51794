"""In-process latency of /rank/group's ranking with two group mixes on one bundle, interleaved.

    python -m experiments.benchmarks.group_mix_bench [--bundle DIR] [--rounds 60]

Without ``--bundle`` it uses (and builds once, cached) the load benchmark's synthetic bundle:
200,000 users x 50,000 items, 64 factors, groups of 500 members. The former default mix
(history 0.4 + members 0.4 + strategy 0.2) and the current :data:`DEFAULT_MIX` rank the same
500-member group in alternating order, so both see the same background load; prints median,
p90 and p99 in ms per mix (the first 5 rounds are warm-up).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from experiments.benchmarks.load_bench import _pick, synthetic_bundle
from serving import group_rebuy as gr
from serving import ranking
from serving.artifacts import load_bundle


def main(argv: list[str] | None = None) -> int:
    """CLI: time both mixes and print one line per mix."""
    p = argparse.ArgumentParser(prog="python -m experiments.benchmarks.group_mix_bench")
    p.add_argument("--bundle", type=Path, default=None, help="an exported bundle")
    p.add_argument("--work", type=Path, default=Path("work/bench/syn-bundle"), help="cache")
    p.add_argument("--group-size", type=int, default=500, help="members of the ranked group")
    p.add_argument("--rounds", type=int, default=60, help="alternating pairs")
    a = p.parse_args(argv)
    path = a.bundle or synthetic_bundle(a.work, 200_000, 50_000, 64, a.group_size)
    b = load_bundle(path)
    _, group, _ = _pick(path, a.group_size, 1)
    g = b.group_index[group]
    members = b.members(g).astype(np.int64)
    v = b.variants["champion"]
    mixes = {"former": gr.GroupMix(0.4, 0.4), "default": gr.DEFAULT_MIX}
    lat: dict[str, list[float]] = {k: [] for k in mixes}
    for r in range(a.rounds):
        for name in list(mixes)[:: 1 if r % 2 else -1]:
            t = time.perf_counter()
            ranking.rank_group(b, v, members, 10, "average", group=g, mix=mixes[name])
            lat[name].append(time.perf_counter() - t)
    print(f"group {group}: {len(members)} members, {b.n_items:,} items", flush=True)
    for name, values in lat.items():
        ms = np.asarray(values[5:]) * 1000
        print(
            f"{name:8s} {mixes[name].label()}: median {np.median(ms):.1f} ms, "
            f"p90 {np.percentile(ms, 90):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
