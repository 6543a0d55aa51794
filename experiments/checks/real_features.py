"""Benchmark: the feature job on every real dataset of ../shared/datasets (time and peak memory).

`python -m experiments.checks.real_features [--datasets instacart,tafeng,taobao,groceries]`.
Each dataset runs in its own process (adapter -> SCHEMA data dir -> feature job) so
peak memory is that dataset's alone; prints a markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from features.adapters import adapter, write_tables
from features.build import run
from training.settings import load_settings
name, src, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
write_tables(adapter(name).to_schema(src), out / "data", "parquet")
t1 = time.perf_counter()
s = run(out / "data", out / "features", load_settings(work_dir=out), progress=False)
t2 = time.perf_counter()
ev = s["tables"]["events"]
print(json.dumps({"dataset": name, "events_read": ev["read"], "events_rejected": ev["rejected"],
  "users": s["users_after_unification"], "items": s["matrix"]["items"], "adapt_s": round(t1 - t0, 1),
  "features_s": round(t2 - t1, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def main(argv: list[str] | None = None) -> int:
    """CLI: run every dataset and print the table."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.checks.real_features", description=__doc__
    )
    p.add_argument("--datasets", default="instacart,tafeng,taobao,groceries")
    p.add_argument("--src", type=Path, default=Path("../shared/datasets"))
    p.add_argument("--out", type=Path, default=Path("work/real"))
    a = p.parse_args(argv)
    rows = []
    for name in a.datasets.split(","):
        res = subprocess.run(
            [sys.executable, "-c", CHILD, name, str(a.src / name), str(a.out / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print(
        "\n| dataset | events read | rejected | users | items | adapter s | feature job s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['events_read']:,} | {r['events_rejected']:,} | {r['users']:,} | {r['items']:,} | {r['adapt_s']} | {r['features_s']} | {r['peak_rss_mb']:,} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
