"""The training job: feature store -> holdout metrics -> fitted model -> MLflow run + registered version.

``linli train --model als --features DIR [--param factors=128 ...] [--alias challenger]``

1. Loads the feature store matrix (``DIR/matrix``, the one serving uses, same id maps).
2. Holds out data for metrics (``--holdout``):
   - ``next-basket`` (default when the matrix carries baskets): each user's last basket
     is removed from the matrix (:func:`features.matrix.hold_out_last_baskets`) and is
     the truth;
   - ``temporal``: the store's events before the last ``--holdout-days`` days are the
     fit data, purchases after the cut the truth (warm users);
   - ``none``: no metrics.
   The model is fit on the rest and scored at k = 5, 10, 20 (``recall_at_10``, ...).
3. Refits the same config on the *whole* matrix (``--no-refit`` registers the holdout
   model instead): the metrics describe the config, the registered model is the one
   that has seen the latest baskets, which is what a next-basket service needs.
4. Logs one MLflow run (config as params, data path + content digest + sizes as params
   and a dataset input, holdout metrics, fit time, the model as a pyfunc LoggedModel),
   registers a new version of ``settings.tracking.registered_model`` and, with
   ``--alias``, points that alias (e.g. ``challenger``) at it.

Aliases afterwards: ``linli alias set --version N --alias champion``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features import store_layout as store
from features.cli_parser import LinliParser, existing_dir, one_line
from features.progress import Steps
from training.evaluation.folds import Fold, Holdout, holdout_fold, load_matrix
from training.evaluation.leaderboard import evaluate_model, seeded_params
from training.settings import Settings, load_settings

log = logging.getLogger("linli.train")

TRAIN_KS: tuple[int, ...] = (5, 10, 20)


@dataclass
class TrainOutcome:
    """What a training job produced."""

    kind: str
    params: dict[str, Any]
    metrics: dict[str, float]
    run_id: str
    version: str | None
    model_uri: str
    fit_seconds: float
    holdout: dict[str, Any]
    fitted: dict[str, Any] = field(default_factory=dict)


def fit_and_score(
    kind: str, params: dict[str, Any], fold: Fold, ks: tuple[int, ...] = TRAIN_KS
) -> dict[str, float]:
    """Fit ``kind`` on the fold and return its metrics (names as in training.evaluation.metrics)."""
    res = evaluate_model(kind, fold, ks, params)
    return res.metrics


def train(
    kind: str,
    features_dir: Path | str,
    params: dict[str, Any] | None = None,
    settings: Settings | None = None,
    alias: str | None = None,
    holdout: Holdout = "auto",
    holdout_days: float = 14.0,
    refit: bool = True,
    register: bool = True,
    run_name: str | None = None,
    nested: bool = False,
    tags: dict[str, str] | None = None,
    progress: bool = False,
) -> TrainOutcome:
    """Holdout metrics, (re)fit, log, register and alias one model; see the module doc."""
    from training import tracking
    from training.models import build_model

    settings = settings or load_settings()
    params = seeded_params(kind, dict(params or {}), settings.seed)
    with Steps(f"linli train {kind}", 4, enabled=progress) as steps:
        with steps.step("load the matrix"):
            data = load_matrix(features_dir)
        with steps.step("holdout: fit and score"):
            fold = holdout_fold(data, features_dir, settings, holdout, holdout_days)
            metrics: dict[str, float] = {}
            holdout_info: dict[str, Any] = {"split": "none"}
            if fold is not None:
                metrics = fit_and_score(kind, params, fold, TRAIN_KS)
                metrics["holdout_fit_seconds"] = metrics.pop("fit_seconds")
                holdout_info = {**fold.info, "digest": tracking.matrix_digest(fold.train)}
                log.info(
                    "holdout (%s, %s users): recall@10 %.4f ndcg@10 %.4f",
                    holdout_info.get("split"),
                    holdout_info.get("eval_users"),
                    metrics.get("recall_at_10", float("nan")),
                    metrics.get("ndcg_at_10", float("nan")),
                )
        fit_data = data if refit or fold is None else fold.train
        model = build_model(kind, **params)
        with steps.step(f"fit on {fit_data.shape[0]:,} users x {fit_data.shape[1]:,} items"):
            t0 = time.perf_counter()
            model.fit(fit_data)
            fit_s = time.perf_counter() - t0
        with (
            steps.step("log to MLflow and register"),
            tracking.run(
                run_name or f"train-{kind}", settings, nested=nested, tags=tags or {}
            ) as run_id,
        ):
            rec = tracking.log_training(
                model,
                fit_data,
                Path(features_dir) / store.MATRIX_DIR,
                metrics,
                fit_s,
                settings,
                register=register,
                alias=alias,
                extra_params={"refit_on_all_data": refit, "holdout": holdout_info.get("split")},
                holdout=holdout_info if fold is not None else None,
            )
    return TrainOutcome(
        kind,
        model.config.model_dump(mode="json"),
        metrics,
        run_id,
        rec.logged.version,
        rec.logged.model_uri,
        fit_s,
        holdout_info,
        model.fitted_params(),
    )


SUMMARY_METRICS = ("ndcg_at_10", "recall_at_10", "hit_rate_at_10", "precision_at_10")


def _shown(value: Any) -> str:
    """A setting as a person reads it: 0.35, itemknn, none, a grid of 21 values."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return f"a grid of {len(value)}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items()) or "defaults"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summary_lines(out: TrainOutcome, alias: str | None = None) -> list[str]:
    """The few lines ``linli train`` prints when done (no raw config dict)."""
    fitted = dict(out.fitted)
    shape = f"{fitted.pop('n_users', '?'):,} users x {fitted.pop('n_items', '?'):,} items"
    settings = ", ".join(f"{k} {_shown(v)}" for k, v in out.params.items() if k != "kind")
    lines = [f"trained {out.kind} on {shape} in {out.fit_seconds:.1f}s", f"  settings: {settings}"]
    if fitted:
        lines.append(
            "  chosen when fitting: " + ", ".join(f"{k} {_shown(v)}" for k, v in fitted.items())
        )
    if out.metrics:
        users = out.holdout.get("eval_users")
        who = f", {users:,} users" if isinstance(users, int) else ""
        shown = "  ".join(
            f"{m.replace('_at_', '@')} {out.metrics[m]:.4f}"
            for m in SUMMARY_METRICS
            if m in out.metrics
        )
        lines.append(f"  holdout ({out.holdout.get('split')}{who}): {shown}")
    else:
        lines.append("  holdout: none (no metrics)")
    where = f"  MLflow run {out.run_id}, model {out.model_uri}"
    if out.version:
        where += f"; registered version {out.version}" + (f", alias {alias}" if alias else "")
    lines.append(where)
    return lines


