"""Ingestion load benchmark: real HTTP on loopback, ranking measured at the same time.

    python -m experiments.benchmarks.ingest_bench                      # synthetic 50k users x 10k items
    python -m experiments.benchmarks.ingest_bench --bundle work/bundle --seconds 20

Starts ``bentoml serve`` on a free loopback port with a fresh work folder (its own SQLite
store) and an admin token made for the run, then, each phase bounded by ``--seconds``:

1. ``ranking``: ``--rank-clients`` keep-alive clients call ``/rank/user`` (and every tenth
   call ``/rank/group`` on a 500-member group) -> p50 / p99 alone;
2. ``mixed``: the same ranking clients plus ``--ingest-clients`` clients posting batches of
   ``--batch`` new events to ``/ingest/events`` as fast as answers come back -> accepted
   events per second, p50 / p99 of an ingestion call, ranking p50 / p99 under ingestion;
3. ``overload`` (with ``--overload``): a server whose queue holds ``--overload-pending`` rows
   and ``4 x`` the ingestion clients -> how many calls get 503 + Retry-After, and proof that
   every acknowledged event is stored.

At the end the store is counted: accepted events == stored events. Figures go to
``WORK/bench/ingest_bench.json`` (the run's work folders are removed unless ``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from experiments.benchmarks.load_bench import synthetic_bundle
from features.event_store import open_store
from serving import artifacts as art
from serving.cli import free_port, server_env, start_server, stop_server
from training.settings import load_settings

_ACCEPTED = re.compile(rb'"accepted":\s*(\d+)')


class RawConn:
    """One keep-alive HTTP/1.1 connection (a light client, so the figures are the server's)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """POST a JSON body; returns status, headers (lower-case names) and body."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status = int((await self.reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            data = b""
            while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                data += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
            return status, headers, data
        return status, headers, await self.reader.readexactly(int(headers.get("content-length", 0)))

    async def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()


def _pct(lat: list[float]) -> dict[str, Any]:
    a = np.asarray(lat) * 1000.0
    if not len(a):
        return {"calls": 0}
    return {
        "calls": len(a),
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "max_ms": round(float(a.max()), 2),
    }


class Run:
    """One phase: ranking and ingestion clients against one server until the deadline."""

    def __init__(self, url: str, token: str, users: list[str], group: str, batch: int) -> None:
        self.url, self.token, self.users, self.group, self.batch = url, token, users, group, batch
        self.rank_lat: list[float] = []
        self.group_lat: list[float] = []
        self.ingest_lat: list[float] = []
        self.accepted = 0
        self.busy = 0
        self.retry_after: set[str] = set()
        self.errors: list[str] = []
        self._ids = itertools.count()

    def events(self) -> list[dict[str, Any]]:
        """A batch of new, valid events (views and orders of bundle users)."""
        out = []
        for _ in range(self.batch):
            i = next(self._ids)
            user = self.users[i % len(self.users)]
            t, v = user.split(":", 1)
            kind = "order" if i % 4 == 0 else "view"
            out.append(
                {
                    "event_id": f"bench-{os.getpid()}-{i}",
                    "ts": "2026-06-01T09:30:00+08:00",
                    "event_type": kind,
                    "id_type": t,
                    "id_value": v,
                    "item_id": f"i{i % 10000:06d}",
                    "quantity": 1 if kind == "order" else None,
                    "amount": 19.9 if kind == "order" else None,
                    "order_id": f"bo-{i}" if kind == "order" else None,
                    "group_id": self.group,
                    "channel": "miniapp",
                }
            )
        return out

    async def ranker(self, deadline: float, seed: int) -> None:
        """Rank users (and every tenth call the group) until the deadline."""
        rng = np.random.default_rng(seed)
        conn = RawConn(self.url)
        n = 0
        try:
            while time.perf_counter() < deadline:
                n += 1
                if n % 10 == 0:
                    body: dict[str, Any] = {"group_id": self.group, "k": 10}
                    path, lat = "/rank/group", self.group_lat
                else:
                    body = {"user": self.users[int(rng.integers(len(self.users)))], "k": 10}
                    path, lat = "/rank/user", self.rank_lat
                data = json.dumps(body).encode()
                t = time.perf_counter()
                status, _, _ = await conn.post(path, data)
                lat.append(time.perf_counter() - t)
                if status != 200:
                    self.errors.append(f"{path} {status}")
        finally:
            await conn.close()

    async def ingester(self, deadline: float) -> None:
        """Post batches of new events until the deadline; honour Retry-After on 503."""
        conn = RawConn(self.url, {"Authorization": f"Bearer {self.token}"})
        try:
            while time.perf_counter() < deadline:
                data = json.dumps({"events": self.events()}).encode()
                t = time.perf_counter()
                status, headers, answer = await conn.post("/ingest/events", data)
                if status == 503:
                    self.busy += 1
                    self.retry_after.add(headers.get("retry-after", "missing"))
                    await asyncio.sleep(min(float(headers.get("retry-after", 1)), 0.2))
                    continue
                self.ingest_lat.append(time.perf_counter() - t)
                if status != 200:
                    self.errors.append(f"/ingest/events {status}")
                    continue
                self.accepted += int(_ACCEPTED.search(answer).group(1))  # type: ignore[union-attr]
        finally:
            await conn.close()

    async def go(self, seconds: float, rankers: int, ingesters: int) -> dict[str, Any]:
        """Run the clients for `seconds`; returns the figures."""
        t0 = time.perf_counter()
        deadline = t0 + seconds
        jobs = [self.ranker(deadline, i) for i in range(rankers)]
        jobs += [self.ingester(deadline) for _ in range(ingesters)]
        await asyncio.gather(*jobs)
        wall = time.perf_counter() - t0
        out: dict[str, Any] = {
            "seconds": round(wall, 2),
            "rank_user": _pct(self.rank_lat),
            "rank_group": _pct(self.group_lat),
        }
        if ingesters:
            out.update(
                {
                    "batch": self.batch,
                    "ingest_call": _pct(self.ingest_lat),
                    "accepted_events": self.accepted,
                    "accepted_events_per_s": round(self.accepted / wall, 1),
                    "busy_503": self.busy,
                    "retry_after_headers": sorted(self.retry_after),
                }
            )
        out["errors"] = self.errors[:10]
        return out


def _server(
    bundle: Path, work: Path, token: str, workers: int, extra: dict[str, str]
) -> tuple[Any, str]:
    port = free_port()
    env = server_env(
        bundle, work, workers, access_log=False, extra={"LINLI_ADMIN_TOKEN": token, **extra}
    )
    proc = start_server(port, env, work / "server.log")
    return proc, f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    """CLI: run the phases and print the figures."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.ingest_bench", description=__doc__
    )
    p.add_argument("--bundle", type=Path, default=None, help="an exported bundle to serve")
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=100, help="events per ingestion call")
    p.add_argument("--ingest-clients", type=int, default=4)
    p.add_argument("--rank-clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=15.0, help="length of each phase (bound)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--overload", action="store_true", help="also run the back-pressure phase")
    p.add_argument("--overload-pending", type=int, default=1000)
    p.add_argument("--keep", action="store_true", help="keep the run's work folders (stores, logs)")
    args = p.parse_args(argv)
    settings = load_settings()
    bench = (settings.work_dir / "bench").resolve()
    bench.mkdir(parents=True, exist_ok=True)
    bundle = (
        args.bundle.resolve()
        if args.bundle
        else synthetic_bundle(bench / "ingest_bundle", args.users, args.items, 32, 500)
    )
    users = pd.read_parquet(bundle / art.USERS)["user_id"].astype(str).tolist()
    groups = pd.read_parquet(bundle / art.GROUPS)["group_id"].astype(str).to_numpy()
    sizes = np.diff(sp.load_npz(bundle / art.GROUP_MEMBERS).tocsr().indptr)
    group = str(groups[int(np.argmax(sizes))])
    token = secrets.token_urlsafe(24)
    result: dict[str, Any] = {
        "bundle": str(bundle),
        "users": len(users),
        "group_members": int(sizes.max()),
        "workers": args.workers,
        "rank_clients": args.rank_clients,
        "ingest_clients": args.ingest_clients,
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    work = bench / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir()
    proc, url = _server(bundle, work, token, args.workers, {})
    try:
        warm = Run(url, token, users, group, args.batch)
        asyncio.run(warm.go(2.0, 2, 1))
        print("phase 1: ranking alone ...", flush=True)
        result["ranking"] = asyncio.run(
            Run(url, token, users, group, args.batch).go(args.seconds, args.rank_clients, 0)
        )
        print("phase 2: ranking + ingestion ...", flush=True)
        mixed = Run(url, token, users, group, args.batch)
        mixed._ids = itertools.count(10_000_000)
        result["mixed"] = asyncio.run(
            mixed.go(args.seconds, args.rank_clients, args.ingest_clients)
        )
    finally:
        stop_server(proc)
    with open_store(f"sqlite:///{work / 'ingest' / 'events.db'}") as store:
        result["stored_events"] = store.count_events()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    result["acknowledged_events"] = warm.accepted + mixed.accepted
    result["stored_equals_acknowledged"] = result["stored_events"] == result["acknowledged_events"]

    if args.overload:
        print("phase 3: overload (small queue, 4x ingestion clients) ...", flush=True)
        owork = bench / f"ingest-overload-{time.strftime('%Y%m%d-%H%M%S')}"
        owork.mkdir()
        extra = {"LINLI_SERVING__INGEST__MAX_PENDING_ROWS": str(args.overload_pending)}
        proc, url = _server(bundle, owork, token, args.workers, extra)
        try:
            over = Run(url, token, users, group, args.batch)
            result["overload"] = asyncio.run(
                over.go(args.seconds, args.rank_clients, 4 * args.ingest_clients)
            )
            result["overload"]["max_pending_rows"] = args.overload_pending
        finally:
            stop_server(proc)
        with open_store(f"sqlite:///{owork / 'ingest' / 'events.db'}") as store:
            stored = store.count_events()
        result["overload"]["stored_equals_acknowledged"] = stored == over.accepted
        if not args.keep:
            shutil.rmtree(owork, ignore_errors=True)
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (bench / "ingest_bench.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
