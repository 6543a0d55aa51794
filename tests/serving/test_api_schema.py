"""The API's request models and OpenAPI document without a server: identifier forms, numeric
ids, one-line validation errors, an example for every endpoint, every error status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from serving_world import shared_bundle

from serving import artifacts as art
from serving import openapi
from serving import schemas as s
from serving.api_examples import DEMO, EXAMPLES, ids_for
from serving.validation import api_models, check, error_body

FORMS = ["13900000003", "+86 139-0000-0003", "+8613900000003", "139 0000 0003", "0086 13900000003"]


@pytest.mark.parametrize("form", FORMS)
def test_a_bare_phone_in_any_form_is_a_phone(form: str) -> None:
    assert s.RankUserRequest(user=form).user == "phone:13900000003"
    assert s.RankGroupRequest(users=[form, "wecom:w1"]).users == ["phone:13900000003", "wecom:w1"]


def test_a_phone_sent_as_a_number_is_a_phone_and_other_forms_are_kept() -> None:
    assert s.RankUserRequest.model_validate({"user": 13900000003}).user == "phone:13900000003"
    for given in ("wecom:w3", "phone:+86 139-0000-0003", "用户:张三", "openid:o-1"):
        assert s.RankUserRequest(user=given).user == given


@pytest.mark.parametrize("bad", ["w3", "12345", "1390000000", "+1 650 555 0100", 12345])
def test_anything_else_is_refused_with_the_accepted_forms(bad: Any) -> None:
    exc = check(s.RankUserRequest, json.dumps({"user": bad}).encode())
    assert exc is not None
    body = error_body(exc)
    assert body["field"] == "user" and body["error"].startswith("user: not an identifier")
    for form in ("wecom:", "openid:", "phone:", "member_card:", "11-digit"):
        assert form in body["error"]


def test_ids_that_look_numeric_are_accepted_as_numbers() -> None:
    assert s.SegmentProfileRequest.model_validate({"segment_id": 4}).segment_id == "4"
    assert s.BundlesRequest.model_validate({"segment_id": 0, "items": [17]}).items == ["17"]
    assert s.GroupRequest.model_validate({"group_id": 12}).group_id == "12"
    assert s.SimilarRequest.model_validate({"item_id": 196}).item_id == "196"
    with pytest.raises(ValidationError):
        s.SegmentProfileRequest.model_validate({"segment_id": True})
    with pytest.raises(ValidationError):
        s.SegmentProfileRequest.model_validate({"segment_id": 4.5})


@pytest.mark.parametrize(
    ("model", "body", "field", "text"),
    [
        (s.RankUserRequest, {"user": "wecom:w1", "k": 0}, "k", "k: Input should be greater"),
        (s.SimilarRequest, {"item_id": "x", "kk": 1}, "kk", "kk: unknown field"),
        (s.GroupRequest, {}, "group_id", "group_id: required"),
        (s.AudienceRequest, {"theme": {}}, "theme", "theme: a theme needs items"),
        (s.AudienceRequest, {"theme": {"items": [None]}}, "theme.items.0", "theme.items.0: "),
        (s.RankGroupRequest, {}, None, "give exactly one of group_id or users"),
        (s.RankUserRequest, [1, 2], None, "send a JSON object"),
    ],
)
def test_validation_errors_name_the_field_in_one_line_without_class_names(
    model: Any, body: Any, field: str | None, text: str
) -> None:
    exc = check(model, json.dumps(body).encode())
    assert exc is not None
    got = error_body(exc)
    assert got["field"] == field and got["error"].startswith(text), got
    assert "\n" not in got["error"] and got["detail"]
    dumped = json.dumps(got)
    assert model.__name__ not in dumped and "IODescriptor" not in dumped


@pytest.fixture(scope="module")
def spec_parts() -> tuple[dict[str, Any], Any]:
    from serving.service import Linli

    return Linli.openapi_spec.asdict(), api_models(Linli.apis)  # type: ignore[attr-defined]


def test_every_endpoint_has_an_example_its_model_accepts(spec_parts: Any) -> None:
    base, models = spec_parts
    posts = [r for r, item in base["paths"].items() if "post" in item]
    assert set(posts) == set(models)
    missing = sorted(set(posts) - set(EXAMPLES))
    assert not missing, f"add an example to serving.api_examples.EXAMPLES for {missing}"
    for route in posts:
        models[route][0].model_validate(EXAMPLES[route](DEMO))


def test_document_has_title_version_statuses_and_no_internal_names(spec_parts: Any) -> None:
    base, models = spec_parts
    doc = openapi.build(base, DEMO, models)
    text = json.dumps(doc, ensure_ascii=False)
    assert doc["info"]["title"] == "Linli" and doc["info"]["version"] not in ("", "None")
    assert doc["info"]["version"] == openapi.service_version()
    assert "IODescriptor" not in text and "BentoML" not in doc["info"]["description"]
    schemas = doc["components"]["schemas"]
    for route, item in doc["paths"].items():
        op = item.get("post")
        if op is None:
            continue
        codes = set(op["responses"])
        assert {"200", "400", "408", "413", "415", "429", "503"} <= codes, route
        assert ("401" in codes) == (route != "/info"), route
        assert codes >= {str(c) for c in openapi.ROUTE_ERRORS.get(route, {})}
        assert "500" not in codes
        for code, answer in op["responses"].items():
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in schemas, (route, code)
        assert op["requestBody"]["content"]["application/json"]["example"] is not None
    assert "get" in doc["paths"]["/info"]
    undocumented = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert not undocumented, undocumented  # every field, the live plan's included
    for sub in ("PlanTheme", "PlanHost", "Funnel", "Rate", "AudienceCounts", "ItemOut"):
        assert sub in schemas
    seg = schemas["SegmentProfileRequest"]["properties"]["segment_id"]
    assert {"string", "integer"} <= {x.get("type") for x in seg["anyOf"]}


def test_example_ids_come_from_the_bundle_when_the_demo_ids_are_absent(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    b = art.load_bundle(shared_bundle(Path(tmp_path_factory.getbasetemp())))
    ids = ids_for(b)
    assert ids.group in b.group_index and len(b.members(b.group_index[ids.group]))
    assert b.identifiers.get(ids.user) is not None and ids.item in b.item_index
    assert ids.phone is not None and b.identifiers[f"phone:{ids.phone}"] == b.identifiers[ids.user]
    assert ids.segment in {str(x) for x in b.table("segments")["segment_id"]}  # type: ignore[index]
    assert ids_for(b, ids) == ids  # ids the bundle holds are kept
