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
import logging
import multiprocessing as mp
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.event_store import CONTROL, EventStore, StoreError, open_store
from features.schema import EVENTS
from serving import ingest
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


def validator_pool() -> cf.ProcessPoolExecutor:
    """One spawned process for validation, so pandas work never holds the server's GIL."""
    pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
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
    ) -> None:
        self.store = store
        self.validator = validator
        self.max_pending_rows = max_pending_rows
        self.max_rows_per_commit = max_rows_per_commit
        self.retry_after_s = retry_after_s
        self._jobs: deque[_Job] = deque()
        self._pending = 0
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

    def submit(self, table: str, rows: Sequence[Any]) -> cf.Future[list[ingest.RowAnswer]]:
        """Queue one batch; raises :class:`Busy` when it would overfill the queue."""
        fut: cf.Future[list[ingest.RowAnswer]] = cf.Future()
        with self._cv:
            if self._closed:
                raise Busy(self.retry_after_s, "ingestion is shutting down")
            if self._pending and self._pending + len(rows) > self.max_pending_rows:
                raise Busy(
                    self.retry_after_s,
                    f"ingestion queue full ({self._pending} rows waiting for the disk)",
                )
            self._jobs.append(_Job(table, rows, fut))
            self._pending += len(rows)
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
                return self.validator.submit(ingest.prepare_tables, batches).result()
            except BrokenProcessPool:
                log.error("validator process died; starting a new one")
                self.validator = validator_pool()
        return ingest.prepare_tables(batches)

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

    def _commit(self, jobs: list[_Job]) -> None:
        """Validate the jobs of each table together, store all in one transaction, answer each."""
        try:
            prepared = self._prepare([(j.table, j.rows) for j in jobs])
            events = [v for _, v in prepared[EVENTS.name].rows] if EVENTS.name in prepared else []
            changes = [
                c for t, p in prepared.items() if t != EVENTS.name for c in ingest.changes_of(p)
            ]
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
        except Exception as exc:  # nothing of these jobs is acknowledged
            log.exception("ingestion commit failed")
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)


@dataclass
class _Loaded:
    engine: Engine
    seen: int
    source: str


class Runtime:
    """Engine in service + event store + write queue + live changes + reload (one per worker)."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.worker = uuid.uuid4().hex[:12]
        self.engine = engine if engine is not None else Engine(settings)
        self.experiment: ExperimentSettings = settings.serving.experiment
        self.store: EventStore | None = None
        self.queue: WriteQueue | None = None
        try:
            self.store = open_store(settings.store_url)
        except StoreError as exc:
            log.error("event store unavailable, ingestion answers 503: %s", exc)
        self._seen = 0
        self._start_seq = 0
        self.reloads = 0
        self._reloading: cf.Future[_Loaded] | None = None
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="linli-reload")
        if self.store is not None:
            ing = settings.serving.ingest
            self.queue = WriteQueue(
                self.store,
                ing.max_pending_rows,
                ing.max_rows_per_commit,
                ing.retry_after_s,
                validator_pool() if ing.validator_process else None,
            )
            self._start_seq = self.store.version()  # control records before start are history
            self.sync()

    # -- live changes --------------------------------------------------------------------------
    def sync(self) -> Engine:
        """Apply the store's new changes (and a finished background reload); the engine to use."""
        done = self._reloading is not None and self._reloading.done()
        if done:
            self._finish_reload()
        if self.store is None:
            return self.engine
        try:
            if self.store.version() <= self._seen:
                return self.engine
            changes = self.store.changes_since(self._seen)
        except StoreError as exc:  # serving goes on with what it has
            log.error("cannot read live changes: %s", exc)
            return self.engine
        links = [c.payload for c in changes if c.kind == "identity_links"]
        tags = [c.payload for c in changes if c.kind == "manual_tags"]
        if links or tags:
            self.engine.add_live(links, tags)
        for c in changes:
            if (
                c.kind == CONTROL
                and c.seq > self._start_seq
                and c.payload.get("origin") != self.worker
            ):
                self._control(c.payload)
        if changes:
            self._seen = max(self._seen, changes[-1].seq)
        return self.engine

    def _control(self, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        if op == "experiment":
            self.set_experiment(ExperimentSettings(**payload["experiment"]))
        elif op == "reload":
            self._reloading = self._pool.submit(self.load, payload.get("bundle_dir"))

    def _record(self, payload: dict[str, Any]) -> None:
        """Write a control record so the other workers follow (committed before returning)."""
        if self.store is not None:
            self.store.write([], [(CONTROL, uuid.uuid4().hex, {**payload, "origin": self.worker})])

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
        """Tell the other workers to load the same bundle."""
        self._record({"op": "reload", "bundle_dir": bundle_dir})

    def status(self) -> dict[str, Any]:
        """Ingestion and live-change figures for /info."""
        ov = self.engine.overlay
        return {
            "worker": self.worker,
            "store": "ok" if self.store is not None else "unavailable",
            "pending_rows": self.queue.pending_rows if self.queue else 0,
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
