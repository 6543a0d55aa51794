"""Row validation as SQL (features/engine/validate_sql.py) gives what pandas gave before it.

The expected values below were produced by the pandas implementation of features/validate.py
before the SQL replaced it (raw value -> reason, parsed instant, number), so the SQL is
checked against that behaviour, not against itself. Documented differences (the docstring of
features/engine/timestamps_sql.py) are listed apart. On a synthetic world and on a corrupted
copy (experiments/checks/corrupt.py), every table's rejects are exactly the rows broken, with
the reason of the way they were broken, and the clean values are the files' values; Spark
gives exactly the DuckDB result (slow).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.checks.corrupt import corrupt_dir
from features.engine.base import Engine
from features.engine.duck import DuckEngine
from features.engine.inputs import load_raw
from features.engine.validate_sql import validate_table, validation_counts
from features.load import read_file
from features.schema import CHINA_TZ, EVENTS, TABLES, ColumnSpec, TableSpec
from features.synth import SynthConfig, generate, write_world
from features.validate import parse_timestamps

TS = " (expected ISO-8601 date and time, optional offset, or Unix epoch seconds / ms)"
_names = itertools.count()

# fmt: off
# raw text -> UTC microseconds (None: unparseable), as pandas parse_timestamps gave them
TIMESTAMPS = [
    ('2026-05-01T10:00:00+08:00', 1777600800000000),
    ('2026-05-01 10:00:00', 1777600800000000),
    ('2026-05-01T10:00', 1777600800000000),
    ('2026-05-01', 1777564800000000),
    ('2026-05', 1777564800000000),
    ('2026', 1767196800000000),
    ('2026/5/1 10:00', 1777600800000000),
    ('2026-5-1T1:2:3', 1777568523000000),
    ('2026-05-01T02:00:00Z', 1777600800000000),
    ('2026-05-01T10:00:00+0800', 1777600800000000),
    ('2026-05-01T10:00:00-05:00', 1777647600000000),
    ('2026-05-01T10:00:00.5', 1777600800500000),
    ('2026-05-01T10:00:00.123456+08:00', 1777600800123456),
    ('2026-05-01T10:00:00.1234567', 1777600800123456),
    ('2026-05-01T10:00:00 +08:00', 1777600800000000),
    ('2026-05-01T10+08:00', 1777600800000000),
    ('2026-05-01T10:00:00.', 1777600800000000),
    ('2024-02-29', 1709136000000000),
    ('1714531200', 1714531200000000),
    ('1714531200.5', 1714531200500000),
    ('1714531200000', 1714531200000000),
    ('2026-10-01T00:33:53+08:00', 1790786033000000),
    ('2026-05-01T10:00:00.000001+08:00', 1777600800000001),
    ('2262-04-10T23:47:16', 9223256836000000),
    ('1677-09-22T08:12:44+08:00', -9223285636000000),
    ('2026-02-30', None),
    ('2100-02-29', None),
    ('2026-13-01', None),
    ('2026-05-01T24:00:00', None),
    ('2026-05-01T10:60', None),
    ('2026-05-01T10:00:60', None),
    ('2026-05-01T10:00:00+24:00', None),
    ('2026-05-01T10:00:00+08:60', None),
    ('2026-13-45T99:00', None),
    ('yesterday', None),
    ('2026-05-01t10:00:00', None),
    ('2026-05-01T10:00:00z', None),
    ('2026-05-01Z', None),
    ('2026-05/01', None),
    ('2262-04-11', None),
    ('1677-09-22T08:12:43+08:00', None),
    ('99999999999', None),
    ('12345678', None),
    ('-1714531200', None),
    ('1714531200.', None),
    ('2026-05-01  10:00', None),
]

# where the SQL differs from pandas on purpose (see features/engine/timestamps_sql.py)
DIFFERENCES = [
    ("2026-05-01T10:00:00-05", 1777647600000000),  # pandas raised TypeError
    ("2026-05-01T10:00:00+08", 1777600800000000),  # pandas raised TypeError
    ("1714531200.1", 1714531200100000),  # pandas: ...099999 (float64)
    ("1988-07-01T12:00:00", 583732800000000),  # fixed +08:00; pandas: DST, an hour earlier
    ("20260501", None),  # ISO basic form: pandas read it
    ("2026.05.01", None),  # "." as the date separator: pandas read it
]

# raw text -> float (None: unparseable), as pandas parse_numbers gave them
NUMBERS = [
    (' 12.5 ', 12.5),
    ('1e3', 1000.0),
    ('-0', -0.0),
    ('+5', 5.0),
    ('.5', 0.5),
    ('5.', 5.0),
    ('1E+05', 100000.0),
    ('00012', 12.0),
    ('1e-400', 0.0),
    ('abc', None),
    ('inf', None),
    ('nan', None),
    ('-Infinity', None),
    ('1e400', None),
    ('1,5', None),
    ('1_000', None),
    ('0x10', None),
    ('１２', None),
    ('1e', None),
    ('.', None),
]

GOOD = {
    "event_id": "e1", "ts": "2026-05-01T10:00:00+08:00", "event_type": "order", "id_type": "wecom",
    "id_value": "w1", "item_id": "i1", "quantity": "2", "amount": "19.8", "order_id": "o1",
}
# changes to a good event -> its reason ("": kept), as pandas validate gave them
REASONS = [
    ({'event_id': ''}, 'missing required field: event_id'),
    ({'event_id': '\u3000'}, 'missing required field: event_id'),
    ({'ts': ''}, 'missing required field: ts'),
    ({'id_type': ' \t'}, 'missing required field: id_type'),
    ({'event_type': ' order '}, ''),
    ({'event_type': 'Order'}, 'unknown event_type: Order'),
    ({'event_type': "x" * 80}, "unknown event_type: " + "x" * 60),
    ({'ts': 'yesterday'}, 'unparseable timestamp in ts: yesterday' + TS),
    ({'ts': "y" * 70}, "unparseable timestamp in ts: " + "y" * 60 + TS),
    ({'quantity': 'two'}, 'unparseable number in quantity: two'),
    ({'quantity': '-1'}, 'negative quantity: -1'),
    ({'quantity': '-0'}, ''),
    ({'amount': 'inf'}, 'unparseable number in amount: inf'),
    ({'amount': '-0.01'}, 'negative amount: -0.01'),
    ({'quantity': ' 3 '}, ''),
    ({'order_id': ''}, 'missing required field: order_id for order'),
    ({'event_type': 'jielong', 'order_id': ' '}, 'missing required field: order_id for jielong'),
    ({'event_type': 'view', 'item_id': ''}, 'missing required field: item_id for view'),
    ({'event_type': 'cart', 'item_id': '', 'order_id': ''}, 'missing required field: item_id for cart'),
    ({'event_type': 'search', 'item_id': '', 'order_id': ''}, ''),
    ({'event_id': '', 'ts': 'bad', 'event_type': 'teleport'}, 'missing required field: event_id'),
    ({'ts': 'bad', 'event_type': 'teleport'}, 'unparseable timestamp in ts: bad' + TS),
    ({'event_type': 'teleport', 'quantity': 'x'}, 'unknown event_type: teleport'),
    ({'quantity': 'x', 'amount': '-1'}, 'unparseable number in quantity: x'),
    ({'quantity': '-1', 'amount': 'x'}, 'negative quantity: -1'),
    ({'ts': 'bad', 'quantity': '-1'}, 'unparseable timestamp in ts: bad' + TS),
    ({'id_value': '', 'event_type': 'view', 'item_id': ''}, 'missing required field: id_value'),
]
# fmt: on


@pytest.fixture(scope="module")
def duck() -> Iterator[Engine]:
    with DuckEngine() as engine:
        yield engine


def run(engine: Engine, raw: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean, rejects) of `raw` (given `_row` = position) validated in `engine`, by `_row`."""
    n = next(_names)
    engine.put(f"raw{n}", raw.assign(_row=np.arange(len(raw), dtype=np.int64)))
    validate_table(engine, spec, f"raw{n}", f"clean{n}", f"rej{n}")
    clean = engine.fetch(f"SELECT * FROM clean{n} ORDER BY _row")
    rejects = engine.fetch(f"SELECT * FROM rej{n} ORDER BY _row")
    return clean, rejects


