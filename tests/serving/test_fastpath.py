"""The ranking hot path answers what the engine answers, with the service's error shapes."""

from __future__ import annotations

import json
from pathlib import Path

from serving_world import shared_bundle

from serving import fastpath
from serving import schemas as s
from serving.runtime import Runtime
from serving.settings import Settings


def _runtime(tmp_path: Path) -> Runtime:
    bundle = shared_bundle(tmp_path)
    settings = Settings.model_validate(
        {
            "work_dir": tmp_path / "work",
            "serving": {"bundle_dir": bundle, "ingest": {"validator_process": False}},
        }
    )
    return Runtime(settings)


def test_answers_equal_the_engine_and_errors_keep_their_shape(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    try:
        body = {"user": "phone:+86 139-0000-0003", "k": 5, "request_id": "r1"}
        status, data = fastpath.answer(rt, "/rank/user", json.dumps(body).encode())
        assert status == 200
        got = s.RankUserResponse.model_validate_json(data)
        want = rt.engine.rank_user(s.RankUserRequest.model_validate(body))
        assert got.user_id == want.user_id == "wecom:w3" and got.request_id == "r1"
        assert [i.item_id for i in got.items] == [i.item_id for i in want.items]

        status, data = fastpath.answer(rt, "/rank/group", b'{"group_id": "g1", "k": 4}')
        assert status == 200 and len(s.RankGroupResponse.model_validate_json(data).items) == 4

        status, data = fastpath.answer(rt, "/rank/user", b'{"user": "wecom:w3", "k": 0}')
        err = json.loads(data)
        assert status == 400 and err["detail"][0]["loc"] == ["k"]
        status, data = fastpath.answer(rt, "/rank/user", b'{"user": "wecom:w3", "zzz": 1}')
        assert status == 400 and json.loads(data)["detail"][0]["loc"] == ["zzz"]
        status, data = fastpath.answer(rt, "/rank/user", b"{not json")
        assert status == 400 and json.loads(data)["detail"][0]["type"] == "json_invalid"
        status, data = fastpath.answer(rt, "/rank/group", b'{"group_id": "nope"}')
        assert status == 404 and json.loads(data)["field"] == "group_id"
        # every served list was logged as an exposure, as through BentoML
        rt.engine.exposures.close()
        lines = [
            json.loads(x)
            for f in (tmp_path / "work" / "exposures").glob("*.jsonl")
            for x in f.read_text().splitlines()
        ]
        assert {x["request_id"] for x in lines} >= {"r1"} and len(lines) >= 3
    finally:
        rt.close()
