"""`linli serve`: run the BentoML server on a bundle; helpers to run it as a subprocess (tests, bench).

linli serve --bundle work/bundle --port 3000            # foreground, loopback by default
bentoml serve serving.service:Linli --port 3000 --host 127.0.0.1   # the same, by hand
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from features.cli_parser import LinliParser, existing_dir

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(
    bundle: Path | None = None,
    work: Path | None = None,
    workers: int | None = None,
    access_log: bool = True,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment the server runs with (OPENBLAS_NUM_THREADS=1, bundle, work dir, workers)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if bundle is not None:
        env["LINLI_SERVING__BUNDLE_DIR"] = str(Path(bundle).resolve())
    if work is not None:
        env["LINLI_WORK_DIR"] = str(Path(work).resolve())
    if workers is not None:
        env["LINLI_SERVING__WORKERS"] = str(workers)
    env["LINLI_SERVING__ACCESS_LOG"] = "1" if access_log else "0"
    env.update(extra or {})
    return env


def command(host: str, port: int) -> list[str]:
    """The `bentoml serve` command line."""
    return [
        sys.executable, "-m", "bentoml", "serve", "serving.service:Linli",
        "--host", host, "--port", str(port),
    ]  # fmt: skip


def start_server(
    port: int,
    env: dict[str, str],
    log_path: Path,
    timeout: float = 120.0,
    host: str = "127.0.0.1",
    cmd: list[str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `bentoml serve` (or `cmd`) in its own process group; return once GET /readyz is 200."""
    import httpx

    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd or command(host, port),
        cwd=cwd or ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://{host}:{port}/readyz", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(proc)
    raise TimeoutError(f"server not ready after {timeout:.0f}s; see {log_path}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    """CLI: run the server in the foreground."""
    p = LinliParser(prog="linli serve", description=__doc__)
    p.add_argument(
        "--bundle", type=existing_dir, default=None, help="bundle folder (default WORK/bundle)"
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    p.add_argument("--port", type=int, default=3000, help="TCP port to listen on")
    p.add_argument("--workers", type=int, default=None, help="worker processes (settings)")
    p.add_argument("--no-access-log", action="store_true", help="turn the access log off")
    args = p.parse_args(argv)
    env = server_env(args.bundle, None, args.workers, not args.no_access_log)
    os.chdir(ROOT)
    os.execve(sys.executable, command(args.host, args.port), env)
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    raise SystemExit(main())
