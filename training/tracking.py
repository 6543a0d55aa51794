"""The only module that talks to MLflow: runs, params, metrics, data lineage, the model registry.

The tracking URI comes from :attr:`training.settings.Settings.mlflow_uri` (env
``MLFLOW_TRACKING_URI``, else the config, else SQLite ``work_dir/mlflow.db``) and is
set inside :func:`configure`, never at import time. When this module creates the
experiment on a local store (SQLite / file) it puts its artifact root under
``work_dir/mlartifacts``, so runs never write ``./mlruns``; a tracking server keeps its own
artifact store.

A fitted :class:`~training.models.Recommender` is logged as an MLflow *pyfunc* model
(MLflow 3 ``LoggedModel``, ``name="model"``) whose artifacts are the model's own
``save()`` folder plus its user and item id maps, and registered as a new version of
``settings.tracking.registered_model``; :func:`load_recommender` turns a version or an
alias (``champion``, ``challenger``) back into a Recommender.

Metric names are the ones of :mod:`training.evaluation.metrics` (``recall_at_10``,
``ndcg_at_10``, ...) in every run, so the MLflow compare view lines any runs up.

CLI: ``linli alias set --version N --alias champion``, ``linli alias show``,
``linli alias delete --alias challenger``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.cli_parser import LinliParser
from features.matrix import IdMap, Interactions
from features.schema import Col
from training import mlflow_layout as layout
from training.pyfunc_model import (
    ITEMS_ARTIFACT,
    RECOMMENDER_ARTIFACT,
    USERS_ARTIFACT,
    pip_requirements,
    pyfunc_class,
    read_ids,
    signature,
)
from training.pyfunc_model import (
    predict_frame as predict_frame,  # re-exported: callers use tracking.predict_frame
)
from training.settings import Settings, load_settings

if TYPE_CHECKING:
    from training.models.base import Recommender

log = logging.getLogger("linli.tracking")

ARTIFACT_DIR = "mlartifacts"
MODEL_NAME = "model"  # the LoggedModel name inside a run
TAG_RUN_TYPE = "linli.run_type"
TAG_MODEL_KIND = "linli.model_kind"
TAG_STATE_SHA = "linli.state_sha256"  # model version tag: sha256 of the pickled state
ALIASES = ("champion", "challenger")
TAG_ROLE = "linli.role"  # run tag of a registered version: champion / challenger / ""
TAG_ALIASES = "linli.aliases"  # run tag: every alias of the version, champion first
TAG_VERSION = "linli.model_version"  # run tag: the registered version the run produced
_PARAM_MAX = 6000  # MLflow's limit on a param value


# -- set-up ------------------------------------------------------------------------------
def connect(settings: Settings | None = None) -> Settings:
    """Point MLflow (tracking and registry) at the settings' store; the settings in force."""
    import mlflow

    settings = settings or load_settings()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = settings.mlflow_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return settings


def resolve_experiment(settings: Settings, experiment: str | None) -> str:
    """An experiment kind (``training``, ``ab``, ...) -> its full name; a full name as is."""
    if experiment is None:
        return layout.experiment_name(settings.tracking.experiment, layout.DEFAULT_KIND)
    if experiment in layout.EXPERIMENT_KINDS:
        return layout.experiment_name(settings.tracking.experiment, experiment)
    return experiment


