"""The server's moving parts around the pure engine: write queue, live changes, reload.

- :class:`WriteQueue`: ingestion batches wait in a bounded queue (rows, not calls, are
  counted); one writer thread drains it, validates every waiting batch of a table together
  (:func:`serving.ingest.prepare`) and stores them in one committed transaction (group
  commit), then answers each call. A call that would overfill the queue is refused at once
  with :class:`Busy` (503 + Retry-After): nothing is dropped silently, and nothing is
  acknowledged before its commit.
- :class:`Runtime`: the engine in service, swapped by reference on reload (a request runs
  on the engine it started with); before each answer, :meth:`Runtime.sync` replays the
  store's new ``changes`` rows (identity links, leader notes, control records) so an allergy
  ingested through any worker holds on every worker; reload and experiment changes made on
  one worker reach the others the same way.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing as mp
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.event_store import CONTROL, Change, EventStore, StoreError, open_store
from features.schema import EVENTS
from serving import ingest, pointer
from serving.artifacts import load_bundle
from serving.engine import Engine
from serving.settings import ExperimentSettings, Settings

log = logging.getLogger("linli.serving.runtime")


class Busy(Exception):
    """The write queue is full: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Job:
    table: str
    rows: Sequence[Any]
    future: cf.Future[list[ingest.RowAnswer]]
    nbytes: int = 0


def _exit_with_parent(parent: int) -> None:
    """In the validator process: exit as soon as the worker that started it is gone.

    A worker killed with SIGKILL cannot shut its pool down; without this its validator
    (and multiprocessing's resource tracker) would run on as orphans.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="linli-parent-watch", daemon=True).start()


def validator_pool() -> cf.ProcessPoolExecutor:
    """One spawned process for validation, so pandas work never holds the server's GIL."""
    pool = cf.ProcessPoolExecutor(
        max_workers=1,
        mp_context=mp.get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )
    pool.submit(int)  # start it now rather than on the first batch
    return pool


