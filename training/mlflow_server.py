"""A shared MLflow tracking server on PostgreSQL: ``make mlflow-server``.

    python -m training.mlflow_server --dir work/mlflow-server --port 5000
    export MLFLOW_TRACKING_URI=http://127.0.0.1:5000   # then train, tune, evaluate, ab, retrain, export

Starts (creating it on first use) a private PostgreSQL cluster in ``DIR/pg`` with Debian's
``initdb`` / ``pg_ctl`` (as the ``postgres`` user when run as root; loopback only, a Unix
socket in ``DIR``), and ``mlflow server`` on it: runs, params, metrics and the model
registry in PostgreSQL (database ``mlflow``), artifacts under ``DIR/artifacts`` served by
the server itself (``--serve-artifacts``), so clients need only the HTTP URL. The
foreground process stops both on Ctrl-C / SIGTERM. Point ``--backend-store-uri`` at an
existing PostgreSQL instead with ``--db-url``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


class ServerError(RuntimeError):
    """PostgreSQL or the MLflow server could not be started."""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path:
    """Where `initdb` and `pg_ctl` live (PATH, else the newest /usr/lib/postgresql/N/bin)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if not dirs or not (Path(dirs[-1]) / "pg_ctl").exists():
        raise ServerError("PostgreSQL is not installed: apt-get install postgresql")
    return Path(dirs[-1])


class PostgresCluster:
    """A private PostgreSQL cluster in `root` on a loopback port (initdb on first start)."""

    def __init__(self, root: Path, port: int | None = None, user: str = "linli") -> None:
        self.root = root.resolve()
        self.data = self.root / "pg"
        self.log = self.root / "postgres.log"
        self.port = port or free_port()
        self.user = user
        self.bindir = pg_bindir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as `postgres`
            try:
                self.pw: pwd.struct_passwd | None = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServerError("running as root and there is no `postgres` user") from exc
            self.as_user = ["runuser", "-u", "postgres", "--"]
        else:
            self.pw = None

    def url(self, db: str = "postgres", driver: str = "postgresql") -> str:
        """Connection URL of a database of the cluster."""
        return f"{driver}://{self.user}@127.0.0.1:{self.port}/{db}"

    def _run(self, *cmd: str) -> None:
        done = subprocess.run([*self.as_user, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise ServerError(f"{Path(cmd[0]).name} failed: {done.stderr[-2000:]}\n{tail}")

    def start(self) -> None:
        """initdb when the cluster is new, then start it and wait for connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.pw is not None:
            os.chown(self.root, self.pw.pw_uid, self.pw.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            initdb = str(self.bindir / "initdb")
            self._run(initdb, "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8")
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "start")
        import psycopg

        t0 = time.monotonic()
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() - t0 > 30:
                    raise
                time.sleep(0.2)

    def create_db(self, name: str) -> None:
        """Create a database unless it exists."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not found:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """Stop the cluster (fast shutdown: sessions are ended, data is kept)."""
        with contextlib.suppress(ServerError, subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")


def server_command(
    db_url: str, artifacts: Path, port: int, host: str = "127.0.0.1", workers: int = 1
) -> list[str]:
    """`mlflow server` on a PostgreSQL store with a served artifact root."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", db_url,
        "--artifacts-destination", str(artifacts.resolve()),
        "--serve-artifacts",
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip


def start_mlflow(
    db_url: str, artifacts: Path, port: int, log_path: Path, workers: int = 1, timeout: float = 180
) -> subprocess.Popen[bytes]:
    """Start `mlflow server` (own process group); return once GET /health answers 200."""
    artifacts.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        server_command(db_url, artifacts, port, workers=workers),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise ServerError(f"mlflow server exited with {proc.returncode}; see {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        time.sleep(0.5)
    stop_process(proc)
    raise ServerError(f"mlflow server not ready after {timeout:.0f}s; see {log_path}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextlib.contextmanager
def tracking_server(
    root: Path, port: int | None = None, workers: int = 1, db_url: str | None = None
) -> Iterator[str]:
    """PostgreSQL (unless `db_url`) + MLflow server under `root`; yields the tracking URI."""
    cluster = None if db_url else PostgresCluster(root)
    port = port or free_port()
    if cluster is not None:
        cluster.start()
    proc = None
    try:
        if cluster is not None:
            cluster.create_db("mlflow")
            db_url = cluster.url("mlflow", driver="postgresql+psycopg")
        assert db_url is not None
        proc = start_mlflow(db_url, root / "artifacts", port, root / "mlflow-server.log", workers)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc is not None:
            stop_process(proc)
        if cluster is not None:
            cluster.stop()


def main(argv: list[str] | None = None) -> int:
    """CLI: run PostgreSQL + the MLflow server in the foreground until interrupted."""
    p = argparse.ArgumentParser(prog="python -m training.mlflow_server", description=__doc__)
    p.add_argument("--dir", type=Path, default=Path("work/mlflow-server"), help="state folder")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--db-url", default=None, help="an existing PostgreSQL (postgresql+psycopg://)")
    args = p.parse_args(argv)
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        with tracking_server(args.dir, args.port, args.workers, args.db_url) as uri:
            print(f"MLflow server on PostgreSQL: export MLFLOW_TRACKING_URI={uri}", flush=True)
            print(f"artifacts: {(args.dir / 'artifacts').resolve()}  (Ctrl-C stops)", flush=True)
            while not stop["now"]:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
