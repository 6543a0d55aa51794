"""Row validation: each way SCHEMA.md names is rejected with a reason; good rows pass typed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.load import load_table
from features.schema import EVENTS, ITEMS
from features.validate import parse_timestamps, validate

GOOD = {
    "event_id": "e1",
    "ts": "2026-05-01T10:00:00+08:00",
    "event_type": "order",
    "id_type": "wecom",
    "id_value": "w1",
    "item_id": "i1",
    "quantity": "2",
    "amount": "19.8",
    "order_id": "o1",
}


def one(**changes: str) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, **changes}])


def reason_of(df: pd.DataFrame) -> str:
    v = validate(df, EVENTS)
    assert len(v.clean) + len(v.rejects) == len(df)
    return "" if v.rejects.empty else str(v.rejects["reason"].iloc[0])


def test_good_row_is_kept_and_typed() -> None:
    v = validate(one(), EVENTS)
    assert v.rejects.empty
    assert v.clean["quantity"].iloc[0] == 2.0
    assert str(v.clean["ts"].dt.tz) == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"event_id": ""}, "missing required field: event_id"),
        ({"id_value": "  "}, "missing required field: id_value"),
        ({"event_type": "teleport"}, "unknown event_type: teleport"),
        ({"ts": "yesterday"}, "unparseable timestamp in ts"),
        ({"quantity": "two"}, "unparseable number in quantity"),
        ({"quantity": "-1"}, "negative quantity"),
        ({"amount": "inf"}, "unparseable number in amount"),
        ({"order_id": ""}, "missing required field: order_id for order"),
        ({"event_type": "jielong", "order_id": ""}, "missing required field: order_id for jielong"),
        ({"event_type": "view", "item_id": ""}, "missing required field: item_id for view"),
    ],
)
def test_each_broken_way_is_rejected_with_its_reason(
    changes: dict[str, str], expected: str
) -> None:
    assert reason_of(one(**changes)).startswith(expected)


def test_search_needs_no_item() -> None:
    assert reason_of(one(event_type="search", item_id="", order_id="", text="减脂餐")) == ""


def test_naive_timestamp_is_china_time() -> None:
    ts = parse_timestamps(pd.Series(["2026-05-01 10:00:00", "2026-05-01T02:00:00Z"]))
    assert ts.iloc[0] == ts.iloc[1]


def test_repeated_key_keeps_the_first_valid_copy() -> None:
    df = pd.concat([one(ts="bad"), one(), one(amount="1")], ignore_index=True)
    v = validate(df, EVENTS)
    assert len(v.clean) == 1 and v.clean["amount"].iloc[0] == 19.8
    assert list(v.rejects["reason"].str.split(":").str[0]) == [
        "unparseable timestamp in ts",
        "repeated event_id",
    ]


def test_extra_columns_are_kept() -> None:
    v = validate(one(source_behavior="fav"), EVENTS)
    assert v.clean["source_behavior"].iloc[0] == "fav"


def test_items_price_must_be_a_number(tmp_path: Path) -> None:
    pd.DataFrame(
        {"item_id": ["a", "b"], "name": ["x", "y"], "category": ["c", "c"], "price": ["1.5", "abc"]}
    ).to_csv(tmp_path / "items.csv", index=False)
    loaded = load_table(tmp_path, ITEMS)
    assert loaded is not None
    v, _ = loaded
    assert list(v.clean["item_id"]) == ["a"]


def test_malformed_csv_line_becomes_a_reject(tmp_path: Path) -> None:
    text = "item_id,name,category\na,x,c\nb,y,c,EXTRA,FIELDS\nc,z,c\n"
    (tmp_path / "items.csv").write_text(text, encoding="utf-8")
    loaded = load_table(tmp_path, ITEMS)
    assert loaded is not None
    v, _ = loaded
    assert list(v.clean["item_id"]) == ["a", "c"]
    assert v.rejects["reason"].str.startswith("malformed CSV line").sum() == 1


def test_malformed_json_line_becomes_a_reject(tmp_path: Path) -> None:
    text = '{"item_id": "a", "name": "x", "category": "c"}\n{"item_id": "b", oops\n'
    (tmp_path / "items.jsonl").write_text(text, encoding="utf-8")
    loaded = load_table(tmp_path, ITEMS)
    assert loaded is not None
    v, _ = loaded
    assert list(v.clean["item_id"]) == ["a"]
    assert v.rejects["reason"].str.startswith("malformed JSON line").sum() == 1


def test_table_split_in_parts_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "items").mkdir()
    for i in range(2):
        pd.DataFrame({"item_id": [f"i{i}"], "name": ["n"], "category": ["c"]}).to_parquet(
            tmp_path / "items" / f"part-{i}.parquet"
        )
    loaded = load_table(tmp_path, ITEMS)
    assert loaded is not None
    assert len(loaded[0].clean) == 2
