"""Offline leaderboard: every model x several seeded splits on a real dataset, one table, one MLflow parent run.

``linli evaluate --dataset tafeng --src DIR --models all --seeds 3 --k 10,20``

Datasets (``--dataset``):

- ``tafeng``: the Reality-Check files, read by :func:`features.adapters.tafeng.read_baskets`.
- ``instacart``: the Instacart sample, read by :func:`features.adapters.instacart.to_schema`;
  a user's last order (with lines) is their future basket.
- ``features``: a feature store from ``linli features build``; ``--split temporal`` (default)
  holds out the last ``--holdout-days`` days (fit on every event type before the cut with
  the settings' event weights and decay, item features and user tags attached; predict
  purchases after it, for users seen before it). The user tags come from the whole store,
  so RFM-style tags know a little of the holdout period. ``--split next-basket`` runs the
  basket protocol on the store's baskets (purchases only, no side features).

Protocol (``--protocol users``, the default): the Ta-Feng protocol of
:func:`experiments.split.protocol_split` with one split per seed (72/8/20 users; a
model sees every history plus train and validation users' future baskets; test users'
future baskets are the targets). ``--protocol last``: every user's last basket is a
target and the fit sees histories only (seeds then vary only the models).

Basket data has no shared calendar (Ta-Feng has no dates; Instacart users are aligned
at their first order), so each user's baskets are placed one day apart ending at the
snapshot: recency and decay count baskets ago. Already-bought items are NOT excluded
from the recommendations (grocery is repeat buying).

Output: a rich table on the console, ``OUT/<dataset>.md`` and ``.csv`` (means and
standard deviations over seeds), ``<dataset>_seeds.csv`` (one row per model and seed),
``<dataset>_segments.csv`` (by history length), and one MLflow parent run with a child
run per model (metrics named ``recall_at_10``, ``ndcg_at_10``, ...). ``--write-recs
DIR`` writes each model's top 20 for the test users of the first seed's split as
``DIR/<model>.json`` = ``{user_id: [item_id, ...]}`` in the dataset's own ids.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from experiments import metrics as M
from experiments.split import (
    BASKET,
    BasketSplit,
    last_basket_split,
    number_baskets,
    protocol_split,
    temporal_cutoff,
    temporal_split,
)
from features.matrix import IdMap, Interactions, build_interactions
from features.schema import PURCHASE_EVENTS, Col, EventType
from features.settings import Settings, load_settings

log = logging.getLogger("linli.evaluate")

DATASETS = ("tafeng", "instacart", "features")
SNAPSHOT = pd.Timestamp("2001-01-01T00:00:00", tz="Asia/Shanghai")  # basket data: day 0 = now
RECS_K = 20
SEED_FIELDS = ("seed", "random_state", "random_seed")
HISTORY_BUCKETS = (0, 3, 6, 10, 20, 10**9)  # basket-count edges of the history segments


# -- data ------------------------------------------------------------------------------
def load_baskets(dataset: str, src: Path | str) -> pd.DataFrame:
    """A basket frame (user_id, basket_index, item_id as strings) from a dataset's own files."""
    src = Path(src)
    if dataset == "tafeng":
        from features.adapters.tafeng import read_baskets

        lines = read_baskets(src)
    elif dataset == "instacart":
        from features.adapters.instacart import to_schema

        ev = to_schema(src)["events"].rename(columns={Col.ID_VALUE: Col.USER_ID})
        lines = number_baskets(ev[[Col.USER_ID, Col.ORDER_ID, Col.TS, Col.ITEM_ID]])
    elif dataset == "features":
        from features import store

        bask = pd.read_parquet(src / store.BASKETS)
        lines = number_baskets(bask[[Col.USER_ID, Col.ORDER_ID, Col.TS, Col.ITEM_ID]])
    else:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    lines = lines.dropna(subset=[Col.USER_ID, Col.ITEM_ID])
    out = pd.DataFrame(
        {
            Col.USER_ID: lines[Col.USER_ID].astype("string").to_numpy(),
            BASKET: lines[BASKET].to_numpy(np.int64),
            Col.ITEM_ID: lines[Col.ITEM_ID].astype("string").to_numpy(),
        }
    )
    return out.drop_duplicates().reset_index(drop=True)


