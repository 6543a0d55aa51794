"""Step table: time, CPU and peak memory of every job on a baseline world and a large one, same run.

`python -m experiments.benchmarks.bench_jobs --world work/bench10k --world work/bench200k`
runs, per world, each step as its own `linli` process (feature build, train blend, export,
segments, bundles, audience, forecast, hosts, koc), samples the process tree's resident
memory and takes its CPU time (user + system, from the kernel's accounting of the finished
child); prints a Markdown table (one column per world, then the last world's CPU over the
first's and its events per CPU second). Wall seconds depend on what else runs on the
machine; CPU seconds much less. ``--window-days`` keeps only the last N days of a world's
events (a time window of a valid data directory); ``--reuse-features`` keeps a feature
store built before under ``WORLD/bench`` and skips the build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
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


@dataclass
class Measured:
    """One step: wall seconds, CPU seconds (user + system), peak RSS of its process tree, exit code."""

    seconds: float
    cpu: float
    peak_mb: float
    rc: int

    def cell(self) -> str:
        out = f"{self.seconds:.1f} s ({self.cpu:.1f} s CPU) / {self.peak_mb:,.0f} MB"
        return out + ("" if self.rc == 0 else f" (exit {self.rc})")


def measure(argv: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run one `linli` command, sampling its process tree's resident memory every 0.1 s.

    CPU time and the process's own peak RSS come from the kernel when it is reaped
    (``wait4``), so a step shorter than one sample is measured too.
    """
    linli = str(Path(sys.executable).with_name("linli"))
    t0 = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.Popen([linli, *argv], env=env, stdout=out, stderr=out)
        ps, peak = psutil.Process(proc.pid), 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max(peak, usage.ru_maxrss * 1024)  # kilobytes on Linux
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(time.perf_counter() - t0, cpu, peak / 2**20, int(proc.returncode))


def prepare(world: Path, window_days: float | None, reuse: bool) -> tuple[Path, dict[str, int]]:
    """A working copy of the world's data (events cut to the window); its sizes.

    ``reuse``: keep ``WORLD/bench`` as it is when it already holds a feature store.
    """
    work = world / "bench"
    if not (reuse and (work / "features" / "summary.json").exists()):
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
    ev = pd.read_parquet(work / "data" / "events.parquet", columns=["id_value"])
    items = pd.read_parquet(world / "data" / "items.parquet", columns=["item_id"])
    return work, {
        "events": len(ev),
        "identifiers": int(ev["id_value"].nunique()),
        "items": len(items),
    }


def table_lines(
    results: dict[str, dict[str, Measured]], heads: list[str], events: dict[str, int]
) -> list[str]:
    """The Markdown step table; with two worlds or more, the last one against the first."""
    ratio = len(heads) > 1
    extra = ["CPU ratio (last / first)", "events / CPU s (last)"] if ratio else []
    lines = [
        "| step | " + " | ".join(heads + extra) + " |",
        "|---|" + "---|" * (len(heads) + len(extra)),
    ]
    for name, cells in results.items():
        row = [cells[h].cell() if h in cells else "" for h in heads]
        if ratio:
            a, b = cells.get(heads[0]), cells.get(heads[-1])
            row.append(f"x{b.cpu / a.cpu:.1f}" if a and b and a.cpu > 0 else "")
            row.append(f"{events[heads[-1]] / b.cpu:,.0f}" if b and b.cpu > 0 else "")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.bench_jobs", description=__doc__
    )
    p.add_argument("--world", type=Path, action="append", required=True, help="synth output dir")
    p.add_argument(
        "--window-days",
        type=float,
        action="append",
        default=[],
        help="keep the last N days of events (one per --world, in order; default: all)",
    )
    p.add_argument(
        "--reuse-features",
        action="store_true",
        help="keep WORLD/bench when it holds a feature store and skip the feature build",
    )
    p.add_argument("--skip", action="append", default=[], help="a step not to run (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    windows = args.window_days + [None] * (len(args.world) - len(args.window_days))
    results: dict[str, dict[str, Measured]] = {}
    heads: list[str] = []
    events: dict[str, int] = {}
    for world, window in zip(args.world, windows, strict=True):
        work, size = prepare(world, window, args.reuse_features)
        head = f"{world.name} ({size['events']:,} events, {size['identifiers']:,} ids, {size['items']:,} items)"  # fmt: skip
        heads.append(head)
        events[head] = size["events"]
        env = {**os.environ, "LINLI_WORK_DIR": str(work), "OPENBLAS_NUM_THREADS": "1"}
        env.pop("MLFLOW_TRACKING_URI", None)
        reused = args.reuse_features and (work / "features" / "summary.json").exists()
        for name, cmd in steps(work):
            if name in args.skip or (name == "features build" and reused):
                print(f"{head}: {name}: skipped", flush=True)
                continue
            m = measure(cmd, env, work / "bench.log")
            results.setdefault(name, {})[head] = m
            print(f"{head}: {name}: {m.cell()}", flush=True)
    print("\n" + "\n".join(table_lines(results, heads, events)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {n: {h: vars(m) for h, m in c.items()} for n, c in results.items()}
        args.json.write_text(json.dumps({"worlds": heads, "steps": data}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
