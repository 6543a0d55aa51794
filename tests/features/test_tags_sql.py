"""Tags in the engine: the SQL of features/engine/{tags,interest,constraints}_sql.py gives
exactly what the pandas functions give.

The oracle is the pandas implementation the job ran before (tests/tags_oracle.py): value
tiers, tags and constraints equal it (frame-equal, dtypes and order included), on a
synthetic world built by the pandas feature job and on a small world of edge cases: ties in
category shares and in RFM, a share of exactly x.5 %, users without orders, events without a
user, simultaneous first channels, repeated keywords, no text, no members, synonyms holding
regex characters, attribute lists with spaces. DuckDB runs every test; the slow test runs the
same on Spark (local mode) and finds it equal to DuckDB.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tags_oracle import build_tags, resolve_constraints, rfm, value_tiers

from features import store_layout as store
from features.build import run
from features.engine import constraints_sql, tags_sql
from features.engine.base import Engine
from features.engine.duck import DuckEngine
from features.engine.job import to_us
from features.identity import Identity
from features.load import load_data_dir
from features.schema import Col
from features.settings import DEFAULT_TAG_RULES, Settings
from features.synth import SynthConfig, generate, write_world
from features.tags import keyword_hits, load_rules

CHINA = "Asia/Shanghai"


@dataclass
class World:
    """The inputs of the tag functions, as pandas frames (events carry user_id)."""

    events: pd.DataFrame
    profile: pd.DataFrame
    items: pd.DataFrame
    members: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None
    manual: pd.DataFrame | None = None


# ---- putting a world into an engine under the contract's table names ----------------------


def _str(df: pd.DataFrame | None, col: str) -> pd.Series:
    if df is None or col not in df.columns:
        return pd.Series(pd.NA, index=range(0 if df is None else len(df)), dtype="string")
    return pd.Series(df[col].to_numpy(), dtype="string")


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(np.nan, index=range(len(df)), dtype="float64")
    return pd.Series(df[col].to_numpy(np.float64), dtype="float64")


def _us(df: pd.DataFrame | None, col: str) -> pd.Series:
    n = 0 if df is None else len(df)
    return to_us(None if df is None or col not in df.columns else df[col], n)


def _frame(df: pd.DataFrame | None, cols: dict[str, str]) -> pd.DataFrame:
    """`cols`: engine column -> `s` (string) / `us:<source column>` (timestamp)."""
    out = {}
    for name, kind in cols.items():
        out[name] = _us(df, kind[3:]) if kind.startswith("us:") else _str(df, name)
    return pd.DataFrame(out)


def put_world(engine: Engine, w: World) -> None:
    """ev_u, profile, items_c, members_u, groups_c, manual_u (engine contract) from `w`."""
    ev = w.events
    s = "s"
    engine.put(
        "ev_u",
        pd.DataFrame(
            {
                "_row": np.arange(len(ev), dtype=np.int64),
                **_frame(ev, {"event_id": s, "ts_us": "us:ts", "event_type": s, "id_type": s}),
                **_frame(ev, {"id_value": s, "item_id": s}),
                "quantity": _num(ev, "quantity"),
                "amount": _num(ev, "amount"),
                **_frame(ev, {c: s for c in ("order_id", "group_id", "live_id", "text")}),
                **_frame(ev, {c: s for c in ("channel", "referrer", "user_id")}),
                "referrer_user_id": _str(ev, "referrer_user_id"),
            }
        ),
    )
    p = w.profile
    engine.put(
        "profile",
        pd.DataFrame(
            {
                **_frame(p, {"user_id": s, "first_us": "us:first_seen", "last_us": "us:last_seen"}),
                "last_order_us": _us(p, "last_order"),
                "frequency": p["frequency"].to_numpy(np.int64),
                "monetary": p["monetary"].to_numpy(np.float64),
                "lines": p["lines"].to_numpy(np.int64),
                **{c: _num(p, c) for c in ("recency_days", "aov", "orders_per_30d")},
            }
        ),
    )
    it = w.items
    engine.put(
        "items_c",
        pd.DataFrame(
            {
                **_frame(it, {"item_id": s, "name": s, "category": s}),
                "price": _num(it, "price"),
                **_frame(it, {"subcategory": s, "attributes": s, "season": s}),
                "in_catalogue": True,
            }
        ),
    )
    engine.put(
        "members_u",
        _frame(
            w.members,
            {
                "group_id": s,
                "id_type": s,
                "id_value": s,
                "joined_at_us": "us:joined_at",
                "left_at_us": "us:left_at",
                "user_id": s,
            },
        ),
    )
    engine.put(
        "groups_c",
        _frame(
            w.groups,
            {
                "group_id": s,
                "name": s,
                "leader": s,
                "kind": s,
                "created_at_us": "us:created_at",
                "leader_user_id": s,
            },
        ),
    )
    n = 0 if w.manual is None else len(w.manual)
    engine.put(
        "manual_u",
        pd.DataFrame(
            {
                "_row": np.arange(n, dtype=np.int64),
                **_frame(w.manual, {"id_type": s, "id_value": s, "tag": s, "note": s}),
                **_frame(w.manual, {"author": s, "ts_us": "us:ts", "user_id": s}),
            }
        ),
    )


# ---- the two results ------------------------------------------------------------------------


def pandas_result(w: World, rules: dict[str, Any]) -> tuple[pd.DataFrame, ...]:
    tiers = value_tiers(w.profile, rules)
    tiers = tiers.astype({Col.USER_ID: "string"}).sort_values(Col.USER_ID, ignore_index=True)
    tags = build_tags(
        w.events, w.profile, rules, w.items, members=w.members, groups=w.groups, manual=w.manual
    )
    return tiers, tags, resolve_constraints(tags, w.items, rules)


def sql_result(engine: Engine, w: World, rules: dict[str, Any]) -> tuple[pd.DataFrame, ...]:
    put_world(engine, w)
    tags_sql.build_tags(engine, rules)
    constraints_sql.resolve_constraints(engine, rules)
    return (
        tags_sql.fetch_tiers(engine),
        tags_sql.fetch_tags(engine),
        constraints_sql.fetch_constraints(engine),
    )


def assert_same(got: tuple[pd.DataFrame, ...], want: tuple[pd.DataFrame, ...]) -> None:
    for g, w in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(g, w)


# ---- worlds -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    return load_rules(DEFAULT_TAG_RULES)


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckEngine]:
    eng = DuckEngine()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def synth_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A 150-person synthetic month through the feature job, read back from its store."""
    root = tmp_path_factory.mktemp("tags_sql")
    write_world(generate(SynthConfig(people=150, months=1, items=120, seed=11)), root / "world")
    fs = root / "fs"
    run(
        root / "world" / "data",
        fs,
        Settings(work_dir=root / "work"),
        progress=False,
        use_store=False,
    )
    ident = Identity(pd.read_parquet(fs / store.IDENTITY), pd.DataFrame())
    manual = load_data_dir(root / "world" / "data", ["manual_tags"]).clean("manual_tags")
    assert manual is not None
    manual = manual.assign(
        **{Col.USER_ID: ident.lookup(manual[Col.ID_TYPE], manual[Col.ID_VALUE]).to_numpy()}
    )

    def read(name: str) -> pd.DataFrame:  # text as pandas' "string", as the job held it
        df = pd.read_parquet(fs / name)
        text = [c for c in df.columns if pd.api.types.is_string_dtype(df[c])]
        return df.astype({c: "string" for c in text})

    return World(
        read(store.EVENTS),
        read(store.USERS),
        read(store.ITEMS),
        read(store.GROUP_MEMBERS),
        read(store.GROUPS),
        manual,
    )


