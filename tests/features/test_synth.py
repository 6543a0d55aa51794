"""Tests of the synthetic group-buying world (features/synth.py): contract, truth, behaviour."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.schema import (
    CONTAINS_PREFIX,
    LIST_SEP,
    PURCHASE_EVENTS,
    TABLES,
    Col,
    EventType,
    IdType,
)
from features.synth import (
    PERSONA_KEYS,
    SynthConfig,
    TruthCol,
    World,
    generate,
    main,
    write_world,
)

SMALL = SynthConfig(people=300, months=2, items=400, seed=7)
FITNESS_WORDS = ("减脂", "轻食", "健身", "低脂", "低卡")


@pytest.fixture(scope="module")
def world() -> World:
    """A small world shared by the read-only tests."""
    return generate(SMALL)


def _norm_phone(v: str) -> str:
    digits = re.sub(r"\D", "", v)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def _norm(id_type: pd.Series, id_value: pd.Series) -> pd.Series:
    """`type:value` keys with phones normalised to 11 digits."""
    value = id_value.astype(str)
    phone = id_type == IdType.PHONE
    value = value.where(~phone, value[phone].map(_norm_phone))
    return id_type.astype(str) + ":" + value


def _person_of(world: World) -> dict[str, str]:
    ids = world.truth["identifiers"]
    keys = _norm(ids[Col.ID_TYPE], ids[TruthCol.NORMALIZED])
    return dict(zip(keys, ids[TruthCol.PERSON_ID], strict=True))


def _events_with_person(world: World) -> pd.DataFrame:
    ev = world.events.copy()
    ev[TruthCol.PERSON_ID] = _norm(ev[Col.ID_TYPE], ev[Col.ID_VALUE]).map(_person_of(world))
    return ev


def _parse_ts(s: pd.Series) -> pd.Series:
    s = s.dropna().astype(str)
    aware = s.str.endswith("+08:00")
    return pd.to_datetime(s.where(aware, s + "+08:00"), format="ISO8601", utc=True)


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_same_world_and_different_seed_differs(world: World) -> None:
    again = generate(SMALL)
    for name, df in world.tables.items():
        pd.testing.assert_frame_equal(df, again.tables[name], obj=name)
    for name, df in world.truth.items():
        pd.testing.assert_frame_equal(df, again.truth[name], obj=f"truth/{name}")
    other = generate(SMALL.model_copy(update={"seed": 8}))
    assert not other.events.equals(world.events)
    assert not other.truth["people"][TruthCol.PERSONA].equals(
        world.truth["people"][TruthCol.PERSONA]
    )


def test_written_files_are_byte_identical(tmp_path: Path) -> None:
    cfg = SynthConfig(people=120, months=1, items=150, seed=3)
    a = write_world(generate(cfg), tmp_path / "a", "parquet")
    b = write_world(generate(cfg), tmp_path / "b", "parquet")
    for key, path in a.items():
        assert path.read_bytes() == b[key].read_bytes(), key


# --- the input contract -----------------------------------------------------------------------


def test_every_table_meets_the_schema(world: World) -> None:
    assert set(world.tables) == set(TABLES)
    for name, spec in TABLES.items():
        df = world.tables[name]
        assert len(df) > 0, name
        assert list(df.columns) == list(spec.column_names), name
        for required in spec.required_columns:
            assert df[required].notna().all(), f"{name}.{required} has missing values"
        for c in spec.columns:
            values: pd.Series = df[c.name].dropna()
            if c.enum:
                assert set(values.unique()) <= set(c.enum), f"{name}.{c.name}"
            if c.kind == "number" and c.nonnegative:
                assert (pd.to_numeric(values) >= 0).all(), f"{name}.{c.name}"
            if c.kind == "timestamp":
                assert _parse_ts(df[c.name]).notna().all(), f"{name}.{c.name}"
        for when, event_types in spec.required_when.items():
            needs = df[Col.EVENT_TYPE].isin(event_types)
            assert df.loc[needs, when].notna().all(), f"{name}.{when} missing for {event_types}"
        if spec.key:
            assert not df.duplicated(list(spec.key)).any(), f"{name} key not unique"


def test_timestamps_mix_offset_and_naive_and_stay_in_window(world: World) -> None:
    ts = world.events[Col.TS]
    naive = ~ts.str.endswith("+08:00")
    assert 0 < naive.mean() < 0.1
    parsed = _parse_ts(ts)
    start, end = (pd.Timestamp(d, tz="Asia/Shanghai") for d in world.summary["window"])
    assert parsed.min() >= start and parsed.max() < end + pd.Timedelta(days=1)


def test_references_resolve(world: World) -> None:
    ev, t = world.events, world.tables
    assert set(ev[Col.ITEM_ID].dropna()) <= set(t["items"][Col.ITEM_ID])
    assert set(ev[Col.GROUP_ID].dropna()) <= set(t["groups"][Col.GROUP_ID])
    assert set(ev[Col.LIVE_ID].dropna()) <= set(t["live_sessions"][Col.LIVE_ID])
    assert set(t["group_members"][Col.GROUP_ID]) <= set(t["groups"][Col.GROUP_ID])
    assert set(t["live_sessions"][Col.HOST_ID]) <= set(t["hosts"][Col.HOST_ID])
    featured = t["live_sessions"][Col.ITEM_IDS].str.split(LIST_SEP).explode()
    assert set(featured) <= set(t["items"][Col.ITEM_ID])


def test_catalogue_is_chinese_with_categories_attributes_and_seasons(world: World) -> None:
    items = world.tables["items"]
    assert len(items) == SMALL.items
    assert items[Col.NAME].str.contains(r"[\u4e00-\u9fff]").all()
    assert not items[Col.NAME].duplicated().any()
    assert {"fruit", "vegetables", "meat", "seafood", "dairy", "baby_food", "baking"} <= set(
        items[Col.CATEGORY]
    )
    attrs = items[Col.ATTRIBUTES].dropna()
    for a in ("imported", "organic", "contains:mango", "contains:peanut", "contains:seafood"):
        assert attrs.str.split(LIST_SEP).apply(lambda xs, a=a: a in xs).any(), a
    assert items[Col.SEASON].notna().any()
    assert items[Col.NAME].str.contains("鸡胸肉").any()


@pytest.mark.parametrize("n_items", [30, 5_000])
def test_item_count_is_exact(n_items: int) -> None:
    w = generate(SynthConfig(people=60, months=1, items=n_items, seed=1))
    items = w.tables["items"]
    assert len(items) == n_items
    assert not items[Col.ITEM_ID].duplicated().any()
    assert not items[Col.NAME].duplicated().any()


# --- identity ---------------------------------------------------------------------------------


def test_identity_links_recover_exactly_the_true_people(world: World) -> None:
    links = world.tables["identity_links"]
    a = _norm(links[Col.ID_TYPE_A], links[Col.ID_VALUE_A])
    b = _norm(links[Col.ID_TYPE_B], links[Col.ID_VALUE_B])
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a, b, strict=True):
        parent[find(x)] = find(y)
    ids = world.truth["identifiers"]
    keys = _norm(ids[Col.ID_TYPE], ids[TruthCol.NORMALIZED])
    root = keys.map(find)
    # one component per person, and no component holds two people
    assert (root.groupby(ids[TruthCol.PERSON_ID]).nunique() == 1).all()
    assert (ids.assign(root=root).groupby("root")[TruthCol.PERSON_ID].nunique() == 1).all()
    # no identifier is shared by two people
    assert (ids.assign(key=keys).groupby("key")[TruthCol.PERSON_ID].nunique() == 1).all()
    per_person = ids.assign(key=keys).groupby(TruthCol.PERSON_ID)["key"].nunique()
    assert per_person.between(2, 4).all()


def test_every_written_identifier_belongs_to_a_person(world: World) -> None:
    person_of = _person_of(world)
    t = world.tables
    for name, (ty, va) in {
        "events": (Col.ID_TYPE, Col.ID_VALUE),
        "group_members": (Col.ID_TYPE, Col.ID_VALUE),
        "manual_tags": (Col.ID_TYPE, Col.ID_VALUE),
        "identity_links": (Col.ID_TYPE_A, Col.ID_VALUE_A),
    }.items():
        keys = _norm(t[name][ty], t[name][va])
        assert keys.map(person_of).notna().all(), name
    # raw forms are listed in truth as written
    ids = world.truth["identifiers"]
    raw = set(zip(ids[Col.ID_TYPE], ids[Col.ID_VALUE], strict=True))
    assert set(zip(t["events"][Col.ID_TYPE], t["events"][Col.ID_VALUE], strict=True)) <= raw


def test_phone_formats_vary(world: World) -> None:
    phones = world.events.loc[world.events[Col.ID_TYPE] == IdType.PHONE, Col.ID_VALUE]
    shapes = {
        re.sub(r"\d", "9", v) for v in phones.unique()
    }  # e.g. 99999999999, +99 999-9999-9999, 999 9999 9999
    assert {"99999999999", "+99 999-9999-9999", "999 9999 9999"} <= shapes
    norm = phones.map(_norm_phone)
    assert norm.str.fullmatch(r"1\d{10}").all()


def test_most_people_have_wecom_and_ids_follow_channels(world: World) -> None:
    people = world.truth["people"]
    assert 0.75 < people[TruthCol.WECOM].notna().mean() < 0.95
    assert people[TruthCol.N_IDS].between(2, 4).all()
    ev = world.events
    store = ev[ev[Col.CHANNEL] == "store"]
    assert store[Col.ID_TYPE].isin([IdType.MEMBER_CARD, IdType.PHONE]).mean() > 0.7
    group = ev[ev[Col.EVENT_TYPE].isin([EventType.MESSAGE, EventType.LIVE_VIEW])]
    assert (group[Col.ID_TYPE] == IdType.WECOM).mean() > 0.7


# --- constraints and tags ---------------------------------------------------------------------


def test_constrained_people_never_buy_what_they_must_avoid(world: World) -> None:
    ev = _events_with_person(world)
    people = world.truth["people"].set_index(TruthCol.PERSON_ID)
    buys = ev[ev[Col.EVENT_TYPE].isin(PURCHASE_EVENTS)]
    attrs = world.tables["items"].set_index(Col.ITEM_ID)[Col.ATTRIBUTES].fillna("")
    contains = attrs.loc[buys[Col.ITEM_ID]].str.split(LIST_SEP).to_numpy()
    must_avoid = (
        people[TruthCol.ALLERGIES].fillna("") + LIST_SEP + people[TruthCol.AVOID].fillna("")
    ).loc[buys[TruthCol.PERSON_ID]]
    n_constrained = 0
    for attr_list, avoid in zip(contains, must_avoid, strict=True):
        for x in filter(None, avoid.split(LIST_SEP)):
            n_constrained += 1
            assert CONTAINS_PREFIX + x not in attr_list
    assert n_constrained > 0


def test_manual_tags_cover_every_constraint(world: World) -> None:
    tags = world.tables["manual_tags"]
    tagged = _norm(tags[Col.ID_TYPE], tags[Col.ID_VALUE]).map(_person_of(world))
    have = set(zip(tagged, tags[Col.TAG], strict=True))
    people = world.truth["people"]
    for pid, allergies, avoid in zip(
        people[TruthCol.PERSON_ID], people[TruthCol.ALLERGIES], people[TruthCol.AVOID], strict=True
    ):
        for x in filter(None, str(allergies or "").split(LIST_SEP)):
            assert (pid, f"allergy:{x}") in have
        if avoid:
            assert (pid, f"avoid:{avoid}") in have
    assert tags.loc[tags[Col.TAG] == "allergy:mango", Col.NOTE].str.contains("芒果").all()
    assert {"likes:baking", "family:toddler", "diet:low-fat"} <= set(tags[Col.TAG])


# --- behaviour: personas, lives, orders -------------------------------------------------------


def test_fitness_persona_is_visible_in_behaviour(world: World) -> None:
    ev = _events_with_person(world)
    persona = world.truth["people"].set_index(TruthCol.PERSON_ID)[TruthCol.PERSONA]
    ev[TruthCol.PERSONA] = ev[TruthCol.PERSON_ID].map(persona)
    fit = ev[TruthCol.PERSONA] == "fitness"
    n_fit = (persona == "fitness").sum()
    n_other = (persona != "fitness").sum()
    searches = ev[ev[Col.EVENT_TYPE] == EventType.SEARCH]
    kw = searches[Col.TEXT].str.contains("|".join(FITNESS_WORDS))
    rate_fit = (kw & fit.loc[searches.index]).sum() / n_fit
    rate_other = (kw & ~fit.loc[searches.index]).sum() / n_other
    assert rate_fit > 10 * max(rate_other, 1e-9)
    names = world.tables["items"].set_index(Col.ITEM_ID)[Col.NAME]
    buys = ev[ev[Col.EVENT_TYPE].isin(PURCHASE_EVENTS)]
    chicken = buys[Col.ITEM_ID].map(names).str.contains("鸡胸")
    per_fit = (chicken & (buys[TruthCol.PERSONA] == "fitness")).sum() / n_fit
    per_other = (chicken & (buys[TruthCol.PERSONA] != "fitness")).sum() / n_other
    assert per_fit > 5 * per_other


def test_each_persona_buys_its_own_categories(world: World) -> None:
    ev = _events_with_person(world)
    persona = world.truth["people"].set_index(TruthCol.PERSON_ID)[TruthCol.PERSONA]
    cats = world.tables["items"].set_index(Col.ITEM_ID)[Col.CATEGORY]
    buys = ev[ev[Col.EVENT_TYPE].isin(PURCHASE_EVENTS)]
    share = pd.crosstab(
        buys[TruthCol.PERSON_ID].map(persona), buys[Col.ITEM_ID].map(cats), normalize="index"
    )
    assert (
        share.loc["young_parents", "baby_food"] > 3 * share.drop("young_parents")["baby_food"].max()
    )
    assert share.loc["home_bakers", "baking"] > 3 * share.drop("home_bakers")["baking"].max()
    assert (
        share.loc["price_sensitive", "household"]
        > 2 * share.drop("price_sensitive")["household"].max()
    )


def test_jielong_carries_group_and_order_and_live(world: World) -> None:
    ev = world.events
    jl = ev[ev[Col.EVENT_TYPE] == EventType.JIELONG]
    assert len(jl) > 0
    assert jl[Col.GROUP_ID].notna().all() and jl[Col.ORDER_ID].notna().all()
    from_live = jl[jl[Col.LIVE_ID].notna()]
    assert 0 < len(from_live) < len(jl)  # chains are posted from lives and without them
    live_group = world.tables["live_sessions"].set_index(Col.LIVE_ID)[Col.GROUP_ID]
    assert (from_live[Col.LIVE_ID].map(live_group) == from_live[Col.GROUP_ID]).all()
    featured = world.tables["live_sessions"].set_index(Col.LIVE_ID)[Col.ITEM_IDS]
    ok = [
        item in featured[live].split(LIST_SEP)
        for item, live in zip(from_live[Col.ITEM_ID], from_live[Col.LIVE_ID], strict=True)
    ]
    assert all(ok)
    views = ev[ev[Col.EVENT_TYPE] == EventType.LIVE_VIEW]
    assert views[Col.LIVE_ID].notna().all() and views[Col.GROUP_ID].notna().all()
    comments = ev[ev[Col.EVENT_TYPE] == EventType.LIVE_COMMENT]
    assert comments[Col.TEXT].notna().all() and comments[Col.LIVE_ID].notna().all()


def test_themed_lives_to_matching_people_convert_much_better(world: World) -> None:
    lt = world.truth["live_truth"]
    matched = lt[lt[TruthCol.FIT] >= 0.9]
    other = lt[lt[TruthCol.FIT] <= 0.2]
    assert matched[TruthCol.JOINED].mean() > 4 * other[TruthCol.JOINED].mean()
    assert matched[TruthCol.VIEWED].mean() > 2 * other[TruthCol.VIEWED].mean()
    assert np.allclose(
        lt[TruthCol.P_JIELONG].to_numpy(), lt[TruthCol.P_JIELONG].clip(0, 1).to_numpy()
    )  # probabilities


def test_orders_are_baskets_with_consistent_amounts(world: World) -> None:
    ev = world.events
    orders = ev[ev[Col.EVENT_TYPE] == EventType.ORDER]
    lines = orders.groupby(Col.ORDER_ID).size()
    assert (lines > 1).mean() > 0.5
    per_order = orders.groupby(Col.ORDER_ID)[[Col.ID_VALUE, Col.TS, Col.CHANNEL]].nunique()
    assert (per_order[[Col.TS, Col.CHANNEL]] == 1).all().all()
    price = world.tables["items"].set_index(Col.ITEM_ID)[Col.PRICE]
    ratio = orders[Col.AMOUNT] / (orders[Col.ITEM_ID].map(price) * orders[Col.QUANTITY])
    assert ratio.between(0.84, 1.0001).all()
    assert set(orders[Col.CHANNEL]) >= {"miniapp", "store", "referral"}


def test_referred_orders_name_a_sharer_who_shared_first(world: World) -> None:
    ev = _events_with_person(world)
    person_of = _person_of(world)
    ref = ev[ev[Col.CHANNEL] == "referral"]
    assert len(ref) > 0 and ref[Col.REFERRER].notna().all()
    assert ev.loc[ev[Col.CHANNEL] != "referral", Col.REFERRER].isna().all()
    rtype, rvalue = (
        ref[Col.REFERRER].str.split(":", n=1).str[0],
        ref[Col.REFERRER].str.split(":", n=1).str[1],
    )
    sharer = _norm(rtype, rvalue).map(person_of)
    assert sharer.notna().all()
    assert (sharer != ref[TruthCol.PERSON_ID]).all()
    shares = ev[ev[Col.EVENT_TYPE] == EventType.SHARE]
    assert shares[Col.REFERRER].isna().all()
    first_share = _parse_ts(shares[Col.TS]).groupby(shares[TruthCol.PERSON_ID]).min()
    assert (first_share.reindex(sharer).to_numpy() <= _parse_ts(ref[Col.TS]).to_numpy()).all()


def test_groups_have_general_interest_and_value_kinds(world: World) -> None:
    groups = world.tables["groups"]
    assert {"general", "interest", "value"} <= set(groups[Col.KIND])
    assert groups[Col.LEADER].str.fullmatch(r"wecom:\S+").all()
    assert groups.loc[groups[Col.KIND] == "general", Col.NAME].str.endswith("号群").all()
    members = world.tables["group_members"]
    size = members.groupby(Col.GROUP_ID).size()
    general = groups.loc[groups[Col.KIND] == "general", Col.GROUP_ID]
    assert size.loc[general].median() > 100
    left = members[members[Col.LEFT_AT].notna()]
    assert (_parse_ts(left[Col.LEFT_AT]) > _parse_ts(left[Col.JOINED_AT])).all()


def test_truth_tables_and_persona_mix(world: World) -> None:
    people = world.truth["people"]
    assert len(people) == SMALL.people
    assert set(people[TruthCol.PERSONA]) == set(PERSONA_KEYS)
    for col in (
        TruthCol.ACTIVITY,
        TruthCol.PRICE_LEVEL,
        TruthCol.LIVE_VIEW_PROPENSITY,
        TruthCol.JIELONG_PROPENSITY,
    ):
        assert people[col].notna().all()
    assert {p["key"] for p in world.personas["personas"]} == set(PERSONA_KEYS)
    assert 15 <= world.summary["events_per_person"] / SMALL.months <= 50


# --- files and CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_write_world_round_trips(tmp_path: Path, fmt: str) -> None:
    w = generate(SynthConfig(people=80, months=1, items=120, seed=5))
    written = write_world(w, tmp_path, fmt)  # type: ignore[arg-type]
    for name, df in w.tables.items():
        path = written[name]
        assert path.parent == tmp_path / "data" and path.suffix == f".{fmt}"
        if fmt == "csv":
            back = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif fmt == "jsonl":
            back = pd.read_json(path, lines=True, dtype=False)
        else:
            back = pd.read_parquet(path)
        assert len(back) == len(df), name
        assert list(back.columns) == list(df.columns), name
    truth = tmp_path / "truth"
    for name in ("people", "identifiers", "live_truth"):
        assert (truth / f"{name}.parquet").exists()
    personas = json.loads((truth / "personas.json").read_text(encoding="utf-8"))
    assert "fit_matrix" in personas


def test_cli_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["--out", str(tmp_path), "--people", "60", "--items", "80", "--months", "1"]
        + ["--format", "csv", "--seed", "2", "--quiet"]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "events.csv" in out and "rows" in out
    assert (tmp_path / "data" / "events.csv").exists()
    assert (tmp_path / "truth" / "people.parquet").exists()
    assert main(["--out", str(tmp_path), "--people", "-5", "--quiet"]) == 2