def parsed_us(engine: Engine, values: list[str]) -> list[int | None]:
    spec = TableSpec("t", (ColumnSpec("ts", "timestamp"),))
    clean, _ = run(engine, pd.DataFrame({"ts": pd.Series(values, dtype="string")}), spec)
    got = dict(zip(clean["_row"], clean["ts_us"], strict=True))
    return [None if pd.isna(got.get(i)) else int(got[i]) for i in range(len(values))]


@pytest.mark.parametrize(("text", "expected"), TIMESTAMPS + DIFFERENCES)
def test_timestamp_text_parses_to_the_instant_pandas_gave(
    duck: Engine, text: str, expected: int | None
) -> None:
    assert parsed_us(duck, [text]) == [expected]


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_number_text_parses_as_pandas_to_numeric_does(
    duck: Engine, text: str, expected: float | None
) -> None:
    spec = TableSpec("t", (ColumnSpec("n", "number"),))
    clean, rejects = run(duck, pd.DataFrame({"n": pd.Series([text], dtype="string")}), spec)
    if expected is None:
        assert list(rejects["reason"]) == [f"unparseable number in n: {text.strip()}"]
    else:
        assert clean["n"].tolist() == [expected]


@pytest.mark.parametrize(("changes", "expected"), REASONS)
def test_a_broken_event_gets_the_reason_of_the_first_rule_it_breaks(
    duck: Engine, changes: dict[str, str], expected: str
) -> None:
    clean, rejects = run(duck, pd.DataFrame([{**GOOD, **changes}]).astype("string"), EVENTS)
    assert (rejects["reason"].tolist() or [""]) == [expected]
    assert len(clean) + len(rejects) == 1


