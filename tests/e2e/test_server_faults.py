"""Fault injection against a real server (`bentoml serve`, two workers) on a private PostgreSQL
cluster: then nothing acknowledged is lost, doubled or reverted, and every worker agrees.

1. PostgreSQL stopped and started while clients ingest: calls during the outage get 503 +
   Retry-After (never a 500), `/readyz` says 503 then 200 again, every acknowledged event is
   stored exactly once, and live changes (a new allergy) apply again after the reconnect.
2. A NUL byte in one row of a concurrent group commit: that row is rejected with its reason,
   every other row of every batch is stored.
3. A field of 3.9 MB is rejected per row; 20 slowly-sent bodies are answered 408 after the
   body timeout while rankings keep answering.
4. `/admin/reload` and `/admin/experiment`, then one worker killed with SIGKILL: the respawned
   worker serves the same bundle and routes the same way (same digests on every worker).
5. The whole server killed with SIGKILL and started again: the reload and the experiment
   change are still in force.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pytest
from ingest_rows import ev
from pg_server import postgres_cluster
from serving_world import shared_bundle

from features.event_store import open_store
from serving.cli import free_port, server_env, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    token = secrets.token_urlsafe(24)
    work = tmp_path_factory.mktemp("faults")
    with postgres_cluster() as pg:
        port = free_port()
        env = server_env(
            bundle,
            work,
            workers=2,
            extra={
                "LINLI_ADMIN_TOKEN": token,
                "LINLI_STORE__URL": pg.url,
                "LINLI_SERVING__BODY_TIMEOUT_S": "2",
            },
        )
        state: dict[str, Any] = {"url": f"http://127.0.0.1:{port}", "port": port, "token": token}
        state |= {"pg": pg, "bundle": bundle, "work": work, "env": env}
        state["log"] = work / "server.log"
        state["proc"] = start_server(port, env, state["log"], timeout=180)
        try:
            yield state
        finally:
            workers = (
                psutil.Process(state["proc"].pid).children(True)
                if state["proc"].poll() is None
                else []
            )
            stop_server(state["proc"])
            for w in workers:  # a worker left behind by a killed arbiter
                with contextlib.suppress(psutil.NoSuchProcess):
                    w.kill()
    log = (work / "server.log").read_text(errors="replace")
    assert "status=500" not in log, "the server answered a 500 (see server.log)"


def post(s: dict[str, Any], path: str, body: Any, auth: bool = True, **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {s['token']}"} if auth else {}
    return httpx.post(f"{s['url']}{path}", json=body, headers=headers, timeout=30, **kw)


def infos(s: dict[str, Any], n: int = 16) -> list[dict[str, Any]]:
    """/info on `n` new connections (the kernel spreads them over the workers)."""
    return [httpx.post(f"{s['url']}/info", json={}, timeout=30).json() for _ in range(n)]


class Producer:
    """A client that retries each batch until it is answered 200 (as the docs ask)."""

    def __init__(self, s: dict[str, Any], name: str) -> None:
        self.s, self.name = s, name
        self.acked: set[str] = set()
        self.codes: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        with httpx.Client(timeout=30) as c:
            while not self.stop.is_set():
                rows = [ev(f"{self.name}-{i}-{j}") for j in range(20)]
                i += 1
                while not self.stop.is_set():
                    try:
                        r = c.post(
                            f"{self.s['url']}/ingest/events",
                            json={"events": rows},
                            headers={"authorization": f"Bearer {self.s['token']}"},
                        )
                    except httpx.HTTPError:
                        time.sleep(0.2)
                        continue
                    self.codes[r.status_code] = self.codes.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        self.acked.update(x["id"] for x in r.json()["results"])
                        break
                    assert r.status_code == 503 and r.headers.get("retry-after"), r.text
                    time.sleep(0.2)


def test_postgres_stopped_and_started_under_ingestion(srv: dict[str, Any]) -> None:
    producers = [Producer(srv, f"pg{k}") for k in range(3)]
    threads = [threading.Thread(target=p.run) for p in producers]
    for t in threads:
        t.start()
    ready: list[int] = []
    try:
        time.sleep(2)
        srv["pg"].stop("fast")  # a routine database restart
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4:
            ready.append(httpx.get(f"{srv['url']}/readyz", timeout=10).status_code)
            time.sleep(0.3)
        srv["pg"].start()
        t0 = time.monotonic()
        while httpx.get(f"{srv['url']}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() - t0 < 30, "not ready again after the database came back"
            time.sleep(0.3)
        time.sleep(3)  # ingestion goes on after the reconnect
    finally:
        for p in producers:
            p.stop.set()
        for t in threads:
            t.join(60)
    assert 503 in ready, ready  # the outage showed in /readyz
    codes = {k: sum(p.codes.get(k, 0) for p in producers) for k in (200, 503)}
    assert set().union(*[p.codes for p in producers]) <= {200, 503}, [p.codes for p in producers]
    assert codes[503] > 0 and codes[200] > 0, codes
    acked = set().union(*[p.acked for p in producers])
    with open_store(srv["pg"].url) as st:
        ids = [i for i in st.event_ids() if i.startswith("epg")]
    assert len(ids) == len(set(ids))  # nothing doubled
    assert acked <= set(ids), len(acked - set(ids))  # nothing acknowledged lost
    # live changes resumed: an allergy ingested now holds on every worker
    cat = pd.read_parquet(Path(srv["bundle"]) / "items.parquet")
    mango = set(cat.loc[cat["name"].str.contains("芒果"), "item_id"])
    users = pd.read_parquet(Path(srv["bundle"]) / "users.parquet")["user_id"].tolist()

    def ranked(u: str) -> set[str]:
        r = httpx.post(f"{srv['url']}/rank/user", json={"user": u, "k": 200}, timeout=30)
        assert r.status_code == 200, r.text
        return {i["item_id"] for i in r.json()["items"]}

    user = next(u for u in users[10:] if ranked(u) & mango)
    t, v = user.split(":", 1)
    r = post(
        srv,
        "/ingest/manual_tags",
        {"tags": [{"id_type": t, "id_value": v, "tag": "allergy:mango"}]},
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    for _ in range(8):
        assert not ranked(user) & mango
    assert all(i["ingest"]["store"] == "ok" for i in infos(srv, 6))


def test_a_nul_byte_in_a_concurrent_group_commit_fails_alone(srv: dict[str, Any]) -> None:
    batches = [[ev(f"nul{b}-{i}") for i in range(200)] for b in range(8)]
    batches[3][57] = ev("nul3-57", id_value="w\u00001")
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda rows: post(srv, "/ingest/events", {"events": rows}), batches)
        )
    assert [r.status_code for r in answers] == [200] * 8, [r.text[:200] for r in answers]
    bodies = [r.json() for r in answers]
    assert [b["accepted"] for b in bodies] == [200, 200, 200, 199, 200, 200, 200, 200]
    bad = bodies[3]["results"][57]
    assert bad["status"] == "rejected" and "U+0000" in bad["reason"]
    with open_store(srv["pg"].url) as st:
        assert sum(i.startswith("enul") for i in st.event_ids()) == 1599
    again = post(srv, "/ingest/events", {"events": batches[3]}).json()  # a retrying producer
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 199, 1)


def _slow_body(port: int, hold: float) -> tuple[float, bytes]:
    """Announce a 1,000-byte body, send 10 bytes, then nothing: (seconds to answer, answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=hold + 15) as sock:
        sock.sendall(
            b"POST /rank/user HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\n\r\n" + b'{"user": "'
        )
        t0 = time.monotonic()
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        return time.monotonic() - t0, data


