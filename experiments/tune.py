"""Hyperparameter search with Optuna: every trial a nested MLflow run, the best config refit and registered.

``linli tune --model als --trials 20 --features DIR [--study-name NAME] [--metric ndcg_at_10]``
``linli tune --model als --trials 20 --dataset tafeng --src DIR``

- Sampler: TPE seeded with ``settings.seed`` (+ the number of trials already in the
  study, so a resumed study does not replay its first points); study stored in SQLite
  ``work_dir/optuna.db``: running again with the same ``--study-name`` resumes it
  (``--trials`` more trials, TPE conditioned on all earlier ones).
- Objective: ``--metric`` on a *validation* fold that never touches the test data:
  with ``--features``, the holdout one step before the training job's (the last
  basket before each user's last one, or the window before the temporal holdout);
  with ``--dataset``, the validation users of the Ta-Feng protocol (fit on every
  history plus train users' futures, predict validation users' futures).
- MLflow: one parent run ``tune-<study>``, one nested run per trial (params + the
  same metric names as every run), then the best config: with ``--features`` it goes
  through the training job (holdout metrics, refit on all data, registered, optional
  ``--alias``); with ``--dataset`` it is scored on the test users and logged (not
  registered: the serving registry holds models of the feature store).

Search spaces live in :data:`SEARCH_SPACES` (model kind -> function(trial) -> params);
params a model's config does not know are dropped with a warning.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.cli_parser import LinliParser, existing_dir, existing_path, one_line
from features.progress import Steps
from training.evaluation.folds import Fold
from training.settings import Settings, load_settings

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("linli.tune")

SIGNALS = ["weights", "purchases", "binary"]
TUNE_KS = (5, 10, 20)


def _als(t: optuna.Trial) -> dict[str, Any]:
    return {
        "factors": t.suggest_int("factors", 16, 256, log=True),
        "regularization": t.suggest_float("regularization", 1e-4, 1.0, log=True),
        "alpha": t.suggest_float("alpha", 1.0, 100.0, log=True),
        "iterations": t.suggest_int("iterations", 5, 30),
        "signal": t.suggest_categorical("signal", SIGNALS),
    }


def _bpr(t: optuna.Trial) -> dict[str, Any]:
    return {
        "factors": t.suggest_int("factors", 16, 256, log=True),
        "learning_rate": t.suggest_float("learning_rate", 1e-3, 0.2, log=True),
        "regularization": t.suggest_float("regularization", 1e-5, 0.1, log=True),
        "iterations": t.suggest_int("iterations", 20, 300, log=True),
        "signal": t.suggest_categorical("signal", SIGNALS),
    }


def _itemknn(t: optuna.Trial) -> dict[str, Any]:
    return {
        "similarity": t.suggest_categorical("similarity", ["cosine", "cooccurrence", "asymmetric"]),
        "neighbours": t.suggest_int("neighbours", 10, 500, log=True),
        "shrink": t.suggest_float("shrink", 0.0, 100.0),
        "asymmetry": t.suggest_float("asymmetry", 0.0, 1.0),
        "signal": t.suggest_categorical("signal", SIGNALS),
    }


def _lightfm(t: optuna.Trial) -> dict[str, Any]:
    return {
        "no_components": t.suggest_int("no_components", 16, 128, log=True),
        "loss": t.suggest_categorical("loss", ["warp", "bpr"]),
        "learning_rate": t.suggest_float("learning_rate", 5e-3, 0.2, log=True),
        "epochs": t.suggest_int("epochs", 5, 40),
        "item_alpha": t.suggest_float("item_alpha", 1e-8, 1e-3, log=True),
        "user_alpha": t.suggest_float("user_alpha", 1e-8, 1e-3, log=True),
        "max_sampled": t.suggest_int("max_sampled", 10, 100, log=True),
    }


def _repeat(t: optuna.Trial) -> dict[str, Any]:
    return {
        "half_life_days": t.suggest_float("half_life_days", 1.0, 365.0, log=True),
        "count_power": t.suggest_float("count_power", 0.0, 2.0),
    }


def _tifuknn(t: optuna.Trial) -> dict[str, Any]:
    return {
        "neighbours": t.suggest_int("neighbours", 20, 1000, log=True),
        "group_size": t.suggest_int("group_size", 2, 12),
        "within_decay": t.suggest_float("within_decay", 0.5, 1.0),
        "group_decay": t.suggest_float("group_decay", 0.5, 1.0),
        "alpha": t.suggest_float("alpha", 0.0, 1.0),
        "metric": t.suggest_categorical("metric", ["euclidean", "cosine"]),
    }


def _popularity(t: optuna.Trial) -> dict[str, Any]:
    return {"signal": t.suggest_categorical("signal", SIGNALS)}


def _group_popularity(t: optuna.Trial) -> dict[str, Any]:
    return {
        "signal": t.suggest_categorical("signal", SIGNALS),
        "global_weight": t.suggest_float("global_weight", 0.0, 0.5),
    }


def _blend(t: optuna.Trial) -> dict[str, Any]:
    return {
        "count_power": t.suggest_float("count_power", 0.0, 2.0),
        "fallback_weight": t.suggest_float("fallback_weight", 0.0, 1.0),
    }


# model kind -> function(trial) -> params of its config
SEARCH_SPACES: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {
    "als": _als,
    "bpr": _bpr,
    "itemknn": _itemknn,
    "lightfm": _lightfm,
    "repeat": _repeat,
    "tifuknn": _tifuknn,
    "popularity": _popularity,
    "group_popularity": _group_popularity,
    "blend": _blend,
}


def known_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params that ``kind``'s config declares (others dropped with a warning)."""
    from training.models import model_class

    fields = model_class(kind).config_class.model_fields
    unknown = sorted(set(params) - set(fields))
    if unknown:
        log.warning("%s config has no %s; dropped from the search", kind, unknown)
    return {k: v for k, v in params.items() if k in fields}


