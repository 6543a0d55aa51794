"""Tags: rule tags from config, interest tags via jieba, and tag queries."""

from __future__ import annotations

import pandas as pd
import pytest

from features.engine.duck import DuckEngine
from features.engine.tags_sql import build_tiers, fetch_tiers
from features.settings import DEFAULT_TAG_RULES
from features.tags import TagQueryError, keyword_hits, load_rules, query_users


@pytest.fixture
def tags() -> pd.DataFrame:
    rows = [
        ("u1", "interest:fitness"), ("u1", "tier:gold"),
        ("u2", "interest:fitness"), ("u2", "tier:diamond"), ("u2", "allergy:mango"),
        ("u3", "interest:baby"), ("u3", "tier:regular"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "tag"])


@pytest.mark.parametrize(
    ("expr", "users"),
    [
        ("interest:fitness", ["u1", "u2"]),
        ("interest:fitness AND NOT allergy:mango", ["u1"]),
        ("tier:gold OR tier:diamond", ["u1", "u2"]),
        ("interest:baby or (interest:fitness and tier:diamond)", ["u2", "u3"]),
        ("tier:*", ["u1", "u2", "u3"]),
        ("NOT interest:*", []),
        ("no:such-tag", []),
    ],
)
def test_tag_query(tags: pd.DataFrame, expr: str, users: list[str]) -> None:
    assert list(query_users(tags, expr)) == users


@pytest.mark.parametrize(
    "expr", ["", "interest:fitness AND", "(tier:gold", "tier:gold )", "AND tier:gold"]
)
def test_bad_tag_query_is_an_error(tags: pd.DataFrame, expr: str) -> None:
    with pytest.raises(TagQueryError):
        query_users(tags, expr)


def test_keywords_are_found_by_segmentation_not_substring() -> None:
    texts = pd.Series(["有没有减脂餐推荐", "今天的菜很便宜", "减肥", "鸡蛋灌饼"])
    hits = keyword_hits(
        texts, {"fitness": ["减脂餐", "减肥"], "elderly": ["鸡蛋"], "bargain": ["便宜"]}
    )
    found = set(zip(hits["row"], hits["kw"], strict=True))
    assert (0, "减脂餐") in found and (1, "便宜") in found and (2, "减肥") in found


def test_value_tiers_order_by_rfm() -> None:
    rules = load_rules(DEFAULT_TAG_RULES)
    n = 50
    profile = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "recency_days": [float(n - i) for i in range(n)],
            "frequency": list(range(1, n + 1)),
            "monetary": [10.0 * (i + 1) for i in range(n)],
        }
    )
    with DuckEngine() as engine:  # the feature job's tier SQL
        engine.put("profile", profile)
        build_tiers(engine, rules)
        tiers = fetch_tiers(engine)
    tier = tiers.set_index("user_id")["tag"]
    assert tier[f"u{n - 1}"] == "tier:diamond"  # the most recent, frequent and big spender
    assert tier["u0"] == "tier:regular"
    assert set(tiers["detail"]) == {"钻石", "黄金", "普通"}
