"""The live plan on the default world and every preset: one SKU per product, an on-theme bundle
or an explicit "no bundle", a host whose tags meet the theme, members first, a funnel."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.checks.plan_check import WORLDS, build_engine, generator_product, host_meets_theme
from serving import schemas as s
from serving.engine import Engine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PEOPLE, SEED = 600, 11


@pytest.fixture(scope="session")
def plans(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Engine, list[dict[str, Any]]]]:
    """Per world: the engine and the live plan of every group."""
    out = {}
    for name in WORLDS:
        root = tmp_path_factory.mktemp(f"plan-{name}")
        engine = build_engine(root, name, PEOPLE, SEED)
        b = engine.bundle
        assert b is not None
        gids = b.groups["group_id"].astype(str).tolist()
        out[name] = (
            engine,
            [
                engine.live_plan(s.LivePlanRequest(group_id=g, k=8, audience_n=60)).model_dump()
                for g in gids
            ],
        )
    return out


def test_generator_product_groups_variants() -> None:
    assert generator_product("简装寿光土豆 5斤·量贩装 2号款") == "土豆 5斤"
    assert generator_product("土豆 5斤") == "土豆 5斤"
    assert generator_product("产地直发海南有机苹果 6个·家庭装") == "有机苹果 6个"


@pytest.mark.parametrize("world", WORLDS)
def test_plan_items_are_on_theme_and_one_per_product(plans: dict, world: str) -> None:
    engine, rows = plans[world]
    b = engine.bundle
    cat = b.items.set_index("item_id")["category"].astype(str)
    checked = 0
    for p in rows:
        names = [i["name"] for i in p["items"]]
        products = [generator_product(n) for n in names]
        assert len(set(products)) == len(products), (world, p["group_id"], names)
        theme_cats = set(p["theme"]["categories"])
        if theme_cats and not any("whole catalogue" in n for n in p["notes"]):
            assert {cat[i["item_id"]] for i in p["items"]} <= theme_cats, (world, p["group_id"])
        checked += len(names)
    assert checked >= 5 * len(rows)


@pytest.mark.parametrize("world", WORLDS)
def test_plan_bundle_is_on_theme_or_says_none(plans: dict, world: str) -> None:
    engine, rows = plans[world]
    cat = engine.bundle.items.set_index("item_id")["category"].astype(str)
    with_bundle = 0
    for p in rows:
        if p["bundle"] is None:
            assert p["bundle_note"].startswith("no bundle: "), p["group_id"]
            continue
        ids = [i["item_id"] for i in p["bundle"]["items"]]
        assert len(ids) >= 2 and p["bundle"]["lift"] > 1
        theme_cats, theme_items = set(p["theme"]["categories"]), set(p["theme"]["items"])
        assert all(cat[i] in theme_cats or i in theme_items for i in ids), (world, p["group_id"])
        products = [generator_product(i["name"]) for i in p["bundle"]["items"]]
        assert len(set(products)) == len(products)
        with_bundle += 1
    assert with_bundle >= 1, f"{world}: no plan found an on-theme bundle"


@pytest.mark.parametrize("world", WORLDS)
def test_plan_host_tags_meet_the_theme(plans: dict, world: str) -> None:
    engine, rows = plans[world]
    hosts = engine.bundle.hosts
    any_fit = 0
    for p in rows:
        host = p["host"]
        assert host is not None and host["reasons"]
        fits = [host_meets_theme(str(t).split(";"), p["theme"]) for t in hosts["tags"]]
        if any(fits):  # some host could meet it: the plan's host does
            assert host_meets_theme(host["tags"].split(";"), p["theme"]), (
                world,
                p["group_id"],
                host,
            )
            any_fit += 1
        else:
            assert "no host's tags meet the theme" in p["notes"]
    assert any_fit >= len(rows) // 2


@pytest.mark.parametrize("world", WORLDS)
def test_plan_audience_members_first_and_funnel(plans: dict, world: str) -> None:
    _, rows = plans[world]
    for p in rows:
        flags = [a["in_group"] for a in p["audience"]]
        assert flags == sorted(flags, reverse=True)
        c = p["audience_counts"]
        assert c["in_group"] == sum(flags) and c["total"] == len(flags)
        f = p["funnel"]
        assert f is not None and f["invited"] == len(flags)
        for rate in ("view_rate", "jielong_rate"):
            r = f[rate]
            assert 0 <= r["low"] <= r["predicted"] <= r["high"] <= 1
        r_view = f["view_rate"]["predicted"]
        assert f["viewers"]["predicted"] == round(r_view * len(flags), 1)
        assert 0 < f["jielong_orders"]["predicted"] <= len(flags)
        assert f["expected_order_value_yuan"] > 0