def storage_uri(settings: Settings) -> str:
    """SQLite storage of the Optuna studies under the work dir."""
    path = (settings.work_dir / "optuna.db").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def tuning_folds(
    settings: Settings,
    features: Path | None,
    dataset: str | None,
    src: Path | None,
    holdout_days: float,
) -> tuple[Fold, Fold | None, str]:
    """The validation fold trials are scored on, the test fold (basket data only), the source."""
    from training.evaluation.folds import basket_folds, holdout_fold, load_baskets, load_matrix

    if features is not None:
        data = load_matrix(features)
        val_fold = holdout_fold(data, features, settings, "auto", holdout_days, validation=True)
        if val_fold is None:
            raise ValueError("no validation fold")
        return val_fold, None, str(features)
    assert src is not None and dataset is not None
    lines = load_baskets(dataset, src)
    val_fold = next(basket_folds(lines, [settings.seed], settings, target="val"))
    test_fold = next(basket_folds(lines, [settings.seed], settings, target="test"))
    return val_fold, test_fold, f"{dataset}:{src}"


def trial_objective(
    kind: str, val_fold: Fold, settings: Settings, study: str, metric: str
) -> Callable[[optuna.Trial], float]:
    """One trial: sample a config, score it on the validation fold in a nested MLflow run."""
    from training import tracking
    from training.evaluation.leaderboard import evaluate_model, seeded_params

    def objective(trial: optuna.Trial) -> float:
        params = seeded_params(kind, known_params(kind, SEARCH_SPACES[kind](trial)), settings.seed)
        with tracking.run(
            f"trial-{trial.number}",
            settings,
            nested=True,
            tags={
                tracking.TAG_RUN_TYPE: "tune-trial",
                tracking.TAG_MODEL_KIND: kind,
                "linli.study": study,
            },
        ):
            tracking.log_params({**params, "trial": trial.number})
            res = evaluate_model(kind, val_fold, TUNE_KS, params)
            tracking.log_metrics(res.metrics)
        value = res.metrics.get(metric)
        if value is None:
            raise ValueError(f"metric {metric!r} not computed; have {sorted(res.metrics)}")
        return float(value)

    return objective


