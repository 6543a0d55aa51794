"""Dataset adapters: tiny hand-made copies of each format, plus the real files when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from features.adapters import DATASETS, adapter, groceries, instacart, main, tafeng, taobao
from features.adapters.common import ANCHOR, write_tables
from features.schema import CHINA_TZ, TABLES, Col, EventType

# ../shared/datasets beside the repository (as CI lays it out); LINLI_DATASETS overrides
REAL = Path(
    os.environ.get("LINLI_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets")
)
ENUM = set(TABLES["events"].column(Col.EVENT_TYPE).enum or ())


def real(name: str) -> Path:
    """The real dataset folder, or skip the test when it is not on this machine."""
    path = REAL / name
    if not path.is_dir():
        pytest.skip(f"real dataset folder {path} is missing (see datasets/README.md)")
    return path


def check_tables(tables: dict[str, pd.DataFrame], allow_missing_ts: int = 0) -> None:
    """Every frame carries its SCHEMA columns; events obey the enum and required-when rules."""
    for name, frame in tables.items():
        spec = TABLES[name]
        missing = [c for c in spec.required_columns if c not in frame.columns]
        assert not missing, f"{name} lacks {missing}"
        for col in spec.required_columns:
            if name == "events" and col == Col.TS:
                continue
            assert frame[col].notna().all(), f"{name}.{col} has blanks"
        for col in spec.key:
            assert frame[col].is_unique, f"{name}.{col} repeats"
    events = tables["events"]
    assert set(events[Col.EVENT_TYPE].unique()) <= ENUM
    assert int(events[Col.TS].isna().sum()) == allow_missing_ts
    assert isinstance(events[Col.TS].dtype, pd.DatetimeTZDtype)
    for col, types in TABLES["events"].required_when.items():
        needs = events[Col.EVENT_TYPE].isin(list(types))
        assert events.loc[needs, col].notna().all(), f"events.{col} blank where required"
    for col in (Col.EVENT_ID, Col.ID_VALUE, Col.ITEM_ID, Col.ORDER_ID):
        if col in events.columns:
            assert events[col].dropna().map(type).eq(str).all(), f"events.{col} not text"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert(CHINA_TZ)


# ---------------------------------------------------------------- fixtures (tiny copies)


@pytest.fixture
def instacart_dir(tmp_path: Path) -> Path:
    d = tmp_path / "instacart"
    d.mkdir()
    (d / "orders.csv").write_text(
        "order_id,user_id,order_number,order_dow,order_hour_of_day,days_since_prior_order\n"
        "11,1,1,2,8,\n"
        "13,1,3,3,7,0.0\n"  # same day and hour as order 12: one minute later
        "12,1,2,3,7,15.0\n"
        "21,2,1,0,23,\n"
    )
    (d / "order_products.csv").write_text(
        "order_id,product_id,add_to_cart_order,reordered\n"
        "11,1,1,0\n11,2,2,0\n12,1,1,1\n13,3,1,0\n21,2,1,0\n"
    )
    (d / "products.csv").write_text(
        "product_id,product_name,aisle_id,department_id\n"
        "1,Banana,24,4\n2,Whole Milk,84,16\n3,Organic Eggs,86,16\n"
        '4,"Cookies, Chocolate",61,19\n'  # never ordered, still in the catalogue
    )
    (d / "aisles.csv").write_text(
        "aisle_id,aisle\n24,fresh fruits\n84,milk\n86,eggs\n61,cookies cakes\n"
    )
    (d / "departments.csv").write_text(
        "department_id,department\n4,produce\n16,dairy eggs\n19,snacks\n"
    )
    return d


@pytest.fixture
def tafeng_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tafeng"
    d.mkdir()
    history = {"7": [[-1], [1, 2], [3], [-1]], "2": [[-1], [4], [5, 5], [-1]]}
    future = {"7": [[-1], [2, 6], [-1]], "2": [[-1], [8], [-1]]}
    merged = {"7": [[1, 2], [3], [2, 6]], "2": [[4], [5, 5], [9]]}  # user 2 disagrees
    for name, data in (
        ("tafeng_history.json", history),
        ("tafeng_future.json", future),
        ("tafeng_merged.json", merged),
    ):
        (d / name).write_text(json.dumps(data))
    return d


@pytest.fixture
def taobao_dir(tmp_path: Path) -> Path:
    d = tmp_path / "taobao"
    d.mkdir()
    (d / "user_behavior.csv").write_text(
        "1,100,10,pv,1511544070\n"
        "1,100,10,pv,1511544070\n"  # exact duplicate
        "1,100,10,fav,1511544080\n"
        "1,100,10,buy,1511544090\n"
        "1,200,20,buy,1511544090\n"  # same second: same basket
        "1,200,20,cart,1511544000\n"
        "2,200,21,pv,1505118000\n"  # outlier date; item 200 seen under a 2nd category
        "2,300,30,pv\n"  # truncated last line
    )
    return d


@pytest.fixture
def groceries_dir(tmp_path: Path) -> Path:
    d = tmp_path / "groceries"
    d.mkdir()
    (d / "groceries.csv").write_text(
        "citrus fruit,semi-finished bread,margarine\nwhole milk\ncream cheese ,whole milk,yogurt\n"
    )
    return d


# ---------------------------------------------------------------- instacart


def test_instacart_fixture(instacart_dir: Path) -> None:
    tables = instacart.to_schema(instacart_dir)
    check_tables(tables)
    events, items = tables["events"], tables["items"]
    assert len(events) == 5
    assert set(events[Col.EVENT_TYPE]) == {EventType.ORDER}
    assert (events[Col.ID_TYPE] == instacart.ID_TYPE).all()
    assert (events[Col.QUANTITY] == 1).all()
    assert Col.AMOUNT not in events.columns
    by_id = events.set_index(Col.EVENT_ID)
    assert list(by_id.index) == ["11:1", "11:2", "12:1", "13:3", "21:2"]
    assert by_id.loc["11:1", Col.ID_VALUE] == "1"
    assert by_id.loc["11:1", Col.ORDER_ID] == "11"
    assert by_id.loc["11:1", Col.TS] == ts("2017-01-01T08:00:00+08:00")
    assert by_id.loc["12:1", Col.TS] == ts("2017-01-16T07:00:00+08:00")
    assert by_id.loc["13:3", Col.TS] == ts("2017-01-16T07:01:00+08:00")
    assert by_id.loc["21:2", Col.TS] == ANCHOR + pd.Timedelta(hours=23)
    assert len(items) == 4
    cookies = items.set_index(Col.ITEM_ID).loc["4"]
    assert cookies[Col.NAME] == "Cookies, Chocolate"
    assert (cookies[Col.CATEGORY], cookies[Col.SUBCATEGORY]) == ("snacks", "cookies cakes")


def test_instacart_real() -> None:
    result = instacart.convert(real("instacart"))
    check_tables(result.tables)
    events, items = result.tables["events"], result.tables["items"]
    assert len(events) == 150_000
    assert events[Col.ORDER_ID].nunique() == 15_183
    assert events[Col.ID_VALUE].nunique() == 593
    assert events[Col.ITEM_ID].nunique() == 14_190
    assert len(items) == 49_688
    assert items[Col.CATEGORY].nunique() == 21
    assert items[Col.SUBCATEGORY].nunique() == 134
    assert events[Col.ITEM_ID].isin(items[Col.ITEM_ID]).all()
    # each user's orders keep order_number order in time
    per_order = events.drop_duplicates(Col.ORDER_ID).sort_values(
        [Col.ID_VALUE, instacart.ORDER_NUMBER]
    )
    step = per_order.groupby(Col.ID_VALUE)[Col.TS].diff().dropna()
    assert (step > pd.Timedelta(0)).all()
    first = per_order[per_order[instacart.ORDER_NUMBER] == 1]
    assert (first[Col.TS].dt.normalize() == ANCHOR).all()


# ---------------------------------------------------------------- tafeng


def test_tafeng_read_baskets_fixture(tafeng_dir: Path) -> None:
    b = tafeng.read_baskets(tafeng_dir)
    assert list(b.columns) == [Col.USER_ID, tafeng.BASKET_INDEX, Col.ITEM_ID, tafeng.IS_FUTURE]
    assert b[Col.USER_ID].map(type).eq(str).all() and b[Col.ITEM_ID].map(type).eq(str).all()
    assert b[tafeng.IS_FUTURE].dtype == bool
    u7 = b[b[Col.USER_ID] == "7"]
    assert u7[tafeng.BASKET_INDEX].tolist() == [0, 0, 1, 2, 2]
    assert u7[Col.ITEM_ID].tolist() == ["1", "2", "3", "2", "6"]
    assert u7[tafeng.IS_FUTURE].tolist() == [False, False, False, True, True]
    assert b[Col.USER_ID].drop_duplicates().tolist() == ["7", "2"]  # file order
    assert tafeng.merged_mismatches(tafeng_dir) == ["2"]


def test_tafeng_fixture(tafeng_dir: Path) -> None:
    tables = tafeng.to_schema(tafeng_dir)
    assert set(tables) == {"events"}
    check_tables(tables)
    e = tables["events"].set_index(Col.EVENT_ID)
    assert e.loc["7:2:6", Col.ORDER_ID] == "7:2"
    assert e.loc["7:2:6", Col.TS] == tafeng.ANCHOR + pd.Timedelta(days=2)
    assert bool(e.loc["7:2:6", tafeng.IS_FUTURE])
    assert e.loc["2:1:5", Col.QUANTITY] == 2  # repeated item folded
    assert (e[Col.ID_TYPE] == tafeng.ID_TYPE).all()
    assert len(e) == 8
    notes = " ".join(tafeng.convert(tafeng_dir).notes)
    assert "differs" in notes and "'2'" in notes


def test_tafeng_real() -> None:
    src = real("tafeng")
    b = tafeng.read_baskets(src)
    assert b[Col.USER_ID].nunique() == 13_858
    assert b[Col.ITEM_ID].nunique() == 11_997
    assert b.drop_duplicates([Col.USER_ID, tafeng.BASKET_INDEX]).shape[0] == 91_227
    last = b.groupby(Col.USER_ID)[tafeng.BASKET_INDEX].transform("max")
    assert (b[tafeng.IS_FUTURE] == (b[tafeng.BASKET_INDEX] == last)).all()
    assert tafeng.merged_mismatches(src, b) == []
    tables = {"events": tafeng.events_from_baskets(b)}
    check_tables(tables)
    assert len(tables["events"]) == len(b)


# ---------------------------------------------------------------- taobao


def test_taobao_fixture(taobao_dir: Path) -> None:
    result = taobao.convert(taobao_dir)
    tables = result.tables
    check_tables(tables, allow_missing_ts=1)
    e = tables["events"]
    assert len(e) == 8
    assert e[Col.EVENT_TYPE].tolist() == [
        "view",
        "view",
        "click",
        "order",
        "order",
        "cart",
        "view",
        "view",
    ]
    assert e[taobao.SOURCE_BEHAVIOR].tolist()[2] == "fav"
    assert e[Col.EVENT_ID].tolist()[:2] == ["1:100:pv:1511544070:0", "1:100:pv:1511544070:1"]
    buys = e[e[Col.EVENT_TYPE] == EventType.ORDER]
    assert buys[Col.ORDER_ID].tolist() == ["1:1511544090", "1:1511544090"]
    assert e.loc[e[Col.EVENT_TYPE] != EventType.ORDER, Col.ORDER_ID].isna().all()
    assert e[Col.TS].iloc[0] == ts("2017-11-25T01:21:10+08:00")
    items = tables["items"].set_index(Col.ITEM_ID)
    assert items.loc["200", Col.CATEGORY] == "20"  # seen twice under 20, once under 21
    assert items.loc["100", Col.NAME] == "item 100"
    notes = " ".join(result.notes)
    assert "1 rows repeat" in notes and "without a readable timestamp" in notes


def test_taobao_real() -> None:
    result = taobao.convert(real("taobao"))
    # the published prefix ends in a line cut before its timestamp
    check_tables(result.tables, allow_missing_ts=1)
    e, items = result.tables["events"], result.tables["items"]
    assert len(e) == 84_476
    assert e[Col.ID_VALUE].nunique() == 815
    assert len(items) == e[Col.ITEM_ID].nunique() == 55_368
    assert items[Col.CATEGORY].nunique() <= 2_914
    assert e[Col.EVENT_ID].is_unique
    span = e[Col.TS].dropna()
    inside = (span >= taobao.MAIN_SPAN[0]) & (span < taobao.MAIN_SPAN[1])
    assert inside.mean() > 0.99


# ---------------------------------------------------------------- groceries


def test_groceries_fixture(groceries_dir: Path) -> None:
    tables = groceries.to_schema(groceries_dir)
    check_tables(tables)
    e = tables["events"]
    assert len(e) == 7
    assert e[Col.ORDER_ID].tolist() == ["0", "0", "0", "1", "2", "2", "2"]
    assert (e[Col.ID_VALUE] == e[Col.ORDER_ID]).all() and (e[Col.ID_TYPE] == "basket").all()
    assert e[Col.EVENT_ID].iloc[4] == "2:cream cheese"
    assert e[Col.TS].iloc[4] == ANCHOR + pd.Timedelta(minutes=2)
    items = tables["items"]
    assert sorted(items[Col.ITEM_ID]) == sorted(set(e[Col.ITEM_ID]))
    assert (items[Col.NAME] == items[Col.ITEM_ID]).all()
    assert (items[Col.CATEGORY] == items[Col.ITEM_ID]).all()


def test_groceries_real() -> None:
    tables = groceries.to_schema(real("groceries"))
    check_tables(tables)
    e = tables["events"]
    assert e[Col.ORDER_ID].nunique() == 9_835
    assert len(tables["items"]) == 169
    assert not e[Col.ITEM_ID].str.endswith(" ").any()


# ---------------------------------------------------------------- writer and CLI


@pytest.mark.parametrize("fmt", ["parquet", "csv", "csv.gz", "jsonl"])
def test_write_tables_round_trip(groceries_dir: Path, tmp_path: Path, fmt: str) -> None:
    tables = groceries.to_schema(groceries_dir)
    out = tmp_path / "out"
    paths = write_tables(tables, out, fmt)
    assert sorted(p.name for p in paths.values()) == sorted(
        f"{t}.{fmt}" for t in ("events", "items")
    )
    suffix = paths["events"].name.removeprefix("events")
    if fmt == "parquet":
        back = pd.read_parquet(paths["events"])
    elif fmt == "jsonl":
        back = pd.read_json(paths["events"], lines=True, dtype=False)
    else:
        back = pd.read_csv(paths["events"], dtype=str)
    assert suffix in {".parquet", ".csv", ".csv.gz", ".jsonl"}
    assert len(back) == len(tables["events"])
    if fmt != "parquet":
        assert back[Col.TS].iloc[0] == "2017-01-01T00:00:00+08:00"
    parsed = pd.to_datetime(back[Col.TS], utc=True)
    assert (parsed == tables["events"][Col.TS].dt.tz_convert("UTC")).all()


def test_write_tables_replaces_other_format(groceries_dir: Path, tmp_path: Path) -> None:
    tables = groceries.to_schema(groceries_dir)
    out = tmp_path / "out"
    write_tables(tables, out, "csv")
    write_tables(tables, out, "parquet")
    assert sorted(p.name for p in out.iterdir()) == ["events.parquet", "items.parquet"]
    with pytest.raises(ValueError):
        write_tables(tables, out, "xlsx")
    with pytest.raises(ValueError):
        write_tables({"not_a_table": tables["items"]}, out)


def test_cli(groceries_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    code = main(["groceries", "--src", str(groceries_dir), "--out", str(out), "--format", "csv"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "events: 7 rows" in printed and "time:" in printed
    assert (out / "events.csv").exists() and (out / "items.csv").exists()
    with pytest.raises(SystemExit) as missing:  # a folder that does not exist: a usage error
        main(["groceries", "--src", str(tmp_path / "nope"), "--out", str(out)])
    assert missing.value.code == 2
    assert "nope does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["groceries", "--src", str(empty), "--out", str(out)]) == 2
    with pytest.raises(SystemExit):
        main(["nosuchdata", "--src", ".", "--out", "."])


def test_every_dataset_has_an_adapter() -> None:
    for name in DATASETS:
        module = adapter(name)
        assert callable(module.to_schema) and callable(module.convert)
