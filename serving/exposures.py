"""Durable append-only exposure log: one JSON line per served list (what the A/B analysis reads).

Each server process appends to its own file ``exposures-YYYYMMDD-<host>-<pid>.jsonl`` in
the exposure folder (one writer per file, so lines never interleave); a line is written
and flushed before the response leaves, and fsynced too when configured. A record:
``{"request_id", "ts", "endpoint", "user_id", "identifier", "group_id", "variant",
"model_version", "experiment", "fallback", "items": [...]}``. :func:`read_exposures`
loads every file of a folder into one DataFrame.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd

PATTERN = "exposures-*.jsonl"
COLUMNS = [
    "request_id",
    "ts",
    "endpoint",
    "user_id",
    "identifier",
    "group_id",
    "variant",
    "model_version",
    "experiment",
    "fallback",
    "items",
]


def private_folder(folder: Path) -> None:
    """Create `folder` and its missing parents as 0700 (the log holds raw identifiers)."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)


def open_private_append(path: Path) -> IO[str]:
    """Open `path` for appending, created 0600, starting on a fresh line.

    A writer killed mid-line leaves a torn last line; the next writer of the same file (a
    restarted process may get the same pid) first ends it, so its own first record is never
    glued onto the torn one (readers skip the torn line alone).
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    size = os.fstat(fd).st_size
    if size:
        with open(path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                os.write(fd, b"\n")
    return os.fdopen(fd, "a", encoding="utf-8")


class ExposureLog:
    """Appends exposure records to this process's file in `folder`."""

    def __init__(self, folder: Path | str, fsync: bool = False) -> None:
        self.folder = Path(folder)
        private_folder(self.folder)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None
        self._day = ""

    def _file(self, now: datetime) -> IO[str]:
        day = now.strftime("%Y%m%d")
        if self._fh is None or day != self._day:
            if self._fh is not None:
                self._fh.close()
            host = socket.gethostname().replace("-", "_")
            name = f"exposures-{day}-{host}-{os.getpid()}.jsonl"
            self._fh = open_private_append(self.folder / name)
            self._day = day
        return self._fh

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (a `ts` is added when missing) and flush it."""
        now = datetime.now(UTC)
        rec = {"ts": now.isoformat(timespec="microseconds"), **record}
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            fh = self._file(now)
            fh.write(line)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())

    def close(self) -> None:
        """Close the current file."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def read_exposures(folder: Path | str) -> pd.DataFrame:
    """Every exposure record under `folder` (a torn last line of a crashed writer is skipped)."""
    rows: list[dict[str, Any]] = []
    for f in sorted(Path(folder).glob(PATTERN)):
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = pd.Series(dtype=object)
    if len(df):
        df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df