def test_repeated_key_keeps_the_first_valid_copy_and_rejects_the_rest(duck: Engine) -> None:
    rows = [
        {**GOOD, "ts": "bad"},
        GOOD,
        {**GOOD, "event_id": " e1 ", "amount": "1"},
        {**GOOD, "event_id": "e2"},
    ]
    clean, rejects = run(duck, pd.DataFrame(rows).astype("string"), EVENTS)  # fmt: skip
    assert clean[["_row", "event_id", "amount"]].values.tolist() == [
        [1, "e1", 19.8],
        [3, "e2", 19.8],
    ]
    assert rejects["_row"].tolist() == [0, 2]
    assert (
        rejects["reason"].tolist()[1]
        == "repeated event_id: same record as an earlier row, kept once"
    )
    assert rejects["event_id"].tolist() == ["e1", " e1 "]  # rejects keep the raw text


def test_clean_has_every_spec_column_typed_then_the_extra_columns(duck: Engine) -> None:
    raw = pd.DataFrame([{**GOOD, "referrer": " ", "source_behavior": "  fav "}]).astype("string")
    clean, _ = run(duck, raw, EVENTS)
    spec_cols = [f"{c.name}_us" if c.kind == "timestamp" else c.name for c in EVENTS.columns]
    assert list(clean.columns) == ["_row", *spec_cols, "source_behavior"]
    row = clean.iloc[0]
    assert row["ts_us"] == 1777600800000000 and row["quantity"] == 2.0
    assert pd.isna(row["referrer"]) and pd.isna(row["live_id"]) and row["source_behavior"] == "fav"