def test_oversized_fields_and_slow_bodies(srv: dict[str, Any]) -> None:
    r = post(srv, "/ingest/events", {"events": [ev("huge", text="x" * 3_900_000), ev("fine")]})
    assert r.status_code == 200, r.text[:300]
    res = r.json()["results"]
    assert res[0]["status"] == "rejected" and "3900000 characters, at most 2000" in res[0]["reason"]
    assert res[1]["status"] == "accepted"
    with ThreadPoolExecutor(20) as pool:
        slow = pool.map(lambda _: _slow_body(srv["port"], 2.0), range(20))
        t0 = time.monotonic()
        ok = 0
        while time.monotonic() - t0 < 2.5:  # rankings answer while the slow bodies hang
            ok += post(srv, "/rank/user", {"user": "wecom:w1"}, auth=False).status_code == 200
        slow_answers = list(slow)
    assert ok > 0
    for seconds, head in slow_answers:
        assert head.startswith(b"HTTP/1.1 408"), head[:100]
        assert seconds < 8, seconds


def _agree(s: dict[str, Any], timeout: float = 30.0) -> tuple[str, str, set[int]]:
    """Wait until every worker seen reports the same digests; (bundle, experiment, pids)."""
    t0 = time.monotonic()
    while True:
        seen = infos(s, 16)
        digests = {(i["bundle_digest"], i["experiment_hash"]) for i in seen}
        pids = {i["ingest"]["pid"] for i in seen}
        if len(digests) == 1 and len(pids) == 2:
            (d,) = digests
            return d[0], d[1], pids
        assert time.monotonic() - t0 < timeout, (digests, pids)
        time.sleep(0.5)


