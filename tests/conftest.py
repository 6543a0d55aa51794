"""Shared fixtures: a tiny hand-written data directory in the SCHEMA.md format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from loop_world import empty_mlflow, end_runs, tracked_settings

from training.settings import Settings

# fmt: off
EVENTS = [
    # event_id, ts, event_type, id_type, id_value, item_id, quantity, amount, order_id, group_id, live_id, text, channel, referrer
    ("e1", "2026-05-01T10:00:00+08:00", "view", "openid", "o-alice", "chicken", "", "", "", "g1", "", "", "miniapp", ""),
    ("e2", "2026-05-01T10:05:00+08:00", "order", "openid", "o-alice", "chicken", "2", "59.8", "A1", "g1", "", "", "miniapp", ""),
    ("e3", "2026-05-01T10:05:00+08:00", "order", "openid", "o-alice", "avocado", "1", "25", "A1", "g1", "", "", "miniapp", ""),
    ("e4", "2026-05-03 09:00:00", "search", "wecom", "w-alice", "", "", "", "", "g1", "", "有没有减脂餐推荐", "group", ""),
    ("e5", "2026-05-04T12:00:00+08:00", "jielong", "phone", "+86 138-0000-0001", "chicken", "1", "29.9", "J1", "g1", "L1", "", "group", ""),
    ("e6", "2026-05-02T08:00:00+08:00", "order", "member_card", "m-bob", "rice", "1", "49", "B1", "g1", "", "", "store", ""),
    ("e7", "2026-05-05T08:00:00+08:00", "order", "member_card", "m-bob", "mango", "1", "39", "B2", "g1", "", "", "store", ""),
    ("e8", "2026-05-05T09:00:00+08:00", "message", "wecom", "w-carol", "", "", "", "", "g1", "", "宝宝辅食有什么推荐", "referral", "wecom:w-alice"),
    ("e9", "2026-05-06T09:00:00+08:00", "order", "wecom", "w-carol", "puree", "1", "19", "C1", "g1", "", "", "referral", "wecom:w-alice"),
]
# fmt: on
EVENTS.append(EVENTS[1])  # the same event delivered twice: one event, one reject
EVENT_COLUMNS = [
    "event_id", "ts", "event_type", "id_type", "id_value", "item_id", "quantity", "amount",
    "order_id", "group_id", "live_id", "text", "channel", "referrer",
]  # fmt: skip


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """A data directory with every table: three people, five items, one group."""
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame(EVENTS, columns=EVENT_COLUMNS).to_csv(d / "events.csv", index=False)
    pd.DataFrame(
        {
            "id_type_a": ["openid", "phone"],
            "id_value_a": ["o-alice", "13800000001"],
            "id_type_b": ["phone", "wecom"],
            "id_value_b": ["138 0000 0001", "w-alice"],
            "source": ["miniapp_login", "wecom_bind"],
        }
    ).to_csv(d / "identity_links.csv", index=False)
    pd.DataFrame(
        {
            "item_id": ["chicken", "avocado", "rice", "mango", "puree"],
            "name": ["鸡胸肉 1kg", "牛油果 4个装", "五常大米 5kg", "海南芒果 3斤", "芒果果泥"],
            "category": ["meat", "fruit", "grain_oil", "fruit", "baby_food"],
            "price": [29.9, 25, 49, 39, 19],
            "attributes": ["", "imported", "", "contains:mango", "contains:mango;organic"],
        }
    ).to_parquet(d / "items.parquet", index=False)
    pd.DataFrame(
        {
            "group_id": ["g1"],
            "name": ["阳光花园1号群"],
            "leader": ["wecom:w-carol"],
            "kind": ["general"],
        }
    ).to_csv(d / "groups.csv", index=False)
    pd.DataFrame(
        {
            "group_id": ["g1", "g1", "g1"],
            "id_type": ["wecom", "member_card", "wecom"],
            "id_value": ["w-alice", "m-bob", "w-carol"],
        }
    ).to_json(d / "group_members.jsonl", orient="records", lines=True, force_ascii=False)
    pd.DataFrame(
        {
            "id_type": ["wecom"],
            "id_value": ["w-carol"],
            "tag": ["allergy:mango"],
            "note": ["孩子对芒果过敏"],
        }
    ).to_csv(d / "manual_tags.csv", index=False)
    return d


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose work folder is a fresh temporary directory."""
    return Settings(work_dir=tmp_path / "work")


@pytest.fixture
def tracked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings on a fresh copy of an empty MLflow store; ends any run a test left open."""
    yield tracked_settings(tmp_path, monkeypatch, empty_mlflow(tmp_path_factory.getbasetemp()))
    end_runs()