def tune(
    kind: str,
    trials: int,
    settings: Settings,
    features: Path | None = None,
    dataset: str | None = None,
    src: Path | None = None,
    study_name: str | None = None,
    metric: str = "ndcg_at_10",
    timeout: float | None = None,
    register: bool | None = None,
    alias: str | None = None,
    holdout_days: float = 14.0,
    steps: Steps | None = None,
) -> dict[str, Any]:
    """Run (or resume) a study, log every trial, refit the best; returns a summary dict.

    ``steps`` shows the progress: the validation fold, one step per trial, the refit."""
    import optuna

    from training import tracking
    from training.evaluation.leaderboard import evaluate_model, seeded_params

    if kind not in SEARCH_SPACES:
        raise ValueError(f"no search space for {kind!r}; have {sorted(SEARCH_SPACES)}")
    if (features is None) == (dataset is None):
        raise ValueError("give --features DIR or --dataset NAME --src DIR")
    steps = steps or Steps("tune", 0, enabled=False)
    steps.add(trials + 2)
    with steps.step("validation fold"):
        val_fold, test_fold, source = tuning_folds(settings, features, dataset, src, holdout_days)
    name = study_name or f"{kind}-{Path(str(features or src)).name}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name, storage=storage_uri(settings), direction="maximize", load_if_exists=True
    )
    done_before = len(study.trials)
    # seeded TPE; a resumed study re-seeds past its trial count so it does not replay old points
    study.sampler = optuna.samplers.TPESampler(seed=settings.seed + done_before)
    t_start = time.perf_counter()

    with tracking.run(f"tune-{name}", settings, tags={tracking.TAG_RUN_TYPE: "tune"}) as parent:
        tracking.log_params(
            {
                "model": kind,
                "study": name,
                "source": source,
                "metric": metric,
                "trials": trials,
                "trials_before": done_before,
                "storage": storage_uri(settings),
                "validation": val_fold.info.get("split", "protocol-val"),
            }
        )
        objective = trial_objective(kind, val_fold, settings, name, metric)
        study.optimize(
            objective,
            n_trials=trials,
            timeout=timeout,
            catch=(Exception,),
            callbacks=[_trial_done(steps, metric)],
        )
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            raise RuntimeError("no trial completed; see the log for the errors")
        best = study.best_trial
        best_params = seeded_params(kind, known_params(kind, dict(best.params)), settings.seed)
        tracking.log_params(best_params, prefix="best.")
        tracking.log_metrics(
            {f"best_{metric}": float(best.value or 0.0), "best_trial": best.number}
        )
        summary: dict[str, Any] = {
            "study": name,
            "best_trial": best.number,
            "best_value": best.value,
            "best_params": best_params,
            "trials_total": len(study.trials),
            "parent_run": parent,
        }
        if features is not None and (register is None or register):
            from training.train import train

            steps.note(f"refit the best config (trial {best.number}), log and register")
            out = train(
                kind,
                features,
                best_params,
                settings,
                alias=alias,
                holdout_days=holdout_days,
                run_name=f"best-{name}",
                nested=True,
                tags={"linli.study": name},
            )
            summary |= {"version": out.version, "test_metrics": out.metrics, "run": out.run_id}
        elif test_fold is not None:
            steps.note(f"score the best config (trial {best.number}) on the test users")
            res = evaluate_model(kind, test_fold, TUNE_KS, best_params)
            tracking.log_metrics({f"test_{k}": v for k, v in res.metrics.items()})
            summary["test_metrics"] = res.metrics
        tracking.log_metrics({"tune_seconds": time.perf_counter() - t_start})
    steps.advance(f"best config (trial {best.number}) logged")
    return summary


def _trial_done(steps: Steps, metric: str) -> Callable[[Any, Any], None]:
    """An Optuna callback: one progress step per finished trial, with its value and the best."""

    def callback(study: Any, trial: Any) -> None:
        took = trial.duration.total_seconds() if trial.duration else None
        if trial.value is None:
            steps.advance(f"trial {trial.number} {trial.state.name.lower()}", took)
            return
        best = max(t.value for t in study.trials if t.value is not None)
        steps.advance(f"trial {trial.number}: {metric} {trial.value:.4f} (best {best:.4f})", took)

    return callback


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli tune --model als --trials N --features DIR``."""
    p = LinliParser(prog="linli tune", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", required=True, choices=sorted(SEARCH_SPACES), help="model kind to tune"
    )
    p.add_argument("--trials", type=int, default=20, help="Optuna trials in this invocation")
    p.add_argument(
        "--features",
        type=existing_dir,
        default=None,
        help="feature store to tune on (or --dataset with --src)",
    )
    p.add_argument(
        "--dataset",
        choices=("tafeng", "instacart", "features"),
        default=None,
        help="tune on a dataset read from --src instead of the feature store",
    )
    p.add_argument(
        "--src", type=existing_path, default=None, help="dataset folder (with --dataset)"
    )
    p.add_argument("--study-name", default=None, help="same name = resume the study")
    p.add_argument("--metric", default="ndcg_at_10", help="validation metric to maximise")
    p.add_argument("--timeout", type=float, default=None, help="seconds for this invocation")
    p.add_argument("--alias", default=None, help="alias for the registered best model")
    p.add_argument(
        "--no-register", action="store_true", help="log the best refit, do not register it"
    )
    p.add_argument(
        "--holdout-days", type=float, default=14.0, help="window of the temporal validation split"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.dataset is not None and args.src is None:
        p.error("--dataset needs --src")
    from training.models import REGISTRY

    if args.model not in REGISTRY:
        print(f"linli tune: model {args.model!r} is not registered", file=sys.stderr)
        return 2
    try:
        with Steps(f"linli tune {args.model}", 0) as steps:
            summary = tune(
                args.model,
                args.trials,
                load_settings(),
                features=args.features,
                dataset=args.dataset,
                src=args.src,
                study_name=args.study_name,
                metric=args.metric,
                timeout=args.timeout,
                register=not args.no_register,
                alias=args.alias,
                holdout_days=args.holdout_days,
                steps=steps,
            )
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"linli tune: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"study {summary['study']}: {summary['trials_total']} trials")
    print(f"best trial {summary['best_trial']}: {args.metric} = {summary['best_value']:.4f}")
    shown = (
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in summary["best_params"].items()
    )
    print("best params " + ", ".join(shown))
    test = summary.get("test_metrics") or {}
    if test:
        print(
            "holdout/test: "
            + ", ".join(f"{k} {test[k]:.4f}" for k in ("recall_at_10", "ndcg_at_10") if k in test)
        )
    if summary.get("version"):
        print(f"registered version {summary['version']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
