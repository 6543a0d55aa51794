"""The durable store of ingested rows: events, identity links, leader notes and control records.

Two back-ends behind one interface, chosen by URL (``settings.store_url``):

- ``sqlite:///PATH`` (the embedded default, ``WORK/ingest/events.db``): WAL journal with
  ``synchronous=FULL``, so a committed transaction survives a killed process and a power cut;
- ``postgresql://...``: a real PostgreSQL server through psycopg (``synchronous_commit`` on).

Tables (the same in both):

- ``events``: ``seq`` (arrival order), ``event_id`` UNIQUE, the SCHEMA.md event columns as the
  text the caller sent (already validated), ``extra`` (JSON of the caller's other fields),
  ``received_at``. Writing is idempotent on ``event_id``: a repeat is ignored, never doubled.
- ``changes``: ``seq``, ``kind`` (``identity_links``, ``manual_tags`` or ``control``), ``key``
  UNIQUE (a hash of the row's content, so a resent row is a duplicate), ``payload`` (JSON),
  ``received_at``. Every server worker replays new ``changes`` rows before it answers, which
  is how a new allergy or identity link reaches all workers at once.

:meth:`EventStore.write` returns only after ``COMMIT``: a row it reports as stored is on disk.
The feature job reads the store with :func:`read_store_tables` (strings, like a CSV file) and
validates it together with the data directory's files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.schema import EVENTS, TABLES, Col

EVENT_COLUMNS: tuple[str, ...] = EVENTS.column_names
EXTRA = "extra"
RECEIVED_AT = "received_at"
CHANGE_KINDS: tuple[str, ...] = ("identity_links", "manual_tags", "control")
CONTROL = "control"
_CHUNK = 500

Row = dict[str, str | None]
log = logging.getLogger("linli.event_store")


class StoreError(RuntimeError):
    """The store cannot be opened, read or written (the message names it, without secrets)."""


class _Stale(Exception):
    """A write found its connection dead before COMMIT (nothing stored): redo it once."""


@dataclass(frozen=True)
class Change:
    """One row of the ``changes`` table."""

    seq: int
    kind: str
    key: str
    payload: dict[str, Any]


def redact(url: str) -> str:
    """The URL without its password (for logs and summaries)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _q(name: str) -> str:
    return f'"{name}"'


def _chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _first_seen(keys: Sequence[str], existing: set[str]) -> list[bool]:
    """Per key: new to the store and first of its kind in this batch."""
    seen = set(existing)
    out = []
    for k in keys:
        out.append(k not in seen)
        seen.add(k)
    return out


