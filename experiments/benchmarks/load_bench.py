"""Load benchmark of the serving layer: real HTTP on loopback vs the same ranking in-process.

    python -m experiments.benchmarks.load_bench                       # synthetic 200k users x 50k items
    python -m experiments.benchmarks.load_bench --bundle work/bundle  # an exported bundle instead

Builds (once, cached) a scaled synthetic bundle: 200,000 users, 50,000 items, 64 factors,
groups of 500 members, purchases and allergy constraints; starts ``bentoml serve`` on a
free loopback port; sends user-ranking and 500-member group-ranking requests from C
concurrent keep-alive connections (bounded by a request count and a time limit); reports
p50 / p99 latency and throughput, and the ratio to the same calls made in-process.
Writes the figures to ``WORK/bench/load_bench.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from serving import artifacts as art
from serving.cli import free_port, server_env, start_server, stop_server
from training.settings import load_settings

SYN_TAG = "synthetic-load-bench-v1"


# -- synthetic bundle ----------------------------------------------------------------------------
def synthetic_bundle(
    out: Path, users: int, items: int, factors: int, group_size: int, seed: int = 0
) -> Path:
    """A bundle with random low-rank tastes at the requested scale (reused when it matches)."""
    spec = {"users": users, "items": items, "factors": factors, "group_size": group_size}
    man = out / art.MANIFEST
    if man.exists():
        m = json.loads(man.read_text())
        if m.get("synthetic") == SYN_TAG and m.get("spec") == spec:
            return out
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    n_cat = 40
    item_ids = np.asarray([f"i{i:06d}" for i in range(items)], dtype=object)
    cats = rng.integers(0, n_cat, items)
    catalogue = pd.DataFrame(
        {
            "item_id": pd.Series(item_ids, dtype="string"),
            "name": pd.Series([f"商品{i}" for i in range(items)], dtype="string"),
            "category": pd.Series([f"cat{c:02d}" for c in cats], dtype="string"),
            "price": rng.uniform(5, 300, items).round(1),
        }
    )
    user_ids = np.asarray([f"wecom:u{u:07d}" for u in range(users)], dtype=object)
    ident = pd.DataFrame(
        {
            art.ID_KEY: np.concatenate(
                [user_ids.astype(str), np.asarray([f"phone:139{u:08d}" for u in range(users)])]
            ),
            art.USER: np.concatenate([np.arange(users), np.arange(users)]),
        }
    )
    # tastes: items cluster by category, users mix a few categories
    centres = rng.normal(0, 1, (n_cat, factors)).astype(np.float32)
    V = (centres[cats] + 0.5 * rng.normal(0, 1, (items, factors))).astype(np.float32) / np.sqrt(
        factors
    )
    mix = rng.dirichlet(np.full(n_cat, 0.2), users).astype(np.float32)
    U = (mix @ centres + 0.3 * rng.normal(0, 1, (users, factors))).astype(np.float32)
    # purchases: ~12 lines per user, biased to popular items
    pop = rng.zipf(1.3, items).astype(np.float64)
    p = pop / pop.sum()
    lines = 12
    rows = np.repeat(np.arange(users), lines)
    cols = rng.choice(items, size=users * lines, p=p)
    purchases = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(users, items))
    purchases.sum_duplicates()
    age = purchases.copy()
    age.data = rng.uniform(1, 180, len(age.data)).astype(np.float32)
    # constraints: 5% of users each forbid one category's items
    cu = rng.choice(users, users // 20, replace=False)
    cc = rng.integers(0, n_cat, len(cu))
    by_cat = {c: np.flatnonzero(cats == c) for c in range(n_cat)}
    ct = pd.DataFrame(
        {
            art.USER: np.concatenate(
                [np.full(len(by_cat[c]), u) for u, c in zip(cu, cc, strict=True)]
            ),
            art.ITEM: np.concatenate([by_cat[c] for c in cc]),
            "tag": np.concatenate([np.full(len(by_cat[c]), f"avoid:cat{c:02d}") for c in cc]),
        }
    )
    n_groups = users // group_size
    gm = sp.csr_matrix(
        (
            np.ones(n_groups * group_size, np.float32),
            (np.repeat(np.arange(n_groups), group_size), np.arange(n_groups * group_size)),
        ),
        shape=(n_groups, users),
    )
    groups = pd.DataFrame(
        {"group_id": pd.Series([f"g{g:04d}" for g in range(n_groups)], dtype="string")}
    )
    art.write_bundle(
        out,
        users=user_ids,
        identifiers=ident,
        items=catalogue,
        purchases=purchases,
        last_purchase_age=age,
        constraint_tags=ct,
        groups=groups,
        group_members=gm,
        variants={
            "champion": {
                "info": {"kind": "synthetic", "version": "bench", "registered_model": "bench"},
                "user_vectors": U,
                "item_vectors": V,
            }
        },
        meta={"synthetic": SYN_TAG, "spec": spec},
    )
    print(f"synthetic bundle {out} built in {time.perf_counter() - t0:.1f}s", flush=True)
    return out


# -- the HTTP client -----------------------------------------------------------------------------
class Conn:
    """One keep-alive HTTP/1.1 connection over asyncio streams (minimal, low client overhead)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST a JSON body; returns (status, response body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            if k.lower() == "content-length":
                length = int(v.strip())
            elif k.lower() == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
        if chunked:
            data = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                data += await self.reader.readexactly(size)
                await self.reader.readline()
            return status, data
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()


async def _load(
    port: int, path: str, bodies: list[bytes], concurrency: int, max_seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    it = iter(bodies)
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        nonlocal errors
        conn = Conn("127.0.0.1", port)
        try:
            for body in it:
                if time.perf_counter() > deadline:
                    break
                t = time.perf_counter()
                status, _ = await conn.post(path, body)
                latencies.append(time.perf_counter() - t)
                if status != 200:
                    errors += 1
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return _summary(latencies, wall, errors)


def _summary(lat: list[float], wall: float, errors: int = 0) -> dict[str, Any]:
    a = np.asarray(lat) * 1000.0
    return {
        "requests": len(a),
        "errors": errors,
        "seconds": round(wall, 3),
        "throughput_rps": round(len(a) / wall, 1) if wall > 0 else 0.0,
        "p50_ms": round(float(np.percentile(a, 50)), 3) if len(a) else None,
        "p99_ms": round(float(np.percentile(a, 99)), 3) if len(a) else None,
        "max_ms": round(float(a.max()), 3) if len(a) else None,
    }


# -- in-process ----------------------------------------------------------------------------------
def in_process(
    bundle_dir: Path, work: Path, users: list[str], group: str, n: int
) -> dict[str, Any]:
    """The same requests through Engine (ranking + response shaping) and through ranking alone."""
    from serving import ranking
    from serving import schemas as s
    from serving.artifacts import load_bundle
    from serving.engine import Engine
    from training.settings import Settings

    t0 = time.perf_counter()
    b = load_bundle(bundle_dir)
    load_s = time.perf_counter() - t0
    eng = Engine(
        Settings.model_validate({"work_dir": work, "serving": {"bundle_dir": bundle_dir}}), bundle=b
    )
    v = b.variants["champion"]
    out: dict[str, Any] = {"bundle_load_s": round(load_s, 2)}
    lat = []
    for u in users[:n]:
        t = time.perf_counter()
        ranking.rank_user(b, v, ranking.resolve_user(b, u), 10)
        lat.append(time.perf_counter() - t)
    out["user_ranking_only"] = _summary(lat, sum(lat))
    lat = []
    for u in users[:n]:
        req = s.RankUserRequest.model_validate_json(json.dumps({"user": u, "k": 10}))
        t = time.perf_counter()
        eng.rank_user(req)
        lat.append(time.perf_counter() - t)
    out["user_engine"] = _summary(lat, sum(lat))
    lat = []
    for _ in range(max(10, n // 20)):
        greq = s.RankGroupRequest.model_validate({"group_id": group, "k": 10})
        t = time.perf_counter()
        eng.rank_group(greq)
        lat.append(time.perf_counter() - t)
    out["group_engine"] = _summary(lat, sum(lat))
    for strat in ("least_misery", "borda", "fair"):
        lat = []
        for _ in range(10):
            greq = s.RankGroupRequest.model_validate(
                {"group_id": group, "k": 10, "strategy": strat}
            )
            t = time.perf_counter()
            eng.rank_group(greq)
            lat.append(time.perf_counter() - t)
        out[f"group_engine_{strat}"] = _summary(lat, sum(lat))
    eng.exposures.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: run the benchmark and print the figures."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.load_bench", description=__doc__
    )
    p.add_argument("--bundle", type=Path, default=None, help="an exported bundle to serve")
    p.add_argument("--users", type=int, default=200_000)
    p.add_argument("--items", type=int, default=50_000)
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--group-size", type=int, default=500)
    p.add_argument("--requests", type=int, default=6000, help="user-ranking requests (bound)")
    p.add_argument("--group-requests", type=int, default=600, help="group requests (bound)")
    p.add_argument("--strategy", default="average", help="group strategy over HTTP")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=60.0, help="time bound per phase")
    p.add_argument("--access-log", action="store_true", help="keep the access log on")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the in-process side gets the server's OPENBLAS_NUM_THREADS=1
    settings = load_settings()
    work = (settings.work_dir / "bench").resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.bundle is None:
        bundle = synthetic_bundle(
            work / "bundle", args.users, args.items, args.factors, args.group_size
        )
    else:
        bundle = args.bundle.resolve()
    b_users = pd.read_parquet(bundle / art.USERS)["user_id"].astype(str).to_numpy()
    groups = pd.read_parquet(bundle / art.GROUPS)["group_id"].astype(str).to_numpy()
    gm = sp.load_npz(bundle / art.GROUP_MEMBERS).tocsr()
    sizes = np.diff(gm.indptr)
    group = str(groups[int(np.argmin(np.abs(sizes - args.group_size)))])
    rng = np.random.default_rng(1)
    users = [str(u) for u in rng.choice(b_users, args.requests)]
    result: dict[str, Any] = {
        "bundle": str(bundle),
        "users": len(b_users),
        "items": int(pd.read_parquet(bundle / art.ITEMS, columns=["item_id"]).shape[0]),
        "group": group,
        "group_members": int(sizes[groups.tolist().index(group)]),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "access_log": args.access_log,
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    print("in-process ...", flush=True)
    result["in_process"] = in_process(bundle, work, users, group, min(2000, args.requests))
    port = free_port()
    print(f"starting bentoml serve on 127.0.0.1:{port} (workers={args.workers}) ...", flush=True)
    env = server_env(bundle, work, args.workers, args.access_log)
    proc = start_server(port, env, work / "server.log")
    try:
        warm = [json.dumps({"user": u, "k": 10}).encode() for u in users[:200]]
        asyncio.run(_load(port, "/rank/user", warm, args.concurrency, 20))
        bodies = [json.dumps({"user": u, "k": 10}).encode() for u in users]
        print("user ranking over HTTP ...", flush=True)
        result["http_user"] = asyncio.run(
            _load(port, "/rank/user", bodies, args.concurrency, args.max_seconds)
        )
        gbody = json.dumps({"group_id": group, "k": 10, "strategy": args.strategy}).encode()
        print("group ranking over HTTP ...", flush=True)
        result["http_group"] = asyncio.run(
            _load(
                port,
                "/rank/group",
                [gbody] * args.group_requests,
                args.concurrency,
                args.max_seconds,
            )
        )
        result["http_group_strategy"] = args.strategy
    finally:
        stop_server(proc)
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    ip, hu = result["in_process"], result["http_user"]
    result["ratio_http_to_in_process_user"] = round(
        hu["throughput_rps"] / ip["user_engine"]["throughput_rps"], 3
    )
    result["ratio_http_to_in_process_group"] = round(
        result["http_group"]["throughput_rps"] / ip["group_engine"]["throughput_rps"], 3
    )
    (work / "load_bench.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