def test_reload_and_experiment_survive_a_killed_worker_and_a_killed_server(
    srv: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("b2") / "bundle-b2"
    shutil.copytree(srv["bundle"], other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["created_at"] = "2026-12-02T00:00:00+00:00"
    (other / "manifest.json").write_text(json.dumps(manifest))
    r = post(srv, "/admin/reload", {"bundle_dir": str(other)})
    assert r.status_code == 200, r.text
    r = post(srv, "/admin/experiment", {"enabled": True, "challenger_share": 0.4, "salt": "kill"})
    assert r.status_code == 200, r.text
    bundle_d, exp_h, pids = _agree(srv)
    routes = {
        u: post(srv, "/rank/user", {"user": u}, auth=False).json()["variant"]
        for u in ("wecom:w3", "wecom:w4", "wecom:w5")
    }

    victim = sorted(pids)[0]
    helpers = psutil.Process(victim).children(recursive=True)  # its validator process
    os.kill(victim, signal.SIGKILL)  # one worker dies; the arbiter starts another
    _, alive = psutil.wait_procs(helpers, timeout=10)
    assert not alive, f"the killed worker left {alive} running"
    t0 = time.monotonic()
    while True:
        b2, e2, now = _agree(srv, 60)
        if now != pids:
            break
        assert time.monotonic() - t0 < 60, "the killed worker was not replaced"
    assert (b2, e2) == (bundle_d, exp_h)  # the new worker applied the records at start
    for u, variant in routes.items():
        for _ in range(10):
            assert post(srv, "/rank/user", {"user": u}, auth=False).json()["variant"] == variant

    # the whole server, no goodbye: the arbiter and every worker (they run in sessions of
    # their own, so a process-group kill would leave them serving)
    everyone = [srv["proc"].pid, *(c.pid for c in psutil.Process(srv["proc"].pid).children(True))]
    for pid in everyone:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    srv["proc"].wait(30)
    t0 = time.monotonic()
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in everyone):
        assert time.monotonic() - t0 < 30
        time.sleep(0.2)
    srv["log"] = srv["work"] / "server2.log"
    srv["proc"] = start_server(srv["port"], srv["env"], srv["log"], timeout=180)
    b3, e3, _ = _agree(srv, 60)
    assert (b3, e3) == (bundle_d, exp_h)  # nothing acknowledged was reverted
    info = infos(srv, 1)[0]
    assert info["bundle"] == str(other) and info["experiment"]["challenger_share"] == 0.4


def test_a_bad_request_is_one_quiet_log_line_without_the_body(srv: dict[str, Any]) -> None:
    phone = "13955501234"
    r = post(srv, "/rank/user", {"user": int(phone), "k": f"phone {phone}"}, auth=False)
    assert r.status_code == 400
    log: Path = srv["log"]
    t0 = time.monotonic()
    while "client error 400 on /rank/user" not in log.read_text(errors="replace"):
        assert time.monotonic() - t0 < 10, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    text = log.read_text(errors="replace")
    assert phone not in text and "Traceback" not in text
    (line,) = [x for x in text.splitlines() if "client error 400" in x]
    assert "INFO" in line and "validation error" in line
