"""Theme audience: resolution, scores, reasons in words, and hard constraints that always hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import Col
from training.audience import (
    AudienceConfig,
    Theme,
    conflicted_users,
    resolve_theme,
    score_audience,
)

SNAP = pd.Timestamp("2026-06-30T20:00:00", tz="Asia/Shanghai")
ITEMS = pd.DataFrame(
    {
        Col.ITEM_ID: ["chicken", "chicken2", "avocado", "lettuce", "rice", "mango", "shrimp"],
        Col.NAME: [
            "鸡胸肉 1kg",
            "即食鸡胸肉 10袋",
            "牛油果 4个装",
            "球生菜",
            "大米",
            "芒果",
            "虾仁",
        ],
        Col.CATEGORY: ["meat", "meat", "fruit", "vegetables", "grain", "fruit", "seafood"],
        Col.SUBCATEGORY: [
            "poultry",
            "poultry",
            "avocado",
            "salad_greens",
            "rice",
            "mango",
            "shrimp",
        ],
    }
)
THEME = Theme(name="light meals", items=["鸡胸肉", "avocado", "salad_greens"], keywords=["减脂餐"])
NO_CF = AudienceConfig(embedding=False)


def _buy(user: str, item: str, days_ago: float, order: str) -> dict[str, object]:
    return {
        Col.ORDER_ID: order,
        Col.USER_ID: user,
        Col.ITEM_ID: item,
        Col.TS: SNAP - pd.Timedelta(days=days_ago),
        Col.EVENT_TYPE: "order",
    }


def _event(
    user: str, kind: str, days_ago: float, text: str | None = None, item: str | None = None
) -> dict[str, object]:
    return {
        Col.USER_ID: user,
        Col.EVENT_TYPE: kind,
        Col.TS: SNAP - pd.Timedelta(days=days_ago),
        Col.TEXT: text,
        Col.ITEM_ID: item,
    }


def _world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    buys = pd.DataFrame(
        [
            _buy("fit", "chicken", 2, "a1"),
            _buy("fit", "chicken2", 9, "a2"),
            _buy("fit", "chicken", 20, "a3"),
            _buy("fit", "avocado", 20, "a3"),
            _buy("fit", "rice", 25, "a4"),
            _buy("old", "chicken", 80, "b1"),
            _buy("rice", "rice", 3, "c1"),
            _buy("rice", "rice", 10, "c2"),
            _buy("allergic", "chicken", 1, "d1"),
            _buy("allergic", "avocado", 1, "d1"),
        ]
    )
    events = pd.DataFrame(
        [
            _event("talker", "search", 1, "有没有减脂餐推荐"),
            _event("talker", "message", 4, "最近在吃减脂餐"),
            _event("fit", "search", 5, "减脂餐"),
            _event("rice", "search", 2, "大米"),
            _event("looker", "view", 1, item="avocado"),
            _event("allergic", "search", 1, "减脂餐"),
        ]
    )
    constraints = pd.DataFrame(
        {
            Col.USER_ID: ["allergic", "rice"],
            Col.ITEM_ID: ["avocado", "mango"],
            Col.TAG: ["avoid:avocado", "allergy:mango"],
        }
    )
    return buys, events, constraints


def test_resolve_theme_matches_ids_names_subcategories_and_categories() -> None:
    ti = resolve_theme(THEME, ITEMS)
    assert set(ti.core) == {"chicken", "chicken2", "avocado", "lettuce"}
    assert ti.labels["chicken2"] == "鸡胸肉" and ti.labels["lettuce"] == "salad_greens"
    ti2 = resolve_theme(Theme(items=["rice"], categories=["fruit"]), ITEMS)
    assert set(ti2.core) == {"rice"} and set(ti2.category) == {"avocado", "mango"}
    assert ti2.labels["rice"] == "大米"  # an id match is labelled by its name


def test_ranking_reasons_and_exclusions() -> None:
    buys, events, cons = _world()
    res = score_audience(THEME, ITEMS, buys, events, cons, cfg=NO_CF, snapshot=SNAP)
    aud = res.audience.set_index(Col.USER_ID)
    assert list(aud.index[:2]) == ["fit", "talker"]
    assert "bought 鸡胸肉 3x, 牛油果 4个装 1x in 30 days" in aud.loc["fit", "reasons"]
    assert "searched 减脂餐" in aud.loc["fit", "reasons"]
    assert "searched 减脂餐" in aud.loc["talker", "reasons"]
    assert "said in chat 减脂餐" in aud.loc["talker", "reasons"]
    assert "bought 鸡胸肉 1x before" in aud.loc["old", "reasons"]
    assert "looked at 牛油果" in aud.loc["looker", "reasons"]
    assert "allergic" not in aud.index
    assert "rice" not in aud.index  # no theme signal at all (a mango allergy does not matter)
    assert res.summary["excluded_by_constraints"] == 1
    assert res.excluded[Col.USER_ID].tolist() == ["allergic"]
    assert (res.audience[Col.SCORE].diff().dropna() <= 0).all()


def test_category_conflict_needs_a_share_of_the_theme_category() -> None:
    cons = pd.DataFrame({Col.USER_ID: ["u"], Col.ITEM_ID: ["mango"], Col.TAG: ["allergy:mango"]})
    fruit = resolve_theme(Theme(categories=["fruit"]), ITEMS)  # avocado, mango
    assert conflicted_users(cons, fruit, share=0.25)[Col.USER_ID].tolist() == ["u"]
    assert conflicted_users(cons, fruit, share=0.75).empty


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    n_constrained=st.integers(0, 15),
    with_categories=st.booleans(),
)
@pytest.mark.slow
def test_audience_never_includes_a_constrained_user(
    seed: int, n_constrained: int, with_categories: bool
) -> None:
    rng = np.random.default_rng(seed)
    users = [f"u{j}" for j in range(30)]
    ids = ITEMS[Col.ITEM_ID].tolist()
    n = 200
    buys = pd.DataFrame(
        {
            Col.ORDER_ID: [f"o{k}" for k in rng.integers(0, 80, n)],
            Col.USER_ID: rng.choice(users, n),
            Col.ITEM_ID: rng.choice(ids, n),
            Col.TS: SNAP - pd.to_timedelta(rng.uniform(0, 90, n), unit="D"),
        }
    )
    # an order belongs to one user
    buys[Col.USER_ID] = buys.groupby(Col.ORDER_ID)[Col.USER_ID].transform("first")
    events = pd.DataFrame(
        {
            Col.USER_ID: rng.choice(users, 40),
            Col.EVENT_TYPE: rng.choice(["search", "message", "view"], 40),
            Col.TS: SNAP - pd.to_timedelta(rng.uniform(0, 60, 40), unit="D"),
            Col.TEXT: rng.choice(["减脂餐", "大米", "你好"], 40),
            Col.ITEM_ID: rng.choice(ids, 40),
        }
    )
    cons = pd.DataFrame(
        {
            Col.USER_ID: rng.choice(users, n_constrained),
            Col.ITEM_ID: rng.choice(ids, n_constrained),
            Col.TAG: "allergy:x",
        }
    )
    theme = THEME.model_copy(update={"categories": ["fruit"] if with_categories else []})
    res = score_audience(theme, ITEMS, buys, events, cons, cfg=NO_CF, snapshot=SNAP)
    ti = resolve_theme(theme, ITEMS)
    core_conflict = set(cons.loc[cons[Col.ITEM_ID].isin(ti.core), Col.USER_ID])
    chosen = set(res.audience[Col.USER_ID])
    assert not chosen & core_conflict
    assert not chosen & set(res.excluded[Col.USER_ID])
    assert res.summary["excluded_by_constraints"] == len(res.excluded)


def test_embedding_similarity_is_a_signal_with_a_reason() -> None:
    buys, events, cons = _world()
    res = score_audience(THEME, ITEMS, buys, events, cons, snapshot=SNAP)
    assert "c_similar" in res.audience.columns
    assert "embed_sim" in res.components.columns
    assert res.components["embed_sim"].between(-1.0, 1.0).all()
    assert res.summary["model"] == "fallback"  # ten purchase lines: nothing to learn from


def test_seed_case_on_a_small_synthetic_world(tmp_path: Path) -> None:
    """The seed's light-meal theme picks fitness people; the CLI writes user_id, score, reasons."""
    from matching_world import small_world

    from experiments.synth_truth import load_user_truth
    from training.matching_cli import audience_main

    root = small_world()
    theme = tmp_path / "light_meal.json"
    theme.write_text(
        json.dumps(
            {
                "name": "light meals",
                "items": ["鸡胸肉", "牛油果", "salad_greens"],
                "keywords": ["减脂餐"],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    out = tmp_path / "aud.csv"
    rc = audience_main(
        [
            "--features",
            str(root / "features"),
            "--theme",
            str(theme),
            "--n",
            "40",
            "--out",
            str(out),
            "--no-mlflow",
            "--matching",
            str(tmp_path),
        ]
    )
    assert rc == 0
    aud = pd.read_csv(out)
    assert list(aud.columns) == [Col.USER_ID, Col.SCORE, "reasons"]
    assert len(aud) == 40
    assert aud["reasons"].str.len().gt(0).all()
    truth = load_user_truth(root / "features", root / "truth")
    persona = aud.merge(truth, on=Col.USER_ID, how="left")["persona"]
    assert (persona == "fitness").mean() >= 0.8
    summary = json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))
    cons = pd.read_parquet(root / "features" / "constraints.parquet")
    ti = resolve_theme(
        Theme(items=["鸡胸肉", "牛油果", "salad_greens"]),
        pd.read_parquet(root / "features" / "items.parquet"),
    )
    bad = set(cons.loc[cons[Col.ITEM_ID].isin(ti.core), Col.USER_ID])
    assert not bad & set(aud[Col.USER_ID])
    assert summary["returned"] == 40
    assert (tmp_path / "audiences.parquet").exists()


def test_empty_theme_gives_empty_audience() -> None:
    buys, events, cons = _world()
    res = score_audience(Theme(name="nothing"), ITEMS, buys, events, cons, cfg=NO_CF, snapshot=SNAP)
    assert res.audience.empty
    assert res.summary["core_items"] == 0


@pytest.mark.parametrize("half_life", [7.0, 90.0])
def test_more_recent_purchases_score_higher(half_life: float) -> None:
    buys = pd.DataFrame([_buy("new", "chicken", 1, "n1"), _buy("old", "chicken", 60, "o1")])
    res = score_audience(
        THEME,
        ITEMS,
        buys,
        cfg=AudienceConfig(embedding=False, half_life_days=half_life),
        snapshot=SNAP,
    )
    assert res.audience[Col.USER_ID].tolist()[0] == "new"