def configure(settings: Settings | None = None, experiment: str | None = None) -> str:
    """Point MLflow at the store, create/select the experiment (a kind or a name); its id."""
    import mlflow

    settings = connect(settings)
    uri = settings.mlflow_uri
    name = resolve_experiment(settings, experiment)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = None  # a tracking server decides its own artifact store
        if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
            root = (settings.work_dir / ARTIFACT_DIR).resolve()
            root.mkdir(parents=True, exist_ok=True)
            location = root.as_uri()
        exp_id = client.create_experiment(name, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return str(exp_id)


def experiment_ids(
    settings: Settings | None = None, kinds: tuple[str, ...] | None = None
) -> list[str]:
    """Ids of the existing Linli experiments of these kinds (all kinds, plus a pre-split
    single experiment named like the base, when ``kinds`` is None)."""
    import mlflow

    settings = connect(settings)
    base = settings.tracking.experiment
    names = [layout.experiment_name(base, k) for k in (kinds or layout.EXPERIMENT_KINDS)]
    if kinds is None:
        names.append(base)
    client = mlflow.MlflowClient()
    found = (client.get_experiment_by_name(n) for n in names)
    return [e.experiment_id for e in found if e is not None]


@contextmanager
def run(
    name: str,
    settings: Settings | None = None,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
    experiment: str | None = None,
) -> Iterator[str]:
    """An MLflow run (nested under the active one when ``nested``); yields the run id.

    A top-level run goes to ``experiment`` (a kind or a name), by default to the experiment
    of its ``linli.run_type`` tag (:mod:`training.mlflow_layout`); a nested run stays in its
    parent's experiment.
    """
    import mlflow

    tags = dict(tags or {})
    if not nested or mlflow.active_run() is None:
        configure(settings, experiment or layout.experiment_kind(tags.get(TAG_RUN_TYPE)))
    with mlflow.start_run(run_name=name, nested=nested, tags=tags) as r:
        yield r.info.run_id


def active_run_id() -> str | None:
    """The id of the active run, if any."""
    import mlflow

    r = mlflow.active_run()
    return r.info.run_id if r else None


# -- params, metrics, artifacts ----------------------------------------------------------
def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings -> ``a.b`` keys with string values short enough for MLflow."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else repr(value) if value is None else str(value)
            out[name] = text[:_PARAM_MAX]
    return out


def log_params(params: Mapping[str, Any], prefix: str = "") -> None:
    """Log (flattened) params to the active run."""
    import mlflow

    flat = flatten(params, prefix)
    if flat:
        mlflow.log_params(flat)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log finite numeric metrics to the active run (NaN / inf are skipped)."""
    import mlflow

    clean = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float | np.floating | np.integer) and math.isfinite(float(v))
    }
    if clean:
        mlflow.log_metrics(clean, step=step)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    import mlflow

    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_artifact(path: Path | str, artifact_path: str | None = None) -> None:
    """Copy a file or folder into the active run's artifacts."""
    import mlflow

    path = Path(path)
    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path)
    else:
        mlflow.log_artifact(str(path), artifact_path)


# -- data lineage ------------------------------------------------------------------------
def matrix_digest(data: Interactions) -> str:
    """sha256 (first 16 hex) of the id maps and the weight and purchase matrices' contents."""
    h = hashlib.sha256()
    for ids in (data.users.ids, data.items.ids):
        h.update("\x1f".join(map(str, ids)).encode("utf-8"))
        h.update(b"\x1e")
    for m in (data.weights, data.purchases):
        m = m.tocsr()
        h.update(np.asarray(m.shape, np.int64).tobytes())
        for arr in (m.indptr, m.indices, m.data):
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def frame_digest(df: pd.DataFrame) -> str:
    """sha256 (first 16 hex) of a DataFrame's content (row order included)."""
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode("utf-8"))
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def data_info(data: Interactions, path: Path | str | None = None) -> dict[str, Any]:
    """What a model saw: source path, content digest, users, items, non-zeros, snapshot."""
    return {
        "path": str(Path(path).resolve()) if path is not None else "",
        "digest": matrix_digest(data),
        "users": data.shape[0],
        "items": data.shape[1],
        "nnz": int(data.weights.nnz),
        "purchase_lines": int(data.purchases.sum()),
        "snapshot": str(data.snapshot),
    }


