"""Crash safety: SIGKILL the server while batches stream in; every acknowledged event is stored
exactly once after a restart (nothing acknowledged lost, nothing doubled)."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from typing import Any

import httpx
import psutil
import pytest
from ingest_rows import ev
from serving_world import shared_bundle

from serving.cli import free_port, server_env, start_server, stop_server

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

SEED = int(os.environ.get("LINLI_CRASH_SEED", "20260601"))
KILLS = 2
CLIENTS = 4


class Stream:
    """Client threads posting batches; they remember what the server acknowledged."""

    def __init__(self, rng: random.Random, token: str) -> None:
        self.rng = rng
        self.token = token
        self.acked: set[str] = set()  # ids the server answered accepted / duplicate
        self.unsure: list[list[dict[str, Any]]] = []  # batches with no answer (killed mid-call)
        self.posted: set[str] = set()
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.next_id = 0

    def batch(self) -> list[dict[str, Any]]:
        with self.lock:
            n = self.rng.randint(10, 60)
            rows = [ev(f"s{self.next_id + i}") for i in range(n)]
            self.next_id += n
            if self.posted:  # resend a few known ids: they must never be stored twice
                old = self.rng.sample(sorted(self.posted), min(3, len(self.posted)))
                rows += [ev(i[1:]) for i in old]
            self.posted.update(r["event_id"] for r in rows)
            return rows

    def post(self, url: str, rows: list[dict[str, Any]], client: httpx.Client) -> bool:
        """Post one batch; True when the server answered (and the answer is recorded)."""
        try:
            r = client.post(
                f"{url}/ingest/events",
                json={"events": rows},
                headers={"authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError:
            with self.lock:
                self.unsure.append(rows)
            return False
        res = r.json().get("results", []) if r.status_code == 200 else []
        with self.lock:
            if r.status_code != 200 or any(x["status"] == "rejected" for x in res):
                self.errors.append(f"{r.status_code}: {r.text[:200]}")
                self.unsure.append(rows)
                return False
            self.acked.update(x["id"] for x in res)
        return True

    def run_until_down(self, url: str, stop: threading.Event) -> None:
        """Post batches from several threads until a call fails (the server died) or `stop`."""

        def worker() -> None:
            with httpx.Client(timeout=30) as c:
                while not stop.is_set() and self.post(url, self.batch(), c):
                    pass

        threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)


def kill_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the arbiter and every worker at once (workers run in sessions of their own)."""
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    proc.wait(10)
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, f"still running after SIGKILL: {alive}"


def test_sigkill_during_ingestion_loses_and_doubles_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    rng = random.Random(SEED)
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("ingest_crash")
    token = secrets.token_urlsafe(24)
    env = server_env(bundle, work, workers=1, access_log=False, extra={"LINLI_ADMIN_TOKEN": token})
    stream = Stream(rng, token)

    def start(i: int) -> tuple[Any, str]:
        port = free_port()
        proc = start_server(port, env, work / f"server-{i}.log", timeout=150)
        return proc, f"http://127.0.0.1:{port}"

    proc, url = start(0)
    try:
        with httpx.Client(timeout=30) as c:  # first stream: N events, all acknowledged
            for _ in range(10):
                assert stream.post(url, stream.batch(), c)
        first = set(stream.acked)
        kill_points = []
        for k in range(KILLS):
            stop = threading.Event()
            runner = threading.Thread(target=stream.run_until_down, args=(url, stop))
            runner.start()
            delay = rng.uniform(0.2, 1.5)
            kill_points.append(round(delay, 2))
            time.sleep(delay)
            kill_server(proc)
            stop.set()
            runner.join(90)
            assert not runner.is_alive()
            proc, url = start(k + 1)
        # after the last restart: resend what got no answer; it is accepted or a duplicate
        with httpx.Client(timeout=30) as c:
            for rows in list(stream.unsure):
                assert stream.post(url, rows, c)
    finally:
        stop_server(proc)

    assert not stream.errors, stream.errors[:3]
    con = sqlite3.connect(work / "ingest" / "events.db")
    ids = [r[0] for r in con.execute("SELECT event_id FROM events")]
    by_id = dict(con.execute("SELECT event_id, id_value FROM events"))
    con.close()
    stored = set(ids)
    assert len(ids) == len(stored), "an event was stored twice"
    assert first <= stored and stream.acked <= stored, (
        f"acknowledged but lost: {sorted(stream.acked - stored)[:10]} (kills at {kill_points} s)"
    )
    assert stored == stream.posted  # every posted event is in, once, and nothing else
    assert all(by_id[i] == f"w{i[1:]}" for i in stored)  # stored as sent
    assert len(stream.acked) > len(first)  # the second stream did get through between kills
    print(
        f"crash test: {len(first)} first, {len(stream.acked)} acknowledged, {len(stream.unsure)} unanswered batches resent, kills at {kill_points} s"
    )
