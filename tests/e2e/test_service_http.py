"""Integration: the real `bentoml serve` on a free loopback port, every endpoint over HTTP, bad input too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_world import shared_bundle

from serving import artifacts as art
from serving import ranking
from serving.cli import free_port, server_env, start_server, stop_server
from serving.exposures import read_exposures

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = server_env(
        bundle,
        work,
        workers=1,
        extra={
            "LINLI_SERVING__EXPERIMENT__ENABLED": "true",
            "LINLI_SERVING__EXPERIMENT__CHALLENGER_SHARE": "0.5",
            "LINLI_SERVING__EXPERIMENT__SALT": "test",
        },
    )
    proc = start_server(port, env, work / "server.log", timeout=150)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield {"client": client, "work": work, "bundle": art.load_bundle(bundle)}
    finally:
        stop_server(proc)
        log = (work / "server.log").read_text(errors="replace")
        assert "status=5" not in log, "the server answered a 5xx (see server.log)"


def post(server: dict[str, Any], path: str, body: Any) -> httpx.Response:
    c: httpx.Client = server["client"]
    if isinstance(body, str | bytes):
        return c.post(path, content=body, headers={"content-type": "application/json"})
    return c.post(path, json=body)


def ok(server: dict[str, Any], path: str, body: Any) -> dict[str, Any]:
    r = post(server, path, body)
    assert r.status_code == 200, (path, body, r.text)
    return r.json()  # type: ignore[no-any-return]


def bad(server: dict[str, Any], path: str, body: Any, field: str, status: int = 400) -> None:
    r = post(server, path, body)
    assert r.status_code == status, (path, str(body)[:200], r.status_code, r.text[:300])
    assert field in r.text, (field, r.text[:300])


# -- health ---------------------------------------------------------------------------------
def test_health_readiness_and_model_info(server: dict[str, Any]) -> None:
    c: httpx.Client = server["client"]
    assert c.get("/readyz").status_code == 200
    assert c.get("/livez").status_code == 200
    info = ok(server, "/info", {})
    assert info["ready"] and info["status"] == "ok"
    champ = info["variants"]["champion"]
    assert champ["registered_model"] == "linli-test" and champ["version"] == "1"
    assert champ["alias"] == "champion" and champ["trained_at"] and champ["data_digest"]
    assert info["experiment"]["enabled"] is True
    spec = c.get("/docs.json").json()
    assert {"/rank/user", "/rank/group", "/items/similar", "/live/plan"} <= set(spec["paths"])


# -- every endpoint, good input -------------------------------------------------------------
def test_rank_user_by_any_identifier(server: dict[str, Any]) -> None:
    a = ok(server, "/rank/user", {"user": "wecom:w3", "k": 5})
    b = ok(server, "/rank/user", {"user": "phone:+86 139-0000-0003", "k": 5})
    assert a["user_id"] == b["user_id"] == "wecom:w3"
    assert a["variant"] == b["variant"]  # routed by the unified id, stably
    assert [i["item_id"] for i in a["items"]] == [i["item_id"] for i in b["items"]]
    item = a["items"][0]
    assert {"item_id", "name", "score", "reason"} <= set(item) and item["reason"]
    f = ok(server, "/rank/user", {"user": "wecom:w3", "k": 5, "categories": ["fruit"]})
    assert all(i["category"] == "fruit" for i in f["items"])
    c = ok(server, "/rank/user", {"user": "wecom:w3", "candidates": ["fruit-1", "meat-0", "zzz"]})
    assert {i["item_id"] for i in c["items"]} <= {"fruit-1", "meat-0"}
    assert c["unknown_candidates"] == ["zzz"]


def test_unknown_user_gets_a_marked_fallback(server: dict[str, Any]) -> None:
    r = ok(server, "/rank/user", {"user": "wecom:stranger", "k": 4})
    assert r["fallback"] == "global_popular" and not r["known_user"] and len(r["items"]) == 4
    r = ok(server, "/rank/user", {"user": "wecom:stranger", "k": 4, "group_id": "g2"})
    assert r["fallback"] == "group_popular"


def test_both_variants_serve_and_every_list_is_logged(server: dict[str, Any]) -> None:
    seen = {}
    for i in range(40):
        r = ok(server, "/rank/user", {"user": f"wecom:w{i}", "k": 3, "request_id": f"ab-{i}"})
        seen[r["request_id"]] = r["variant"]
    assert set(seen.values()) == {"champion", "challenger"}
    log = read_exposures(server["work"] / "exposures")
    logged = log[log["request_id"].astype(str).str.startswith("ab-")]
    assert dict(zip(logged["request_id"], logged["variant"], strict=True)) == seen
    assert logged["items"].map(len).eq(3).all()


@pytest.mark.parametrize("strategy", ranking.STRATEGIES)
def test_rank_group_every_strategy(server: dict[str, Any], strategy: str) -> None:
    r = ok(server, "/rank/group", {"group_id": "g1", "k": 6, "strategy": strategy})
    assert r["members"] > 50 and 0 < len(r["items"]) <= 6 and r["strategy"] == strategy
    assert r["mix"] and r["mix"].startswith("history ")  # the group-rebuy mix served it
    plain = ok(
        server, "/rank/group", {"group_id": "g1", "k": 6, "strategy": strategy, "rebuy": False}
    )
    assert plain["mix"] is None and 0 < len(plain["items"]) <= 6
    f = ok(
        server,
        "/rank/group",
        {"group_id": "g1", "k": 30, "strategy": strategy, "constraint_mode": "flag"},
    )
    flagged = [i for i in f["items"] if i["conflicts"]]
    assert all(i["conflict_tags"] for i in flagged)


def test_rank_group_explicit_members(server: dict[str, Any]) -> None:
    users = ["wecom:w1", "phone:13900000003", "wecom:w7", "wecom:ghost"]
    r = ok(server, "/rank/group", {"users": users, "k": 5, "strategy": "least_misery"})
    assert r["members"] == 3 and r["unknown_members"] == 1
    r = ok(server, "/rank/group", {"users": ["wecom:ghost"], "k": 5})
    assert r["fallback"] == "global_popular" and len(r["items"]) == 5


def test_similar_bundles_audience_segments_hosts_koc(server: dict[str, Any]) -> None:
    s = ok(server, "/items/similar", {"item_id": "fruit-3", "k": 5, "user": "wecom:w7"})
    assert s["items"] and all(i["item_id"] != "fruit-3" for i in s["items"])
    b = ok(server, "/bundles", {"theme": "light"})
    assert b["source"] == "bundles table" and b["bundles"][0]["name"] == "夏日轻食"
    b = ok(server, "/bundles", {"items": ["meat-1"], "k": 2})
    assert b["bundles"]
    a = ok(server, "/audience", {"theme": {"name": "轻食", "keywords": ["减脂餐"]}, "n": 10})
    assert 0 < len(a["audience"]) <= 10 and all(m["reasons"] for m in a["audience"])
    segs = ok(server, "/segments", {})
    assert segs["available"] and len(segs["segments"]) == 3
    p = ok(server, "/segments/profile", {"segment_id": segs["segments"][0]["segment_id"]})
    assert p["profile"]["size"] > 0 and p["profile"]["top_categories"]
    h = ok(server, "/hosts", {"group_id": "g1", "k": 2})
    assert len(h["hosts"]) == 2 and h["hosts"][0]["score"] >= h["hosts"][1]["score"]
    k = ok(server, "/koc", {"group_id": "g1", "k": 3})
    assert k["kocs"] and k["kocs"][0]["reason"]


def test_live_plan_composes_everything(server: dict[str, Any]) -> None:
    p = ok(server, "/live/plan", {"group_id": "g2", "audience_n": 20, "k": 5})
    assert p["theme"]["name"] and p["items"] and p["host"] and p["audience"] and p["kocs"]
    themed = ok(
        server,
        "/live/plan",
        {"group_id": "g1", "theme": {"name": "夏日轻食", "categories": ["fruit", "meat"]}},
    )
    assert all(i["category"] in ("fruit", "meat") for i in themed["items"])


# -- bad input: always a 4xx naming the field, never a 500 ------------------------------------
def test_bad_input_is_a_4xx_naming_the_field(server: dict[str, Any]) -> None:
    bad(server, "/rank/user", '{"user": "wecom:w1", "k": ', "json_invalid")
    bad(server, "/rank/user", "not json at all", "json_invalid")
    bad(server, "/rank/user", {"user": "wecom:w1", "k": "ten"}, '"k"')
    bad(server, "/rank/user", {"user": "wecom:w1", "k": 0}, '"k"')
    bad(server, "/rank/user", {"user": "wecom:w1", "k": 201}, '"k"')
    bad(server, "/rank/user", {"user": 12345}, '"user"')
    bad(server, "/rank/user", {"k": 5}, '"user"')
    bad(server, "/rank/user", {"user": "wecom:w1", "kk": 5}, '"kk"')
    bad(server, "/rank/user", {"user": "长" * 5000}, '"user"')
    bad(server, "/rank/user", {"user": "wecom:w1", "categories": ["火星"]}, "categories", 404)
    bad(server, "/rank/user", {"user": "wecom:w1", "group_id": "nope"}, "group_id", 404)
    bad(server, "/rank/user", [1, 2, 3], "object")
    bad(server, "/rank/group", {"group_id": "g1", "strategy": "dictator"}, '"strategy"')
    bad(server, "/rank/group", {"group_id": "g1", "constraint_mode": "x"}, "constraint_mode")
    bad(server, "/rank/group", {}, "group_id or users")
    bad(server, "/rank/group", {"group_id": "g1", "users": ["wecom:w1"]}, "group_id or users")
    members = [f"wecom:w{i}" for i in range(10_000)]
    bad(server, "/rank/group", {"users": members}, '"users"')
    bad(server, "/rank/group", {"group_id": "g999"}, "group_id", 404)
    bad(server, "/items/similar", {"item_id": "🥭" * 10}, "item_id", 404)
    bad(server, "/audience", {"theme": {}}, "theme")
    bad(server, "/audience", {"theme": {"items": ["nope"]}}, "theme.items", 404)
    bad(server, "/segments/profile", {"segment_id": "nope"}, "segment_id", 404)
    bad(server, "/hosts", {"group_id": "x" * 300}, "group_id")
    bad(server, "/koc", {"group_id": "nope"}, "group_id", 404)
    bad(server, "/live/plan", {"group_id": "g1", "k": -1}, '"k"')


def test_unicode_and_odd_strings_are_served(server: dict[str, Any]) -> None:
    for user in ["用户:张三", "wecom:\u0000\u202e", "phone:+86 (139) 0000-0003", "   wecom:w3  "]:
        r = post(server, "/rank/user", {"user": user, "k": 2})
        assert r.status_code == 200, r.text
    r = post(server, "/rank/user", json.dumps({"user": "wecom:w3"}).encode("utf-16"))
    assert 400 <= r.status_code < 500


def test_constrained_users_never_get_their_items_over_http(server: dict[str, Any]) -> None:
    b: art.Bundle = server["bundle"]
    ct = b.constraint_tags
    for user in ct[art.USER].drop_duplicates().head(8).tolist():
        uid = str(b.users[user])
        forbidden = {str(b.items["item_id"].iloc[i]) for i in b.forbidden(user).tolist()}
        got = ok(server, "/rank/user", {"user": uid, "k": 200})["items"]
        assert not {i["item_id"] for i in got} & forbidden
        for item in ("fruit-0", "seafood-1", "dairy-0"):
            got = ok(server, "/items/similar", {"item_id": item, "k": 200, "user": uid})["items"]
            assert not {i["item_id"] for i in got} & forbidden
        got = ok(server, "/rank/group", {"users": [uid, "wecom:w1"], "k": 200})["items"]
        assert not {i["item_id"] for i in got} & forbidden
        for bd in ok(server, "/bundles", {"user": uid, "k": 50})["bundles"]:
            assert not {i["item_id"] for i in bd["items"]} & forbidden


def test_a_non_json_body_is_415(server: dict[str, Any]) -> None:
    c: httpx.Client = server["client"]
    for ctype in ("multipart/form-data", "text/plain", "application/x-www-form-urlencoded"):
        r = c.post("/rank/user", content=b'{"user": "wecom:w1"}', headers={"content-type": ctype})
        assert r.status_code == 415 and "content-type" in r.text


def test_schemathesis_finds_no_server_error(server: dict[str, Any]) -> None:
    """A bounded fuzz of the OpenAPI spec (the README's schemathesis command, fewer cases)."""
    import subprocess
    import sys

    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists():
        pytest.skip("schemathesis is not installed")
    url = str(server["client"].base_url).rstrip("/") + "/docs.json"
    out = subprocess.run(
        [
            str(cli),
            "run",
            url,
            "--checks",
            "not_a_server_error",
            "-n",
            "15",
            "--seed",
            "3",
            "--request-timeout",
            "20",
            "--no-color",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=200,
        cwd=server["work"],  # schemathesis writes a .schemathesis/ folder where it runs
    )
    assert out.returncode == 0, out.stdout[-3000:]
