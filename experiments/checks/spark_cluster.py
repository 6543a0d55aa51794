"""The feature job on a real Spark standalone cluster, against the embedded engine.

`python -m experiments.checks.spark_cluster --data D --dir W` starts a standalone master and
`--workers` workers on this machine (each its own JVM, as on separate hosts, from the Spark
that pyspark ships), runs the cluster command of docs/feature-engines.md against it

    linli features build --engine spark --spark-master spark://127.0.0.1:PORT --data D --out W/spark

then `linli features build --engine duckdb` into W/duckdb, and prints the store differences
(:mod:`experiments.checks.store_diff`) and both builds' seconds; exits 1 on any difference.
The workers share this machine's disk, which stands in for the storage every node mounts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from experiments.benchmarks.bench_features import run_measured
from experiments.checks.store_diff import diff_stores

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    """The Spark distribution inside the pyspark package (bin/spark-class, jars/)."""
    import pyspark

    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _daemon(args: list[str], log: Path, env: dict[str, str]) -> Iterator[None]:
    """A Spark daemon (master or worker) in its own process group, stopped on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        yield
    finally:
        if proc.poll() is None:  # a daemon that died early has no group left to stop
            os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def _wait_for(log: Path, text: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise SystemExit(f"spark_cluster: {log.name} did not say {text!r} in {seconds:.0f}s")


@contextmanager
def standalone_cluster(work: Path, workers: int, cores: int, memory: str) -> Iterator[str]:
    """A standalone master and `workers` workers on this machine; yields the master URL."""
    env = {**os.environ, "SPARK_HOME": str(spark_home())}
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    with ExitStack() as stack:
        master_log = work / "master.log"
        stack.enter_context(
            _daemon(
                [MASTER, "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0"],
                master_log,
                env,
            )
        )
        _wait_for(master_log, "I have been elected leader")
        for w in range(workers):
            log = work / f"worker{w + 1}.log"
            stack.enter_context(
                _daemon(
                    [WORKER, "--cores", str(cores), "--memory", memory, "--webui-port", "0"]
                    + ["--work-dir", str(work / f"worker{w + 1}"), url],
                    log,
                    env,
                )
            )
            _wait_for(log, "Successfully registered with master")
        yield url


def _build(data: Path, out: Path, engine: list[str]) -> float:
    """One `linli features build` in a child process (stderr to OUT.log); its seconds."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "linli_cli", "features", "build", "--data", str(data)]
    cmd += ["--out", str(out), "--no-progress", "--no-store", *engine]
    try:
        seconds, _ = run_measured(cmd, out.with_name(out.name + ".log"))
    except RuntimeError as exc:  # names the child's last error line and its log
        raise SystemExit(f"spark_cluster: {exc}") from exc
    return seconds


def main(argv: list[str] | None = None) -> int:
    """CLI: build one data directory on a standalone cluster and with DuckDB; compare."""
    ap = argparse.ArgumentParser(
        prog="python -m experiments.checks.spark_cluster", description=__doc__
    )
    ap.add_argument("--data", type=Path, required=True, help="data directory (SCHEMA.md)")
    ap.add_argument("--dir", type=Path, required=True, help="where the stores and logs go")
    ap.add_argument("--workers", type=int, default=2, help="worker JVMs (default 2)")
    ap.add_argument("--cores", type=int, default=1, help="cores per worker (default 1)")
    ap.add_argument("--memory", default="2g", help="memory per worker (default 2g)")
    a = ap.parse_args(argv)
    a.dir.mkdir(parents=True, exist_ok=True)
    # the workers run on this machine: their Python is this one (on a real cluster, the
    # workers' own Python with linli installed); the builds' children inherit it
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with standalone_cluster(a.dir, a.workers, a.cores, a.memory) as url:
        print(f"cluster: {url}, {a.workers} workers x {a.cores} core(s), {a.memory} each")
        spark_s = _build(a.data, a.dir / "spark", ["--engine", "spark", "--spark-master", url])
    duck_s = _build(a.data, a.dir / "duckdb", ["--engine", "duckdb"])
    diffs = diff_stores(a.dir / "duckdb", a.dir / "spark")
    for d in diffs:
        print(d)
    print(f"spark standalone cluster: {spark_s:.1f}s; duckdb: {duck_s:.1f}s")
    print(f"{len(diffs)} difference(s) between {a.dir / 'duckdb'} and {a.dir / 'spark'}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
