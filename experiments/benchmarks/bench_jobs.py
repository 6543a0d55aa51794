"""Step table: time and peak memory of every job on a baseline world and a large one, same run.

`python -m experiments.benchmarks.bench_jobs --world work/bench10k --world work/bench200k --window-days 7`
runs, per world, each step as its own `linli` process (feature build, train blend, export,
segments, bundles, audience, forecast, hosts, koc) and samples the process tree's resident
memory; prints a Markdown table (one column pair per world). ``--window-days`` keeps only
the last N days of a world's events (a time window of a valid data directory), so a world
with many people can be cut to a given number of events.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

THEME = Path(__file__).resolve().parents[1] / "themes" / "light_meal.json"


def steps(work: Path) -> list[tuple[str, list[str]]]:
    """(name, linli argv) of each job, in pipeline order."""
    f, m = str(work / "features"), str(work / "matching")
    return [
        (
            "features build",
            [
                "features",
                "build",
                "--data",
                str(work / "data"),
                "--out",
                f,
                "--no-progress",
                "--no-store",
            ],
        ),  # fmt: skip
        ("train blend", ["train", "--model", "blend", "--features", f, "--alias", "champion"]),
        ("export", ["export", "--features", f, "--out", str(work / "bundle"), "--matching", m]),
        ("segments", ["segments", "--features", f, "--out", m, "--no-mlflow"]),
        ("bundles", ["bundles", "--features", f, "--out", m, "--no-mlflow"]),
        (
            "audience",
            ["audience", "--features", f, "--theme", str(THEME), "--matching", m, "--no-mlflow"],
        ),  # fmt: skip
        ("forecast", ["forecast", "--features", f, "--out", m, "--no-mlflow"]),
        ("hosts", ["hosts", "--features", f, "--out", m, "--no-mlflow"]),
        ("koc", ["koc", "--features", f, "--out", m, "--no-mlflow"]),
    ]


def measure(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run one `linli` command; (seconds, peak RSS of its process tree in MB, exit code)."""
    linli = str(Path(sys.executable).with_name("linli"))
    t0 = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.Popen([linli, *argv], env=env, stdout=out, stderr=out)
        ps, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.1)
    return time.perf_counter() - t0, peak / 2**20, int(proc.returncode)


def prepare(world: Path, window_days: float | None) -> tuple[Path, dict[str, int]]:
    """A working copy of the world's data (events cut to the window); its sizes."""
    work = world / "bench"
    if work.exists():
        shutil.rmtree(work)
    (work / "data").mkdir(parents=True)
    for p in (world / "data").iterdir():
        if not p.name.startswith("events"):
            (work / "data" / p.name).symlink_to(p.resolve())
    ev = pd.read_parquet(next((world / "data").glob("events.parquet")))
    if window_days:
        ts = pd.to_datetime(ev["ts"], format="ISO8601", utc=True)
        ev = ev[ts >= ts.max() - pd.Timedelta(days=window_days)]
    ev.to_parquet(work / "data" / "events.parquet", index=False)
    items = pd.read_parquet(world / "data" / "items.parquet", columns=["item_id"])
    people = ev["id_value"].nunique()
    return work, {"events": len(ev), "identifiers": int(people), "items": len(items)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.bench_jobs", description=__doc__
    )
    p.add_argument("--world", type=Path, action="append", required=True, help="synth output dir")
    p.add_argument("--window-days", type=float, action="append", default=[])
    args = p.parse_args(argv)
    windows = args.window_days + [None] * (len(args.world) - len(args.window_days))
    table: dict[str, dict[str, str]] = {}
    heads = []
    for world, window in zip(args.world, windows, strict=True):
        work, size = prepare(world, window)
        head = f"{world.name} ({size['events']:,} events, {size['identifiers']:,} ids, {size['items']:,} items)"  # fmt: skip
        heads.append(head)
        env = {**os.environ, "LINLI_WORK_DIR": str(work), "OPENBLAS_NUM_THREADS": "1"}
        env.pop("MLFLOW_TRACKING_URI", None)
        for name, cmd in steps(work):
            secs, mb, rc = measure(cmd, env, work / "bench.log")
            cell = f"{secs:.1f} s / {mb:,.0f} MB" + ("" if rc == 0 else f" (exit {rc})")
            table.setdefault(name, {})[head] = cell
            print(f"{head}: {name}: {cell}", flush=True)
    print("\n| step | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(heads))
    for name, cells in table.items():
        print(f"| {name} | " + " | ".join(cells.get(h, "") for h in heads) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
