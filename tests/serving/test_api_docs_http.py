"""The API page on a real server: /docs, its OpenAPI document, and every documented example
answering 200; bare phones, numeric ids, GET /info, errors without class names, documented
statuses (one `bentoml serve` on the serving world for the module)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving_world import shared_bundle

from serving import api_check
from serving.cli import free_port, server_env, start_server, stop_server

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
TOKEN = "docs-test-token"
CLASS_NAMES = ("IODescriptor", 'Request"', "RankUserRequest", "SimilarRequest", "GroupRequest")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("docs-serve")
    port = free_port()
    env = server_env(bundle, work, workers=1, extra={"LINLI_ADMIN_TOKEN": TOKEN})
    proc = start_server(port, env, work / "server.log", timeout=150)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            yield c
    finally:
        stop_server(proc)
        log = (work / "server.log").read_text(errors="replace")
        assert "status=5" not in log, "the server answered a 5xx (see server.log)"


@pytest.fixture(scope="module")
def spec(client: httpx.Client) -> dict[str, Any]:
    r = client.get("/docs.json")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_docs_page_and_root(client: httpx.Client, spec: dict[str, Any]) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "swagger-ui" in page.text and "/docs.json" in page.text and "<title>Linli" in page.text
    assert "googletagmanager" not in page.text
    for asset in ("/static_content/swagger-ui-bundle.js", "/static_content/swagger-ui.css"):
        assert client.get(asset).status_code == 200, asset
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (301, 302, 307, 308) and root.headers["location"] == "/docs"
    info = spec["info"]
    assert info["title"] == "Linli" and info["version"] not in ("None", "")
    assert "make demo" in info["description"] and "Authorization: Bearer" in info["description"]


def test_every_documented_example_answers_200(client: httpx.Client, spec: dict[str, Any]) -> None:
    sent = 0
    for route, item in spec["paths"].items():
        for method, op in item.items():
            if method == "get":
                assert client.get(route).status_code == 200, route
                continue
            example = op["requestBody"]["content"]["application/json"].get("example")
            assert example is not None, f"{route} has no example"
            auth = {"authorization": f"Bearer {TOKEN}"} if op.get("security") else {}
            r = client.post(route, json=example, headers=auth)
            assert r.status_code == 200, (route, example, r.text[:300])
            sent += 1
    assert sent >= 16
    assert api_check.main(["--url", str(client.base_url), "--token", TOKEN]) == 0


def test_bare_phone_numeric_ids_and_get_info(client: httpx.Client) -> None:
    want = client.post("/rank/user", json={"user": "wecom:w3", "k": 5}).json()
    assert want["user_id"] == "wecom:w3"
    for form in ("13900000003", "+86 139-0000-0003", "139 0000 0003", 13900000003):
        got = client.post("/rank/user", json={"user": form, "k": 5}).json()
        assert got["user_id"] == "wecom:w3" and got["known_user"], (form, got)
        assert [i["item_id"] for i in got["items"]] == [i["item_id"] for i in want["items"]]
    r = client.post("/items/similar", json={"item_id": "fruit-1", "user": "13900000003"})
    assert r.status_code == 200
    r = client.post("/rank/user", json={"user": "w3"})
    assert (
        r.status_code == 400 and "phone:" in r.json()["error"] and "11-digit" in r.json()["error"]
    )
    as_text = client.post("/segments/profile", json={"segment_id": "1"}).json()
    as_number = client.post("/segments/profile", json={"segment_id": 1})
    assert as_number.status_code == 200 and as_number.json()["profile"] == as_text["profile"]
    assert client.post("/bundles", json={"segment_id": 0}).status_code == 200
    r = client.post("/hosts", json={"group_id": 7})  # a number, not a type error: unknown group
    assert r.status_code == 404 and r.json()["field"] == "group_id"
    got, posted = client.get("/info"), client.post("/info", json={})
    assert got.status_code == 200 and got.json()["ready"]
    assert set(got.json()) == set(posted.json())
    assert got.json()["variants"] == posted.json()["variants"]


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/rank/user", {"user": "wecom:w1", "k": 0}, "k"),
        ("/rank/group", {"group_id": "g1", "strategy": "dictator"}, "strategy"),
        ("/items/similar", {"item_id": "fruit-1", "k": "ten"}, "k"),
        ("/hosts", {"group_id": "g1", "kk": 1}, "kk"),
        ("/audience", {"theme": {}}, "theme"),
        ("/live/plan", {"k": 3}, "group_id"),
        ("/segments/profile", {"segment_id": None}, "segment_id"),
    ],
)
def test_errors_name_the_field_without_class_names(
    client: httpx.Client, route: str, body: Any, field: str
) -> None:
    r = client.post(route, json=body)
    assert r.status_code == 400, (route, r.text)
    err = r.json()
    assert err["field"] == field and err["error"].startswith(f"{field}: "), err
    assert "\n" not in err["error"] and err["detail"][0]["loc"][0] == field
    assert not any(name in r.text for name in CLASS_NAMES), r.text


def test_answered_statuses_are_documented_with_their_body(
    client: httpx.Client, spec: dict[str, Any]
) -> None:
    json_ct = {"content-type": "application/json"}
    calls = [
        ("/rank/group", {"group_id": "g999"}, {}, 404),
        ("/koc", {"group_id": "nope"}, {}, 404),
        ("/segments/profile", {"segment_id": "nope"}, {}, 404),
        ("/items/similar", {"item_id": "nope"}, {}, 404),
        ("/ingest/events", {"events": []}, {}, 401),
        ("/admin/reload", {}, {"authorization": "Bearer wrong"}, 401),
        ("/hosts", "x" * 3_000_000, json_ct, 413),
        ("/rank/user", '{"user": "wecom:w1"}', {"content-type": "text/plain"}, 415),
        ("/live/plan", {"group_id": "g1", "k": -1}, {}, 400),
    ]
    for route, body, headers, status in calls:
        if isinstance(body, str):
            r = client.post(route, content=body.encode(), headers=headers)
        else:
            r = client.post(route, json=body, headers=headers)
        assert r.status_code == status, (route, r.status_code, r.text[:200])
        documented = spec["paths"][route]["post"]["responses"]
        assert str(status) in documented, (route, status)
        ref = documented[str(status)]["content"]["application/json"]["schema"]["$ref"]
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(schema["required"]) <= set(r.json()), (route, r.json())
        assert set(r.json()) <= set(schema["properties"]), (route, r.json())
    assert json.dumps(spec).count("IODescriptor") == 0
