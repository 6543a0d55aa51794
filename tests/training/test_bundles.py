"""Bundles: association metrics, the no-two-of-a-subcategory rule, diversity and the held-out check."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import LIST_SEP, Col
from training.bundles import (
    BundleCol,
    BundleConfig,
    basket_matrix,
    frequent_itemsets,
    holdout_check,
    itemset_metrics,
    mine_bundles,
)


def _baskets(rows: list[tuple[str, str, list[str]]]) -> pd.DataFrame:
    """(order_id, user_id, items) -> purchase lines."""
    lines = [(o, u, i) for o, u, items in rows for i in items]
    return pd.DataFrame(lines, columns=[Col.ORDER_ID, Col.USER_ID, Col.ITEM_ID])


ITEMS = pd.DataFrame(
    {
        Col.ITEM_ID: ["salmon", "avocado", "quinoa", "avocado2", "milk", "bread", "beer"],
        Col.NAME: ["三文鱼", "牛油果 4个装", "藜麦", "牛油果 6个装", "牛奶", "面包", "啤酒"],
        Col.CATEGORY: ["seafood", "fruit", "grain", "fruit", "dairy", "bakery", "drinks"],
        Col.SUBCATEGORY: ["salmon", "avocado", "quinoa", "avocado", "milk", "bread", "beer"],
        Col.PRICE: [59.0, 25.0, 18.0, 36.0, 12.0, 8.0, 6.0],
    }
)


def _planted(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Baskets where salmon, avocado (either pack) and quinoa go together; the rest is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):  # test data
        items = set(rng.choice(["milk", "bread", "beer"], size=rng.integers(1, 3), replace=False))
        if k % 3 == 0:
            items |= {"salmon", "quinoa", "avocado" if k % 2 else "avocado2"}
        elif k % 7 == 0:
            items |= {"avocado"}
        rows.append((f"o{k}", f"u{k % 50}", sorted(items)))
    return _baskets(rows)


def test_planted_bundle_found_with_exact_lift_and_price() -> None:
    b = _planted()
    out = mine_bundles(b, ITEMS, BundleConfig(min_count=10, min_users=3, min_lift=1.5))
    assert len(out)
    sets = out[BundleCol.ITEM_IDS].str.split(LIST_SEP).map(frozenset)
    assert frozenset({"salmon", "quinoa"}) <= sets.iloc[0]
    top = out.iloc[0]
    ids = top[BundleCol.ITEM_IDS].split(LIST_SEP)
    m = basket_matrix(b)
    cols = m.columns(ids)
    x = m.matrix[:, cols].toarray()
    n = m.n_baskets
    p_all = x.all(axis=1).mean()
    lifts = [
        p_all / (np.delete(x, j, axis=1).all(axis=1).mean() * x[:, j].mean())
        for j in range(len(ids))
    ]
    assert top[BundleCol.COUNT] == int(x.all(axis=1).sum())
    assert top[BundleCol.SUPPORT] == pytest.approx(p_all)
    assert top[BundleCol.LIFT] == pytest.approx(min(lifts))
    assert top[BundleCol.PRICE] == pytest.approx(
        ITEMS.set_index(Col.ITEM_ID).loc[ids, Col.PRICE].sum()
    )
    assert n == 300


def test_metrics_match_brute_force_on_random_baskets() -> None:
    rng = np.random.default_rng(3)
    ids = [f"i{j}" for j in range(8)]
    rows = [
        (f"o{k}", f"u{k}", list(rng.choice(ids, size=rng.integers(1, 5), replace=False)))
        for k in range(400)
    ]
    b = _baskets(rows)
    bm = basket_matrix(b)
    cfg = BundleConfig(min_count=5, max_size=3)
    scored = itemset_metrics(frequent_itemsets(bm, cfg), bm)
    x = bm.matrix.toarray()
    for _, r in scored.iterrows():
        s = list(r["itemset"])
        full = x[:, s].all(axis=1)
        assert r[BundleCol.COUNT] == full.sum()
        confs, lifts = [], []
        for j in range(len(s)):
            rest = x[:, [c for c in s if c != s[j]]].all(axis=1)
            confs.append(full.sum() / rest.sum())
            lifts.append(confs[-1] / x[:, s[j]].mean())
        assert r[BundleCol.CONFIDENCE] == pytest.approx(min(confs))
        assert r[BundleCol.LIFT] == pytest.approx(min(lifts))


def test_near_duplicates_and_same_subcategory_never_bundle_together() -> None:
    b = _planted()
    out = mine_bundles(b, ITEMS, BundleConfig(min_count=5, min_users=1, min_lift=0.0, top=500))
    for ids in out[BundleCol.ITEM_IDS].str.split(LIST_SEP):
        assert not {"avocado", "avocado2"} <= set(ids)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_sub=st.integers(1, 6),
    max_size=st.integers(2, 4),
)
def test_bundles_never_hold_two_items_of_one_subcategory(
    seed: int, n_sub: int, max_size: int
) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"i{j}" for j in range(12)]
    items = pd.DataFrame(
        {
            Col.ITEM_ID: ids,
            Col.NAME: [f"name{j}" for j in range(12)],
            Col.CATEGORY: "c",
            Col.SUBCATEGORY: [f"s{j % n_sub}" for j in range(12)],
        }
    )
    rows = [
        (f"o{k}", f"u{k % 40}", list(rng.choice(ids, size=rng.integers(1, 6), replace=False)))
        for k in range(150)
    ]
    out = mine_bundles(
        _baskets(rows),
        items,
        BundleConfig(min_count=3, min_users=1, min_lift=0.0, max_size=max_size, top=500),
    )
    sub = items.set_index(Col.ITEM_ID)[Col.SUBCATEGORY]
    for members in out[BundleCol.ITEM_IDS].str.split(LIST_SEP):
        assert 2 <= len(members) <= max_size
        kinds = sub.loc[members]
        assert kinds.is_unique, f"two items of one subcategory in {members}"


def test_one_shoppers_habit_is_not_a_bundle() -> None:
    rows = [(f"o{k}", "habit", ["beer", "bread"]) for k in range(30)]
    rows += [(f"p{k}", f"u{k}", ["milk"]) for k in range(30)]
    b = _baskets(rows)
    assert mine_bundles(b, ITEMS, BundleConfig(min_count=5, min_users=3)).empty
    assert len(mine_bundles(b, ITEMS, BundleConfig(min_count=5, min_users=1, min_lift=1.0)))


def test_diverse_selection_drops_bundles_sharing_most_items() -> None:
    b = _planted()
    out = mine_bundles(
        b, ITEMS, BundleConfig(min_count=5, min_users=1, min_lift=1.2, max_overlap=0.5)
    )
    sets = [set(s) for s in out[BundleCol.ITEM_IDS].str.split(LIST_SEP)]
    for a, c in itertools.combinations(sets, 2):
        assert len(a & c) <= 0.5 * min(len(a), len(c))


def test_must_hold_keeps_theme_bundles_only() -> None:
    out = mine_bundles(
        _planted(),
        ITEMS,
        BundleConfig(min_count=5, min_users=1),
        scope="theme:x",
        must_hold=["quinoa"],
    )
    assert len(out)
    assert out[BundleCol.ITEM_IDS].str.contains("quinoa").all()
    assert (out[BundleCol.SCOPE] == "theme:x").all()


def test_holdout_check_beats_popularity_matched_random_sets() -> None:
    rng = np.random.default_rng(5)
    noise = [f"n{j}" for j in range(30)]
    rows = []
    for k in range(600):  # 30 independent items as popular as the planted ones
        items = {x for x in noise if rng.random() < 0.3}
        if k % 3 == 0:
            items |= {"salmon", "quinoa"}
        rows.append((f"o{k}", f"u{k % 50}", sorted(items)))
    b = _baskets(rows)
    orders = b[Col.ORDER_ID].unique()
    test_orders = set(orders[::4])
    test = b[b[Col.ORDER_ID].isin(test_orders)]
    train = b[~b[Col.ORDER_ID].isin(test_orders)]
    items = pd.concat(
        [ITEMS, pd.DataFrame({Col.ITEM_ID: noise, Col.NAME: noise, Col.CATEGORY: "x"})]
    )
    table, summary = holdout_check(
        train, test, items, BundleConfig(min_count=5, min_users=1, max_size=2), top=1, n_bins=4
    )
    assert table[BundleCol.ITEM_IDS].iloc[0] in ("salmon;quinoa", "quinoa;salmon")
    assert summary["bundle_completion"] > summary["random_completion"]
    assert table["test_completion"].between(0, 1).all()


def test_empty_and_tiny_inputs_do_not_crash() -> None:
    empty = _baskets([])
    assert mine_bundles(empty, ITEMS).empty
    one = _baskets([("o1", "u1", ["milk", "bread"])])
    assert mine_bundles(one, ITEMS).empty


def test_cli_writes_bundles_table(tmp_path: Path) -> None:
    from matching_world import small_world

    from training.matching_cli import bundles_main

    root = small_world()
    out = tmp_path / "matching"
    assert (
        bundles_main(
            [
                "--features",
                str(root / "features"),
                "--out",
                str(out),
                "--no-mlflow",
                "--min-count",
                "3",
                "--min-users",
                "2",
            ]
        )
        == 0
    )
    table = pd.read_parquet(out / "bundles.parquet")
    assert {BundleCol.ITEM_IDS, BundleCol.LIFT, BundleCol.SCOPE, BundleCol.PRICE} <= set(
        table.columns
    )
    assert (table[BundleCol.SCOPE] == "all").any()


def test_segment_bundles_are_what_the_segment_over_buys() -> None:
    from training.bundles import segment_bundles

    b = _planted()
    fans = {f"u{j}" for j in range(0, 50, 3)}  # users whose orders hold the planted trio
    owners = b.groupby(Col.ORDER_ID)[Col.USER_ID].first()
    seg = pd.DataFrame({Col.USER_ID: sorted(set(owners)), Col.SEGMENT_ID: 0})
    seg.loc[seg[Col.USER_ID].isin(fans), Col.SEGMENT_ID] = 1
    out = segment_bundles(b, ITEMS, seg, BundleConfig(min_count=5, min_users=1, min_lift=1.2))
    assert set(out[BundleCol.SCOPE]) <= {"segment:0", "segment:1"}
    assert (out[BundleCol.AFFINITY] >= 1.2).all()
    for _, r in out.iterrows():
        assert r[BundleCol.COUNT] >= 3