def basket_events(lines: pd.DataFrame, snapshot: pd.Timestamp = SNAPSHOT) -> pd.DataFrame:
    """Order events for basket lines, each user's baskets one day apart ending at ``snapshot``."""
    last = lines.groupby(Col.USER_ID, sort=False)[BASKET].transform("max")
    ago = (last - lines[BASKET]).to_numpy(np.int64)
    user = lines[Col.USER_ID].astype("string")
    return pd.DataFrame(
        {
            Col.USER_ID: user.to_numpy(),
            Col.ITEM_ID: lines[Col.ITEM_ID].astype("string").to_numpy(),
            Col.EVENT_TYPE: str(EventType.ORDER),
            Col.TS: snapshot - pd.to_timedelta(ago, unit="D"),
            Col.ORDER_ID: (user + ":" + lines[BASKET].astype("string")).to_numpy(),
        }
    )


def interactions_from_baskets(
    lines: pd.DataFrame, users: IdMap, items: IdMap, settings: Settings
) -> Interactions:
    """The Interactions a model fits on, from basket lines (purchases only)."""
    return build_interactions(
        basket_events(lines),
        users,
        items,
        settings.features.event_weights,
        settings.features.half_life_days,
        snapshot=SNAPSHOT,
    )


def _csr_for(
    users: IdMap, items: IdMap, user_ids: np.ndarray, lines: pd.DataFrame
) -> sp.csr_matrix:
    """Binary len(user_ids) x items matrix of the lines' (user, item) pairs."""
    row_of = pd.Series(np.arange(len(user_ids)), index=pd.Index(user_ids, dtype="string"))
    r = row_of.reindex(pd.Index(lines[Col.USER_ID].astype("string"))).to_numpy()
    c = items.index(lines[Col.ITEM_ID])
    ok = ~np.isnan(r) & (c >= 0)
    m = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (r[ok].astype(np.int64), c[ok])),
        shape=(len(user_ids), len(items)),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


# -- folds -----------------------------------------------------------------------------
@dataclass
class Fold:
    """One evaluation split: what to fit on, whom to recommend for, and what they bought."""

    seed: int
    train: Interactions
    eval_users: np.ndarray  # user indices into train.users
    truth: sp.csr_matrix  # rows aligned with eval_users
    history: sp.csr_matrix  # the eval users' purchases in train (rows aligned)
    segments: pd.Series | None = None  # a segment label per eval user (row position index)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def eval_ids(self) -> np.ndarray:
        """External ids of the evaluated users."""
        return self.train.users.ids[self.eval_users]


