"""Champion vs challenger on the same holdout: per-user metrics, paired bootstrap CIs, per segment.

A *variant* is a registered version (``alias:champion``, ``version:3``) or a model config
(``model:KIND`` plus params). Both are scored on one holdout fold of the feature store:

- a config is fit on the fold's training part (``fit``);
- a registered version is scored as it is (``frozen``) when the data it was trained on
  ended before the holdout cut: it never saw the holdout, so the comparison is "the
  model that serves now" against the challenger. Otherwise (a next-basket fold, or a
  version trained on the holdout period) its config is refit on the fold (``refit``),
  so that neither side has seen the truth. A frozen model scores the users it knows; the
  others get the fold's popular items, as the server's fallback gives them.

Per user: recall, NDCG, MAP, precision and hit rate at k = 5, 10, 20
(:mod:`training.evaluation.metrics`). For each metric the difference of the means
(challenger - champion) gets a paired bootstrap confidence interval and a two-sided
bootstrap p-value (users resampled with replacement, one draw shared by both variants
and every metric), overall and per segment. Writing, plotting and MLflow logging of a
comparison are the ``linli ab`` job's (:mod:`experiments.ab`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from features import store_layout as store
from features.matrix import IdMap
from features.progress import Steps
from features.schema import Col
from training.evaluation import metrics as M
from training.evaluation.folds import Fold, Holdout, holdout_fold, load_matrix
from training.evaluation.leaderboard import evaluate_model
from training.settings import Settings

log = logging.getLogger("linli.ab")

KS: tuple[int, ...] = (5, 10, 20)
DEFAULT_METRICS: tuple[str, ...] = (
    "ndcg_at_10",
    "recall_at_10",
    "map_at_10",
    "hit_rate_at_10",
    "precision_at_10",
)
ALL = "all"
CHAMPION, CHALLENGER = "champion", "challenger"
Mode = Literal["auto", "frozen", "refit"]
TABLE_COLUMNS = [
    "segment",
    "metric",
    "n_users",
    CHAMPION,
    CHALLENGER,
    "diff",
    "rel_diff",
    "ci_low",
    "ci_high",
    "p_value",
]


# -- variants ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class VariantSpec:
    """What to compare: a registered version (alias / number) or a model config."""

    name: str
    kind: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, name: str, text: str, params: dict[str, Any] | None = None) -> VariantSpec:
        """``alias:champion``, ``version:3``, ``model:als`` or a bare model kind."""
        head, sep, value = text.partition(":")
        if sep and not value:
            raise ValueError(f"{name}: empty value in {text!r}")
        if sep and head == "alias":
            return cls(name, alias=value, params=dict(params or {}))
        if sep and head == "version":
            return cls(name, version=value, params=dict(params or {}))
        if sep and head not in ("model", "kind"):
            raise ValueError(f"{name}: expected alias:A, version:N or model:KIND, got {text!r}")
        return cls(name, kind=value if sep else text, params=dict(params or {}))

    @property
    def registered(self) -> bool:
        """Whether the variant is a registered version."""
        return self.alias is not None or self.version is not None

    @property
    def label(self) -> str:
        """``alias:champion`` / ``version:3`` / ``model:als``."""
        if self.alias is not None:
            return f"alias:{self.alias}"
        if self.version is not None:
            return f"version:{self.version}"
        return f"model:{self.kind}"


@dataclass
class VariantResult:
    """One variant scored on the fold."""

    name: str
    kind: str
    mode: str  # fit | frozen | refit
    per_user: pd.DataFrame
    metrics: dict[str, float]
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ABResult:
    """Both variants, the comparison table and what it was computed on."""

    champion: VariantResult
    challenger: VariantResult
    table: pd.DataFrame  # TABLE_COLUMNS
    segments: pd.Series  # segment per evaluated user (row position)
    fold_info: dict[str, Any]
    config: dict[str, Any]
    seconds: float = 0.0

    def row(self, metric: str, segment: str = ALL) -> pd.Series:
        """The table row of one metric and segment."""
        t = self.table
        hit = t[(t["metric"] == metric) & (t["segment"] == segment)]
        if hit.empty:
            raise KeyError(f"no row for metric {metric!r} segment {segment!r}")
        return hit.iloc[0]


# -- the statistics (pure) -----------------------------------------------------------------------
def _resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot x n`` counts: how often each unit is drawn in each bootstrap resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def bootstrap_diffs(
    a: np.ndarray, b: np.ndarray, n_boot: int, rng: np.random.Generator, chunk: int = 200
) -> np.ndarray:
    """Bootstrap replicates (``n_boot x m``) of mean(b - a) over paired rows (NaN pairs skipped)."""
    a = np.atleast_2d(np.asarray(a, np.float64).T).T
    b = np.atleast_2d(np.asarray(b, np.float64).T).T
    d = b - a
    valid = np.isfinite(d)
    d0 = np.where(valid, d, 0.0)
    out = np.empty((n_boot, d.shape[1]))
    for lo in range(0, n_boot, chunk):
        w = _resample_counts(len(d), min(chunk, n_boot - lo), rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo : lo + len(w)] = (w @ d0) / (w @ valid)
    return out


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, float]:
    """Mean of a, of b, their difference (b - a) with a percentile CI and a two-sided p-value."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2:
        nan = float("nan")
        return {
            "n": float(len(a)),
            "a": nan,
            "b": nan,
            "diff": nan,
            "ci_low": nan,
            "ci_high": nan,
            "p_value": nan,
        }
    reps = bootstrap_diffs(a, b, n_boot, np.random.default_rng(seed))[:, 0]
    return {
        "n": float(len(a)),
        "a": float(a.mean()),
        "b": float(b.mean()),
        **_summary(float((b - a).mean()), reps, alpha),
    }