def log_data(info: Mapping[str, Any], context: str = "training", name: str | None = None) -> None:
    """Log a dataset description as params ``data.*`` and as an MLflow dataset input."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    log_params(info, prefix=f"data.{context}." if context != "training" else "data.")
    path = str(info.get("path") or "")
    if not path:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = resolve_dataset_source(path)
        ds = MetaDataset(  # type: ignore[abstract]
            source=source, name=name or Path(path).name, digest=str(info["digest"])
        )
        mlflow.log_input(ds, context=context)
    except Exception as exc:  # lineage is best effort; the params above carry it too
        log.warning("could not log dataset input %s: %s", path, exc)


# -- models ------------------------------------------------------------------------------
@dataclass
class LoggedRecommender:
    """Where a logged model went: its model URI and, when registered, name and version."""

    model_uri: str
    run_id: str | None
    registered_model: str | None = None
    version: str | None = None
    aliases: list[str] = field(default_factory=list)


def log_recommender(
    model: Recommender,
    data: Interactions | None = None,
    settings: Settings | None = None,
    register: bool = True,
    registered_model: str | None = None,
) -> LoggedRecommender:
    """Log a fitted model (its save() folder + id maps) as a pyfunc model; register a version."""
    import mlflow.pyfunc

    settings = settings or load_settings()
    name = registered_model or settings.tracking.registered_model
    with tempfile.TemporaryDirectory(prefix="linli-model-") as tmp:
        folder = Path(tmp) / RECOMMENDER_ARTIFACT
        model.save(folder)
        state_sha = model.state_digest(folder)
        artifacts = {RECOMMENDER_ARTIFACT: str(folder)}
        if data is not None:
            users_path, items_path = Path(tmp) / "users.parquet", Path(tmp) / "items.parquet"
            data.users.to_frame(Col.USER_ID).to_parquet(users_path, index=False)
            data.items.to_frame(Col.ITEM_ID).to_parquet(items_path, index=False)
            artifacts |= {USERS_ARTIFACT: str(users_path), ITEMS_ARTIFACT: str(items_path)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME,
                python_model=pyfunc_class()(),
                artifacts=artifacts,
                registered_model_name=name if register else None,
                pip_requirements=pip_requirements(),
                signature=signature(),
                tags={TAG_MODEL_KIND: str(model.config.kind)},
            )
    version = info.registered_model_version
    if register and version is not None:  # the registry vouches for the artifact's bytes
        _client(settings).set_model_version_tag(name, str(version), TAG_STATE_SHA, state_sha)
    return LoggedRecommender(
        model_uri=info.model_uri,
        run_id=active_run_id(),
        registered_model=name if register else None,
        version=str(version) if version is not None else None,
    )


@dataclass
class TrainingRecord:
    """Everything :func:`log_training` wrote."""

    run_id: str
    logged: LoggedRecommender
    data: dict[str, Any]


def log_training(
    model: Recommender,
    data: Interactions,
    data_path: Path | str | None,
    metrics: Mapping[str, float],
    fit_seconds: float,
    settings: Settings | None = None,
    register: bool = True,
    alias: str | None = None,
    extra_params: Mapping[str, Any] | None = None,
    holdout: Mapping[str, Any] | None = None,
) -> TrainingRecord:
    """Inside an active run: config params, data lineage, metrics, time, model (+ version, alias)."""
    settings = settings or load_settings()
    run_id = active_run_id()
    if run_id is None:
        raise RuntimeError("log_training needs an active run (use tracking.run(...))")
    cfg = model.config.model_dump(mode="json")
    set_tags({TAG_RUN_TYPE: "training", TAG_MODEL_KIND: cfg.get("kind", "")})
    log_params(cfg)
    log_params(model.fitted_params(), prefix="fitted.")
    if extra_params:
        log_params(extra_params)
    info = data_info(data, data_path)
    log_data(info, context="training")
    if holdout:
        log_data(dict(holdout), context="holdout")
    log_metrics({**metrics, "fit_seconds": fit_seconds})
    logged = log_recommender(model, data, settings, register=register)
    if alias and logged.version:
        set_alias(alias, logged.version, settings)
        logged.aliases.append(alias)
    elif logged.version:
        label_version(logged.version, settings, note="registered, no alias yet")
    return TrainingRecord(run_id, logged, info)


# -- registry ----------------------------------------------------------------------------
def _client(settings: Settings | None) -> Any:
    import mlflow

    connect(settings)
    return mlflow.MlflowClient()


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def label_version(
    version: str | int, settings: Settings | None = None, name: str | None = None, note: str = ""
) -> str:
    """Name the run that registered ``version`` after it (``blend v3 @champion``), tag its role
    and aliases, and describe the version: the label and holdout metrics, then ``note`` on top
    of the earlier notes (its alias history, newest first); the label."""
    from mlflow.exceptions import MlflowException

    settings = settings or load_settings()
    client = _client(settings)
    name = name or settings.tracking.registered_model
    mv = client.get_model_version(name, str(version))
    aliases = layout.sorted_aliases(mv.aliases or [])
    kind, metrics = "", {}
    if mv.run_id:
        try:
            run_ = client.get_run(mv.run_id)
        except MlflowException:  # the run was deleted: the version keeps its description
            run_ = None
        if run_ is not None:
            kind, metrics = run_.data.tags.get(TAG_MODEL_KIND, ""), run_.data.metrics
            label = layout.version_label(kind, mv.version, aliases)
            client.update_run(mv.run_id, name=label)
            for key, value in (
                (TAG_ROLE, layout.role_of(aliases)),
                (TAG_ALIASES, ",".join(aliases)),
                (TAG_VERSION, str(mv.version)),
            ):
                client.set_tag(mv.run_id, key, value)
    label = layout.version_label(kind, mv.version, aliases)
    scores = ", ".join(
        f"{m.replace('_at_', '@')} {metrics[m]:.4f}"
        for m in ("ndcg_at_10", "recall_at_10")
        if m in metrics
    )
    head = f"{label}" + (f" (holdout {scores})" if scores else "")
    history = [line for line in (mv.description or "").splitlines() if line.startswith("- ")]
    lines = [head, *([f"- {note}"] if note else []), *history]
    client.update_model_version(name, str(mv.version), description="\n".join(lines))
    return label


def set_alias(
    alias: str, version: str | int, settings: Settings | None = None, name: str | None = None
) -> None:
    """Point ``alias`` (e.g. champion / challenger) at a registered version; relabel the
    version that had it and the one that gets it (run names, role tags, descriptions)."""
    settings = settings or load_settings()
    name = name or settings.tracking.registered_model
    before = alias_version(alias, settings, name)
    _client(settings).set_registered_model_alias(name, alias, str(version))
    when = _now()
    if before is not None and before != str(version):
        label_version(before, settings, name, f"was {alias} until {when}; replaced by v{version}")
    since = f"{alias} since {when}" + (
        f"; replaced v{before}" if before not in (None, str(version)) else ""
    )
    label_version(version, settings, name, since)


def delete_alias(alias: str, settings: Settings | None = None, name: str | None = None) -> None:
    """Remove an alias from the registered model (and from its version's labels)."""
    settings = settings or load_settings()
    name = name or settings.tracking.registered_model
    before = alias_version(alias, settings, name)
    _client(settings).delete_registered_model_alias(name, alias)
    if before is not None:
        label_version(before, settings, name, f"was {alias} until {_now()}")


def alias_version(
    alias: str, settings: Settings | None = None, name: str | None = None
) -> str | None:
    """The version an alias points to, or None when it is not set."""
    from mlflow.exceptions import MlflowException

    settings = settings or load_settings()
    try:
        mv = _client(settings).get_model_version_by_alias(
            name or settings.tracking.registered_model, alias
        )
    except MlflowException:
        return None
    return str(mv.version)


def versions(settings: Settings | None = None, name: str | None = None) -> pd.DataFrame:
    """Registered versions: version, aliases, run id, model kind, recall/ndcg at 10, created."""
    settings = settings or load_settings()
    client = _client(settings)
    name = name or settings.tracking.registered_model
    rows: list[dict[str, Any]] = []
    from mlflow.exceptions import MlflowException

    try:
        alias_map: dict[str, str] = dict(client.get_registered_model(name).aliases or {})
    except MlflowException:
        alias_map = {}
    for mv in client.search_model_versions(f"name='{name}'"):
        metrics: dict[str, float] = {}
        run_tags: dict[str, str] = {}
        if mv.run_id:
            data = client.get_run(mv.run_id).data
            metrics, run_tags = data.metrics, data.tags
        rows.append(
            {
                "version": int(mv.version),
                "aliases": ",".join(
                    sorted(a for a, v in alias_map.items() if str(v) == str(mv.version))
                ),
                "kind": run_tags.get(TAG_MODEL_KIND, ""),
                "run_id": mv.run_id,
                "recall_at_10": metrics.get("recall_at_10"),
                "ndcg_at_10": metrics.get("ndcg_at_10"),
                "created": pd.Timestamp(mv.creation_timestamp, unit="ms"),
            }
        )
    cols = ["version", "aliases", "kind", "run_id", "recall_at_10", "ndcg_at_10", "created"]
    return pd.DataFrame(rows, columns=cols).sort_values("version").reset_index(drop=True)


@dataclass
class LoadedModel:
    """A registered model back in memory: the Recommender and its id maps."""

    model: Recommender
    users: IdMap | None
    items: IdMap | None
    version: str
    run_id: str | None


def load_recommender(
    alias: str | None = None,
    version: str | int | None = None,
    settings: Settings | None = None,
    name: str | None = None,
) -> LoadedModel:
    """Load a registered version (by alias or number) back into a Recommender with its id maps."""
    import mlflow.artifacts

    if (alias is None) == (version is None):
        raise ValueError("give exactly one of alias or version")
    settings = settings or load_settings()
    client = _client(settings)
    name = name or settings.tracking.registered_model
    mv = (
        client.get_model_version_by_alias(name, alias)
        if alias is not None
        else client.get_model_version(name, str(version))
    )
    from training.models.base import Recommender

    with tempfile.TemporaryDirectory(prefix="linli-load-") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{mv.version}", dst_path=tmp
            )
        )
        found = list(local.rglob(RECOMMENDER_ARTIFACT))
        rec_dir = next((p for p in found if p.is_dir()), None)
        if rec_dir is None:
            raise FileNotFoundError(
                f"no {RECOMMENDER_ARTIFACT}/ folder in model version {mv.version}"
            )
        expected = (mv.tags or {}).get(TAG_STATE_SHA)
        if expected is None:
            log.warning(
                "model version %s has no recorded state digest: loaded unverified", mv.version
            )
        model = Recommender.load(rec_dir, expect_sha256=expected)
        users = read_ids(next(map(str, local.rglob("users.parquet")), None), Col.USER_ID)
        items = read_ids(next(map(str, local.rglob("items.parquet")), None), Col.ITEM_ID)
    return LoadedModel(model, users, items, str(mv.version), mv.run_id)