def history_segments(n_baskets: np.ndarray) -> pd.Series:
    """Label users by their number of history baskets (``01-03``, ``04-06``, ...)."""
    edges = HISTORY_BUCKETS
    labels = [
        f"{lo + 1:02d}-{hi:02d} baskets" if hi < 10**9 else f"{lo + 1:02d}+ baskets"
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return pd.Series(pd.cut(n_baskets, bins=list(edges), labels=labels).astype(str), name="segment")


def basket_fold(
    split: BasketSplit, users: IdMap, items: IdMap, settings: Settings, seed: int
) -> Fold:
    """A fold from a basket split: fit matrix, evaluated users, their future baskets."""
    train = interactions_from_baskets(split.fit, users, items, settings)
    eval_ids = np.asarray(split.evaluated, dtype=object)
    eval_idx = users.index(eval_ids)
    if (eval_idx < 0).any():
        raise ValueError("evaluated users missing from the user index")
    truth = _csr_for(users, items, eval_ids, split.target)
    history = train.purchases[eval_idx].tocsr()
    fit_users = split.fit[split.fit[Col.USER_ID].isin(eval_ids)]
    n_hist = fit_users.groupby(Col.USER_ID)[BASKET].nunique().reindex(pd.Index(eval_ids)).to_numpy()
    info = {
        "fit_lines": len(split.fit),
        "eval_users": len(eval_ids),
        "target_lines": len(split.target),
        "train_users": len(split.users.train),
        "val_users": len(split.users.val),
    }
    return Fold(seed, train, eval_idx, truth, history, history_segments(n_hist), info)


def basket_folds(
    lines: pd.DataFrame,
    seeds: Sequence[int],
    settings: Settings,
    protocol: str = "users",
    target: str = "test",
) -> Iterator[Fold]:
    """One fold per seed (built lazily) over a basket frame."""
    users = IdMap.from_values(lines[Col.USER_ID])
    items = IdMap.from_values(lines[Col.ITEM_ID])
    fixed = last_basket_split(lines) if protocol == "last" else None
    for seed in seeds:
        split = fixed or protocol_split(lines, seed, target=target)  # type: ignore[arg-type]
        yield basket_fold(split, users, items, settings, seed)


def features_fold(
    store_dir: Path | str,
    settings: Settings,
    holdout_days: float = 14.0,
    end: pd.Timestamp | None = None,
    seed: int = 0,
) -> Fold:
    """Temporal fold of a feature store: events before the cut vs purchases after it (warm users)."""
    from features import store
    from features.matrix import item_feature_matrix, user_feature_matrix

    store_dir = Path(store_dir)
    events = pd.read_parquet(store_dir / store.EVENTS)
    if end is not None:
        events = events[events[Col.TS] < end]
    cutoff = temporal_cutoff(events, holdout_days)
    before, after = temporal_split(events, cutoff=cutoff)
    mdir = store_dir / store.MATRIX_DIR
    if (mdir / "users.parquet").exists():
        users = IdMap(
            np.asarray(pd.read_parquet(mdir / "users.parquet")[Col.USER_ID], dtype=object)
        )
        items = IdMap(
            np.asarray(pd.read_parquet(mdir / "items.parquet")[Col.ITEM_ID], dtype=object)
        )
    else:
        users = IdMap.from_values(events[Col.USER_ID])
        items = IdMap.from_values(events[Col.ITEM_ID])
    train = build_interactions(
        before,
        users,
        items,
        settings.features.event_weights,
        settings.features.half_life_days,
        snapshot=cutoff,
    )
    if (store_dir / store.ITEMS).exists():
        train.item_features, train.item_feature_names = item_feature_matrix(
            items, pd.read_parquet(store_dir / store.ITEMS)
        )
    if (store_dir / store.TAGS).exists():
        train.user_features, train.user_feature_names = user_feature_matrix(
            users, pd.read_parquet(store_dir / store.TAGS)
        )
    buys = after[after[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
    warm = np.flatnonzero(np.diff(train.weights.indptr) > 0)
    buyers = users.index(buys[Col.USER_ID].dropna().astype("string").drop_duplicates())
    eval_idx = np.intersect1d(warm, buyers[buyers >= 0])
    eval_ids = users.ids[eval_idx]
    truth = _csr_for(users, items, eval_ids, buys)
    history = train.purchases[eval_idx].tocsr()
    n_hist = np.asarray(
        before[before[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
        .groupby(Col.USER_ID)[Col.ORDER_ID]
        .nunique()
        .reindex(pd.Index(eval_ids, dtype="string"))
        .fillna(0)
        .to_numpy(),
        dtype=np.int64,
    )
    info = {
        "cutoff": str(cutoff),
        "holdout_days": holdout_days,
        "fit_events": len(before),
        "holdout_purchase_lines": len(buys),
        "eval_users": len(eval_idx),
    }
    return Fold(seed, train, eval_idx, truth, history, history_segments(n_hist), info)


# -- one model on one fold ---------------------------------------------------------------
def seeded_params(kind: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """``params`` plus the model's seed field (if its config has one and none was given)."""
    from training.models import model_class

    fields = getattr(model_class(kind).config_class, "model_fields", {})
    out = dict(params)
    for name in SEED_FIELDS:
        if name in fields and name not in out:
            out[name] = seed
    return out


def recommend_all(model: Any, users: np.ndarray, k: int, batch: int = 1024) -> np.ndarray:
    """Top-k item indices for every user index, in batches (nothing excluded)."""
    parts = [model.recommend(users[i : i + batch], k=k)[0] for i in range(0, len(users), batch)]
    return np.vstack(parts) if parts else np.zeros((0, k), np.int64)


@dataclass
class ModelResult:
    """A model's metrics on one fold, with its per-user values and top-k lists."""

    kind: str
    seed: int
    metrics: dict[str, float]
    per_user: pd.DataFrame
    recs: np.ndarray
    config: dict[str, Any]


def evaluate_model(
    kind: str,
    fold: Fold,
    ks: Sequence[int] = (10, 20),
    params: dict[str, Any] | None = None,
    recs_k: int = RECS_K,
) -> ModelResult:
    """Fit ``kind`` on the fold, recommend max(ks, recs_k) items per evaluated user, score them."""
    from training.models import build_model

    model = build_model(kind, **seeded_params(kind, params or {}, fold.seed))
    t0 = time.perf_counter()
    model.fit(fold.train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    recs = recommend_all(model, fold.eval_users, max(max(ks), recs_k))
    predict_s = time.perf_counter() - t0
    per_user = M.user_metrics(recs, fold.truth, ks, fold.history)
    summary = {str(k): float(v) for k, v in M.summarize(per_user).iloc[0].items() if k != "n_users"}
    popularity = M.item_popularity(fold.train.purchases)
    summary |= M.catalogue_metrics(recs, fold.train.shape[1], popularity, ks)
    summary |= {"fit_seconds": fit_s, "predict_seconds": predict_s}
    config = model.config.model_dump(mode="json")
    return ModelResult(kind, fold.seed, summary, per_user, recs, config)


# -- the leaderboard ---------------------------------------------------------------------
@dataclass
class Leaderboard:
    """Per-seed rows, the mean/std table, per-segment means and the runtime."""

    dataset: str
    per_seed: pd.DataFrame
    table: pd.DataFrame  # index model; columns <metric> and <metric>_std
    segments: pd.DataFrame
    ks: tuple[int, ...]
    info: dict[str, Any]
    errors: dict[str, str]
    seconds: float
    configs: dict[str, dict[str, Any]]


def aggregate(per_seed: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    """Mean and standard deviation (``<metric>_std``) over seeds, one row per model."""
    numeric = per_seed.drop(columns=["seed"]).groupby("model", sort=False)
    mean = numeric.mean()
    std = numeric.std(ddof=1).add_suffix("_std")
    out = pd.concat([mean, std], axis=1)
    out.insert(0, "seeds", per_seed.groupby("model", sort=False).size())
    return out.sort_values(sort_by, ascending=False) if sort_by in out else out


def run_leaderboard(
    dataset: str,
    folds: Iterator[Fold] | Sequence[Fold],
    kinds: Sequence[str],
    ks: Sequence[int] = (10, 20),
    write_recs: Path | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
    info: dict[str, Any] | None = None,
) -> Leaderboard:
    """Every model on every fold; aggregates; optionally writes the first fold's top 20s."""
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    seg_rows: list[pd.DataFrame] = []
    errors: dict[str, str] = {}
    configs: dict[str, dict[str, Any]] = {}
    fold_info: dict[str, Any] = {}
    for n_fold, fold in enumerate(folds):
        fold_info.setdefault("folds", []).append({"seed": fold.seed, **fold.info})
        todo = [k for k in kinds if k not in errors]
        for kind in tqdm(todo, desc=f"seed {fold.seed}", disable=not progress, leave=False):
            try:
                res = evaluate_model(kind, fold, ks, (params or {}).get(kind))
            except Exception as exc:  # one broken model must not sink the leaderboard
                errors[kind] = f"{type(exc).__name__}: {exc}"
                log.error(
                    "model %s failed on seed %s:\n%s", kind, fold.seed, traceback.format_exc()
                )
                continue
            configs.setdefault(kind, res.config)
            rows.append({"model": kind, "seed": fold.seed, **res.metrics})
            if fold.segments is not None:
                seg = M.summarize(res.per_user, fold.segments)
                seg_rows.append(seg.reset_index().assign(model=kind, seed=fold.seed))
            if write_recs is not None and n_fold == 0:
                write_recommendations(write_recs, kind, fold, res.recs[:, :RECS_K])
            log.info(
                "%s seed %s: recall@%d %.4f fit %.1fs",
                kind,
                fold.seed,
                ks[0],
                res.metrics.get(M.metric_name("recall", ks[0]), float("nan")),
                res.metrics["fit_seconds"],
            )
    per_seed = pd.DataFrame(rows)
    sort_by = M.metric_name("recall", ks[0])
    table = aggregate(per_seed, sort_by) if len(per_seed) else pd.DataFrame()
    segments = pd.DataFrame()
    if seg_rows:
        segs = pd.concat(seg_rows, ignore_index=True)
        segments = (
            segs.drop(columns=["seed"])
            .groupby(["model", "segment"], sort=True)
            .mean()
            .reset_index()
        )
    return Leaderboard(
        dataset,
        per_seed,
        table,
        segments,
        tuple(ks),
        {**(info or {}), **fold_info},
        errors,
        time.perf_counter() - t_start,
        configs,
    )


def write_recommendations(out: Path, kind: str, fold: Fold, recs: np.ndarray) -> Path:
    """``out/<kind>.json`` = {user_id: [item_id, ...]} for the fold's evaluated users."""
    out.mkdir(parents=True, exist_ok=True)
    item_ids = fold.train.items.ids
    result = {
        str(u): [str(item_ids[i]) for i in row if i >= 0]
        for u, row in zip(fold.eval_ids, recs, strict=True)
    }
    path = out / f"{kind}.json"
    path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    meta = out / "split.json"
    if not meta.exists() or json.loads(meta.read_text(encoding="utf-8")).get("seed") != fold.seed:
        meta.write_text(
            json.dumps({"seed": fold.seed, "users": [str(u) for u in fold.eval_ids]}),
            encoding="utf-8",
        )
    return path


# -- presentation ------------------------------------------------------------------------
def display_columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """(column, header) pairs of the leaderboard table, in order."""
    k0 = ks[0]
    cols = [(M.metric_name("recall", k), f"Recall@{k}") for k in ks]
    cols += [(M.metric_name("ndcg_paper", k), f"NDCG@{k} paper") for k in ks]
    cols += [(M.metric_name("ndcg", k), f"NDCG@{k}") for k in ks]
    cols += [
        (M.metric_name("hit_rate", k0), f"PHR@{k0}"),
        (M.metric_name("repeat_recall", k0), f"Repeat R@{k0}"),
        (M.metric_name("explore_recall", k0), f"Explore R@{k0}"),
        (M.metric_name("precision", k0), f"P@{k0}"),
        (M.metric_name("map", k0), f"MAP@{k0}"),
        (M.metric_name("coverage", k0), f"Coverage@{k0}"),
        (M.metric_name("novelty", k0), f"Novelty@{k0}"),
        ("fit_seconds", "Fit s"),
    ]
    return cols


def _cell(mean: float, std: float | None, col: str) -> str:
    if mean is None or not np.isfinite(mean):
        return "–"
    digits = 1 if col in {"fit_seconds", "predict_seconds"} or col.startswith("novelty") else 4
    text = f"{mean:.{digits}f}"
    if std is not None and np.isfinite(std):
        text += f" ± {std:.{digits}f}"
    return text


def table_cells(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Header and body cells (``mean ± std``) of the leaderboard table."""
    cols = [(c, h) for c, h in display_columns(board.ks) if c in board.table.columns]
    header = ["Model"] + [h for _, h in cols]
    body = []
    for model, row in board.table.iterrows():
        body.append([str(model)] + [_cell(row[c], row.get(f"{c}_std"), c) for c, _ in cols])
    return header, body


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int | np.integer) else "?"


def to_markdown(board: Leaderboard, command: str = "") -> str:
    """The leaderboard as a markdown document (context lines + table)."""
    header, body = table_cells(board)
    info = board.info
    lines = [
        f"# Leaderboard: {board.dataset}",
        "",
        f"- protocol: {info.get('protocol', '')}; seeds: {info.get('seeds', '')}; "
        f"k: {', '.join(map(str, board.ks))}; mean ± std over seeds",
        f"- data: {_count(info.get('users'))} users, {_count(info.get('items'))} items, "
        f"{_count(info.get('lines'))} lines; evaluated users per seed: "
        f"{', '.join(str(f.get('eval_users')) for f in info.get('folds', []))}",
        "- NDCG paper = ideal DCG over all |truth| items (Reality-Check code); NDCG = ideal DCG "
        "over min(|truth|, k); PHR = share of users with at least one hit; repeat / explore "
        "recall over truth items the user had / had not bought before; nothing excluded",
        f"- runtime: {board.seconds / 60:.1f} min on {os.cpu_count()} cores"
        + (f"; command: `{command}`" if command else ""),
    ]
    if board.errors:
        lines.append("- failed models: " + "; ".join(f"{k}: {v}" for k, v in board.errors.items()))
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def print_table(board: Leaderboard) -> None:
    """The leaderboard as a rich table on the console."""
    from rich.console import Console
    from rich.table import Table

    header, body = table_cells(board)
    t = Table(
        title=f"{board.dataset}: mean ± std over {board.info.get('seeds', '?')} seeds "
        f"({board.seconds / 60:.1f} min)",
        show_lines=False,
    )
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in body:
        t.add_row(*r)
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    Console(width=sum(widths) + 3 * len(widths) + 1).print(t)
    for k, v in board.errors.items():
        Console().print(f"[red]failed[/red] {k}: {v}")


def write_outputs(board: Leaderboard, out: Path, command: str = "") -> dict[str, Path]:
    """Markdown, CSV (means/std), per-seed CSV and per-segment CSV under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out / f"{board.dataset}.md",
        "csv": out / f"{board.dataset}.csv",
        "seeds": out / f"{board.dataset}_seeds.csv",
        "segments": out / f"{board.dataset}_segments.csv",
    }
    paths["markdown"].write_text(to_markdown(board, command), encoding="utf-8")
    board.table.to_csv(paths["csv"], index_label="model")
    board.per_seed.to_csv(paths["seeds"], index=False)
    if len(board.segments):
        board.segments.to_csv(paths["segments"], index=False)
    else:
        paths.pop("segments")
    return paths


def log_to_mlflow(
    board: Leaderboard, paths: dict[str, Path], settings: Settings, run_name: str | None = None
) -> str:
    """One parent run for the leaderboard, one child run per model (means and ``_std``)."""
    from training import tracking

    name = run_name or f"leaderboard-{board.dataset}"
    info = {k: v for k, v in board.info.items() if k != "folds"}
    with tracking.run(name, settings, tags={tracking.TAG_RUN_TYPE: "leaderboard"}) as parent:
        tracking.log_params({**info, "ks": ",".join(map(str, board.ks))})
        tracking.log_metrics({"runtime_seconds": board.seconds})
        for p in paths.values():
            tracking.log_artifact(p, "leaderboard")
        for model, row in board.table.iterrows():
            with tracking.run(
                str(model),
                settings,
                nested=True,
                tags={
                    tracking.TAG_RUN_TYPE: "leaderboard-model",
                    tracking.TAG_MODEL_KIND: str(model),
                    "linli.leaderboard": name,
                },
            ):
                cfg = {k: v for k, v in board.configs.get(str(model), {}).items()}
                for f in SEED_FIELDS:
                    cfg.pop(f, None)
                tracking.log_params(
                    {
                        **cfg,
                        "dataset": board.dataset,
                        "protocol": info.get("protocol", ""),
                        "seeds": info.get("seeds", ""),
                    }
                )
                tracking.log_metrics({str(k): v for k, v in row.items() if k != "seeds"})
    return parent


# -- CLI --------------------------------------------------------------------------------
def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def resolve_models(spec: str) -> list[str]:
    """``all`` -> every registered kind (registry order); else the comma-separated kinds."""
    from training.models import REGISTRY

    if spec.strip() == "all":
        return list(REGISTRY)
    kinds = [k.strip() for k in spec.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown models {unknown}; known: {', '.join(REGISTRY)}")
    return kinds


def parse_params(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``kind.key=value`` strings -> {kind: {key: value}} (values parsed as JSON when possible)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, raw = item.partition("=")
        kind, _, name = key.partition(".")
        if not name or not _:
            raise ValueError(f"--param expects kind.key=value, got {item!r}")
        out.setdefault(kind, {})[name] = parse_value(raw)
    return out


def parse_value(raw: str) -> Any:
    """A CLI value: JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``linli evaluate``."""
    p = argparse.ArgumentParser(
        prog="linli evaluate",
        description="Leaderboard of models x seeded splits on a dataset (markdown, CSV, MLflow).",
    )
    p.add_argument("--dataset", choices=DATASETS, required=True)
    p.add_argument("--src", type=Path, required=True, help="dataset folder or feature store")
    p.add_argument("--models", default="all", help="all, or comma-separated kinds")
    p.add_argument(
        "--seeds", type=int, default=3, help="number of seeded splits (seed, seed+1, ...)"
    )
    p.add_argument("--seed", type=int, default=None, help="first seed (default: settings.seed)")
    p.add_argument("--k", default="10,20", help="cut-offs, comma-separated")
    p.add_argument("--protocol", choices=("users", "last"), default="users")
    p.add_argument("--split", choices=("temporal", "next-basket"), default="temporal",
                   help="features dataset only")  # fmt: skip
    p.add_argument("--holdout-days", type=float, default=14.0, help="temporal split window")
    p.add_argument("--param", action="append", default=[], metavar="KIND.KEY=VALUE")
    p.add_argument("--write-recs", type=Path, default=None, metavar="DIR")
    p.add_argument("--out", type=Path, default=None, help="default WORK_DIR/leaderboard")
    p.add_argument("--no-mlflow", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli evaluate --dataset tafeng --src DIR --models all --seeds 3 --k 10,20``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings()
    command = "linli evaluate " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        kinds = resolve_models(args.models)
        params = parse_params(args.param)
    except ValueError as exc:
        print(f"linli evaluate: error: {exc}", file=sys.stderr)
        return 2
    if not kinds:
        print("linli evaluate: error: no models registered", file=sys.stderr)
        return 2
    ks = sorted(set(_ints(args.k)))
    first = settings.seed if args.seed is None else args.seed
    seeds = list(range(first, first + args.seeds))
    info: dict[str, Any] = {"dataset": args.dataset, "src": str(args.src), "seeds": len(seeds)}
    if args.dataset == "features" and args.split == "temporal":
        fold = features_fold(args.src, settings, args.holdout_days)
        folds: Any = [
            Fold(s, fold.train, fold.eval_users, fold.truth, fold.history, fold.segments, fold.info)
            for s in seeds
        ]
        info |= {
            "protocol": f"temporal, last {args.holdout_days:g} days",
            "users": fold.train.shape[0],
            "items": fold.train.shape[1],
            "lines": int(fold.train.weights.nnz),
        }
    else:
        try:
            lines = load_baskets(args.dataset, args.src)
        except FileNotFoundError as exc:
            print(f"linli evaluate: error: cannot read {exc.filename or exc}", file=sys.stderr)
            return 2
        from training import tracking

        folds = basket_folds(lines, seeds, settings, args.protocol)
        info |= {
            "protocol": "72/8/20 users, future baskets of test users"
            if args.protocol == "users"
            else "last basket of every user",
            "users": int(lines[Col.USER_ID].nunique()),
            "items": int(lines[Col.ITEM_ID].nunique()),
            "lines": len(lines),
            "data_digest": tracking.frame_digest(lines),
        }
    board = run_leaderboard(
        args.dataset, folds, kinds, ks, args.write_recs, params, not args.no_progress, info
    )
    if not len(board.table):
        print("linli evaluate: error: every model failed", file=sys.stderr)
        for k, v in board.errors.items():
            print(f"  {k}: {v}", file=sys.stderr)
        return 1
    out = args.out or settings.work_dir / "leaderboard"
    paths = write_outputs(board, out, command)
    print_table(board)
    for name, pth in paths.items():
        print(f"{name}: {pth}")
    if args.write_recs is not None:
        print(f"recommendations: {args.write_recs}/<model>.json (seed {seeds[0]})")
    if not args.no_mlflow:
        run_id = log_to_mlflow(board, paths, settings)
        print(f"mlflow: parent run {run_id} at {settings.mlflow_uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