def _summary(diff: float, reps: np.ndarray, alpha: float) -> dict[str, float]:
    """Point difference, percentile CI and two-sided bootstrap p-value from replicates."""
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return {
            "diff": diff,
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "p_value": float("nan"),
        }
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    below, above = float(np.mean(reps <= 0)), float(np.mean(reps >= 0))
    p = min(1.0, 2 * min(below, above))
    return {"diff": diff, "ci_low": float(lo), "ci_high": float(hi), "p_value": p}


def compare_users(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    metrics: Sequence[str] = DEFAULT_METRICS,
    segments: pd.Series | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    min_users: int = 20,
) -> pd.DataFrame:
    """Per metric and segment: both means, the difference, its paired bootstrap CI and p-value.

    ``champion`` / ``challenger`` are per-user metric frames with the same rows (users);
    ``segments`` labels each row (by position). Segments with fewer than ``min_users``
    users are reported without a CI.
    """
    if len(champion) != len(challenger):
        raise ValueError(f"variants scored {len(champion)} vs {len(challenger)} users")
    metrics = [m for m in metrics if m in champion.columns and m in challenger.columns]
    a = champion[metrics].to_numpy(np.float64)
    b = challenger[metrics].to_numpy(np.float64)
    groups: list[tuple[str, np.ndarray]] = [(ALL, np.arange(len(a)))]
    if segments is not None:
        seg = pd.Series(np.asarray(segments, dtype=object)).fillna("(none)").astype(str)
        for name, idx in seg.groupby(seg, sort=True).groups.items():
            groups.append((str(name), np.asarray(idx, dtype=np.int64)))
    rng = np.random.default_rng(seed)
    out = []
    for name, rows in groups:
        sa, sb = a[rows], b[rows]
        both = np.isfinite(sa) & np.isfinite(sb)
        reps = bootstrap_diffs(sa, sb, n_boot, rng) if len(rows) >= min_users else None
        for j, metric in enumerate(metrics):
            ok = both[:, j]
            ma, mb = (
                float(np.mean(sa[ok, j])) if ok.any() else np.nan,
                float(np.mean(sb[ok, j])) if ok.any() else np.nan,
            )
            diff = mb - ma
            stats = (
                _summary(diff, reps[:, j], alpha)
                if reps is not None
                else {"diff": diff, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
            )
            out.append(
                {
                    "segment": name,
                    "metric": metric,
                    "n_users": int(ok.sum()),
                    CHAMPION: ma,
                    CHALLENGER: mb,
                    "rel_diff": diff / ma if ma else np.nan,
                    **stats,
                }
            )
    return pd.DataFrame(out, columns=TABLE_COLUMNS)


# -- scoring the variants --------------------------------------------------------------------------
def popular_items(fold: Fold, k: int) -> np.ndarray:
    """The fold's k most purchased items (the server's global fallback)."""
    pop = np.asarray(fold.train.purchases.sum(axis=0)).ravel()
    order = np.argsort(-pop, kind="stable")[:k]
    return np.pad(order, (0, max(0, k - len(order))), constant_values=-1).astype(np.int64)


def frozen_recommendations(
    model: Any, users: IdMap | None, items: IdMap | None, fold: Fold, k: int, batch: int = 1024
) -> tuple[np.ndarray, dict[str, Any]]:
    """Top-k of a fitted model for the fold's users, in the fold's item index (fallback: popular)."""
    ids = fold.eval_ids
    if users is None:
        if model.n_users != len(fold.train.users):
            raise ValueError("a frozen model without its user ids must share the fold's users")
        rows = np.asarray(fold.eval_users, np.int64)
    else:
        rows = users.index(ids)
    if items is None:
        if model.n_items != len(fold.train.items):
            raise ValueError("a frozen model without its item ids must share the fold's items")
        to_fold = np.arange(model.n_items, dtype=np.int64)
    else:
        to_fold = fold.train.items.index(items.ids)
    recs = np.tile(popular_items(fold, k), (len(ids), 1))
    known = np.flatnonzero(rows >= 0)
    usable = to_fold >= 0
    for lo in range(0, len(known), batch):
        pos = known[lo : lo + batch]
        s = np.asarray(model.score(rows[pos]), np.float32)
        s[:, ~usable] = -np.inf
        kk = min(k, s.shape[1])
        top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        finite = np.isfinite(np.take_along_axis(s, top, axis=1))
        mapped = np.where(finite, to_fold[top], -1)
        recs[pos] = np.pad(mapped, ((0, 0), (0, k - kk)), constant_values=-1)
    info = {"known_users": int(len(known)), "fallback_users": int(len(ids) - len(known))}
    return recs, info


def score_recs(
    recs: np.ndarray, fold: Fold, ks: Sequence[int] = KS
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-user metrics and their means (plus coverage and novelty) of a fold's recommendations."""
    per_user = M.user_metrics(recs, fold.truth, ks, fold.history)
    means = {str(k): float(v) for k, v in M.summarize(per_user).iloc[0].items() if k != "n_users"}
    means |= M.catalogue_metrics(
        recs, fold.train.shape[1], M.item_popularity(fold.train.purchases), ks
    )
    return per_user, means


def fit_variant(
    name: str,
    kind: str,
    params: dict[str, Any],
    fold: Fold,
    ks: Sequence[int] = KS,
    mode: str = "fit",
) -> VariantResult:
    """Fit a model config on the fold and score it."""
    res = evaluate_model(kind, fold, ks, params, recs_k=max(ks))
    per_user = res.per_user
    metrics = {k: v for k, v in res.metrics.items() if k != "predict_seconds"}
    return VariantResult(name, kind, mode, per_user, metrics, res.config)


def _snapshot(run_id: str | None, settings: Settings) -> pd.Timestamp | None:
    """The snapshot of the data a registered version was trained on (its run's ``data.snapshot``)."""
    if not run_id:
        return None
    from training import tracking

    text = tracking.run_data(run_id, settings)["params"].get("data.snapshot")
    try:
        return pd.Timestamp(text) if text else None
    except ValueError:
        return None


def choose_mode(mode: Mode, snapshot: pd.Timestamp | None, fold_info: dict[str, Any]) -> str:
    """``frozen`` when the model's data ended before the holdout cut (or forced), else ``refit``."""
    if mode != "auto":
        return mode
    cutoff = fold_info.get("cutoff")
    if fold_info.get("split") != "temporal" or not cutoff or snapshot is None:
        return "refit"
    cut = pd.Timestamp(cutoff)
    snap = (
        snapshot
        if snapshot.tzinfo is not None or cut.tzinfo is None
        else snapshot.tz_localize(cut.tzinfo)
    )
    return "frozen" if snap <= cut else "refit"


def score_variant(
    spec: VariantSpec,
    fold: Fold,
    settings: Settings,
    mode: Mode = "auto",
    ks: Sequence[int] = KS,
) -> VariantResult:
    """Load (registered) or build (config) a variant and score it on the fold."""
    if not spec.registered:
        if not spec.kind:
            raise ValueError(f"{spec.name}: no model kind")
        return fit_variant(spec.name, spec.kind, spec.params, fold, ks)
    from training import tracking

    loaded = tracking.load_recommender(alias=spec.alias, version=spec.version, settings=settings)
    config = loaded.model.config.model_dump(mode="json")
    kind = str(config.pop("kind"))
    snapshot = _snapshot(loaded.run_id, settings)
    chosen = choose_mode(mode, snapshot, fold.info)
    info = {
        "registered_model": settings.tracking.registered_model,
        "version": loaded.version,
        "alias": spec.alias or "",
        "run_id": loaded.run_id or "",
        "data_snapshot": str(snapshot) if snapshot is not None else "",
    }
    if chosen == "refit":
        res = fit_variant(spec.name, kind, {**config, **spec.params}, fold, ks, mode="refit")
        res.info = info
        return res
    t0 = time.perf_counter()
    recs, extra = frozen_recommendations(loaded.model, loaded.users, loaded.items, fold, max(ks))
    per_user, means = score_recs(recs, fold, ks)
    means["predict_seconds"] = time.perf_counter() - t0
    return VariantResult(
        spec.name, kind, "frozen", per_user, means, {"kind": kind, **config}, {**info, **extra}
    )


# -- segments -----------------------------------------------------------------------------------------
def segment_labels(
    fold: Fold, features_dir: Path | str, source: str = "auto"
) -> tuple[pd.Series, str]:
    """A segment name per evaluated user (row position) and where the names came from."""
    features_dir = Path(features_dir)
    ids = pd.Index(np.asarray(fold.eval_ids, dtype=object).astype(str))
    candidates: list[Path] = []
    if source == "auto":
        candidates = [features_dir.resolve().parent / "matching" / "segments.parquet"]
    elif source not in ("tier", "history"):
        candidates = [Path(source)]
    for path in candidates:
        if path.exists():
            seg = pd.read_parquet(path)
            col = Col.SEGMENT_NAME if Col.SEGMENT_NAME in seg.columns else Col.SEGMENT_ID
            names = pd.Series(seg[col].astype(str).to_numpy(), index=seg[Col.USER_ID].astype(str))
            names = names[~names.index.duplicated()]
            return pd.Series(names.reindex(ids).fillna("(none)").to_numpy()), f"segments:{path}"
        if source not in ("auto",):
            raise FileNotFoundError(f"no segments file {path}")
    tags_path = features_dir / store.TAGS
    if source in ("auto", "tier") and tags_path.exists():
        tags = pd.read_parquet(tags_path, columns=[Col.USER_ID, Col.TAG])
        tiers = tags[tags[Col.TAG].astype(str).str.startswith("tier:")]
        names = pd.Series(
            tiers[Col.TAG].astype(str).to_numpy(), index=tiers[Col.USER_ID].astype(str)
        )
        names = names[~names.index.duplicated()]
        return pd.Series(names.reindex(ids).fillna("(none)").to_numpy()), "value tier"
    if fold.segments is not None:
        return pd.Series(np.asarray(fold.segments, dtype=object)), "history length"
    return pd.Series(np.full(len(ids), ALL, dtype=object)), "none"


# -- the comparison ------------------------------------------------------------------------------------
def run_ab(
    features_dir: Path | str,
    champion: VariantSpec,
    challenger: VariantSpec,
    settings: Settings,
    holdout: Holdout = "temporal",
    holdout_days: float = 14.0,
    mode: Mode = "auto",
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_boot: int = 1000,
    alpha: float = 0.05,
    segments: str = "auto",
    fold: Fold | None = None,
    steps: Steps | None = None,
) -> ABResult:
    """Score both variants on one holdout fold and compare them per user (no MLflow logging).

    ``steps`` (4 steps: holdout, champion, challenger, bootstrap) shows the progress.
    """
    t0 = time.perf_counter()
    steps = steps or Steps("ab", 4, enabled=False)
    with steps.step(f"{holdout} holdout of the feature store"):
        if fold is None:
            data = load_matrix(features_dir)
            fold = holdout_fold(data, features_dir, settings, holdout, holdout_days)
            if fold is None:
                raise ValueError("an A/B needs a holdout (temporal or next-basket)")
    if len(fold.eval_users) < 2:
        raise ValueError(f"the holdout has {len(fold.eval_users)} evaluated users; need more data")
    with steps.step(f"champion {champion.label}: load or fit, score"):
        a = score_variant(champion, fold, settings, mode)
    with steps.step(f"challenger {challenger.label}: load or fit, score"):
        b = score_variant(challenger, fold, settings, mode)
    with steps.step(f"paired bootstrap, {n_boot} resamples"):
        seg, seg_source = segment_labels(fold, features_dir, segments)
        table = compare_users(a.per_user, b.per_user, metrics, seg, n_boot, settings.seed, alpha)
    config = {
        "champion": champion.label,
        "challenger": challenger.label,
        "champion_params": champion.params,
        "challenger_params": challenger.params,
        "mode": mode,
        "metrics": list(metrics),
        "n_boot": n_boot,
        "alpha": alpha,
        "seed": settings.seed,
        "segments": seg_source,
    }
    info = {k: v for k, v in fold.info.items() if not isinstance(v, dict | list)}
    return ABResult(a, b, table, seg, info, config, time.perf_counter() - t0)
