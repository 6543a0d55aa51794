"""Member profiles and tag queries over a real bundle (the serving world), in-process."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from serving_world import shared_bundle

from features.tags import query_users
from serving import member_api, members
from serving import profile_schemas as ps
from serving.artifacts import USER, load_bundle
from serving.engine import ApiError, Engine
from training.settings import Settings


@pytest.fixture
def engine(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Engine:
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    return Engine(Settings(work_dir=tmp_path), load_bundle(bundle))


def _q(engine: Engine, **kw: object) -> ps.UsersQueryResponse:
    return member_api.query(member_api.Source.of(engine), ps.UsersQueryRequest.model_validate(kw))


def test_profile_by_every_identifier_form(engine: Engine) -> None:
    forms = [
        "wecom:w3",
        "phone:13900000003",
        "13900000003",
        "139 0000 0003",
        "+86 139-0000-0003",
        "8613900000003",
    ]
    answers = [
        member_api.profile(
            member_api.Source.of(engine), ps.UserProfileRequest.model_validate({"user": f})
        )
        for f in forms
    ]
    assert {a.user_id for a in answers} == {"wecom:w3"}
    p = answers[0]
    assert "phone:13900000003" in p.identifiers
    assert p.value_tier and p.rfm["frequency"] >= 1 and p.rfm["monetary"] > 0
    assert any(t.tag.startswith("tier:") and t.source == "rule" for t in p.tags)
    assert p.segment is not None and p.segment.name
    assert [g.id for g in p.groups] and p.activity
    num = ps.UserProfileRequest.model_validate({"user": 13900000003})  # a number is an id too
    assert member_api.profile(member_api.Source.of(engine), num).user_id == "wecom:w3"


def test_profile_shows_constraints_and_manual_tags(engine: Engine) -> None:
    p = member_api.profile(
        member_api.Source.of(engine), ps.UserProfileRequest(user="wecom:w7")
    )  # p % 7 == 0: a note
    manual = [t for t in p.tags if t.source == "manual"]
    assert manual and p.constraints.tags
    assert p.constraints.forbidden_items > 0 and p.constraints.examples


def test_unknown_member_is_a_404_naming_the_forms(engine: Engine) -> None:
    with pytest.raises(ApiError) as e:
        member_api.profile(member_api.Source.of(engine), ps.UserProfileRequest(user="wecom:nobody"))
    assert e.value.status == 404 and e.value.field == "user" and "bare phone" in e.value.message


def test_query_matches_the_feature_layer_engine(engine: Engine) -> None:
    b = engine.bundle
    assert b is not None and b.user_tags is not None
    tags = pd.DataFrame({"user_id": b.user_tags[USER], "tag": b.user_tags["tag"]})
    expr = "prefers:fruit AND NOT allergy:mango OR (tier:gold AND group:g2)"
    want = set(query_users(tags, expr).tolist())
    got = _q(engine, expression=expr, limit=1000)
    assert got.count == len(want) > 0
    assert {str(b.users[u]) for u in want} == {u.user_id for u in got.users}
    spend = [u.monetary or 0 for u in got.users]
    assert spend == sorted(spend, reverse=True)  # highest spend first
    assert got.unknown_terms == []


def test_query_pages_segments_and_unknown_terms(engine: Engine) -> None:
    everyone = _q(engine, expression="tier:*", limit=1000)
    page = _q(engine, expression="tier:*", limit=7, offset=7)
    assert [u.user_id for u in page.users] == [u.user_id for u in everyone.users[7:14]]
    seg = _q(engine, segments=[1], limit=1000)  # a numeric segment id is accepted
    assert seg.count > 0 and {u.segment for u in seg.users} == {"young parents"}
    both = _q(engine, expression="NOT segment:1", segments=["1"])
    assert both.count == 0
    typo = _q(engine, expression="interest:fitnes OR tier:gold")
    assert typo.unknown_terms == ["interest:fitnes"]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"expression": "tier:gold AND"}, "expression", 400),
        ({"expression": "(tier:gold"}, "expression", 400),
        ({"expression": "AND tier:gold"}, "expression", 400),
        ({"expression": "(" * 40 + "tier:gold" + ")" * 40}, "expression", 400),
        ({}, "segments", 400),
        ({"segments": ["99"]}, "segments", 404),
    ],
)
def test_bad_queries_are_4xx_with_one_line(
    engine: Engine, body: dict[str, object], field: str, status: int
) -> None:
    with pytest.raises(ApiError) as e:
        _q(engine, **body)
    assert e.value.status == status and e.value.field == field
    assert "\n" not in e.value.message and "Error" not in e.value.message


def test_live_leader_note_applies_at_once(engine: Engine) -> None:
    before = _q(engine, expression="likes:durian")
    assert before.count == 0 and before.unknown_terms == ["likes:durian"]
    engine.add_live(
        [{"id_type_a": "wecom", "id_value_a": "w5", "id_type_b": "phone", "id_value_b": "13700000005"}],
        [
            {"id_type": "phone", "id_value": "137 0000 0005", "tag": "likes:durian", "note": "爱吃榴莲"},
            {"id_type": "wecom", "id_value": "w5", "tag": "allergy:mango", "note": "芒果过敏"},
        ],
    )  # fmt: skip
    after = _q(engine, expression="likes:durian AND allergy:mango")
    assert [u.user_id for u in after.users] == ["wecom:w5"]
    p = member_api.profile(member_api.Source.of(engine), ps.UserProfileRequest(user="13700000005"))
    assert p.user_id == "wecom:w5" and "phone:13700000005" in p.identifiers
    live = {t.tag: t.detail for t in p.tags if t.source == "live"}
    assert live == {"likes:durian": "爱吃榴莲", "allergy:mango": "芒果过敏"}
    assert "allergy:mango" in p.constraints.tags and p.constraints.forbidden_items > 0


def test_csv_export_has_every_match(engine: Engine) -> None:
    req = ps.UsersQueryRequest(expression="prefers:*", format="csv")
    text = member_api.query_csv(member_api.Source.of(engine), req)
    rows = list(csv.DictReader(io.StringIO(text)))
    count = _q(engine, expression="prefers:*").count
    assert len(rows) == count > 50
    assert set(rows[0]) == {"user_id", "identifiers", "value_tier", "segment", "orders", "spend", "groups"}  # fmt: skip
    assert all(r["groups"] for r in rows)


def test_group_profile(engine: Engine) -> None:
    g = member_api.group_profile(
        member_api.Source.of(engine), ps.GroupProfileRequest(group_id="g1")
    )
    assert g.members > 50 and g.name == "阳光花园1号群" and sum(g.value_tiers.values()) == g.members
    assert g.top_items and g.top_tags and g.segments and g.constrained_members > 0
    with pytest.raises(ApiError) as e:
        member_api.group_profile(
            member_api.Source.of(engine), ps.GroupProfileRequest(group_id="nope")
        )
    assert e.value.status == 404


def test_resolve_leaves_other_digits_alone(engine: Engine) -> None:
    b = engine.bundle
    assert b is not None
    assert members.resolve(b, "12345") is None  # too short to be a phone
    assert members.resolve(b, "wecom:w3") == members.resolve(b, "13900000003")
