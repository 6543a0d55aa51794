"""Benchmark: feature-build throughput (events/s) on a large synthetic log read from Parquet.

`python -m experiments.benchmarks.bench_features --events 10000000` writes a SCHEMA data
directory of N events (vectorised numpy, realistic mix of event types, ids,
phone formats, search texts, orders) once, then runs the feature job on it and
reports, per engine (each build in its own process), seconds, events/s, peak resident
memory of the process tree and each step's seconds. The baseline, run in the same
process, is the bare Parquet read of the events table (the I/O floor), so the ratio
says how much the job costs on top of reading its input.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

TYPES = np.array(
    ["view", "click", "search", "cart", "order", "jielong", "live_view", "message", "share"]
)
TYPE_P = np.array([0.40, 0.17, 0.05, 0.08, 0.14, 0.06, 0.05, 0.03, 0.02])
TEXTS = np.array(
    [
        "有没有减脂餐推荐",
        "宝宝辅食",
        "烘焙黄油",
        "进口车厘子",
        "今天有什么特价",
        "五常大米",
        "鸡胸肉",
        "水果",
    ]
)


def _where(mask: np.ndarray, values: np.ndarray) -> pd.Series:
    """`values` where `mask`, missing elsewhere."""
    return pd.Series(values, dtype="string").where(mask)


N_ITEMS = 20000
CHUNK = 2_000_000  # events generated and written at a time: a 50M log needs little memory
SPAN_S = 180 * 86400  # the log covers six months


def _chunk(
    rng: np.random.Generator, first: int, n: int, n_people: int, t0: int, t1: int
) -> pd.DataFrame:
    """`n` events numbered from `first`, in time order between the epoch seconds t0 and t1."""
    person = rng.integers(0, n_people, n)
    item = np.minimum(rng.zipf(1.2, n) - 1, N_ITEMS - 1)
    etype = TYPES[rng.choice(len(TYPES), n, p=TYPE_P)]
    which_id = rng.integers(0, 3, n)  # 0 wecom, 1 openid, 2 phone
    id_type = np.array(["wecom", "openid", "phone"])[which_id]
    pstr = person.astype(str)
    phone = (13000000000 + person).astype(str)
    id_value = np.where(
        which_id == 0,
        np.char.add("w", pstr),
        np.where(which_id == 1, np.char.add("o", pstr), phone),
    )
    ts = pd.to_datetime(np.sort(rng.integers(t0, t1, n)), unit="s", utc=True).tz_convert(
        "Asia/Shanghai"
    )
    is_buy = np.isin(etype, ["order", "jielong"])
    has_item = ~np.isin(etype, ["search", "message", "live_view", "share"])
    order_id = _where(
        is_buy, np.char.add("o", (person * 1000 + rng.integers(0, 50, n)).astype(str))
    )
    text = _where(np.isin(etype, ["search", "message"]), TEXTS[rng.integers(0, len(TEXTS), n)])
    return pd.DataFrame(
        {
            "event_id": np.char.add("e", np.arange(first, first + n).astype(str)),
            "ts": ts,
            "event_type": etype,
            "id_type": id_type,
            "id_value": id_value,
            "item_id": _where(has_item, np.char.add("i", item.astype(str))),
            "quantity": np.where(is_buy, rng.integers(1, 4, n), np.nan),
            "amount": np.where(is_buy, rng.gamma(2.0, 20.0, n).round(2), np.nan),
            "order_id": order_id,
            "group_id": np.char.add("g", (person % 200).astype(str)),
            "text": text,
            "channel": np.array(["miniapp", "group", "store"])[which_id],
        }
    )


def make_log(n_events: int, out: Path, seed: int = 0) -> Path:
    """Write events / identity_links / items parquet for `n_events` events; returns the data dir.

    Events are generated and written CHUNK at a time (each chunk a later slice of the six
    months), so the log can be far larger than memory.
    """
    rng = np.random.default_rng(seed)
    data = out / "data"
    if (data / "events.parquet").exists() and pq.ParquetFile(
        data / "events.parquet"
    ).metadata.num_rows == n_events:
        return data
    data.mkdir(parents=True, exist_ok=True)
    n_people = max(n_events // 150, 10)
    start = pd.Timestamp("2026-05-01T00:00:00+08:00").value // 10**9
    n_chunks = max(1, -(-n_events // CHUNK))
    writer = None
    for k in range(n_chunks):
        first = k * CHUNK
        n = min(CHUNK, n_events - first)
        t0, t1 = start + SPAN_S * k // n_chunks, start + SPAN_S * (k + 1) // n_chunks
        table = pa.Table.from_pandas(_chunk(rng, first, n, n_people, t0, t1), preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(data / "events.parquet", table.schema)
        writer.write_table(table, row_group_size=1_000_000)
    assert writer is not None
    writer.close()
    p = np.arange(n_people)
    pd.DataFrame(
        {
            "id_type_a": "wecom",
            "id_value_a": np.char.add("w", p.astype(str)),
            "id_type_b": np.where(p % 2 == 0, "openid", "phone"),
            "id_value_b": np.where(
                p % 2 == 0, np.char.add("o", p.astype(str)), (13000000000 + p).astype(str)
            ),
        }
    ).to_parquet(data / "identity_links.parquet", index=False)
    pd.DataFrame(
        {
            "item_id": np.char.add("i", np.arange(N_ITEMS).astype(str)),
            "name": np.char.add("商品", np.arange(N_ITEMS).astype(str)),
            "category": np.array(["fruit", "meat", "dairy", "grain_oil", "baking"])[
                np.arange(N_ITEMS) % 5
            ],
            "price": rng.gamma(2.0, 15.0, N_ITEMS).round(1),
        }
    ).to_parquet(data / "items.parquet", index=False)
    return data


def run_measured(cmd: list[str], log: Path) -> tuple[float, int]:
    """Run `cmd` (its stderr to `log`); (wall seconds, peak resident memory of its whole
    process tree in bytes)."""
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True)
        peak = 0
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        errors = [x for x in lines if "Error" in x or "Exception" in x] or lines
        raise RuntimeError(
            f"{' '.join(cmd[:4])} ... exit {proc.returncode}: "
            f"{errors[-1] if errors else ''} (all of its stderr: {log})"
        )
    return secs, peak


def bench_engine(data: Path, out: Path, engine: str, n_events: int) -> dict[str, object]:
    """One feature build on `engine` in a child process: seconds, events/s, peak RSS, steps."""
    cmd = [sys.executable, "-m", "features.build", "build", "--data", str(data), "--out", str(out)]
    cmd += ["--engine", engine, "--no-progress", "--no-store"]
    shutil.rmtree(out, ignore_errors=True)  # a cold build: no previous identity
    secs, peak = run_measured(cmd, out.with_name(out.name + ".stderr.log"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    steps = summary["timings_s"]
    return {
        "engine": engine,
        "seconds": round(secs, 2),
        "events_per_s": round(n_events / secs),
        "peak_rss_gb": round(peak / 2**30, 2),
        "steps_s": steps,
        "steps_events_per_s": {k: round(n_events / v) for k, v in steps.items() if v > 0},
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: run the benchmark and print events/s per engine and step."""
    ap = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.bench_features", description=__doc__
    )
    ap.add_argument(
        "--events", type=int, default=10_000_000, help="events in the log (default 10M)"
    )
    ap.add_argument(
        "--dir", type=Path, default=Path("work/bench_features"), help="where the log and stores go"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the generated log (default 0)")
    ap.add_argument(
        "--engines",
        default="duckdb,spark",
        help="comma-separated engines to time: duckdb, spark (default duckdb,spark)",
    )
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = make_log(a.events, a.dir, a.seed)
    print(f"log: {a.events:,} events in {data} ({time.perf_counter() - t0:.1f}s to make or reuse)")
    t0 = time.perf_counter()
    base_rows = pq.read_table(data / "events.parquet").num_rows
    base_s = time.perf_counter() - t0
    result: dict[str, object] = {
        "events": a.events,
        "baseline_parquet_read_s": round(base_s, 2),
        "baseline_events_per_s": round(base_rows / base_s),
        "engines": [],
    }
    print(f"baseline: bare Parquet read {base_s:.2f}s ({base_rows / base_s:,.0f} events/s)")
    for engine in [e.strip() for e in a.engines.split(",") if e.strip()]:
        print(f"{engine}: building ...", flush=True)
        row = bench_engine(data, a.dir / f"features_{engine}", engine, a.events)
        result["engines"].append(row)  # type: ignore[attr-defined]
        print(
            f"{engine}: {row['seconds']}s, {row['events_per_s']:,} events/s, "
            f"peak RSS {row['peak_rss_gb']} GB, {float(row['seconds']) / base_s:.1f}x the read",  # type: ignore[arg-type]
            flush=True,
        )
        for step, secs in row["steps_s"].items():  # type: ignore[attr-defined]
            print(f"  {step:<18} {secs:>8.2f}s")
    (a.dir / "result.json").write_text(json.dumps(result, indent=1))
    print(f"result: {a.dir / 'result.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
