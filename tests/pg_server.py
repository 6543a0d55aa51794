"""A throw-away PostgreSQL server on loopback for tests (Debian's `postgresql` package).

Skips the test when the binaries or psycopg are missing. As root, the server runs as the
`postgres` user (initdb refuses root); its folder is a fresh temp dir removed afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.cli import free_port


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return Path(dirs[-1]) if dirs and (Path(dirs[-1]) / "pg_ctl").exists() else None


class PgCluster:
    """A private PostgreSQL cluster: its URL, and stop / start for fault-injection tests."""

    def __init__(self, bindir: Path, as_user: list[str], root: Path, port: int) -> None:
        self.bindir, self.as_user, self.root, self.port = bindir, as_user, root, port
        self.data, self.log = root / "data", root / "server.log"
        self.url = f"postgresql://linli@127.0.0.1:{port}/postgres"

    def run(self, *cmd: str) -> None:
        done = subprocess.run([*self.as_user, *cmd], capture_output=True, timeout=120, text=True)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}\n{tail}")

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=on"
        pg_ctl = str(self.bindir / "pg_ctl")
        self.run(pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "start")
        import psycopg

        t0 = time.monotonic()
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() - t0 > 30:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: sessions cut, like a routine restart; `immediate`: a crash)."""
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PgCluster]:
    """Start PostgreSQL on a free loopback port; yields the cluster; stops and deletes it after."""
    pytest.importorskip("psycopg")
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="linli-pg-"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pg = PgCluster(bindir, as_user, root, free_port())
    try:
        pg.run(
            str(bindir / "initdb"), "-D", str(pg.data), "-U", "linli", "--auth=trust", "-E", "UTF8"
        )
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on a free loopback port; yields its URL; stops and deletes it after."""
    with postgres_cluster() as pg:
        yield pg.url
