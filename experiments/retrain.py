"""The retraining job: new event files -> features -> challenger -> A/B against the champion -> promote or refuse.

``linli retrain --data DIR [--model KIND --param k=v] [--metric ndcg_at_10 --margin 0.002]
[--guard recall_at_10 --guard-tolerance 0.002] [--bundle DIR] [--reload-url URL] [--force]``

The data directory holds every event file so far (new months arrive as new files, e.g.
``events/2026-06.parquet``); rows of the ingestion store are read too when the feature job
reads them (``store.read_by_feature_job``). Steps, each logged in one MLflow parent run
(tag ``linli.run_type=retrain``; per-step seconds as metrics ``step.<name>.seconds``, the
step log as ``retrain/steps.json``):

1. **fingerprint**: sha256 of every data file (and of the ingestion store's rows) plus the
   job's config is the run *key*. A finished retrain with the same key has nothing new to
   do: the job prints that run's decision and stops (``--force`` runs it again).
2. **features**: the feature job into ``WORK/retrain/<data digest>/features``, the identity
   seeded from the serving feature store so user ids stay stable. A complete build with
   the same digest (marker ``_RETRAIN_OK``) is reused, so a re-run after a crash resumes.
3. **evaluate**: the newest holdout (the last ``--holdout-days`` of events): the challenger
   config (default: the champion's own kind and params, i.e. plain retraining on fresh data)
   is fit on the data before the cut; the champion is scored as it serves when it never saw
   the holdout, else refit on the same data (:mod:`experiments.ab`); paired bootstrap CIs
   per metric and segment, logged as a nested A/B run with a child per variant.
4. **decide** (pure, :func:`decide`): promote only if the challenger's ``--metric`` beats the
   champion's by ``--margin`` (absolute; ``--require-significant``: and its CI lies above 0)
   and the ``--guard`` metric loses no more than ``--guard-tolerance``. The reason is a tag
   (``linli.retrain.reason``) and printed.
5. **register** (promotion only): the challenger config refit on the whole new feature store,
   logged and registered (nested training run, holdout metrics attached).
6. **promote** (:mod:`serving.pointer`): the new version's bundle is exported to its own
   folder ``<bundle>-v<N>``; an intent record (old and new target, version) is synced; the
   pointer ``<bundle> -> <bundle>-v<N>`` is replaced in one :func:`os.replace` (the commit
   point); then the alias ``champion`` moves and the intent is cleared. A plain bundle folder
   (from ``linli export``) is first renamed ``<bundle>-v<old>`` and pointed at. Killed at
   any point, :func:`training.promotion.reconcile` (start of every run) and the server's start finish a flipped
   promotion (the alias follows the pointer) or undo an unflipped one. A finished run counts
   as "already done" only when the alias and the bundle name the same version.
7. **reload**: ``POST <reload-url>/admin/reload`` with the admin token (env
   ``LINLI_ADMIN_TOKEN``): the server loads the new bundle in the background and swaps it in
   by reference, so requests in flight finish on the old one and none is dropped. Without a
   reload URL, restart the server (``linli serve``) to serve the new champion.

A failure at any step marks the run FAILED with the step and error (tags
``linli.retrain.failed_step`` / ``.error``); nothing before step 6 touches the registry
aliases or the served bundle, and step 6 moves the alias only after the pointer flipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features import store_layout as store
from features.cli_parser import LinliParser, existing_dir, field_help, one_line
from features.progress import Steps
from serving import pointer
from training import promotion
from training.settings import Settings, load_settings

log = logging.getLogger("linli.retrain")

TAG_KEY = "linli.retrain.key"
TAG_DECISION = "linli.retrain.decision"
TAG_REASON = "linli.retrain.reason"
TAG_STEP = "linli.retrain.step"
TAG_FAILED = "linli.retrain.failed_step"
MARKER = "_RETRAIN_OK"
CURRENT = "current.json"
RETRAIN_DIR = "retrain"


class RetrainConfig(BaseModel):
    """What the job trains and the rule that decides a promotion."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Challenger kind; None = the champion's kind.")
    params: dict[str, Any] = Field(default_factory=dict, description="Challenger config overrides.")
    metric: str = Field("ndcg_at_10", description="The metric the challenger must win on.")
    margin: float = Field(0.002, ge=0, description="Absolute lead needed on `metric`.")
    require_significant: bool = Field(False, description="Also need the CI of the lead above 0.")
    guard: str | None = Field("recall_at_10", description="A metric the challenger may not lose.")
    guard_tolerance: float = Field(0.002, ge=0, description="Largest absolute loss on `guard`.")
    holdout_days: float = Field(14.0, gt=0, description="The newest days held out as truth.")
    n_boot: int = Field(500, ge=50, description="Bootstrap resamples for the CIs.")
    segments: str = Field("auto", description="Segments of the A/B (see experiments.ab).")