class WriteQueue:
    """Bounded ingestion queue drained by one writer thread with group commit."""

    def __init__(
        self,
        store: EventStore,
        max_pending_rows: int = 20_000,
        max_rows_per_commit: int = 5000,
        retry_after_s: int = 1,
        validator: cf.ProcessPoolExecutor | None = None,
        max_pending_bytes: int = 64 * 1024 * 1024,
        limits: ingest.FieldLimits | None = None,
    ) -> None:
        self.store = store
        self.validator = validator
        self.max_pending_rows = max_pending_rows
        self.max_pending_bytes = max_pending_bytes
        self.max_rows_per_commit = max_rows_per_commit
        self.retry_after_s = retry_after_s
        self.limits = limits or ingest.FieldLimits()
        self._jobs: deque[_Job] = deque()
        self._pending = 0
        self._pending_bytes = 0
        self.retried_alone = 0
        self._closed = False
        self._cv = threading.Condition()
        self.commits = 0
        self.rows_committed = 0
        self._thread = threading.Thread(target=self._run, name="linli-ingest-writer", daemon=True)
        self._thread.start()

    @property
    def pending_rows(self) -> int:
        """Rows accepted into the queue and not yet committed."""
        return self._pending

    @property
    def pending_bytes(self) -> int:
        """Bytes (JSON text) of the batches accepted into the queue and not yet committed."""
        return self._pending_bytes

    def submit(
        self, table: str, rows: Sequence[Any], nbytes: int | None = None
    ) -> cf.Future[list[ingest.RowAnswer]]:
        """Queue one batch; raises :class:`Busy` when it would overfill the queue (rows or bytes)."""
        fut: cf.Future[list[ingest.RowAnswer]] = cf.Future()
        size = ingest.batch_bytes(rows) if nbytes is None else nbytes
        with self._cv:
            if self._closed:
                raise Busy(self.retry_after_s, "ingestion is shutting down")
            if self._pending and (
                self._pending + len(rows) > self.max_pending_rows
                or self._pending_bytes + size > self.max_pending_bytes
            ):
                raise Busy(
                    self.retry_after_s,
                    f"ingestion queue full ({self._pending} rows, {self._pending_bytes} bytes "
                    "waiting for the disk)",
                )
            self._jobs.append(_Job(table, rows, fut, size))
            self._pending += len(rows)
            self._pending_bytes += size
            self._cv.notify()
        return fut

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the queued batches are written."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout)
        if self.validator is not None:
            self.validator.shutdown(wait=False, cancel_futures=True)

    def _prepare(self, batches: list[tuple[str, Sequence[Any]]]) -> dict[str, ingest.Prepared]:
        """Validate in the validator process (a new one if it died), else in this thread."""
        if self.validator is not None:
            try:
                return self.validator.submit(ingest.prepare_tables, batches, self.limits).result()
            except BrokenProcessPool:
                log.error("validator process died; starting a new one")
                self.validator = validator_pool()
        return ingest.prepare_tables(batches, self.limits)

    def _take(self) -> list[_Job]:
        with self._cv:
            while not self._jobs and not self._closed:
                self._cv.wait()
            jobs: list[_Job] = []
            rows = 0
            while self._jobs and (
                not jobs or rows + len(self._jobs[0].rows) <= self.max_rows_per_commit
            ):
                job = self._jobs.popleft()
                jobs.append(job)
                rows += len(job.rows)
            return jobs

    def _run(self) -> None:
        while True:
            jobs = self._take()
            if not jobs:
                return  # closed and drained
            try:
                self._commit(jobs)
            finally:
                with self._cv:
                    self._pending -= sum(len(j.rows) for j in jobs)
                    self._pending_bytes -= sum(j.nbytes for j in jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        """Group commit; if the group fails, each batch is tried alone so a bad one fails alone."""
        try:
            self._commit_group(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                log.warning("ingestion commit failed, the batch answers 503: %s", exc)
                jobs[0].future.set_exception(exc)
                return
            log.warning("group commit of %d batches failed (%s); each alone", len(jobs), exc)
            self.retried_alone += 1
            for j in jobs:
                self._commit([j])

    def _commit_group(self, jobs: list[_Job]) -> None:
        """Validate the jobs of each table together, store all in one transaction, answer each."""
        prepared = self._prepare([(j.table, j.rows) for j in jobs])
        events = [v for _, v in prepared[EVENTS.name].rows] if EVENTS.name in prepared else []
        changes = [c for t, p in prepared.items() if t != EVENTS.name for c in ingest.changes_of(p)]
        ev_new, ch_new = self.store.write(events, changes) if events or changes else ([], [])
        self.commits += 1
        self.rows_committed += len(events) + len(changes)
        answers: dict[str, list[ingest.RowAnswer]] = {}
        offset = 0
        for table, p in prepared.items():
            if table == EVENTS.name:
                answers[table] = ingest.answer(p, ev_new)
            else:
                answers[table] = ingest.answer(p, ch_new[offset : offset + len(p.rows)])
                offset += len(p.rows)
        starts: dict[str, int] = dict.fromkeys(prepared, 0)
        for j in jobs:
            a = answers[j.table][starts[j.table] : starts[j.table] + len(j.rows)]
            starts[j.table] += len(j.rows)
            j.future.set_result(
                [ingest.RowAnswer(i, x.id, x.status, x.reason) for i, x in enumerate(a)]
            )


@dataclass
class _Loaded:
    engine: Engine
    seen: int
    source: str


def experiment_hash(exp: ExperimentSettings) -> str:
    """A short digest of the A/B settings in force (equal on every worker that routes alike)."""
    text = json.dumps(exp.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bundle_digest(engine: Engine) -> str | None:
    """A short digest of the served bundle's manifest (equal on every worker serving it)."""
    if engine.bundle is None:
        return None
    text = json.dumps(engine.bundle.manifest, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def latest_control(changes: Sequence[Change]) -> dict[str, dict[str, Any]]:
    """The newest control record of each op ("reload", "experiment") among `changes`."""
    out: dict[str, dict[str, Any]] = {}
    for c in changes:
        if c.kind == CONTROL and isinstance(c.payload.get("op"), str):
            out[c.payload["op"]] = c.payload
    return out


def _with_bundle(settings: Settings, bundle_dir: str | None) -> Settings:
    if not bundle_dir:
        return settings
    serving = settings.serving.model_copy(update={"bundle_dir": Path(bundle_dir)})
    return settings.model_copy(update={"serving": serving})


class Runtime:
    """Engine in service + event store + write queue + live changes + reload (one per worker).

    Control state survives restarts: at start a worker reads the store's control records and
    serves the bundle of the latest completed reload and routes with the latest experiment
    settings, so an acknowledged ``/admin/reload`` or ``/admin/experiment`` is never reverted
    by a restart, and a respawned worker agrees with the others.
    """

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.worker = uuid.uuid4().hex[:12]
        self.experiment: ExperimentSettings = settings.serving.experiment
        self.store: EventStore | None = None
        self.queue: WriteQueue | None = None
        self._seen = 0
        self._start_seq = 0
        self.reloads = 0
        self._reloading: cf.Future[_Loaded] | None = None
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="linli-reload")
        self._next_open = 0.0
        self._health = (0.0, False)
        self._quiet_until = 0.0
        bundle_dir = Path(settings.serving.bundle_dir or settings.work_dir / "bundle")
        pointer.reconcile(bundle_dir)  # a promotion killed half-way is finished or undone
        control = self._open_store()
        reload_to = (control.get("reload") or {}).get("bundle_dir")
        if engine is None:
            engine = Engine(_with_bundle(settings, reload_to))
            if engine.error and reload_to:
                log.error("cannot load the last reloaded bundle %s: %s", reload_to, engine.error)
                engine = Engine(settings, exposures=engine.exposures)
        self.engine = engine
        if "experiment" in control:
            self.set_experiment(ExperimentSettings(**control["experiment"]["experiment"]))
        else:
            self.engine.set_experiment(self.experiment)
        self.sync()

    def _open_store(self) -> dict[str, dict[str, Any]]:
        """Open the store and its write queue; the latest control records (empty if none)."""
        self._next_open = time.monotonic() + 2.0
        try:
            store = open_store(self.settings.store_url)
            changes = [c for c in store.changes_since(0) if c.kind == CONTROL]
        except StoreError as exc:
            log.error("event store unavailable, ingestion answers 503: %s", exc)
            return {}
        self.store = store
        ing = self.settings.serving.ingest
        self.queue = WriteQueue(
            store,
            ing.max_pending_rows,
            ing.max_rows_per_commit,
            ing.retry_after_s,
            validator_pool() if ing.validator_process else None,
            ing.max_pending_bytes,
            ingest.FieldLimits(ing.max_field_chars, ing.max_text_chars, ing.max_fields),
        )
        self._start_seq = changes[-1].seq if changes else 0  # applied at start, not again
        return latest_control(changes)

    # -- live changes --------------------------------------------------------------------------
    def sync(self) -> Engine:
        """Apply the store's new changes (and a finished background reload); the engine to use."""
        done = self._reloading is not None and self._reloading.done()
        if done:
            self._finish_reload()
        if self.store is None:
            if time.monotonic() >= self._next_open:
                control = self._open_store()  # a store down at start is opened when it is back
                self._apply_control(control)
            if self.store is None:
                return self.engine
        assert self.store is not None
        try:
            if self.store.version() <= self._seen:
                return self.engine
            changes = self.store.changes_since(self._seen)
        except StoreError as exc:  # serving goes on with what it has; retried next request
            now = time.monotonic()
            if now >= self._quiet_until:
                log.error("cannot read live changes (retrying): %s", exc)
                self._quiet_until = now + 10.0
            return self.engine
        links = [c.payload for c in changes if c.kind == "identity_links"]
        tags = [c.payload for c in changes if c.kind == "manual_tags"]
        if links or tags:
            self.engine.add_live(links, tags)
        self._apply_control(
            latest_control(
                [
                    c
                    for c in changes
                    if c.seq > self._start_seq and c.payload.get("origin") != self.worker
                ]
            )
        )
        if changes:
            self._seen = max(self._seen, changes[-1].seq)
        return self.engine

    def _apply_control(self, control: dict[str, dict[str, Any]]) -> None:
        if "experiment" in control:
            self.set_experiment(ExperimentSettings(**control["experiment"]["experiment"]))
        if "reload" in control:
            self._reloading = self._pool.submit(self.load, control["reload"].get("bundle_dir"))

    def _record(self, payload: dict[str, Any]) -> None:
        """Write a control record so the other workers follow (committed before returning)."""
        if self.store is None:
            raise StoreError("event store unavailable: the change cannot reach the other workers")
        self.store.write([], [(CONTROL, uuid.uuid4().hex, {**payload, "origin": self.worker})])

    def healthy(self) -> bool:
        """Whether the event store answers (checked at most once a second); for /readyz."""
        now = time.monotonic()
        if now - self._health[0] < 1.0:
            return self._health[1]
        ok = self.store is not None and self.store.healthy()
        self._health = (now, ok)
        return ok

    # -- experiment ----------------------------------------------------------------------------
    def set_experiment(self, exp: ExperimentSettings) -> None:
        """Route with new A/B settings from now on (this worker)."""
        self.experiment = exp
        self.engine.set_experiment(exp)

    def experiment_with(self, update: dict[str, Any]) -> ExperimentSettings:
        """The experiment settings in force with a partial change applied (validated)."""
        return ExperimentSettings(**{**self.experiment.model_dump(), **update})

    def record_experiment(self, exp: ExperimentSettings) -> None:
        """Tell the other workers to route with `exp` (committed before returning)."""
        self._record({"op": "experiment", "experiment": exp.model_dump()})

    # -- reload --------------------------------------------------------------------------------
    def load(self, bundle_dir: str | None) -> _Loaded:
        """Load a bundle and an engine on it with every live change replayed (in a thread; no swap)."""
        path = Path(bundle_dir) if bundle_dir else self.engine.bundle_dir
        bundle = load_bundle(path)
        engine = Engine(self.settings, bundle, exposures=self.engine.exposures)
        engine.bundle_dir = path
        engine.set_experiment(self.experiment)
        seen = 0
        if self.store is not None:
            changes = self.store.changes_since(0)
            engine.add_live(
                [c.payload for c in changes if c.kind == "identity_links"],
                [c.payload for c in changes if c.kind == "manual_tags"],
            )
            seen = changes[-1].seq if changes else 0
        return _Loaded(engine, seen, str(path))

    def _finish_reload(self) -> None:
        fut, self._reloading = self._reloading, None
        assert fut is not None
        try:
            self.swap(fut.result())
        except Exception as exc:  # a bad bundle leaves the old one serving
            log.error("background reload failed, still serving the old bundle: %s", exc)

    def swap(self, loaded: _Loaded) -> None:
        """Bring the loaded engine up to date with the store, then make it the one in service."""
        engine = loaded.engine
        engine.set_experiment(self.experiment)  # the routing may have changed while it loaded
        if self.store is not None:
            late = self.store.changes_since(loaded.seen)
            engine.add_live(
                [c.payload for c in late if c.kind == "identity_links"],
                [c.payload for c in late if c.kind == "manual_tags"],
            )
        self.engine = engine  # one reference assignment: requests in flight keep the old one
        self.reloads += 1
        log.info("now serving bundle %s", loaded.source)

    def record_reload(self, bundle_dir: str | None) -> None:
        """Tell the other workers (and this one's successors) to load the same bundle.

        The path is recorded as given (a ``bundle -> bundle-vN`` pointer stays a pointer), and
        "the configured folder" is recorded as the folder this worker reads.
        """
        self._record({"op": "reload", "bundle_dir": bundle_dir or str(self.engine.bundle_dir)})

    def digests(self) -> tuple[str | None, str]:
        """(bundle digest, experiment hash) of what this worker serves now."""
        return bundle_digest(self.engine), experiment_hash(self.experiment)

    def status(self) -> dict[str, Any]:
        """Ingestion and live-change figures for /info."""
        ov = self.engine.overlay
        return {
            "worker": self.worker,
            "pid": os.getpid(),
            "store": "ok" if self.healthy() else "unavailable",
            "store_reconnects": getattr(self.store, "reconnects", 0),
            "pending_rows": self.queue.pending_rows if self.queue else 0,
            "pending_bytes": self.queue.pending_bytes if self.queue else 0,
            "group_retries": self.queue.retried_alone if self.queue else 0,
            "commits": self.queue.commits if self.queue else 0,
            "changes_applied_up_to": self._seen,
            "reloads": self.reloads,
            "live_identity_links": ov.links if ov else 0,
            "live_constraint_tags": ov.constraint_tags if ov else 0,
        }

    def close(self) -> None:
        """Drain the write queue and close the store."""
        if self.queue is not None:
            self.queue.close()
        if self.store is not None:
            self.store.close()
        self._pool.shutdown(wait=False)