def parse_value(raw: str) -> Any:
    """A CLI value: JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_kv(items: list[str]) -> dict[str, Any]:
    """``key=value`` strings -> dict (values parsed as JSON when possible)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects key=value, got {item!r}")
        out[key.strip()] = parse_value(raw)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli train --model NAME --features DIR [--param k=v ...] [--alias challenger]``."""
    p = LinliParser(prog="linli train", description=__doc__.split("\n\n")[0])
    from training.models import REGISTRY

    p.add_argument("--model", required=True, choices=list(REGISTRY), help="model kind")
    p.add_argument("--features", type=existing_dir, required=True, help="feature store directory")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting, e.g. factors=128 (repeatable; values parsed as JSON)",
    )
    p.add_argument("--alias", default=None, help="point this alias at the new version")
    p.add_argument(
        "--holdout",
        choices=("auto", "next-basket", "temporal", "none"),
        default="auto",
        help="how metrics are measured (auto: next-basket when the store has baskets)",
    )
    p.add_argument(
        "--holdout-days", type=float, default=14.0, help="window of the temporal holdout"
    )
    p.add_argument("--no-refit", action="store_true", help="register the holdout-fit model")
    p.add_argument("--no-register", action="store_true", help="log the model, do not register")
    p.add_argument("--run-name", default=None, help="MLflow run name (default: train-KIND)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from pydantic import ValidationError

    try:
        params = parse_kv(args.param)
        out = train(
            args.model,
            args.features,
            params,
            load_settings(),
            alias=args.alias,
            holdout=args.holdout,
            holdout_days=args.holdout_days,
            refit=not args.no_refit,
            register=not args.no_register,
            run_name=args.run_name,
            progress=True,
        )
    except (ValueError, ValidationError, FileNotFoundError) as exc:
        print(f"linli train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(out, args.alias)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