# -- run lookups (A/B, retraining, reports) ---------------------------------------------
def run_data(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """A run's ``params``, ``metrics``, ``tags``, ``status`` and ``start_time`` (ms)."""
    r = _client(settings).get_run(run_id)
    return {
        "params": dict(r.data.params),
        "metrics": dict(r.data.metrics),
        "tags": dict(r.data.tags),
        "status": r.info.status,
        "start_time": r.info.start_time,
    }


def search_runs(
    filter_string: str = "",
    settings: Settings | None = None,
    max_results: int = 100,
    kinds: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Runs of the Linli experiments (of ``kinds``; all by default) matching an MLflow
    filter string, newest first."""
    import mlflow

    ids = experiment_ids(settings, kinds)
    if not ids:
        return pd.DataFrame()
    return mlflow.search_runs(  # type: ignore[no-any-return]
        experiment_ids=ids,
        filter_string=filter_string,
        max_results=max_results,
        order_by=["attributes.start_time DESC"],
    )


# -- CLI ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli alias set|show|delete`` on the registered model."""
    p = LinliParser(
        prog="linli alias", description="Model registry aliases (champion / challenger)."
    )
    p.add_argument("--model-name", default=None, help="registered model (default from settings)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set", help="point an alias at a version")
    s.add_argument("--version", required=True, help="registered version number (see `show`)")
    s.add_argument("--alias", required=True, help="e.g. champion or challenger")
    d = sub.add_parser("delete", help="remove an alias")
    d.add_argument("--alias", required=True, help="the alias to remove, e.g. challenger")
    sub.add_parser("show", help="list versions with their aliases and metrics")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    from mlflow.exceptions import MlflowException

    try:
        if args.cmd == "set":
            set_alias(args.alias, args.version, settings, args.model_name)
            print(
                f"{args.model_name or settings.tracking.registered_model}@{args.alias} -> v{args.version}"
            )
        elif args.cmd == "delete":
            if alias_version(args.alias, settings, args.model_name) is None:
                print(f"linli alias: error: no alias {args.alias!r} to delete", file=sys.stderr)
                return 2
            delete_alias(args.alias, settings, args.model_name)
            print(f"deleted alias {args.alias}")
        else:
            table = versions(settings, args.model_name)
            print(table.to_string(index=False) if len(table) else "no registered versions")
    except MlflowException as exc:
        print(f"linli alias: error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
