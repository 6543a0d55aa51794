"""Offline group evaluation: does /rank/group's ranking find a group's next order?

``python -m experiments.group_eval --features default=W/features --tafeng DIR --instacart DIR``

Cases (one ranking per group and split, scored against each of the group's next orders):

- **Synthetic feature stores** (``--features NAME=DIR``): the group's own orders (purchase
  lines carrying its group_id: 接龙 and group orders). Test cut = the store's last day minus
  ``--horizon`` days: everything before it is known (model fit, members' purchases, group
  history); every group order placed in the ``horizon`` days after it is one case, its
  items the target. Validation: the same one horizon earlier (everything shifted back).
- **Real datasets** (``--tafeng``, ``--instacart``; no groups there): "households" of
  co-purchasing users: users with similar baskets (tf-idf of their history, SVD, k-means
  with about ``--group-size`` users per cluster, big clusters cut in chunks). A group's
  next order is a member's last basket (test) or second-to-last basket (validation); the
  history is every member's earlier baskets, which is also the group history.

Methods, all in the same run on the same cases:
- ``ours``: :func:`serving.group_rebuy.mix_scores` (the code /rank/group runs) over the
  strategy's aggregate of members' standardised model scores, the group history, the
  members' repeat purchases and popularity (all buyers, or the buyers of the last 14 days);
- ``strategy``: the strategy alone (what /rank/group served before the mix);
- ``history_pop`` (naive a): items the group bought before by count, then popular items;
- ``popularity`` (naive b): popular items.

Metric: hit rate@k (a case counts when one target item is in the top k) and recall@k.
The mix (weights, popularity window, half-life, category cap; the strategy keeps at least
``MIN_COLLABORATIVE`` of the score) is chosen on the validation cases of every dataset
together (mean ratio to the better naive baseline), then applied to the test cases; the
test rows never choose anything.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.engine.frames import interactions_of_events
from features.matrix import IdMap, Interactions
from features.schema import PURCHASE_EVENTS, Col
from features.settings import Settings, load_settings
from serving import group_rebuy as gr
from serving.ranking import _aggregate

log = logging.getLogger("linli.group_eval")

K = 10
PURCHASES = sorted(str(e.value) for e in PURCHASE_EVENTS)
HISTORY_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6)
MEMBERS_GRID = (0.0, 0.1, 0.2, 0.3, 0.5)
POPULARITY_GRID = (0.0, 0.1, 0.2, 0.4)
RECENT_DAYS: tuple[float | None, ...] = (None, 14.0)
HALF_LIVES: tuple[float | None, ...] = (7.0, 30.0, None)
CAPS: tuple[int | None, ...] = (None, 3)
MIN_COLLABORATIVE = 0.2


@dataclass
class Split:
    """One split of one dataset: what is known at the cut, the groups and their next orders."""

    inter: Interactions  # everything known before the cut (the model fits on it)
    members: list[np.ndarray]  # per group: member user indices
    history: sp.csr_matrix  # groups x items: the group's purchase lines before the cut
    history_age: sp.csr_matrix  # groups x items: days since the group's last one + 1
    targets: list[list[np.ndarray]]  # per group: item indices of each next order
    categories: np.ndarray | None = None  # item index -> category code (for the cap)


@dataclass
class Scored:
    """Per split: the ranking parts of every group, ready for any mix."""

    split: Split
    collab: list[np.ndarray] = field(default_factory=list)  # strategy rank unit per group
    popularity: np.ndarray = field(default_factory=lambda: np.empty(0))


# -- synthetic feature stores -----------------------------------------------------------------
def store_split(
    features: Path, horizon_days: float, shift: int, settings: Settings | None = None
) -> Split:
    """The split of a feature store whose cut is `shift + 1` horizons before its last event."""
    events = pd.read_parquet(
        features / "events.parquet",
        columns=[Col.USER_ID, Col.ITEM_ID, Col.EVENT_TYPE, Col.TS, Col.ORDER_ID, Col.GROUP_ID],
    )
    events[Col.TS] = pd.to_datetime(events[Col.TS], utc=True)
    end = events[Col.TS].max()
    cut = end - pd.Timedelta(days=horizon_days * (shift + 1))
    stop = cut + pd.Timedelta(days=horizon_days)
    before = events[events[Col.TS] < cut]
    after = events[(events[Col.TS] >= cut) & (events[Col.TS] < stop)]
    users = IdMap.from_values(events[Col.USER_ID])
    items = IdMap.from_values(events[Col.ITEM_ID])
    s = settings or load_settings()
    inter = interactions_of_events(
        before, users, items, s.features.event_weights, s.features.half_life_days, snapshot=cut
    )
    gm = pd.read_parquet(features / "group_members.parquet", columns=[Col.GROUP_ID, Col.USER_ID])
    gmap = IdMap.from_values(gm[Col.GROUP_ID])
    from features.group_history import group_item_history

    hist, age = group_item_history(before, gmap, items, cut - pd.Timedelta(microseconds=1))
    gi, ui = gmap.index(gm[Col.GROUP_ID]), users.index(gm[Col.USER_ID])
    members = [np.unique(ui[(gi == g) & (ui >= 0)]) for g in range(len(gmap))]
    buy = after[after[Col.EVENT_TYPE].astype("string").isin(PURCHASES).fillna(False).to_numpy()]
    buy = buy[buy[Col.GROUP_ID].notna()]
    bg, bi = gmap.index(buy[Col.GROUP_ID]), items.index(buy[Col.ITEM_ID])
    frame = pd.DataFrame({"g": bg, "i": bi, "o": buy[Col.ORDER_ID].astype("string").to_numpy()})
    frame = frame[(frame["g"] >= 0) & (frame["i"] >= 0)]
    targets: list[list[np.ndarray]] = [[] for _ in range(len(gmap))]
    for (g, _), part in frame.groupby(["g", "o"], sort=True):
        targets[int(str(g))].append(np.unique(part["i"].to_numpy(np.int64)))
    cats = None
    items_path = features / "items.parquet"
    if items_path.exists():
        cat = pd.read_parquet(items_path, columns=[Col.ITEM_ID, "category"])
        codes = pd.Series(pd.factorize(cat["category"].astype("string").fillna(""))[0])
        cats = np.full(len(items), -1, np.int64)
        idx = items.index(cat[Col.ITEM_ID])
        cats[idx[idx >= 0]] = codes.to_numpy()[idx >= 0]
    return Split(inter, members, hist, age, targets, cats)


# -- real datasets: households of co-purchasing users ------------------------------------------
def households(
    lines: pd.DataFrame, users: IdMap, items: IdMap, size: int, seed: int
) -> list[np.ndarray]:
    """Groups of about `size` users with similar baskets (tf-idf, SVD, k-means, chunks)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer

    u, i = users.index(lines[Col.USER_ID]), items.index(lines[Col.ITEM_ID])
    m = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(users), len(items)))
    x = TfidfTransformer().fit_transform(m)
    dims = max(2, min(32, min(x.shape) - 1))
    z = TruncatedSVD(dims, random_state=seed).fit_transform(x)
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    k = max(1, len(users) // size)
    labels = KMeans(k, n_init=2, random_state=seed).fit_predict(z)
    out: list[np.ndarray] = []
    for c in range(k):
        ids = np.flatnonzero(labels == c)
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            if len(chunk) >= 2:
                out.append(chunk)
    return out


def basket_split(
    dataset: str,
    src: Path,
    back: int,
    size: int,
    seed: int,
    max_groups: int,
    settings: Settings | None = None,
) -> Split:
    """Households on a real dataset; targets = each member's basket `back` from their last."""
    from training.evaluation.folds import basket_events, load_baskets
    from training.evaluation.split import BASKET

    lines = load_baskets(dataset, src)
    last = lines.groupby(Col.USER_ID)[BASKET].transform("max")
    pos = last - lines[BASKET]  # 0 = the user's last basket
    target_lines = lines[pos == back]
    known = lines[pos > back]
    users = IdMap.from_values(lines[Col.USER_ID])
    items = IdMap.from_values(lines[Col.ITEM_ID])
    s = settings or load_settings()
    ev = basket_events(known)
    inter = interactions_of_events(
        ev, users, items, s.features.event_weights, s.features.half_life_days, ev[Col.TS].max()
    )
    groups = households(known, users, items, size, seed)
    if len(groups) > max_groups:
        pick = np.random.default_rng(seed).choice(len(groups), max_groups, replace=False)
        groups = [groups[j] for j in np.sort(pick)]
    gm = sp.csr_matrix(
        (
            np.ones(sum(len(g) for g in groups), np.float32),
            (np.repeat(np.arange(len(groups)), [len(g) for g in groups]), np.concatenate(groups)),
        ),
        shape=(len(groups), len(users)),
    )
    hist = sp.csr_matrix(gm @ inter.purchases)
    inv = inter.last_purchase_age.copy()
    inv.data = 1.0 / inv.data
    newest = sp.csr_matrix(
        np.vstack([np.asarray(inv[g].max(axis=0).todense()).ravel() for g in groups])
    )
    newest.data = 1.0 / newest.data
    tu, ti = users.index(target_lines[Col.USER_ID]), items.index(target_lines[Col.ITEM_ID])
    by_user = pd.Series(ti).groupby(tu).apply(lambda x: np.unique(x.to_numpy(np.int64)))
    targets = [[by_user[u] for u in g.tolist() if u in by_user.index] for g in groups]
    return Split(inter, groups, hist, newest, targets)


# -- scoring -----------------------------------------------------------------------------------
def score_split(split: Split, model_kind: str, strategy: str, seed: int) -> Scored:
    """Fit the model on what is known and compute each group's strategy rank unit."""
    from training.evaluation.leaderboard import seeded_params
    from training.models import build_model

    model = build_model(model_kind, **seeded_params(model_kind, {}, seed)).fit(split.inter)
    n = split.inter.shape[1]
    out = Scored(split)
    pop = np.asarray(split.inter.purchases.sum(axis=0), np.float32).ravel()
    out.popularity = pop / np.float32(pop.max() * 1.001 + 1e-9)
    for members in split.members:
        if not len(members):
            out.collab.append(np.zeros(n, np.float32))
            continue
        raw = model.score(members).astype(np.float32)
        z = (raw - raw.mean(axis=1, keepdims=True)) / (raw.std(axis=1, keepdims=True) + 1e-6)
        agg, order = _aggregate(z, strategy, K)
        out.collab.append(gr.rank_unit(np.arange(n), agg, n))
    return out


def _metrics(top: np.ndarray, targets: list[np.ndarray]) -> tuple[float, float]:
    """(hits, recall sum) of one ranking over its cases."""
    hits = recall = 0.0
    chosen = set(top.tolist())
    for t in targets:
        got = sum(1 for i in t.tolist() if i in chosen)
        hits += float(got > 0)
        recall += got / max(len(t), 1)
    return hits, recall


def rebuy_parts(
    scored: Scored, g: int, half_lives: Sequence[float | None]
) -> dict[float | None, tuple[np.ndarray, np.ndarray]]:
    """Per half-life: group g's history unit H and members' repeat unit M."""
    sp_ = scored.split
    n = sp_.inter.shape[1]
    m = sp_.members[g]
    out = {}
    for hl in half_lives:
        hist = gr.history_unit(sp_.history[[g]], sp_.history_age[[g]], hl, n)
        rep = gr.member_repeat_unit(sp_.inter.purchases[m], sp_.inter.last_purchase_age[m], hl, n)
        out[hl] = (hist, rep)
    return out


def evaluate_split(scored: Scored, mixes: Sequence[gr.GroupMix]) -> dict[str, Any]:
    """Hit rate and recall@k of every method (and every mix) on one split's cases."""
    sp_ = scored.split
    totals: dict[str, list[float]] = {}
    cases = 0
    pop = scored.popularity
    popular = {
        d: gr.recent_buyers_unit(sp_.inter.last_purchase_age, d)
        for d in {m.recent_days for m in mixes}
    }
    for g, targets in enumerate(sp_.targets):
        if not targets:
            continue
        cases += len(targets)
        counts = np.asarray(sp_.history[g].todense(), np.float32).ravel()
        tops = {
            "popularity": gr.capped_top_k(pop.copy(), K, None, None),
            "history_pop": gr.capped_top_k(counts + pop, K, None, None),
            "strategy": gr.capped_top_k(scored.collab[g] + 1e-3 * pop, K, None, None),
        }
        parts = rebuy_parts(scored, g, sorted({m.half_life_days for m in mixes}, key=str))
        for j, mix in enumerate(mixes):
            hist, rep = parts[mix.half_life_days]
            s = gr.mix_scores(scored.collab[g], hist, rep, pop, mix, popular[mix.recent_days])
            tops[f"mix{j}"] = gr.capped_top_k(s, K, sp_.categories, mix.category_cap)
        for name, top in tops.items():
            h, r = _metrics(top, targets)
            acc = totals.setdefault(name, [0.0, 0.0])
            acc[0] += h
            acc[1] += r
    out: dict[str, Any] = {"cases": cases, "groups": sum(1 for t in sp_.targets if t)}
    for name, (h, r) in totals.items():
        out[f"{name}_hit"] = h / max(cases, 1)
        out[f"{name}_recall"] = r / max(cases, 1)
    return out


def mix_grid() -> list[gr.GroupMix]:
    """Every mix the validation chooses from."""
    out = []
    grid = itertools.product(
        HISTORY_GRID, MEMBERS_GRID, POPULARITY_GRID, RECENT_DAYS, HALF_LIVES, CAPS
    )
    for h, m, p, days, hl, cap in grid:
        # the strategy keeps >= MIN_COLLABORATIVE of the score, so the strategy still matters
        if h + m + p <= 1.0 - MIN_COLLABORATIVE + 1e-9 and (p > 0 or days is None):
            out.append(gr.GroupMix(h, m, hl, cap, p, days))
    return out


def choose_mix(val_rows: Sequence[dict[str, Any]], mixes: Sequence[gr.GroupMix]) -> int:
    """Index of the mix with the best mean (hit rate / better naive hit rate) over datasets."""
    score = np.zeros(len(mixes))
    for row in val_rows:
        best = max(row["history_pop_hit"], row["popularity_hit"], 1e-9)
        score += np.array([row[f"mix{j}_hit"] / best for j in range(len(mixes))])
    return int(np.argmax(score))


def evaluate_groups(
    stores: dict[str, Path] | None = None,
    real: dict[str, Path] | None = None,
    model: str = "blend",
    strategy: str = "average",
    horizon_days: float = 7.0,
    group_size: int = 8,
    max_groups: int = 400,
    seed: int = 42,
    mix: gr.GroupMix | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Test rows (one per dataset) of ours vs both naive baselines; the mix chosen on validation.

    `mix` given: no choice, it is applied as is (e.g. the serving default). Each row has
    dataset, cases, groups, ``<method>_hit`` / ``<method>_recall`` for ours, strategy,
    history_pop and popularity, the ratios of ours to each baseline, and the mix used.
    """
    splits: dict[str, tuple[Split, Split]] = {}
    for name, path in (stores or {}).items():
        log.info("%s: splits of the feature store", name)
        splits[name] = (
            store_split(Path(path), horizon_days, 1, settings),
            store_split(Path(path), horizon_days, 0, settings),
        )
    for name, path in (real or {}).items():
        log.info("%s: households", name)
        splits[name] = (
            basket_split(name, Path(path), 1, group_size, seed, max_groups, settings),
            basket_split(name, Path(path), 0, group_size, seed, max_groups, settings),
        )
    mixes = [mix] if mix is not None else mix_grid()
    val_rows, test_rows = [], []
    for name, (val_split, test_split) in splits.items():
        t0 = time.perf_counter()
        val_rows.append(evaluate_split(score_split(val_split, model, strategy, seed), mixes))
        test_rows.append(evaluate_split(score_split(test_split, model, strategy, seed), mixes))
        log.info("%s scored in %.1fs", name, time.perf_counter() - t0)
    best = choose_mix(val_rows, mixes) if len(mixes) > 1 else 0
    rows = []
    for name, v_row, test in zip(splits, val_rows, test_rows, strict=True):
        row: dict[str, Any] = {"dataset": name, "cases": test["cases"], "groups": test["groups"]}
        for method in ("history_pop", "popularity", "strategy"):
            row[f"{method}_hit"] = test[f"{method}_hit"]
            row[f"{method}_recall"] = test[f"{method}_recall"]
        row["ours_hit"] = test[f"mix{best}_hit"]
        row["ours_recall"] = test[f"mix{best}_recall"]
        row["ours_val_hit"] = v_row[f"mix{best}_hit"]
        for method in ("history_pop", "popularity"):
            row[f"ours_vs_{method}"] = row["ours_hit"] / max(row[f"{method}_hit"], 1e-9)
        row["mix"] = mixes[best].label()
        rows.append(row)
    return rows


def _named(items: Sequence[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path:
            raise ValueError(f"expected NAME=DIR, got {item!r}")
        out[name] = Path(path)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: print one row per dataset (ours vs the naive group baselines) and the chosen mix."""
    p = argparse.ArgumentParser(prog="python -m experiments.group_eval", description=__doc__)
    p.add_argument("--features", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--tafeng", type=Path, default=None)
    p.add_argument("--instacart", type=Path, default=None)
    p.add_argument("--model", default="blend")
    p.add_argument("--strategy", default="average")
    p.add_argument("--horizon", type=float, default=7.0, help="days of next orders per split")
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--max-groups", type=int, default=400)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=None, help="CSV of the rows")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        stores = _named(args.features)
    except ValueError as exc:
        print(f"group_eval: error: {exc}", file=sys.stderr)
        return 2
    real = {k: v for k, v in (("tafeng", args.tafeng), ("instacart", args.instacart)) if v}
    rows = evaluate_groups(
        stores, real, args.model, args.strategy, args.horizon, args.group_size,
        args.max_groups, args.seed, None, load_settings(),
    )  # fmt: skip
    table = pd.DataFrame(rows)
    cols = ["dataset", "cases", "groups", "ours_hit", "history_pop_hit", "popularity_hit",
            "strategy_hit", "ours_vs_history_pop", "ours_vs_popularity", "ours_recall",
            "history_pop_recall", "popularity_recall"]  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[cols].round(3).to_string(index=False))
    print(f"mix (chosen on validation cuts): {rows[0]['mix'] if rows else '-'}")
    if args.out:
        table.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