T0 = pd.Timestamp("2026-05-01 10:00", tz=CHINA)


def _ev(
    user: str | None,
    minute: float,
    kind: str,
    item: str | None = None,
    order: str | None = None,
    amount: float | None = None,
    text: str | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    return {
        Col.USER_ID: user,
        Col.TS: T0 + pd.Timedelta(minutes=minute),
        Col.EVENT_TYPE: kind,
        Col.ITEM_ID: item,
        Col.ORDER_ID: order,
        Col.AMOUNT: amount,
        Col.TEXT: text,
        Col.CHANNEL: channel,
    }


def edge_world(members: bool = True, text: bool = True) -> World:
    """A hand-made world of edge cases (see the module docstring)."""
    ev: list[dict[str, Any]] = []
    # four categories of 3 lines each: equal shares, max_per_user keeps the first 3 by name
    for k, item in enumerate(["veg1", "fruit1", "meat1", "dairy1"] * 3):
        ev.append(_ev("u_tie", 10 + k, "order", item, f"T{k}", 10.0, channel="store"))
    # 5 of 8 lines: 62.5 % rounds to 62 (half to even), 37.5 % to 38
    for k, item in enumerate(["fruit1"] * 5 + ["dairy1"] * 3):
        ev.append(_ev("u_half", 30 + k, "jielong", item, f"H{k // 2}", 19.9))
    # two channels at the same instant: the first row's wins
    ev.append(_ev("u_chan", 50, "view", "fruit1", channel="ad"))
    ev.append(_ev("u_chan", 50, "view", "veg1", channel="store"))
    ev.append(_ev("u_chan", 40, "click", "veg1"))  # no channel: ignored
    # no orders at all
    ev.append(_ev("u_none", 60, "view", "fruit1", channel="miniapp"))
    ev.append(_ev("u_none", 61, "search", text="有没有特价的大米" if text else None))
    # repeated keywords, more than five, two texts at one instant (row order decides)
    texts = ["宝宝辅食和宝宝米粉", "孩子喝奶粉吃果泥", "婴儿米粉", "减脂餐 鸡胸肉 沙拉"]
    for k, t in enumerate(texts):
        ev.append(_ev("u_text", 70 + (k > 1), "message" if k % 2 else "search", text=t))
    ev.append(_ev("u_text", 72, "view", text="宝宝"))  # text of a non-text event: ignored
    ev.append(_ev("u_text", 73, "order", "meat1", "X1", 88.0))
    # an event whose identifier resolved to nobody
    ev.append(_ev(None, 80, "order", "fruit1", "N1", 5.0, "减肥", "ad"))
    # buyers with tied frequency / monetary (RFM ties), some items unknown or uncategorised
    for u in range(24):
        for k in range(1 + u % 3):
            item = ["fruit1", "meat1", "nocat", "ghost"][(u + k) % 4]
            amount = [9.9, 20.0, 20.0, None][(u * k) % 4]
            ev.append(
                _ev(f"b{u:02d}", 100 + u * 7 + k * (u % 5), "order", item, f"B{u}-{k}", amount)
            )
    events = pd.DataFrame(ev)
    if not text:
        events[Col.TEXT] = None
    events[Col.USER_ID] = events[Col.USER_ID].astype("str")
    for c in (Col.EVENT_TYPE, Col.ITEM_ID, Col.ORDER_ID, Col.TEXT, Col.CHANNEL):
        events[c] = events[c].astype("string")
    events = events.sort_values(Col.TS, kind="stable", ignore_index=True)  # as the job does
    items = pd.DataFrame(
        {
            Col.ITEM_ID: ["veg1", "fruit1", "meat1", "dairy1", "nocat", "ab", "axb", "plus"]
            + ["eleven", "bs", "b5", "mango", "spaced", "crab"],
            Col.NAME: ["青菜", "海南芒果", "牛肉", "牛奶", "杂货", "a.b礼盒", "axb套餐", "1+1套餐"]
            + ["11套餐", "x\\d礼包", "x5礼包", None, "坚果礼盒", "(蟹)钳"],
            Col.CATEGORY: ["veg", "fruit", "meat", "dairy", None, "gift", "gift", "gift"]
            + ["gift", "gift", "gift", "fruit", "snack", "seafood"],
            Col.ATTRIBUTES: [None, "Contains:Mango;organic", None, "contains:milk", None, None]
            + [None, None, None, None, None, "contains:mango", "contains:mango; contains:peanut"]
            + [" contains:crab"],
        }
    ).astype("string")
    manual = pd.DataFrame(
        {
            Col.USER_ID: ["u_tie", "u_tie", "u_half", "u_chan", "u_none", "u_text", None]
            + ["b01", "b02", "b03", "b04"],
            Col.TAG: ["allergy:mango", "allergy:mango", " allergy: Peanut ", "avoid:a.b"]
            + ["allergy:", "avoid:shrimp", "allergy:mango", "avoid:1+1", "avoid:odd"]
            + ["tier:gold", "avoid:crab"],
            Col.NOTE: ["first note", "second note", None, "", "空", "虾过敏", "nobody"]
            + ["加号", "反斜杠", "leader says gold", None],
        }
    ).astype({Col.TAG: "string", Col.NOTE: "string"})
    manual[Col.USER_ID] = manual[Col.USER_ID].astype("str")
    groups = pd.DataFrame(
        {
            Col.GROUP_ID: ["g1", "g2", "g3", "g4", "g5"],
            Col.NAME: ["阳光花园1号群", "阳光花园2号群", "健身打卡群", "业主交流", "翠湖苑群"],
            Col.KIND: ["general", "general", "interest", None, None],
        }
    ).astype("string")
    left = pd.Timestamp("2026-05-02", tz=CHINA)
    member_rows = pd.DataFrame(
        {
            Col.GROUP_ID: ["g1", "g2", "g1", "g3", "g4", "g5", "g5", "g1"],
            Col.USER_ID: ["u_tie", "u_tie", "u_tie", "u_half", "u_half", "u_chan", "u_none", None],
            Col.LEFT_AT: [pd.NaT, pd.NaT, pd.NaT, pd.NaT, pd.NaT, left, pd.NaT, pd.NaT],
        }
    ).astype({Col.GROUP_ID: "string"})
    member_rows[Col.USER_ID] = member_rows[Col.USER_ID].astype("str")
    return World(
        events,
        rfm(events.dropna(subset=[Col.USER_ID])),
        items,
        member_rows if members else None,
        groups if members else None,
        manual,
    )


def edge_rules(rules: dict[str, Any]) -> dict[str, Any]:
    """The default rules plus synonyms holding regex characters (matched literally)."""
    r = copy.deepcopy(rules)
    r["constraints"]["synonyms"].update(
        {"a.b": [], "1+1": [], "odd": ["\\d", "(蟹)"], "crab": ["(蟹)"], "Peanut": ["坚果"]}
    )
    return r


# ---- the SQL is the pandas definition --------------------------------------------------------


def test_sql_tags_equal_pandas_on_a_synthetic_world(
    engine: DuckEngine, synth_world: World, rules: dict[str, Any]
) -> None:
    want = pandas_result(synth_world, rules)
    assert len(want[1]) > 500 and len(want[2]) > 0  # every kind of tag is there
    assert_same(sql_result(engine, synth_world, rules), want)


@pytest.mark.parametrize(("members", "text"), [(True, True), (False, True), (True, False)])
def test_sql_tags_equal_pandas_on_edge_cases(
    engine: DuckEngine, rules: dict[str, Any], members: bool, text: bool
) -> None:
    w, r = edge_world(members, text), edge_rules(rules)
    assert_same(sql_result(engine, w, r), pandas_result(w, r))


def overlapping_rules(rules: dict[str, Any]) -> dict[str, Any]:
    """Rules whose parts can give one tag twice: the frequency tag is a tier's, locations share
    a prefix (then the earlier part's row wins, as in pandas' drop_duplicates)."""
    r = edge_rules(rules)
    r["frequency"]["high"]["tag"] = "tier:gold"
    r["location"]["compound_prefix"] = r["location"]["group_prefix"]
    assert not tags_sql.rule_parts_disjoint(r) and tags_sql.rule_parts_disjoint(rules)
    return r


def test_sql_tags_equal_pandas_when_rule_tags_overlap(
    engine: DuckEngine, rules: dict[str, Any]
) -> None:
    w, r = edge_world(), overlapping_rules(rules)
    got, want = sql_result(engine, w, r), pandas_result(w, r)
    assert_same(got, want)
    gold = want[1][(want[1][Col.USER_ID] == "u_tie") & (want[1][Col.TAG] == "tier:gold")]
    assert list(gold["detail"]) == ["黄金"]  # the tier's label, not the frequency's


@pytest.fixture(scope="module")
def edge(engine: DuckEngine, rules: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The SQL's tags and constraints of the edge world, by user."""
    _, tags, cons = sql_result(engine, edge_world(), edge_rules(rules))
    return {"tags": tags, "constraints": cons}


def _tags(edge: dict[str, pd.DataFrame], user: str, prefix: str = "") -> dict[str, str]:
    t = edge["tags"]
    t = t[(t[Col.USER_ID] == user) & t[Col.TAG].str.startswith(prefix)]
    return dict(zip(t[Col.TAG], t["detail"], strict=True))


def test_equal_category_shares_keep_category_order(edge: dict[str, pd.DataFrame]) -> None:
    assert _tags(edge, "u_tie", "prefers:") == {
        "prefers:dairy": "25% of purchases",
        "prefers:fruit": "25% of purchases",
        "prefers:meat": "25% of purchases",
    }


def test_a_half_percent_rounds_to_even(edge: dict[str, pd.DataFrame]) -> None:
    assert _tags(edge, "u_half", "prefers:") == {
        "prefers:fruit": "62% of purchases",
        "prefers:dairy": "38% of purchases",
    }


def test_first_channel_tie_goes_to_the_first_row(edge: dict[str, pd.DataFrame]) -> None:
    assert set(_tags(edge, "u_chan", "channel:")) == {"channel:ad"}


def test_user_without_orders_is_in_the_lowest_tier(edge: dict[str, pd.DataFrame]) -> None:
    assert _tags(edge, "u_none", "tier:") == {"tier:regular": "普通"}
    assert not _tags(edge, "u_none", "freq:") and not _tags(edge, "u_none", "aov:")


def test_interest_lists_the_first_five_keywords_in_writing_order(
    edge: dict[str, pd.DataFrame],
) -> None:
    baby = _tags(edge, "u_text", "interest:baby")["interest:baby"]
    assert baby.startswith("mentioned 宝宝、辅食、米粉、")
    assert baby.count("、") == 4 and baby.endswith("x)")


def test_location_tags_come_from_current_members(edge: dict[str, pd.DataFrame]) -> None:
    assert set(_tags(edge, "u_tie", "compound:")) == {"compound:阳光花园"}
    assert set(_tags(edge, "u_tie", "group:")) == {"group:g1", "group:g2"}
    assert not _tags(edge, "u_chan", "group:")  # left g5
    assert set(_tags(edge, "u_none", "compound:")) == {"compound:翠湖苑"}
    assert not _tags(edge, "u_half", "compound:")  # an interest group and a name without 群


def test_duplicate_manual_tag_keeps_the_first_note(edge: dict[str, pd.DataFrame]) -> None:
    assert _tags(edge, "u_tie", "allergy:") == {"allergy:mango": "first note"}


def _forbidden(edge: dict[str, pd.DataFrame], user: str) -> set[str]:
    c = edge["constraints"]
    return set(c.loc[c[Col.USER_ID] == user, Col.ITEM_ID])


def test_synonyms_and_subjects_match_literally(edge: dict[str, pd.DataFrame]) -> None:
    assert _forbidden(edge, "u_chan") == {"ab"}  # a.b: not axb
    assert _forbidden(edge, "b01") == {"plus"}  # 1+1: not 11
    assert _forbidden(edge, "b02") == {"bs", "crab"}  # \d and (蟹): not x5
    assert _forbidden(edge, "u_text") == set()  # shrimp: 虾 is in no name


def test_attributes_match_whole_list_elements(edge: dict[str, pd.DataFrame]) -> None:
    # "Contains:Mango" matches (lower case); " contains:peanut" after "; " does not, nor
    # " contains:crab": pandas matches the ;-separated elements as written
    assert _forbidden(edge, "u_tie") == {"fruit1", "mango", "spaced"}
    assert _forbidden(edge, "u_half") == {"spaced"}  # peanut, via its synonym 坚果 in the name
    assert _forbidden(edge, "b04") == {"crab"}  # by its name (蟹), not its attribute


# ---- the numeric definitions, on random data -------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.sampled_from([1.0, 2.5, 2.5, 3.0, 7.25, 10.0, 0.1, 1e-3]), max_size=30),
    q=st.sampled_from([0.0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 0.99, 1.0]),
)
def test_aov_quantile_is_numpy_linear(engine: DuckEngine, values: list[float], q: float) -> None:
    profile = pd.DataFrame({"frequency": 1, "aov": pd.Series(values, dtype="float64")})
    engine.put("profile", profile)
    got = engine.fetch(tags_sql._aov_quantiles_sql(q, q))
    want = pd.Series(values, dtype="float64").quantile(q) if values else None
    assert got["hi"].iloc[0] == want or (want is None and pd.isna(got["hi"].iloc[0]))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 4), st.sampled_from([0.0, 9.9, 10.0, 55.5])),
        min_size=1,
        max_size=40,
    )
)
def test_rfm_quintiles_are_pandas_average_ranks(
    engine: DuckEngine, rules: dict[str, Any], rows: list[tuple[int, int, float]]
) -> None:
    profile = pd.DataFrame(
        {
            Col.USER_ID: [f"u{i:03d}" for i in range(len(rows))],
            "recency_days": [float(r) for r, _, _ in rows],
            "frequency": [f for _, f, _ in rows],
            "monetary": [m for _, _, m in rows],
        }
    )
    engine.put("profile", profile)
    tags_sql.build_tiers(engine, rules)
    want = value_tiers(profile, rules).astype({Col.USER_ID: "string"})
    pd.testing.assert_frame_equal(tags_sql.fetch_tiers(engine), want)


