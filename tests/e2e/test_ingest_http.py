"""Ingestion over real HTTP (`bentoml serve` on loopback, two workers): tokens, size bounds,
per-row answers, an allergy taking effect for the very next ranking on every worker, reload
and experiment changes reaching every worker."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingest_rows import MIXED, ev
from serving_world import shared_bundle

from features.event_store import open_store
from serving.cli import free_port, server_env, start_server, stop_server

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

WRITES = {
    "/ingest/events": {"events": [ev(1)]},
    "/ingest/identity_links": {
        "links": [
            {"id_type_a": "wecom", "id_value_a": "w1", "id_type_b": "openid", "id_value_b": "x"}
        ]
    },
    "/ingest/manual_tags": {
        "tags": [{"id_type": "wecom", "id_value": "w1", "tag": "allergy:mango"}]
    },
    "/admin/reload": {},
    "/admin/experiment": {"enabled": True},
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("ingest_http")
    token = secrets.token_urlsafe(24)  # made here, never stored in the repo
    port = free_port()
    env = server_env(bundle, work, workers=2, extra={"LINLI_ADMIN_TOKEN": token})
    proc = start_server(port, env, work / "server.log", timeout=150)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            srv = {"client": client, "token": token, "work": work, "bundle": bundle}
            seen = {fresh(srv, "/info", {}).json()["ingest"]["worker"] for _ in range(40)}
            assert len(seen) == 2, "new connections should reach both workers"
            yield srv
    finally:
        stop_server(proc)
        log = (work / "server.log").read_text(errors="replace")
        assert "status=5" not in log, "the server answered a 5xx (see server.log)"
        assert "reload failed" not in log and "commit failed" not in log


def auth(srv: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {srv['token']}"}


def post(srv: dict[str, Any], path: str, body: Any, token: bool = True) -> httpx.Response:
    c: httpx.Client = srv["client"]
    return c.post(path, json=body, headers=auth(srv) if token else {})


def fresh(srv: dict[str, Any], path: str, body: Any) -> httpx.Response:
    """A call without a token on a new connection (the kernel picks the worker)."""
    return httpx.post(f"{srv['client'].base_url}".rstrip("/") + path, json=body, timeout=30)


def everywhere(srv: dict[str, Any], path: str, body: Any, n: int = 12) -> list[httpx.Response]:
    """The same call on `n` new connections, so that every worker answers some."""
    return [fresh(srv, path, body) for _ in range(n)]


def stored(srv: dict[str, Any]) -> int:
    with open_store(f"sqlite:///{srv['work'] / 'ingest' / 'events.db'}") as st:
        return st.count_events()


def test_every_write_endpoint_refuses_a_missing_or_wrong_token(srv: dict[str, Any]) -> None:
    before = stored(srv)
    c: httpx.Client = srv["client"]
    for path, body in WRITES.items():
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": srv["token"]}):
            r = c.post(path, json=body, headers=headers)
            assert r.status_code == 401, (path, headers, r.text)
            assert r.json() == {"error": "unauthorized"}  # nothing about why
            assert r.headers["www-authenticate"] == "Bearer"
    assert stored(srv) == before
    assert post(srv, "/rank/user", {"user": "wecom:w1"}, token=False).status_code == 200


def test_oversized_body_and_batch_are_413(srv: dict[str, Any]) -> None:
    before = stored(srv)
    big = {"events": [ev(i, text="长" * 2000) for i in range(800)]}  # ~5 MB of JSON
    r = post(srv, "/ingest/events", big)
    assert r.status_code == 413 and "at most" in r.json()["error"]
    many = {"events": [ev(f"m{i}") for i in range(1001)]}
    r = post(srv, "/ingest/events", many)
    assert r.status_code == 413 and "1001 rows" in r.json()["error"]
    assert stored(srv) == before
    r = post(
        srv, "/rank/user", {"user": "wecom:w1", "candidates": ["x" * 200] * 12000}, token=False
    )
    assert r.status_code == 413 and r.json()["field"] == "body"  # 2.4 MB > 2 MiB


def test_mixed_batch_stores_the_good_rows_and_says_why_for_the_rest(srv: dict[str, Any]) -> None:
    rows = [{**r, "event_id": f"mix-{r['event_id']}"} if isinstance(r, dict) else r for r in MIXED]
    before = stored(srv)
    r = post(srv, "/ingest/events", {"events": rows, "request_id": "batch-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request_id"] == "batch-1" and body["table"] == "events"
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 1, 8)
    statuses = [x["status"] for x in body["results"]]
    assert statuses[0] == "accepted" and statuses[6] == "duplicate" and statuses[1] == "rejected"
    assert "unknown event_type" in body["results"][1]["reason"]
    assert stored(srv) == before + 3
    again = post(srv, "/ingest/events", {"events": rows}).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 4, 8)
    assert stored(srv) == before + 3


def _mango(srv: dict[str, Any]) -> set[str]:
    import pandas as pd

    items = pd.read_parquet(Path(srv["bundle"]) / "items.parquet")
    hit = items["name"].str.contains("芒果") | items["attributes"].fillna("").str.contains("mango")
    return set(items.loc[hit, "item_id"])


def _ids(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {i["item_id"] for i in resp.json()["items"]}


def test_ingested_allergy_is_excluded_from_the_next_rankings(srv: dict[str, Any]) -> None:
    import pandas as pd

    mango = _mango(srv)
    users = pd.read_parquet(Path(srv["bundle"]) / "users.parquet")["user_id"].tolist()
    user = next(
        u for u in users if _ids(post(srv, "/rank/user", {"user": u, "k": 10}, token=False)) & mango
    )
    t, v = user.split(":", 1)
    members = [user, *[u for u in users[:5] if u != user]]
    assert _ids(post(srv, "/rank/group", {"users": [user], "k": 30}, token=False)) & mango

    r = post(
        srv,
        "/ingest/manual_tags",
        {"tags": [{"id_type": t, "id_value": v, "tag": "allergy:mango", "note": "孩子对芒果过敏"}]},
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    for got in everywhere(srv, "/rank/user", {"user": user, "k": 200}):
        assert not _ids(got) & mango
    for got in everywhere(srv, "/rank/group", {"users": members, "k": 200}):
        assert not _ids(got) & mango
    for strategy in ("average", "least_misery", "borda", "fair"):
        got = post(
            srv, "/rank/group", {"users": members, "k": 50, "strategy": strategy}, token=False
        )
        assert not _ids(got) & mango, strategy
    sim = post(srv, "/items/similar", {"item_id": "fruit-1", "user": user, "k": 50}, token=False)
    assert not _ids(sim) & mango
    bundles = post(srv, "/bundles", {"user": user, "k": 10}, token=False).json()["bundles"]
    assert not {i["item_id"] for b in bundles for i in b["items"]} & mango

    # a new identifier of that person, linked now, gets the same protection at once
    r = post(
        srv,
        "/ingest/identity_links",
        {
            "links": [
                {"id_type_a": "openid", "id_value_a": "o-http-new", "id_type_b": t, "id_value_b": v}
            ]
        },
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1
    for linked in everywhere(srv, "/rank/user", {"user": "openid:o-http-new", "k": 200}):
        assert linked.json()["user_id"] == user and not _ids(linked) & mango

    # and it survives a reload of the bundle (live changes are replayed from the store)
    hammering = threading.Event()
    codes: list[int] = []

    def hammer() -> None:
        with httpx.Client(base_url=str(srv["client"].base_url), timeout=30) as c:
            while not hammering.is_set():
                codes.append(c.post("/rank/user", json={"user": user, "k": 50}).status_code)

    def wait_for(n: int) -> None:
        t0 = time.monotonic()
        while len(codes) < n and time.monotonic() - t0 < 30:
            time.sleep(0.01)

    th = threading.Thread(target=hammer)
    th.start()
    try:
        wait_for(5)  # ranking in flight before, during and after the swap
        r = post(srv, "/admin/reload", {})
        wait_for(len(codes) + 5)
    finally:
        hammering.set()
        th.join(30)
    assert r.status_code == 200 and r.json()["status"] == "reloaded", r.text
    assert r.json()["bundle_created_at"] and r.json()["previous"]["bundle"]
    assert codes and set(codes) == {200}  # nothing dropped while the bundle was swapped
    reloaded: dict[str, int] = {}
    t0 = time.monotonic()
    while (len(reloaded) < 2 or min(reloaded.values()) < 1) and time.monotonic() - t0 < 30:
        ing = fresh(srv, "/info", {}).json()["ingest"]
        reloaded[ing["worker"]] = ing["reloads"]
    assert len(reloaded) == 2 and min(reloaded.values()) >= 1, reloaded  # the other one followed
    for got in everywhere(srv, "/rank/user", {"user": user, "k": 200}):
        assert not _ids(got) & mango
    bad = post(srv, "/admin/reload", {"bundle_dir": str(srv["work"] / "no-such-bundle")})
    assert bad.status_code == 422 and "bundle_dir" in bad.json()["error"]
    assert post(srv, "/rank/user", {"user": user}, token=False).status_code == 200


def test_experiment_change_routes_the_next_requests(srv: dict[str, Any]) -> None:
    r = post(srv, "/admin/experiment", {"enabled": True, "challenger_share": 1.0})
    assert r.status_code == 200 and r.json()["experiment"]["challenger_share"] == 1.0
    for got in everywhere(srv, "/rank/user", {"user": "wecom:w3"}):
        assert got.json()["variant"] == "challenger"
    r = post(srv, "/admin/experiment", {"challenger_share": 0.0})
    assert r.json()["experiment"]["enabled"] is True
    for got in everywhere(srv, "/rank/user", {"user": "wecom:w3"}):
        assert got.json()["variant"] == "champion"
    assert post(srv, "/admin/experiment", {"challenger_share": 2}).status_code == 400
    info = post(srv, "/info", {}, token=False).json()
    assert info["ingest"]["store"] == "ok" and info["ingest"]["live_constraint_tags"] >= 1
