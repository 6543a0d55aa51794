"""Two replicas (two `bentoml serve` processes on different ports, standing for two machines)
sharing one PostgreSQL event store (a private cluster made with initdb in a temp dir).

- an allergy ingested on replica A holds on replica B for B's very next answer: B reads the
  store's change sequence before every answer, so the call to B made right after A answered
  never shows the forbidden items;
- the same event_id sent to both at once is stored once (one `accepted`, one `duplicate`);
- `/admin/reload` and `/admin/experiment` on A reach B (the same bundle digest and
  experiment hash on both, within a second).
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from ingest_rows import ev
from pg_server import postgres_cluster
from serving_world import shared_bundle

from features.event_store import open_store
from serving.cli import free_port, server_env, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    token = secrets.token_urlsafe(24)
    with postgres_cluster() as pg:
        procs, urls, works = [], [], []
        try:
            for name in ("a", "b"):
                work = tmp_path_factory.mktemp(f"replica_{name}")
                port = free_port()
                env = server_env(
                    bundle,
                    work,
                    workers=1,
                    extra={"LINLI_ADMIN_TOKEN": token, "LINLI_STORE__URL": pg.url},
                )
                procs.append(start_server(port, env, work / "server.log", timeout=180))
                urls.append(f"http://127.0.0.1:{port}")
                works.append(work)
            yield {
                "a": urls[0],
                "b": urls[1],
                "token": token,
                "pg": pg,
                "bundle": bundle,
                "works": works,
            }
        finally:
            for p in procs:
                stop_server(p)
        for w in works:
            log = (w / "server.log").read_text(errors="replace")
            assert "status=5" not in log, f"a 5xx in {w / 'server.log'}"


def call(url: str, path: str, body: Any, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=30)


def items(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {i["item_id"] for i in resp.json()["items"]}


def test_an_allergy_ingested_on_one_replica_holds_on_the_other_at_once(
    replicas: dict[str, Any],
) -> None:
    a, b, token = replicas["a"], replicas["b"], replicas["token"]
    cat = pd.read_parquet(Path(replicas["bundle"]) / "items.parquet")
    mango = set(cat.loc[cat["name"].str.contains("芒果"), "item_id"])
    users = pd.read_parquet(Path(replicas["bundle"]) / "users.parquet")["user_id"].tolist()
    user = next(u for u in users if items(call(b, "/rank/user", {"user": u, "k": 15})) & mango)
    t, v = user.split(":", 1)
    r = call(
        a,
        "/ingest/manual_tags",
        {"tags": [{"id_type": t, "id_value": v, "tag": "allergy:mango"}]},
        token,
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    answered = time.monotonic()
    first = call(b, "/rank/user", {"user": user, "k": 200})  # B's very next answer
    assert not items(first) & mango
    assert time.monotonic() - answered < 1.0
    for url in (a, b):
        assert not items(call(url, "/rank/group", {"users": [user, users[0]], "k": 200})) & mango


def test_the_same_event_sent_to_both_replicas_is_stored_once(replicas: dict[str, Any]) -> None:
    a, b, token = replicas["a"], replicas["b"], replicas["token"]
    rows = [ev(f"rep-{i}") for i in range(50)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda u: call(u, "/ingest/events", {"events": rows}, token), (a, b))
        )
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    accepted = sum(r.json()["accepted"] for r in answers)
    duplicates = sum(r.json()["duplicates"] for r in answers)
    assert (accepted, duplicates) == (50, 50)
    with open_store(replicas["pg"].url) as st:
        ids = [i for i in st.event_ids() if i.startswith("erep-")]
    assert len(ids) == len(set(ids)) == 50


def _digests(url: str) -> tuple[str, str]:
    info = call(url, "/info", {}).json()
    return info["bundle_digest"], info["experiment_hash"]


def _until_equal(a: str, b: str, timeout: float) -> float:
    t0 = time.monotonic()
    while _digests(a) != _digests(b):
        assert time.monotonic() - t0 < timeout, (_digests(a), _digests(b))
        time.sleep(0.05)
    return time.monotonic() - t0


def test_reload_and_experiment_on_one_replica_reach_the_other(
    replicas: dict[str, Any], tmp_path: Path
) -> None:
    a, b, token = replicas["a"], replicas["b"], replicas["token"]
    assert _digests(a) == _digests(b)
    r = call(
        a, "/admin/experiment", {"enabled": True, "challenger_share": 0.5, "salt": "rep"}, token
    )
    assert r.status_code == 200, r.text
    assert _until_equal(a, b, 1.0) < 1.0  # B follows on its next answer
    routes = {call(b, "/rank/user", {"user": f"wecom:w{i}"}).json()["variant"] for i in range(30)}
    assert routes == {"champion", "challenger"}

    other = tmp_path / "bundle-b2"  # a second bundle: the same tables, a new manifest
    shutil.copytree(replicas["bundle"], other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["created_at"] = "2026-12-01T00:00:00+00:00"
    (other / "manifest.json").write_text(json.dumps(manifest))
    before = _digests(b)[0]
    r = call(a, "/admin/reload", {"bundle_dir": str(other)}, token)
    assert r.status_code == 200 and r.json()["bundle"] == str(other), r.text
    assert _digests(a)[0] != before
    _until_equal(a, b, 10.0)  # B loads it in the background, then swaps
    assert call(b, "/info", {}).json()["bundle"] == str(other)
