"""Unified id: components of the identity graph, WeCom preference, stability across rebuilds.

Every rule is checked on the engine's SQL in DuckDB (the Spark engine runs the same SQL;
tests/features/test_engine_parity.py compares whole stores built by both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.engine.duck import DuckEngine
from features.engine.identity_sql import key_sql
from features.engine.job import resolve_in_engine
from features.identity import FIRST_SEEN, KEY, Identity, id_keys, normalize_id_value

Resolver = Callable[..., Identity]


def sightings(id_type: pd.Series, id_value: pd.Series, ts: pd.Series | None = None) -> pd.DataFrame:
    """Each identifier key with the earliest time it was seen (missing without times)."""
    first = (
        pd.to_datetime(ts, utc=True) if ts is not None else pd.Series(pd.NaT, index=id_type.index)
    )
    df = pd.DataFrame(
        {KEY: id_keys(id_type, id_value), FIRST_SEEN: pd.to_datetime(first, utc=True)}
    )
    return df.groupby(KEY, sort=False)[FIRST_SEEN].min().reset_index()


@pytest.fixture(scope="module")
def resolver() -> Iterator[Resolver]:
    engine = DuckEngine()

    def run(*args: Any, **kwargs: Any) -> Identity:
        return resolve_in_engine(engine, *args, **kwargs)

    yield run
    engine.close()


def seen(pairs: list[tuple[str, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame(pairs, columns=["id_type", "id_value", "ts"])
    return sightings(
        df["id_type"], df["id_value"], pd.to_datetime(df["ts"]).dt.tz_localize("Asia/Shanghai")
    )


def links(pairs: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["id_type_a", "id_value_a", "id_type_b", "id_value_b"])


def test_phone_formats_are_one_number() -> None:
    t = pd.Series(["phone"] * 4)
    v = pd.Series(["13812345678", "+86 138-1234-5678", "138 1234 5678", "0086 13812345678"])
    assert normalize_id_value(t, v).nunique() == 1


def test_wecom_id_is_preferred_as_user_id(resolver: Resolver) -> None:
    ident = resolver(
        seen([("openid", "o1", "2026-01-01"), ("wecom", "w1", "2026-03-01")]),
        links([("openid", "o1", "wecom", "w1")]),
    )
    assert set(ident.table["user_id"]) == {"wecom:w1"}


def test_without_wecom_the_earliest_preferred_type_wins(resolver: Resolver) -> None:
    ident = resolver(
        seen([("member_card", "m1", "2026-01-01"), ("phone", "13800000000", "2026-02-01")]),
        links([("member_card", "m1", "phone", "138-0000-0000")]),
    )
    assert set(ident.table["user_id"]) == {"phone:13800000000"}


def test_person_keeps_id_when_a_wecom_id_is_linked_later(resolver: Resolver) -> None:
    first = resolver(seen([("openid", "o1", "2026-01-01")]))
    later = resolver(
        seen([("openid", "o1", "2026-01-01"), ("wecom", "w9", "2026-04-01")]),
        links([("openid", "o1", "wecom", "w9")]),
        previous=first.table,
    )
    assert set(later.table["user_id"]) == {"openid:o1"}
    assert later.merges.empty


def test_merge_of_two_known_people_keeps_the_older_id_and_is_logged(resolver: Resolver) -> None:
    base = seen([("wecom", "old", "2026-01-01"), ("wecom", "new", "2026-02-01")])
    first = resolver(base)
    second = resolver(base, links([("wecom", "new", "wecom", "old")]), previous=first.table)
    assert set(second.table["user_id"]) == {"wecom:old"}
    assert second.merges[["kept_user_id", "absorbed_user_id"]].values.tolist() == [
        ["wecom:old", "wecom:new"]
    ]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 25),
    edges=st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24)), max_size=40),
)
def test_users_are_exactly_the_connected_components(
    resolver: Resolver, n: int, edges: list[tuple[int, int]]
) -> None:
    edges = [(a % n, b % n) for a, b in edges]
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    ids = [("openid", f"o{i}", "2026-01-01") for i in range(n)]
    ident = resolver(seen(ids), links([("openid", f"o{a}", "openid", f"o{b}") for a, b in edges]))
    user = dict(zip(ident.table["id_value"], ident.table["user_id"], strict=True))
    for i in range(n):
        for j in range(n):
            assert (user[f"o{i}"] == user[f"o{j}"]) == (find(i) == find(j))


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 15),
    extra=st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=10),
)
def test_rebuild_on_more_links_never_renames_an_unmerged_person(
    resolver: Resolver, n: int, extra: list[tuple[int, int]]
) -> None:
    ids = [("openid", f"o{i}", f"2026-01-{i + 1:02d}") for i in range(n)]
    first = resolver(seen(ids))
    more = [(a % n, b % n) for a, b in extra]
    second = resolver(
        seen(ids),
        links([("openid", f"o{a}", "openid", f"o{b}") for a, b in more]),
        previous=first.table,
    )
    before = dict(zip(first.table["id_value"], first.table["user_id"], strict=True))
    after = dict(zip(second.table["id_value"], second.table["user_id"], strict=True))
    merged = {x for a, b in more if a != b for x in (f"o{a}", f"o{b}")}
    for v in before:
        if v not in merged:
            assert after[v] == before[v]
        else:  # a merged person takes the id of the oldest known member of its component
            assert after[v] in set(before.values())


def test_id_keys_lowercase_types() -> None:
    assert id_keys(pd.Series(["WeCom"]), pd.Series([" w1 "])).iloc[0] == "wecom:w1"


def test_a_shared_phone_is_reported_not_merged(resolver: Resolver) -> None:
    n = 60
    wecom = [f"w{i}" for i in range(n)]
    found = sightings(pd.Series(["wecom"] * n + ["phone"]), pd.Series([*wecom, "13800000000"]))
    shop = links(
        [("wecom", w, "phone", "13800000000") for w in wecom]
        + [("wecom", "w1", "openid", "o1"), ("wecom", "w2", "openid", "o2")]
    )
    capped = resolver(found, shop, max_people_per_identifier=20)
    users = capped.table.set_index(id_keys(capped.table["id_type"], capped.table["id_value"]))
    assert users["user_id"].nunique() == n + 1  # 60 people and the phone on its own
    assert users.loc["wecom:w1", "user_id"] == users.loc["openid:o1", "user_id"]
    (row,) = capped.suspicious.itertuples()
    assert row.id_key == "phone:13800000000" and row.people == n and row.links == n
    assert resolver(found, shop).table["user_id"].nunique() == 1  # without the guard
    family = shop.iloc[:3]  # three people sharing a phone stay one household
    assert len(resolver(found, family, max_people_per_identifier=20).suspicious) == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["phone", " Phone ", "wecom", "openid", "member_card", "shop_x"]),
            st.one_of(
                st.sampled_from(
                    ["13812345678", "+86 138-1234-5678", "0086 13812345678", " 8613812345678 "]
                ),
                st.text(alphabet="0123456789 +-()abc", min_size=1, max_size=16),
            ),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_serving_keys_identifiers_as_the_job_does(pairs: list[tuple[str, str]]) -> None:
    """id_keys (serving's lookup) and the job's key SQL give every identifier the same key."""
    df = pd.DataFrame(pairs, columns=["id_type", "id_value"])
    with DuckEngine() as engine:
        engine.put("ids", df)
        sql = engine.fetch(f"SELECT {key_sql('id_type', 'id_value')} AS k FROM ids")["k"]
    assert list(sql) == list(id_keys(df["id_type"], df["id_value"]))