def test_register_tokens_segments_like_keyword_hits(
    engine: DuckEngine, rules: dict[str, Any]
) -> None:
    keywords = rules["interests"]["keywords"]
    texts = pd.Series(["有没有减脂餐推荐", "宝宝辅食和宝宝米粉", "今天的菜很便宜", None, "没有"])
    hits = keyword_hits(texts, keywords)
    want = [list(hits.loc[hits["row"] == i, "kw"]) for i in range(len(texts))]
    vocab = {w: i for i, words in keywords.items() for w in words}
    engine.register_tokens("kw_test", vocab)
    engine.put("tx", pd.DataFrame({"i": range(len(texts)), "t": texts.astype("string")}))
    got = engine.fetch("SELECT i, kw_test(t) AS k FROM tx ORDER BY i")["k"]
    assert [[] if k is pd.NA or k is None else list(k) for k in got] == want


# ---- Spark runs the same SQL -------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Engine]:
    from features.engine.spark import SparkEngine, spark_session

    session = spark_session()
    yield SparkEngine(session=session)
    session.stop()  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_spark_gives_what_duckdb_gives(
    spark: Engine, engine: DuckEngine, synth_world: World, rules: dict[str, Any]
) -> None:
    worlds = [
        (synth_world, rules),
        (edge_world(), edge_rules(rules)),
        (edge_world(members=False, text=False), edge_rules(rules)),
        (edge_world(), overlapping_rules(rules)),
    ]
    for w, r in worlds:
        assert_same(sql_result(spark, w, r), sql_result(engine, w, r))
    for q in (0.1, 0.25, 1 / 3, 0.75, 0.9):  # AOV quantiles: the same double
        values = [1.0, 2.5, 2.5, 3.0, 7.25, 10.0, 0.1, 1e-3, 55.5, 3.3]
        profile = pd.DataFrame({"frequency": 1, "aov": values})
        for eng in (spark, engine):
            eng.put("profile", profile)
        got = [
            eng.fetch(tags_sql._aov_quantiles_sql(q, q))["hi"].iloc[0] for eng in (spark, engine)
        ]
        assert got[0] == got[1] == pd.Series(values).quantile(q)


def test_synonyms_match_in_any_case_unlike_pandas(
    engine: DuckEngine, rules: dict[str, Any]
) -> None:
    """A deliberate difference: pandas compares the lower-case name with the synonym as
    written, so a synonym with capitals never matches there; the SQL lower-cases both."""
    r = copy.deepcopy(rules)
    r["constraints"]["synonyms"] = {"seafood": ["Shrimp"]}
    w = edge_world()
    w.items = pd.DataFrame({Col.ITEM_ID: ["s1"], Col.NAME: ["Shrimp Roll"], Col.CATEGORY: ["x"]})
    assert w.manual is not None
    w.manual = w.manual.assign(**{Col.TAG: "avoid:seafood"}).astype({Col.TAG: "string"})
    _, _, cons = sql_result(engine, w, r)
    assert set(cons[Col.ITEM_ID]) == {"s1"}
    assert pandas_result(w, r)[2].empty