def test_typed_columns_need_no_text(duck: Engine) -> None:
    """Parquet-typed columns: instants, naive China wall times, numbers (NaN is missing)."""
    when = pd.Timestamp("2026-05-01T02:00:00Z")
    raw = pd.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "ts": pd.Series([when] * 4),
            "event_type": "order", "id_type": "wecom", "id_value": "w", "item_id": "i", "order_id": "o",
            "quantity": pd.array([2, None, -1, 1], dtype="Int64"),
            "amount": [1.5, np.nan, 1.0, np.inf],
        }
    )  # fmt: skip
    clean, rejects = run(duck, raw, EVENTS)
    assert clean["event_id"].tolist() == ["a", "b"]
    assert clean["ts_us"].tolist() == [when.value // 1000] * 2
    assert clean["amount"].tolist()[0] == 1.5 and pd.isna(clean["amount"].tolist()[1])
    assert rejects["reason"].tolist() == [
        "negative quantity: -1",
        "unparseable number in amount: inf",
    ]
    naive = raw.assign(ts=pd.Series([pd.Timestamp("2026-05-01 10:00:00")] * 4))
    clean, _ = run(duck, naive, EVENTS)
    assert clean["ts_us"].tolist() == [when.value // 1000] * 2  # China wall time


WHEN = pd.Timestamp("2026-05-01T02:00:00Z")
# nanoseconds a float division by 1000 floors a microsecond short; and a half microsecond
FINE = [pd.Timestamp(1777600800125392000, tz="UTC"), pd.Timestamp(1777600800125392500, tz="UTC")]


def _parquet_ts_us(
    engine: Engine, folder: Path, unit: str, tz: str | None, when: pd.Timestamp = WHEN
) -> list[int]:
    """The instant the job reads from an events.parquet whose `ts` is `when` in `unit`, `tz`."""
    local = when.tz_convert(tz) if tz else when.tz_convert(CHINA_TZ).tz_localize(None)
    ts = pa.array([local.value]).cast(pa.timestamp("ns", tz=tz))  # every nanosecond kept
    events = pa.table({"event_id": ["a"], "ts": ts.cast(pa.timestamp(unit, tz=tz)),
                       "event_type": ["search"], "id_type": ["wecom"], "id_value": ["w"]})  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(events, folder / "events.parquet")
    raw = load_raw(engine, folder, EVENTS)
    assert raw is not None
    n = next(_names)
    validate_table(engine, EVENTS, raw.name, f"clean{n}", f"rej{n}")
    return [int(u) for u in engine.fetch(f"SELECT ts_us FROM clean{n}")["ts_us"]]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Shanghai", None])
def test_parquet_timestamps_of_any_unit_and_zone_are_read_as_instants(
    duck: Engine, tmp_path: Path, unit: str, tz: str | None
) -> None:
    """pandas writes nanoseconds; other writers seconds or milliseconds; naive is China time."""
    assert _parquet_ts_us(duck, tmp_path, unit, tz) == [WHEN.value // 1000]


def test_nanoseconds_round_to_the_nearest_microsecond(duck: Engine, tmp_path: Path) -> None:
    got = [_parquet_ts_us(duck, tmp_path / str(i), "ns", "UTC", t) for i, t in enumerate(FINE)]
    assert got == [[1777600800125392], [1777600800125393]]


def test_counts_have_the_keys_of_validated_counts(duck: Engine) -> None:
    rows = [GOOD, {**GOOD, "ts": "bad"}, {**GOOD, "event_id": ""}, GOOD]
    n = next(_names)
    duck.put(f"raw{n}", pd.DataFrame(rows).astype("string").assign(_row=np.arange(4)))
    validate_table(duck, EVENTS, f"raw{n}", f"clean{n}", f"rej{n}")
    assert validation_counts(duck, f"clean{n}", f"rej{n}") == {
        "read": 4, "kept": 1, "rejected": 3, "rejected[missing required field]": 1,
        "rejected[repeated event_id]": 1, "rejected[unparseable timestamp in ts]": 1,
    }  # fmt: skip


# ISO strings from their parts; years without China's DST or local mean time
_iso = st.builds(
    lambda y, mo, d, h, mi, s, frac, sep, off: (
        f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{off}"
    ),
    st.integers(1992, 2200), st.integers(1, 12), st.integers(1, 31), st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59), st.sampled_from(["", ".5", ".123456", ".000001", "."]),
    st.sampled_from(["T", " "]),
    st.sampled_from(["", "Z", "+08:00", "+0800", "-05:00", "+05:30", "-0000", "+14:00"]),
)  # fmt: skip


def _oracle_us(text: str) -> int | None:
    """pandas' reading of one ISO string: an offset is honoured, none is China time."""
    try:
        t = pd.Timestamp(pd.to_datetime(text, format="ISO8601"))
    except (ValueError, OverflowError):
        return None
    if t.tzinfo is None:
        t = t.tz_localize("Asia/Shanghai")
    return int(t.tz_convert("UTC").value // 1000)


@settings(max_examples=40, deadline=None)
@given(st.lists(_iso, min_size=1, max_size=40))
def test_iso_timestamps_parse_as_pandas_reads_them(duck: Engine, texts: list[str]) -> None:
    assert parsed_us(duck, texts) == [_oracle_us(t) for t in texts]


_SPACES = [c for c in map(chr, range(0x3001)) if c.isspace()]
_spaces = st.lists(st.sampled_from(_SPACES), max_size=2).map("".join)
_edge_text = st.tuples(_spaces, st.text(st.characters(codec="utf-8"), max_size=3), _spaces).map(
    "".join
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_edge_text, min_size=1, max_size=30))
def test_text_is_trimmed_as_python_strip_trims_it(duck: Engine, texts: list[str]) -> None:
    """Whatever whitespace (every character str.isspace() knows) sits at either edge."""
    spec = TableSpec(name="t", columns=(ColumnSpec("s", required=True),))
    clean, rejects, _ = _table_result(duck, pd.DataFrame({"s": texts}, dtype="string"), spec)
    kept = dict(zip(clean["_row"], clean["s"], strict=True))
    assert {r: t.strip() for r, t in enumerate(texts) if t.strip()} == kept
    assert set(rejects["_row"]) == {r for r, t in enumerate(texts) if not t.strip()}


def test_parse_timestamps_helper_runs_the_sql() -> None:
    ts = parse_timestamps(pd.Series(["2026-05-01 10:00:00", "2026-05-01T02:00:00Z", "x"]))
    assert ts.iloc[0] == ts.iloc[1] and pd.isna(ts.iloc[2])
    assert str(ts.dt.tz) == "Asia/Shanghai"


# -- a synthetic world and a corrupted copy -------------------------------------------------

# rows read / kept / rejected per reason kind, as pandas validate gave them (world seed 11,
# 60 people, corrupt rate 0.02 seed 3)
BROKEN_COUNTS = {
    "events": {"read": 1401, "kept": 1065, "rejected": 336, "rejected[missing required field]": 168, "rejected[negative amount]": 28, "rejected[negative quantity]": 28, "rejected[unknown event_type]": 28, "rejected[unparseable number in amount]": 28, "rejected[unparseable number in quantity]": 28, "rejected[unparseable timestamp in ts]": 28},
    "identity_links": {"read": 123, "kept": 113, "rejected": 10, "rejected[missing required field]": 8, "rejected[unparseable timestamp in ts]": 2},
    "items": {"read": 40, "kept": 35, "rejected": 5, "rejected[missing required field]": 3, "rejected[negative price]": 1, "rejected[unparseable number in price]": 1},
    "groups": {"read": 6, "kept": 3, "rejected": 3, "rejected[missing required field]": 2, "rejected[unparseable timestamp in created_at]": 1},
    "group_members": {"read": 77, "kept": 67, "rejected": 10, "rejected[missing required field]": 6, "rejected[unparseable timestamp in joined_at]": 2, "rejected[unparseable timestamp in left_at]": 2},
    "live_sessions": {"read": 12, "kept": 7, "rejected": 5, "rejected[missing required field]": 3, "rejected[unparseable timestamp in end_ts]": 1, "rejected[unparseable timestamp in start_ts]": 1},
    "hosts": {"read": 14, "kept": 12, "rejected": 2, "rejected[missing required field]": 2},
    "manual_tags": {"read": 24, "kept": 20, "rejected": 4, "rejected[missing required field]": 3, "rejected[unparseable timestamp in ts]": 1},
}  # fmt: skip


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vsql")
    write_world(generate(SynthConfig(people=60, months=1, items=40, seed=11)), root / "world")
    truth = corrupt_dir(root / "world" / "data", root / "broken", rate=0.02, seed=3)
    (root / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    return {
        "world": root / "world" / "data",
        "broken": root / "broken",
        "truth": root / "truth.json",
    }


def _raw(path: Path) -> pd.DataFrame:
    rows, bad = read_file(path)
    assert bad.empty
    return rows


def _reason_kind(way: str, spec: TableSpec) -> str:
    """The reason (its start) pandas gave a row broken in `way` by corrupt.py."""
    verb, _, col = way.partition(" ")
    if way == "order line without order_id":
        return "missing required field: order_id for "
    if verb == "missing":
        return f"missing required field: {col}"
    if verb == "unknown":
        return f"unknown {col}: "
    if verb == "negative":
        return f"negative {col}: "
    kind = "timestamp" if spec.column(col).kind == "timestamp" else "number"
    return f"unparseable {kind} in {col}: "


def _table_result(
    engine: Engine, raw: pd.DataFrame, spec: TableSpec
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    n = next(_names)
    engine.put(f"raw{n}", raw.assign(_row=np.arange(len(raw), dtype=np.int64)))
    validate_table(engine, spec, f"raw{n}", f"clean{n}", f"rej{n}")
    return (
        engine.fetch(f"SELECT * FROM clean{n} ORDER BY _row"),
        engine.fetch(f"SELECT * FROM rej{n} ORDER BY _row"),
        validation_counts(engine, f"clean{n}", f"rej{n}"),
    )


@pytest.mark.parametrize("name", list(TABLES))
def test_corrupted_world_rejects_exactly_the_broken_rows_with_their_reasons(
    duck: Engine, worlds: dict[str, Path], name: str
) -> None:
    spec = TABLES[name]
    raw = _raw(worlds["broken"] / f"{name}.csv")
    clean, rejects, counts = _table_result(duck, raw, spec)
    assert counts == BROKEN_COUNTS[name]
    truth = json.loads(worlds["truth"].read_text(encoding="utf-8"))[name]
    expected = {row: _reason_kind(way, spec) for way, rows in truth.items() for row in rows}
    got = dict(zip(rejects["_row"], rejects["reason"], strict=True))
    assert set(got) == set(expected)
    assert all(got[r].startswith(expected[r]) for r in got)
    assert rejects.drop(columns=["_row", "reason"]).fillna("").values.tolist() == (
        raw.iloc[sorted(got)].fillna("").values.tolist()  # the raw text, untouched
    )


@pytest.mark.parametrize("name", list(TABLES))
def test_world_is_kept_whole_with_the_files_values(
    duck: Engine, worlds: dict[str, Path], name: str
) -> None:
    spec = TABLES[name]
    raw = pd.read_parquet(worlds["world"] / f"{name}.parquet")
    clean, rejects, counts = _table_result(duck, raw, spec)
    assert rejects.empty and counts["kept"] == len(raw)
    for cs in spec.columns:
        if cs.name not in raw.columns:
            continue
        if cs.kind == "timestamp":  # pandas as the oracle: ISO-8601 with offsets
            want = [None if pd.isna(t) else _oracle_us(t) for t in raw[cs.name]]
            got = [None if pd.isna(u) else int(u) for u in clean[f"{cs.name}_us"]]
            assert got == want
        elif cs.kind == "number":
            numbers = pd.to_numeric(raw[cs.name]).to_numpy(np.float64)
            assert np.array_equal(clean[cs.name].to_numpy(np.float64), numbers, equal_nan=True)
        else:
            stripped = raw[cs.name].astype("string").str.strip()
            texts = [None if pd.isna(t) or t == "" else t for t in stripped]
            assert [None if pd.isna(t) else t for t in clean[cs.name]] == texts


# -- Spark gives the DuckDB result ----------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from features.engine.spark import spark_session

    session = spark_session()
    yield session
    session.stop()  # type: ignore[attr-defined]


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    norm = [x.astype(object).where(x.notna(), None).reset_index(drop=True) for x in (a, b)]
    return list(a.columns) == list(b.columns) and norm[0].equals(norm[1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_spark_gives_exactly_the_duckdb_result_on_the_corrupted_world(
    duck: Engine, spark: object, worlds: dict[str, Path], tmp_path: Path
) -> None:
    from features.engine.spark import SparkEngine

    engine = SparkEngine(session=spark)
    typed = pd.DataFrame(
        {
            "event_id": ["a", "b", "c", "a"],
            "ts": pd.Series([pd.Timestamp("2026-05-01T02:00:00.5Z")] * 3 + [pd.NaT]),
            "event_type": "order", "id_type": " wecom", "id_value": "w\u3000", "item_id": "i",
            "order_id": "o", "quantity": [2.0, np.nan, -1.0, 1.0], "amount": [1.5, 2.0, np.inf, 3.0],
        }
    )  # fmt: skip
    tables = [(spec, _raw(worlds["broken"] / f"{name}.csv")) for name, spec in TABLES.items()]
    tables.append((EVENTS, typed))
    for spec, raw in tables:
        d = _table_result(duck, raw, spec)
        s = _table_result(engine, raw, spec)
        assert _same(d[0], s[0]) and _same(d[1], s[1]) and d[2] == s[2], spec.name
    for tz in ("UTC", None):  # Spark reads nanosecond timestamps only as numbers
        for i, when in enumerate([WHEN, *FINE]):
            folder = tmp_path / f"{tz}{i}"
            assert _parquet_ts_us(engine, folder, "ns", tz, when) == _parquet_ts_us(
                duck, folder, "ns", tz, when
            )
    engine.close()
