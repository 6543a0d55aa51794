"""Scoring models on folds: one model on one fold, and every model on every fold (the leaderboard).

Already-bought items are NOT excluded from the recommendations (grocery is repeat buying).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.progress import Steps
from training.evaluation import metrics as M
from training.evaluation.folds import Fold

log = logging.getLogger("linli.evaluate")

RECS_K = 20
SEED_FIELDS = ("seed", "random_state", "random_seed")


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
    t_start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    seg_rows: list[pd.DataFrame] = []
    errors: dict[str, str] = {}
    configs: dict[str, dict[str, Any]] = {}
    fold_info: dict[str, Any] = {}
    n_folds = len(folds) if isinstance(folds, Sequence) else None
    with Steps(f"linli evaluate {dataset}", 0, enabled=progress) as steps:
        for n_fold, fold in enumerate(folds):
            fold_info.setdefault("folds", []).append({"seed": fold.seed, **fold.info})
            todo = [k for k in kinds if k not in errors]
            of = f"/{n_folds}" if n_folds else ""
            steps.add(len(todo))
            for kind in todo:
                try:
                    with steps.step(f"{kind} on seed {fold.seed} ({n_fold + 1}{of})"):
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