@dataclass
class Decision:
    """Promote or not, and why."""

    promote: bool
    reason: str
    metric: str
    diff: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    guard_diff: float = float("nan")


@dataclass
class StepRecord:
    """One step of a run: its status, time and what it produced."""

    name: str
    status: str = "running"
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RetrainOutcome:
    """What the job did."""

    key: str
    run_id: str | None
    decision: str  # promoted | refused | skipped
    reason: str
    champion_before: str | None
    champion_after: str | None
    features: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    ab: dict[str, Any] = field(default_factory=dict)


class RetrainError(RuntimeError):
    """A step failed; the champion is what it was."""

    def __init__(self, step: str, cause: BaseException, champion: str | None) -> None:
        super().__init__(f"retrain failed at step {step!r}: {type(cause).__name__}: {cause}")
        self.step = step
        self.cause = cause
        self.champion = champion


# -- pure parts ------------------------------------------------------------------------------------
def decide(table: pd.DataFrame, cfg: RetrainConfig) -> Decision:
    """The promotion rule on an offline A/B table (rows of segment ``all``)."""
    overall = table[table["segment"] == "all"].set_index("metric")
    if cfg.metric not in overall.index:
        return Decision(
            False, f"refused: metric {cfg.metric} missing from the evaluation", cfg.metric
        )
    r = overall.loc[cfg.metric].to_dict()
    d = Decision(False, "", cfg.metric, float(r["diff"]), float(r["ci_low"]), float(r["ci_high"]))
    lead = f"{cfg.metric} {r['champion']:.4f} -> {r['challenger']:.4f} ({d.diff:+.4f}, 95% CI [{d.ci_low:+.4f}, {d.ci_high:+.4f}])"
    if not d.diff >= cfg.margin:
        d.reason = f"refused: {lead} does not beat the champion by the margin {cfg.margin:g}"
        return d
    if cfg.require_significant and not d.ci_low > 0:
        d.reason = f"refused: {lead} is not significant (the CI reaches 0)"
        return d
    if cfg.guard:
        if cfg.guard not in overall.index:
            d.reason = f"refused: guard metric {cfg.guard} missing from the evaluation"
            return d
        d.guard_diff = float(overall.loc[cfg.guard].to_dict()["diff"])
        if d.guard_diff < -cfg.guard_tolerance:
            d.reason = f"refused: {lead} wins, but the guard {cfg.guard} drops {d.guard_diff:+.4f} (tolerance {cfg.guard_tolerance:g})"
            return d
    d.promote = True
    d.reason = f"promoted: {lead} beats the margin {cfg.margin:g}"
    if cfg.guard:
        d.reason += f"; guard {cfg.guard} {d.guard_diff:+.4f} (tolerance -{cfg.guard_tolerance:g})"
    return d


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_fingerprint(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Every file under the data directory (relative path, size, sha256) and one digest of all."""
    files = sorted(
        p for p in Path(data_dir).rglob("*") if p.is_file() and not p.name.startswith(".")
    )
    if not files:
        raise FileNotFoundError(f"no data files under {data_dir}")
    entries = {
        str(p.relative_to(data_dir)): {"bytes": p.stat().st_size, "sha256": file_digest(p)}
        for p in files
    }
    h = hashlib.sha256(json.dumps([entries, extra or {}], sort_keys=True).encode())
    return {"digest": h.hexdigest()[:16], "files": entries, "extra": extra or {}}


def run_key(data_digest: str, cfg: RetrainConfig) -> str:
    """The idempotency key: the data digest and the job's config."""
    text = json.dumps([data_digest, cfg.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- helpers with I/O --------------------------------------------------------------------------------
def retrain_root(settings: Settings) -> Path:
    """``WORK/retrain``."""
    return settings.work_dir / RETRAIN_DIR


def current_features(settings: Settings) -> Path | None:
    """The feature store the serving bundle was built from (last promotion, else WORK/features)."""
    record = retrain_root(settings) / CURRENT
    if record.exists():
        path = Path(json.loads(record.read_text())["features"])
        if path.exists():
            return path
    default = settings.work_dir / "features"
    return default if (default / store.IDENTITY).exists() else None


@contextlib.contextmanager
def job_lock(settings: Settings) -> Iterator[None]:
    """One retrain at a time per work folder (a second one waits)."""
    root = retrain_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def store_fingerprint(settings: Settings) -> dict[str, str]:
    """Digests of the ingestion store's tables the feature job will read (empty when none)."""
    if not settings.store.read_by_feature_job:
        return {}
    from features.event_store import read_store_tables
    from training.tracking import frame_digest

    return {f"store.{k}": frame_digest(v) for k, v in read_store_tables(settings.store_url).items()}


def build_features(data_dir: Path, out: Path, digest: str, settings: Settings) -> dict[str, Any]:
    """The feature job into ``out`` (reused when a complete build of the same data is there)."""
    from features.build import run as build

    marker = out / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("digest") == digest:
        return {"reused": True, "path": str(out)}
    if out.exists():
        shutil.rmtree(out)  # a half-built store of a crashed run
    prev = current_features(settings)
    previous = prev / store.IDENTITY if prev is not None else None
    summary = build(data_dir, out, settings, previous=previous, progress=False)
    marker.write_text(
        json.dumps({"digest": digest, "built_at": pd.Timestamp.now(tz="UTC").isoformat()})
    )
    return {
        "reused": False,
        "path": str(out),
        "previous_identity": str(previous or ""),
        "users": summary.get("matrix", {}).get("users"),
        "items": summary.get("matrix", {}).get("items"),
        "events_kept": summary.get("tables", {}).get("events", {}).get("kept"),
    }


def previous_run(key: str, settings: Settings) -> dict[str, Any] | None:
    """The newest finished retrain run with this key (its decision and reason), if any."""
    from training import tracking

    runs = tracking.search_runs(
        f"tags.`{TAG_KEY}` = '{key}' and attributes.status = 'FINISHED'", settings, 5
    )
    col = f"tags.{TAG_DECISION}"
    if not len(runs) or col not in runs.columns:
        return None
    runs = runs[runs[col].notna()]
    if not len(runs):
        return None
    r = runs.iloc[0]
    return {"run_id": r["run_id"], "decision": r[col], "reason": r.get(f"tags.{TAG_REASON}", "")}


def reload_server(
    url: str, bundle: Path, settings: Settings, timeout: float = 60.0
) -> dict[str, Any]:
    """``POST <url>/admin/reload`` with the admin token; the server's answer."""
    import httpx

    token = os.environ.get(settings.serving.auth.admin_token_env, "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(
        f"{url.rstrip('/')}/admin/reload",
        json={"bundle_dir": str(bundle.absolute())},  # the pointer, not its target
        headers=headers,
        timeout=timeout,
    )
    if r.status_code != 200:
        raise RuntimeError(f"reload answered {r.status_code}: {r.text[:300]}")
    return r.json()  # type: ignore[no-any-return]


def bundle_versions(bundle: Path) -> dict[str, str]:
    """Alias -> model version of a bundle folder's manifest (empty when there is none)."""
    manifest = bundle / "manifest.json"
    if not manifest.exists():
        return {}
    variants = json.loads(manifest.read_text()).get("variants", {})
    return {a: str(v.get("version")) for a, v in variants.items()}


class _Steps:
    """Runs named steps, times them and logs each to the active MLflow run."""

    def __init__(self, progress: bool = False) -> None:
        self.records: list[StepRecord] = []
        # features, evaluate, decide; register, promote (and reload) are added on promotion
        self.progress = Steps("linli retrain", 3, enabled=progress)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[StepRecord]:
        from training import tracking

        rec = StepRecord(name)
        self.records.append(rec)
        tracking.set_tags({TAG_STEP: name})
        t0 = time.perf_counter()
        log.debug("step %s ...", name)
        try:
            with self.progress.step(name):
                yield rec
            rec.status = "ok"
        except BaseException as exc:
            rec.status = "failed"
            rec.detail["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            rec.seconds = round(time.perf_counter() - t0, 3)
            tracking.log_metrics({f"step.{name}.seconds": rec.seconds})
            (log.debug if rec.status == "ok" else log.info)(
                "step %s %s in %.1fs", name, rec.status, rec.seconds
            )


# -- the job ---------------------------------------------------------------------------------------------
@dataclass
class _Job:
    """What one run carries from step to step."""

    data_dir: Path
    settings: Settings
    cfg: RetrainConfig
    bundle_dir: Path
    export: bool
    reload_url: str | None
    fp: dict[str, Any]
    out: RetrainOutcome
    steps: _Steps
    features: Path = Path()
    kind: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    ab: dict[str, Any] | None = None
    version: str | None = None


def retrain(
    data_dir: Path | str,
    settings: Settings | None = None,
    cfg: RetrainConfig | None = None,
    bundle: Path | str | None = None,
    export: bool = True,
    reload_url: str | None = None,
    force: bool = False,
    progress: bool = False,
) -> RetrainOutcome:
    """Run the retraining steps (see the module doc); raises :class:`RetrainError` on failure.

    ``progress`` shows each step (a bar on a terminal, plain lines otherwise)."""
    from training import tracking

    settings = settings or load_settings()
    cfg = cfg or RetrainConfig()
    data_dir = Path(data_dir)
    bundle_dir = Path(bundle or settings.serving.bundle_dir or settings.work_dir / "bundle")
    with job_lock(settings):
        recovered = promotion.reconcile(bundle_dir, settings)
        if recovered not in (pointer.CLEAN, pointer.BUSY):
            log.warning("a killed promotion was %s", recovered)
        champion = tracking.alias_version("champion", settings)
        if champion is None and cfg.model is None:
            raise ValueError("no champion yet: name the first model with --model KIND")
        fp = data_fingerprint(data_dir, store_fingerprint(settings))
        key = run_key(fp["digest"], cfg)
        if not force and (done := _already_done(key, champion, bundle_dir, export, settings)):
            return done
        steps = _Steps(progress)
        out = RetrainOutcome(key, None, "refused", "", champion, champion, steps=steps.records)
        job = _Job(data_dir, settings, cfg, bundle_dir, export, reload_url, fp, out, steps)
        tags = {tracking.TAG_RUN_TYPE: "retrain", TAG_KEY: key}
        name = f"retrain {fp['digest'][:8]}: {cfg.model or 'champion config'} vs champion"
        with steps.progress, tracking.run(name, settings, tags=tags) as run_id:
            out.run_id = run_id
            _log_job_params(job)
            _run_steps(job)
        return out


def _already_done(
    key: str, champion: str | None, bundle_dir: Path, export: bool, settings: Settings
) -> RetrainOutcome | None:
    """The finished run with this key, when the alias and the bundle agree on the champion."""
    prior = previous_run(key, settings)
    if prior is None:
        return None
    served = bundle_versions(bundle_dir).get("champion")
    if export and served != champion:
        log.warning(
            "run %s is finished but the bundle serves v%s and the alias names v%s: running again",
            prior["run_id"],
            served,
            champion,
        )
        return None
    reason = f"already done in run {prior['run_id']}: {prior['decision']} ({prior['reason']})"
    return RetrainOutcome(key, prior["run_id"], "skipped", reason, champion, champion)


def _log_job_params(job: _Job) -> None:
    from training import tracking

    tracking.log_params(job.cfg.model_dump(mode="json"), prefix="retrain.")
    tracking.log_params(
        {
            "data_dir": str(job.data_dir.resolve()),
            "data_digest": job.fp["digest"],
            "data_files": len(job.fp["files"]),
            "champion_before": job.out.champion_before or "none",
            "bundle": str(job.bundle_dir),
        },
        prefix="retrain.",
    )


def _run_steps(job: _Job) -> None:
    """features -> evaluate -> decide -> (register -> promote -> reload); failures tagged."""
    from training import tracking

    out = job.out
    current = "features"
    try:
        for current, step in (
            ("features", _step_features),
            ("evaluate", _step_evaluate),
            ("decide", _step_decide),
        ):
            with job.steps(current) as rec:
                step(job, rec)
        if out.reason.startswith("promoted"):
            job.steps.progress.add(2 + int(bool(job.reload_url and job.export)))
            for current, step in (("register", _step_register), ("promote", _step_promote)):
                with job.steps(current) as rec:
                    step(job, rec)
            out.decision, out.champion_after = "promoted", job.version
            if job.reload_url and job.export:
                current = "reload"
                with job.steps("reload") as rec:
                    _step_reload(job, rec)
        tracking.set_tags({TAG_DECISION: out.decision, TAG_STEP: "done"})
    except BaseException as exc:
        tracking.set_tags(
            {TAG_FAILED: current, "linli.retrain.error": f"{type(exc).__name__}: {exc}"[:5000]}
        )
        _write_steps(job.steps.records, out, job.settings)
        raise RetrainError(current, exc, tracking.alias_version("champion", job.settings)) from exc
    _write_steps(job.steps.records, out, job.settings)


def _step_features(job: _Job, rec: StepRecord) -> None:
    job.features = retrain_root(job.settings) / job.fp["digest"] / "features"
    rec.detail = build_features(job.data_dir, job.features, job.fp["digest"], job.settings)
    job.out.features = str(job.features)


def _step_evaluate(job: _Job, rec: StepRecord) -> None:
    job.ab, job.kind, job.params = _evaluate(
        job.features, job.out.champion_before, job.cfg, job.settings
    )
    rec.detail = {
        "kind": job.kind,
        "params": job.params,
        **({"ab_run": job.ab["run_id"]} if job.ab else {}),
    }
    job.out.ab = job.ab or {}


def _step_decide(job: _Job, rec: StepRecord) -> None:
    from training import tracking

    decision = (
        decide(job.ab["table"], job.cfg)
        if job.ab
        else Decision(True, "promoted: no champion yet", job.cfg.metric)
    )
    rec.detail = asdict(decision)
    job.out.reason = decision.reason
    tracking.set_tags({TAG_REASON: decision.reason[:5000]})
    tracking.log_metrics(
        {
            "decision.diff": decision.diff,
            "decision.ci_low": decision.ci_low,
            "decision.ci_high": decision.ci_high,
            "decision.guard_diff": decision.guard_diff,
            "decision.promote": float(decision.promote),
        }
    )


def _step_register(job: _Job, rec: StepRecord) -> None:
    job.version = _register(job.features, job.kind, job.params, job.ab, job.settings)
    rec.detail = {"version": job.version}


def _step_promote(job: _Job, rec: StepRecord) -> None:
    assert job.version is not None
    rec.detail = promotion.promote(
        job.features,
        job.version,
        job.out.champion_before,
        job.bundle_dir,
        job.export,
        job.settings,
    )


def _step_reload(job: _Job, rec: StepRecord) -> None:
    assert job.reload_url is not None
    try:
        ans = reload_server(job.reload_url, job.bundle_dir, job.settings)
        rec.detail = {"status": ans.get("status"), "variants": ans.get("variants")}
    except Exception as exc:  # the pointer is flipped: a restarted server serves the new one
        rec.detail = {
            "status": "failed",
            "error": str(exc),
            "action": "restart the server (linli serve) to serve the new champion",
        }
        log.warning("reload failed (%s): restart the server to serve v%s", exc, job.version)


def _write_steps(records: list[StepRecord], out: RetrainOutcome, settings: Settings) -> None:
    """The step log as ``retrain/steps.json`` of the active run."""
    from training import tracking

    path = retrain_root(settings) / "runs" / f"{out.run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {k: v for k, v in asdict(out).items() if k != "ab"}
    doc["steps"] = [asdict(r) for r in records]
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    tracking.log_artifact(path, "retrain")


def _evaluate(
    features: Path, champion: str | None, cfg: RetrainConfig, settings: Settings
) -> tuple[dict[str, Any] | None, str, dict[str, Any]]:
    """Challenger config and, with a champion, the offline A/B on the newest holdout."""
    from experiments import ab
    from training import tracking

    params = dict(cfg.params)
    kind = cfg.model
    if champion is not None and kind is None:
        loaded = tracking.load_recommender(alias="champion", settings=settings)
        conf = loaded.model.config.model_dump(mode="json")
        kind = str(conf.pop("kind"))
        params = {**conf, **params}
    if kind is None:
        raise ValueError("no champion yet: give the challenger --model")
    if champion is None:
        return None, kind, params
    result = ab.run_ab(
        features,
        ab.VariantSpec("champion", alias="champion"),
        ab.VariantSpec("challenger", kind=kind, params=params),
        settings,
        holdout="temporal",
        holdout_days=cfg.holdout_days,
        metrics=list(
            dict.fromkeys([cfg.metric, *([cfg.guard] if cfg.guard else []), *ab.DEFAULT_METRICS])
        ),
        n_boot=cfg.n_boot,
        segments=cfg.segments,
    )
    out_dir = retrain_root(settings) / "ab" / time.strftime("%Y%m%d-%H%M%S")
    run_id = ab.log_ab(
        result,
        out_dir,
        settings,
        run_name=f"retrain A/B: champion v{champion} vs {kind}",
        nested=True,
    )
    return (
        {
            "run_id": run_id,
            "table": result.table,
            "challenger_metrics": result.challenger.metrics,
            "fold": result.fold_info,
        },
        kind,
        params,
    )


def _register(
    features: Path, kind: str, params: dict[str, Any], ab: dict[str, Any] | None, settings: Settings
) -> str:
    """Refit the challenger config on the whole store; log and register it (alias challenger)."""
    from training import tracking
    from training.models import build_model
    from training.train import load_matrix

    data = load_matrix(features)
    model = build_model(kind, **params)
    t0 = time.perf_counter()
    model.fit(data)
    fit_s = time.perf_counter() - t0
    metrics = {
        k: v
        for k, v in ((ab or {}).get("challenger_metrics") or {}).items()
        if k not in ("fit_seconds", "predict_seconds")
    }
    with tracking.run(
        f"retrain-{kind}", settings, nested=True, tags={"linli.retrain.role": "challenger"}
    ):
        rec = tracking.log_training(
            model,
            data,
            features / store.MATRIX_DIR,
            metrics,
            fit_s,
            settings,
            alias="challenger",
            extra_params={"refit_on_all_data": True, "holdout": "temporal"},
            holdout=(ab or {}).get("fold"),
        )
    if rec.logged.version is None:
        raise RuntimeError("the model was logged but not registered")
    return rec.logged.version


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli retrain --data DIR [...]``."""
    from training.train import parse_kv

    p = LinliParser(prog="linli retrain", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=existing_dir, required=True, help="data directory (all event files so far)"
    )
    from training.models import REGISTRY

    p.add_argument(
        "--model",
        default=None,
        choices=list(REGISTRY),
        help="challenger kind (default: the champion's)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a challenger setting, e.g. factors=128 (repeatable)",
    )
    p.add_argument("--metric", default="ndcg_at_10", help=field_help(RetrainConfig, "metric"))
    p.add_argument("--margin", type=float, help=field_help(RetrainConfig, "margin"))
    p.add_argument(
        "--require-significant",
        action="store_true",
        help="promote only when the CI of the lead is above 0 too",
    )
    p.add_argument(
        "--guard",
        default="recall_at_10",
        help="a metric the challenger may not lose; 'none' for no guard",
    )
    p.add_argument(
        "--guard-tolerance", type=float, help=field_help(RetrainConfig, "guard_tolerance")
    )
    p.add_argument("--holdout-days", type=float, help=field_help(RetrainConfig, "holdout_days"))
    p.add_argument("--n-boot", type=int, help=field_help(RetrainConfig, "n_boot"))
    p.add_argument("--bundle", type=Path, default=None, help="serving bundle (WORK/bundle)")
    p.add_argument("--no-export", action="store_true", help="move the alias only, no bundle")
    p.add_argument(
        "--reload-url", default=None, help="running server to reload, e.g. http://127.0.0.1:3000"
    )
    p.add_argument("--force", action="store_true", help="run even if this data was done")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings()
    try:
        given = {
            k: getattr(args, k)
            for k in ("margin", "guard_tolerance", "holdout_days", "n_boot")
            if getattr(args, k) is not None
        }
        cfg = RetrainConfig(
            model=args.model,
            params=parse_kv(args.param),
            metric=args.metric,
            require_significant=args.require_significant,
            guard=None if args.guard in ("", "none") else args.guard,
            **given,
        )
        out = retrain(
            args.data,
            settings,
            cfg,
            args.bundle,
            not args.no_export,
            args.reload_url,
            args.force,
            progress=True,
        )
    except RetrainError as exc:
        champ = f"v{exc.champion}" if exc.champion else "none yet"
        print(f"linli retrain: {exc}\nthe champion is unchanged: {champ}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f"linli retrain: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"retrain {out.key}: {out.decision}")
    print(f"  {out.reason}")
    print(f"  champion: v{out.champion_before} -> v{out.champion_after}; MLflow run {out.run_id}")
    for s in out.steps:
        print(f"  step {s.name:<9} {s.status:<7} {s.seconds:>7.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