class EventStore(ABC):
    """Durable, idempotent storage of ingested rows (see the module docstring)."""

    url: str
    # a writer and a reader connection, each behind its own lock (set by each backend)
    _w: Any
    _r: Any
    _wlock: threading.Lock
    _rlock: threading.Lock

    @abstractmethod
    def write(
        self, events: Sequence[Row], changes: Sequence[tuple[str, str, dict[str, Any]]] = ()
    ) -> tuple[list[bool], list[bool]]:
        """Store events and (kind, key, payload) changes in one committed transaction.

        Returns, per event and per change, True when it was stored now and False when the
        same event_id / key was already there (or earlier in this call).
        """

    @abstractmethod
    def _fetch(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a read query with `?` placeholders; returns column names and rows."""

    def version(self) -> int:
        """The highest ``changes`` seq (0 when empty): cheap, called before every answer."""
        return int(self._fetch("SELECT coalesce(max(seq), 0) FROM changes")[1][0][0])

    def changes_since(self, seq: int) -> list[Change]:
        """Changes with a seq above `seq`, in seq order."""
        _, rows = self._fetch(
            "SELECT seq, kind, key, payload FROM changes WHERE seq > ? ORDER BY seq", (seq,)
        )
        return [Change(int(s), k, key, json.loads(p)) for s, k, key, p in rows]

    def healthy(self) -> bool:
        """Whether the store answers a read now (reconnecting first if it was lost)."""
        try:
            self._fetch("SELECT 1")
        except StoreError:
            return False
        return True

    def count_events(self) -> int:
        """How many events are stored."""
        return int(self._fetch("SELECT count(*) FROM events")[1][0][0])

    def event_ids(self) -> list[str]:
        """Every stored event_id, in arrival order (tests and audits)."""
        return [r[0] for r in self._fetch("SELECT event_id FROM events ORDER BY seq")[1]]

    def close(self) -> None:
        """Release both connections (writer and reader)."""
        with self._wlock, self._rlock:
            self._w.close()
            self._r.close()

    def events_frame(self) -> pd.DataFrame:
        """Every stored event as strings in SCHEMA column order (what a CSV file would give)."""
        cols = ", ".join(_q(c) for c in EVENT_COLUMNS)
        _, rows = self._fetch(f"SELECT {cols} FROM events ORDER BY seq")
        return pd.DataFrame(rows, columns=list(EVENT_COLUMNS), dtype="string")

    def table_frame(self, kind: str) -> pd.DataFrame:
        """Stored identity_links or manual_tags rows as strings in SCHEMA column order."""
        spec = TABLES[kind]
        _, rows = self._fetch("SELECT payload FROM changes WHERE kind = ? ORDER BY seq", (kind,))
        records = [json.loads(r[0]) for r in rows]
        return pd.DataFrame(
            [[rec.get(c) for c in spec.column_names] for rec in records],
            columns=list(spec.column_names),
            dtype="string",
        )

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- SQLite ------------------------------------------------------------------------------------
def _sqlite_schema() -> list[str]:
    ev = ", ".join(
        f"{_q(c)} TEXT NOT NULL" if c in EVENTS.required_columns else f"{_q(c)} TEXT"
        for c in EVENT_COLUMNS
        if c != Col.EVENT_ID
    )
    return [
        f"CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, "
        f"event_id TEXT NOT NULL UNIQUE, {ev}, {EXTRA} TEXT, {RECEIVED_AT} TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
        "key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, received_at TEXT NOT NULL)",
    ]


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL (four slashes for an absolute path)."""
    if not url.startswith("sqlite:///"):
        raise StoreError(f"not a sqlite URL: {url}")
    return Path(url[len("sqlite:///") :])


def private_file(path: Path) -> None:
    """Create `path` (and its missing folders) readable by the owner only: 0600 in 0700 folders.

    The store holds raw identifiers (phones, WeCom ids). Folders created here get 0700; an
    existing file and its SQLite companions (``-wal``, ``-shm``, ``-journal``) are set to 0600.
    """
    missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if p.exists():
            os.chmod(p, 0o600)


class SqliteStore(EventStore):
    """WAL + synchronous=FULL SQLite file; one write connection, one read connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        try:
            private_file(self.path)
            self._w = self._connect()
            for stmt in _sqlite_schema():
                self._w.execute(stmt)
            self._r = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open event store {self.path}: {exc}") from exc
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        cols = [Col.EVENT_ID, *[c for c in EVENT_COLUMNS if c != Col.EVENT_ID], EXTRA, RECEIVED_AT]
        self._event_cols = cols
        self._insert_event = (
            f"INSERT OR IGNORE INTO events ({', '.join(_q(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})"
        )

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA busy_timeout=30000")
        return con

    def _existing(self, table: str, col: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in _chunks(list(dict.fromkeys(keys))):
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {col} FROM {table} WHERE {col} IN ({marks})"
            found.update(r[0] for r in self._w.execute(sql, tuple(part)))
        return found

    def write(
        self, events: Sequence[Row], changes: Sequence[tuple[str, str, dict[str, Any]]] = ()
    ) -> tuple[list[bool], list[bool]]:
        """Store events and changes in one committed transaction (see :class:`EventStore`)."""
        now = _now()
        ev_keys = [str(e[Col.EVENT_ID]) for e in events]
        ch_keys = [k for _, k, _ in changes]
        with self._wlock:
            try:
                self._w.execute("BEGIN IMMEDIATE")
                try:
                    ev_new = _first_seen(ev_keys, self._existing("events", "event_id", ev_keys))
                    ch_new = _first_seen(ch_keys, self._existing("changes", "key", ch_keys))
                    self._w.executemany(
                        self._insert_event,
                        [
                            tuple(e.get(c) for c in self._event_cols[:-1]) + (now,)
                            for e, new in zip(events, ev_new, strict=True)
                            if new
                        ],
                    )
                    self._w.executemany(
                        "INSERT OR IGNORE INTO changes (kind, key, payload, received_at) "
                        "VALUES (?, ?, ?, ?)",
                        [
                            (kind, key, json.dumps(payload, ensure_ascii=False), now)
                            for (kind, key, payload), new in zip(changes, ch_new, strict=True)
                            if new
                        ],
                    )
                    self._w.execute("COMMIT")
                except BaseException:
                    if self._w.in_transaction:
                        self._w.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"event store {self.path}: write failed: {exc}") from exc
        return ev_new, ch_new

    def _fetch(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._rlock:
            try:
                cur = self._r.execute(sql, tuple(params))
                rows = cur.fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"event store {self.path}: read failed: {exc}") from exc
        return [d[0] for d in cur.description or ()], rows


# -- PostgreSQL --------------------------------------------------------------------------------
class PostgresStore(EventStore):
    """The same tables on a PostgreSQL server (psycopg 3); commits are durable on return.

    The store heals: a connection that fails (server restarted, network cut) is dropped and
    opened again on the next call, at most once per `retry_s` while the server stays away
    (in between, calls fail at once with :class:`StoreError`, which the service answers 503
    + Retry-After). A failed write is rolled back and reported, never half-applied.
    """

    def __init__(self, url: str, connect_timeout: int = 3, retry_s: float = 1.0) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise StoreError(
                "a postgresql:// store needs psycopg: pip install 'psycopg[binary]'"
            ) from exc
        self.url = url
        self._psycopg = psycopg
        self.connect_timeout = connect_timeout
        self.retry_s = retry_s
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._next_try = {"w": 0.0, "r": 0.0}
        self.reconnects = 0
        self._w = None
        self._r = None
        try:
            self._w = self._open(autocommit=False)
            self._r = self._open(autocommit=True)
            self._create_tables()
        except psycopg.Error as exc:
            raise StoreError(f"cannot open event store {redact(url)}: {exc}") from exc
        cols = [Col.EVENT_ID, *[c for c in EVENT_COLUMNS if c != Col.EVENT_ID], EXTRA]
        self._event_cols = cols
        arrays = ", ".join("%s::text[]" for _ in cols)
        self._insert_events = (
            f"INSERT INTO events ({', '.join(_q(c) for c in cols)}, {RECEIVED_AT}) "
            f"SELECT u.*, now() FROM unnest({arrays}) AS u "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )

    def _open(self, autocommit: bool) -> Any:
        return self._psycopg.connect(
            self.url, autocommit=autocommit, connect_timeout=self.connect_timeout
        )

    def _create_tables(self) -> None:
        ev = ", ".join(
            f"{_q(c)} TEXT NOT NULL" if c in EVENTS.required_columns else f"{_q(c)} TEXT"
            for c in EVENT_COLUMNS
            if c != Col.EVENT_ID
        )
        with self._w.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7316001)")  # one creator at a time
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS events (seq BIGSERIAL PRIMARY KEY, "
                f"event_id TEXT NOT NULL UNIQUE, {ev}, {EXTRA} TEXT, "
                f"{RECEIVED_AT} TIMESTAMPTZ NOT NULL)"
            )
            cur.execute(
                "CREATE TABLE IF NOT EXISTS changes (seq BIGSERIAL PRIMARY KEY, "
                "kind TEXT NOT NULL, key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, "
                "received_at TIMESTAMPTZ NOT NULL)"
            )
        self._w.commit()

    def _live(self, which: str) -> Any:
        """The writer ("w") or reader ("r") connection, opened again if it was lost."""
        con = self._w if which == "w" else self._r
        if con is not None and not con.closed and not con.broken:
            return con
        self._drop(which)
        now = time.monotonic()
        if now < self._next_try[which]:
            raise StoreError(f"event store {redact(self.url)}: unavailable (reconnecting)")
        self._next_try[which] = now + self.retry_s
        try:
            con = self._open(autocommit=which == "r")
        except self._psycopg.Error as exc:
            raise StoreError(f"event store {redact(self.url)}: cannot reconnect: {exc}") from exc
        self.reconnects += 1
        log.warning("event store %s: reconnected", redact(self.url))
        if which == "w":
            self._w = con
        else:
            self._r = con
        return con

    def _drop(self, which: str) -> None:
        con = self._w if which == "w" else self._r
        if con is not None:
            with contextlib.suppress(Exception):
                con.close()
        if which == "w":
            self._w = None
        else:
            self._r = None

    def _failed(self, which: str, con: Any) -> None:
        """After an error: roll back what can be, drop a connection that is no longer usable."""
        with contextlib.suppress(Exception):
            if which == "w":
                con.rollback()
        if con.closed or con.broken:
            self._drop(which)

    def write(
        self, events: Sequence[Row], changes: Sequence[tuple[str, str, dict[str, Any]]] = ()
    ) -> tuple[list[bool], list[bool]]:
        """Store events and changes in one committed transaction (see :class:`EventStore`)."""
        ev_keys = [str(e[Col.EVENT_ID]) for e in events]
        ch_keys = [k for _, k, _ in changes]
        with self._wlock:
            try:
                stored, ch_stored = self._write_once(events, changes)
            except _Stale:  # the connection died while idle (a database restart): once more
                stored, ch_stored = self._write_once(events, changes)
        ev_new = _first_seen(ev_keys, set(ev_keys) - stored)
        ch_new = _first_seen(ch_keys, set(ch_keys) - ch_stored)
        return ev_new, ch_new

    def _write_once(
        self, events: Sequence[Row], changes: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> tuple[set[str], set[str]]:
        """One transaction; :class:`_Stale` when the connection was found dead before COMMIT."""
        con = self._live("w")
        committing = False
        try:
            with con.cursor() as cur:
                stored: set[str] = set()
                if events:
                    cols = [[e.get(c) for e in events] for c in self._event_cols]
                    cur.execute(self._insert_events, cols)
                    stored = {r[0] for r in cur.fetchall()}
                ch_stored: set[str] = set()
                if changes:
                    # changes are few; one writer at a time keeps their seq in commit order
                    cur.execute("LOCK TABLE changes IN SHARE ROW EXCLUSIVE MODE")
                    for kind, key, payload in changes:
                        cur.execute(
                            "INSERT INTO changes (kind, key, payload, received_at) "
                            "VALUES (%s, %s, %s, now()) ON CONFLICT (key) DO NOTHING "
                            "RETURNING key",
                            (kind, key, json.dumps(payload, ensure_ascii=False)),
                        )
                        ch_stored.update(r[0] for r in cur.fetchall())
            committing = True
            con.commit()
        except (self._psycopg.Error, ValueError) as exc:  # ValueError: NUL in a str param
            self._failed("w", con)
            if not committing and self._w is None and self.reconnects_allowed("w"):
                raise _Stale(str(exc)) from exc  # nothing was committed: safe to redo
            raise StoreError(f"event store {redact(self.url)}: write failed: {exc}") from exc
        return stored, ch_stored

    def reconnects_allowed(self, which: str) -> bool:
        """Whether a new writer ("w") / reader ("r") connection may be tried now."""
        return time.monotonic() >= self._next_try[which]

    def _fetch(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._rlock:
            for attempt in (1, 2):  # a read is safe to redo on a fresh connection
                con = self._live("r")
                try:
                    with con.cursor() as cur:
                        cur.execute(sql.replace("?", "%s"), tuple(params))
                        rows = cur.fetchall()
                        names = [d.name for d in cur.description or ()]
                    return names, rows
                except self._psycopg.Error as exc:
                    self._failed("r", con)
                    if attempt == 1 and self._r is None and self.reconnects_allowed("r"):
                        continue
                    msg = f"event store {redact(self.url)}: read failed: {exc}"
                    raise StoreError(msg) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Release both connections (writer and reader)."""
        with self._wlock, self._rlock:
            self._drop("w")
            self._drop("r")


# -- opening and reading -----------------------------------------------------------------------
def open_store(url: str) -> EventStore:
    """Open (creating if needed) the store at `url`: ``sqlite:///PATH`` or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise StoreError(f"unsupported event store URL {redact(url)} (sqlite:/// or postgresql://)")


def store_exists(url: str) -> bool:
    """Whether there is a store to read: the SQLite file exists, or any PostgreSQL URL."""
    if url.startswith("sqlite:///"):
        return sqlite_path(url).is_file()
    return True


def read_store_tables(url: str) -> dict[str, pd.DataFrame]:
    """The store's events, identity_links and manual_tags as string tables (empty ones left out)."""
    if not store_exists(url):
        return {}
    with open_store(url) as store:
        tables = {
            "events": store.events_frame(),
            "identity_links": store.table_frame("identity_links"),
            "manual_tags": store.table_frame("manual_tags"),
        }
    return {k: v for k, v in tables.items() if len(v)}
