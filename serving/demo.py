"""The serving end of `make demo`: export the bundle, start the server detached, print three curl calls.

    python -m serving.demo --features WORK/features --bundle WORK/bundle --port 3000

Exports the registered champion (and challenger) with ``linli export`` when the bundle is
missing (or with ``--export``), starts ``bentoml serve`` in the background on loopback
(log: WORK/server.log), checks three example calls answer 200 and prints them as curl
commands. The server keeps running; the last line says how to stop it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd

from serving import artifacts as art
from serving.cli import server_env, start_server
from serving.settings import load_settings


def examples(bundle: Path) -> list[tuple[str, dict[str, object]]]:
    """Three example calls with ids that exist in the bundle."""
    users = pd.read_parquet(bundle / art.USERS)["user_id"].astype(str)
    ct = pd.read_parquet(bundle / art.CONSTRAINT_TAGS)
    user = str(users.iloc[int(ct[art.USER].iloc[0])]) if len(ct) else str(users.iloc[0])
    groups = pd.read_parquet(bundle / art.GROUPS)
    calls: list[tuple[str, dict[str, object]]] = [("/rank/user", {"user": user, "k": 5})]
    if len(groups):
        gid = str(groups["group_id"].iloc[0])
        calls.append(("/rank/group", {"group_id": gid, "k": 5, "strategy": "fair"}))
        calls.append(("/live/plan", {"group_id": gid, "audience_n": 10}))
    else:
        calls.append(("/rank/user", {"user": "wecom:someone-new", "k": 5}))
        calls.append(("/info", {}))
    return calls


def curl(port: int, path: str, body: dict[str, object]) -> str:
    """A curl command line for one call."""
    data = json.dumps(body, ensure_ascii=False)
    return (
        f"curl -s -X POST http://127.0.0.1:{port}{path} "
        f"-H 'content-type: application/json' -d {shlex.quote(data)}"
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: export if needed, serve detached, verify and print three curl calls."""
    p = argparse.ArgumentParser(prog="python -m serving.demo", description=__doc__)
    p.add_argument("--features", type=Path, default=None, help="feature store (WORK/features)")
    p.add_argument("--bundle", type=Path, default=None, help="bundle folder (WORK/bundle)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--export", action="store_true", help="re-export even if the bundle exists")
    args = p.parse_args(argv)
    settings = load_settings()
    work = settings.work_dir
    features = args.features or work / "features"
    bundle = (args.bundle or settings.serving.bundle_dir or work / "bundle").resolve()
    if args.export or not (bundle / art.MANIFEST).exists():
        cmd = [
            sys.executable,
            "-m",
            "training.export",
            "--features",
            str(features),
            "--out",
            str(bundle),
        ]
        if subprocess.run(cmd, check=False).returncode != 0:
            print("serving demo: export failed (is a champion registered?)", file=sys.stderr)
            return 2
    work.mkdir(parents=True, exist_ok=True)
    env = server_env(bundle, work)
    proc = start_server(args.port, env, work / "server.log", timeout=180)
    print(f"\nLinli is serving {bundle} on http://127.0.0.1:{args.port}")
    print(
        f"API page: http://127.0.0.1:{args.port}/docs (an example per endpoint; check them all: "
        f"python -m serving.api_check --url http://127.0.0.1:{args.port})"
    )
    print("try:")
    for path, body in examples(bundle):
        r = httpx.post(f"http://127.0.0.1:{args.port}{path}", json=body, timeout=30)
        mark = "ok" if r.status_code == 200 else f"HTTP {r.status_code}"
        print(f"  {curl(args.port, path, body)}    # {mark}")
    print(
        f"server pid {proc.pid}; stop it with: kill -- -{proc.pid}   (log: {work / 'server.log'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
