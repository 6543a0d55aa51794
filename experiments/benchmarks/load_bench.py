"""Load benchmark of the service against a bare FastAPI app on the same engine, side by side.

    python -m experiments.benchmarks.load_bench                       # synthetic 200k users x 50k items
    python -m experiments.benchmarks.load_bench --bundle work/bundle  # an exported bundle instead

Builds (once, cached) a scaled synthetic bundle: 200,000 users, 50,000 items, 64 factors,
groups of 500 members, purchases and allergy constraints. Starts two servers on free
loopback ports, one worker each, access logs off: the BentoML service (``bentoml serve``)
and the baseline, a bare FastAPI app on uvicorn with uvloop and httptools calling the same
:class:`serving.engine.Engine` (:mod:`experiments.benchmarks.bare_app`). `wrk` (``apt-get install
wrk``) then loads them in turn with C keep-alive connections, user ranking and then
500-member group ranking, alternating the two servers pair by pair (the order flips every
round) so both see the same background load; each pair gives a throughput ratio and a p99
ratio, reported as median [min-max] with the raw figures. The same calls made in-process
give the engine's own cost. Writes everything to ``WORK/bench/load_bench-<bundle>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from experiments.benchmarks import wrk
from serving import artifacts as art
from serving.cli import free_port, server_env, start_server, stop_server
from training.settings import load_settings

SYN_TAG = "synthetic-load-bench-v1"


# -- synthetic bundle ----------------------------------------------------------------------------
def synthetic_bundle(
    out: Path, users: int, items: int, factors: int, group_size: int, seed: int = 0
) -> Path:
    """A bundle with random low-rank tastes at the requested scale (reused when it matches)."""
    spec = {"users": users, "items": items, "factors": factors, "group_size": group_size}
    man = out / art.MANIFEST
    if man.exists():
        m = json.loads(man.read_text())
        if m.get("synthetic") == SYN_TAG and m.get("spec") == spec:
            return out
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    n_cat = 40
    item_ids = np.asarray([f"i{i:06d}" for i in range(items)], dtype=object)
    cats = rng.integers(0, n_cat, items)
    catalogue = pd.DataFrame(
        {
            "item_id": pd.Series(item_ids, dtype="string"),
            "name": pd.Series([f"商品{i}" for i in range(items)], dtype="string"),
            "category": pd.Series([f"cat{c:02d}" for c in cats], dtype="string"),
            "price": rng.uniform(5, 300, items).round(1),
        }
    )
    user_ids = np.asarray([f"wecom:u{u:07d}" for u in range(users)], dtype=object)
    ident = pd.DataFrame(
        {
            art.ID_KEY: np.concatenate(
                [user_ids.astype(str), np.asarray([f"phone:139{u:08d}" for u in range(users)])]
            ),
            art.USER: np.concatenate([np.arange(users), np.arange(users)]),
        }
    )
    # tastes: items cluster by category, users mix a few categories
    centres = rng.normal(0, 1, (n_cat, factors)).astype(np.float32)
    V = (centres[cats] + 0.5 * rng.normal(0, 1, (items, factors))).astype(np.float32) / np.sqrt(
        factors
    )
    mix = rng.dirichlet(np.full(n_cat, 0.2), users).astype(np.float32)
    U = (mix @ centres + 0.3 * rng.normal(0, 1, (users, factors))).astype(np.float32)
    # purchases: ~12 lines per user, biased to popular items
    pop = rng.zipf(1.3, items).astype(np.float64)
    p = pop / pop.sum()
    lines = 12
    rows = np.repeat(np.arange(users), lines)
    cols = rng.choice(items, size=users * lines, p=p)
    purchases = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(users, items))
    purchases.sum_duplicates()
    age = purchases.copy()
    age.data = rng.uniform(1, 180, len(age.data)).astype(np.float32)
    # constraints: 5% of users each forbid one category's items
    cu = rng.choice(users, users // 20, replace=False)
    cc = rng.integers(0, n_cat, len(cu))
    by_cat = {c: np.flatnonzero(cats == c) for c in range(n_cat)}
    ct = pd.DataFrame(
        {
            art.USER: np.concatenate(
                [np.full(len(by_cat[c]), u) for u, c in zip(cu, cc, strict=True)]
            ),
            art.ITEM: np.concatenate([by_cat[c] for c in cc]),
            "tag": np.concatenate([np.full(len(by_cat[c]), f"avoid:cat{c:02d}") for c in cc]),
        }
    )
    n_groups = users // group_size
    gm = sp.csr_matrix(
        (
            np.ones(n_groups * group_size, np.float32),
            (np.repeat(np.arange(n_groups), group_size), np.arange(n_groups * group_size)),
        ),
        shape=(n_groups, users),
    )
    groups = pd.DataFrame(
        {"group_id": pd.Series([f"g{g:04d}" for g in range(n_groups)], dtype="string")}
    )
    art.write_bundle(
        out,
        users=user_ids,
        identifiers=ident,
        items=catalogue,
        purchases=purchases,
        last_purchase_age=age,
        constraint_tags=ct,
        groups=groups,
        group_members=gm,
        variants={
            "champion": {
                "info": {"kind": "synthetic", "version": "bench", "registered_model": "bench"},
                "user_vectors": U,
                "item_vectors": V,
            }
        },
        meta={"synthetic": SYN_TAG, "spec": spec},
    )
    print(f"synthetic bundle {out} built in {time.perf_counter() - t0:.1f}s", flush=True)
    return out


# -- side by side: the service and the bare baseline --------------------------------------------
BARE = "experiments.benchmarks.bare_app:create_app"


def bare_command(port: int) -> list[str]:
    """The baseline: uvicorn (uvloop + httptools, one worker, no access log) on the bare app."""
    return [
        sys.executable, "-m", "uvicorn", BARE, "--factory", "--loop", "uvloop",
        "--http", "httptools", "--no-access-log", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, float)
    return {
        "median": round(float(np.median(a)), 3),
        "min": round(float(a.min()), 3),
        "max": round(float(a.max()), 3),
    }


def side_by_side(
    urls: dict[str, str], bodies: Path, rounds: int, seconds: float, conns: int, work: Path
) -> dict[str, Any]:
    """Alternate the two servers pair by pair (order flipped each round); ratios per pair."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
    names = list(urls)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            res = wrk.run(urls[name], bodies, seconds, conns, work)
            runs[name].append(res)
            print(
                f"  round {r + 1}/{rounds} {name:8s} {res['throughput_rps']:8.1f} req/s  "
                f"p50 {res['p50_ms']:6.1f} ms  p99 {res['p99_ms']:6.1f} ms  errors {res['errors']}",
                flush=True,
            )
    svc, bare = runs["service"], runs["bare"]
    thr = [s["throughput_rps"] / b["throughput_rps"] for s, b in zip(svc, bare, strict=True)]
    p99 = [s["p99_ms"] / b["p99_ms"] for s, b in zip(svc, bare, strict=True)]
    out: dict[str, Any] = {
        "runs": runs,
        "ratio_throughput": _spread(thr),
        "ratio_p99": _spread(p99),
    }
    for name in names:
        out[name] = {
            k: _spread([x[k] for x in runs[name]]) for k in ("throughput_rps", "p50_ms", "p99_ms")
        }
        out[name]["errors"] = sum(x["errors"] for x in runs[name])
    return out


def table(phase: str, res: dict[str, Any]) -> str:
    """The phase as printed lines: medians [min-max] of each server and of the pair ratios."""

    def f(d: dict[str, float], nd: int = 1) -> str:
        return f"{d['median']:.{nd}f} [{d['min']:.{nd}f}-{d['max']:.{nd}f}]"

    lines = [f"{phase}: median [min-max] over {len(res['runs']['service'])} alternating pairs"]
    for name, label in (("bare", "bare FastAPI app"), ("service", "BentoML service")):
        r = res[name]
        lines.append(
            f"  {label:17s} {f(r['throughput_rps'])} req/s   p50 {f(r['p50_ms'])} ms   "
            f"p99 {f(r['p99_ms'])} ms   errors {r['errors']}"
        )
    lines.append(
        f"  service / bare:   throughput x{f(res['ratio_throughput'], 2)}   "
        f"p99 x{f(res['ratio_p99'], 2)}"
    )
    return "\n".join(lines)


def write_bodies(path: Path, bodies: list[dict[str, Any]]) -> Path:
    """One JSON request body per line (what the wrk script rotates through)."""
    path.write_text("\n".join(json.dumps(b, ensure_ascii=False) for b in bodies) + "\n")
    return path


def _summary(lat: list[float], wall: float) -> dict[str, Any]:
    a = np.asarray(lat) * 1000.0
    return {
        "requests": len(a),
        "throughput_rps": round(len(a) / wall, 1) if wall > 0 else 0.0,
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
    }


# -- in-process ----------------------------------------------------------------------------------
def in_process(
    bundle_dir: Path, work: Path, users: list[str], group: str, n: int
) -> dict[str, Any]:
    """The same requests through Engine (ranking + response shaping) and through ranking alone."""
    from serving import ranking
    from serving import schemas as s
    from serving.artifacts import load_bundle
    from serving.engine import Engine
    from training.settings import Settings

    t0 = time.perf_counter()
    b = load_bundle(bundle_dir)
    load_s = time.perf_counter() - t0
    eng = Engine(
        Settings.model_validate({"work_dir": work, "serving": {"bundle_dir": bundle_dir}}), bundle=b
    )
    v = b.variants["champion"]
    out: dict[str, Any] = {"bundle_load_s": round(load_s, 2)}
    lat = []
    for u in users[:n]:
        t = time.perf_counter()
        ranking.rank_user(b, v, ranking.resolve_user(b, u), 10)
        lat.append(time.perf_counter() - t)
    out["user_ranking_only"] = _summary(lat, sum(lat))
    lat = []
    for u in users[:n]:
        req = s.RankUserRequest.model_validate_json(json.dumps({"user": u, "k": 10}))
        t = time.perf_counter()
        eng.rank_user(req)
        lat.append(time.perf_counter() - t)
    out["user_engine"] = _summary(lat, sum(lat))
    lat = []
    for _ in range(max(10, n // 20)):
        greq = s.RankGroupRequest.model_validate({"group_id": group, "k": 10})
        t = time.perf_counter()
        eng.rank_group(greq)
        lat.append(time.perf_counter() - t)
    out["group_engine"] = _summary(lat, sum(lat))
    for strat in ("least_misery", "borda", "fair"):
        lat = []
        for _ in range(10):
            greq = s.RankGroupRequest.model_validate(
                {"group_id": group, "k": 10, "strategy": strat}
            )
            t = time.perf_counter()
            eng.rank_group(greq)
            lat.append(time.perf_counter() - t)
        out[f"group_engine_{strat}"] = _summary(lat, sum(lat))
    eng.exposures.close()
    return out


def _servers(bundle: Path, work: Path) -> tuple[dict[str, str], list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    try:
        for name in ("service", "bare"):
            port, wd = free_port(), work / f"server-{name}"
            wd.mkdir(parents=True, exist_ok=True)
            env = server_env(bundle, wd, workers=1, access_log=False)
            cmd = bare_command(port) if name == "bare" else None
            print(f"starting the {name} on 127.0.0.1:{port} (1 worker) ...", flush=True)
            procs.append(start_server(port, env, wd / "server.log", cmd=cmd))
            urls[name] = f"http://127.0.0.1:{port}"
    except BaseException:
        for p in procs:
            stop_server(p)
        raise
    return urls, procs


def _pick(bundle: Path, group_size: int, n: int) -> tuple[list[str], str, int]:
    b_users = pd.read_parquet(bundle / art.USERS)["user_id"].astype(str).to_numpy()
    groups = pd.read_parquet(bundle / art.GROUPS)["group_id"].astype(str).to_numpy()
    gm = sp.load_npz(bundle / art.GROUP_MEMBERS).tocsr()
    sizes = np.diff(gm.indptr)
    g = int(np.argmin(np.abs(sizes - group_size)))
    users = [str(u) for u in np.random.default_rng(1).choice(b_users, n)]
    return users, str(groups[g]), int(sizes[g])


def main(argv: list[str] | None = None) -> int:
    """CLI: run the benchmark and print the figures."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.load_bench", description=__doc__
    )
    p.add_argument("--bundle", type=Path, default=None, help="an exported bundle to serve")
    p.add_argument("--users", type=int, default=200_000)
    p.add_argument("--items", type=int, default=50_000)
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--group-size", type=int, default=500)
    p.add_argument("--strategy", default="average", help="group strategy over HTTP")
    p.add_argument("--concurrency", type=int, default=8, help="keep-alive connections")
    p.add_argument("--rounds", type=int, default=5, help="alternating pairs per phase")
    p.add_argument("--seconds", type=float, default=10.0, help="length of one wrk run")
    p.add_argument("--in-process", type=int, default=2000, help="in-process calls (0: skip)")
    args = p.parse_args(argv)
    try:
        wrk.wrk_binary()
    except wrk.WrkMissing as exc:
        print(f"error: {exc}")
        return 2
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the in-process side gets the server's OPENBLAS_NUM_THREADS=1
    work = (load_settings().work_dir / "bench").resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.bundle is None:
        bundle = synthetic_bundle(
            work / "bundle", args.users, args.items, args.factors, args.group_size
        )
    else:
        bundle = args.bundle.resolve()
    users, group, members = _pick(bundle, args.group_size, 5000)
    result: dict[str, Any] = {
        "bundle": str(bundle),
        "users": int(pd.read_parquet(bundle / art.USERS, columns=["user_id"]).shape[0]),
        "items": int(pd.read_parquet(bundle / art.ITEMS, columns=["item_id"]).shape[0]),
        "group": group,
        "group_members": members,
        "group_strategy": args.strategy,
        "concurrency": args.concurrency,
        "workers": 1,
        "rounds": args.rounds,
        "seconds_per_run": args.seconds,
        "load_generator": "wrk -t1",
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if args.in_process:
        print("in-process ...", flush=True)
        result["in_process"] = in_process(bundle, work, users, group, args.in_process)
    user_bodies = write_bodies(work / "user_bodies.jsonl", [{"user": u, "k": 10} for u in users])
    group_bodies = write_bodies(
        work / "group_bodies.jsonl", [{"group_id": group, "k": 10, "strategy": args.strategy}]
    )
    urls, procs = _servers(bundle, work)
    try:
        for base in urls.values():  # warm-up: first calls load pages and caches
            for path, bodies in (("/rank/user", user_bodies), ("/rank/group", group_bodies)):
                wrk.run(base + path, bodies, 2, args.concurrency, work)
        for phase, path, bodies in (
            ("user ranking", "/rank/user", user_bodies),
            (f"{members}-member group ranking ({args.strategy})", "/rank/group", group_bodies),
        ):
            print(f"{phase}, {args.concurrency} connections ...", flush=True)
            res = side_by_side(
                {k: v + path for k, v in urls.items()},
                bodies, args.rounds, args.seconds, args.concurrency, work,
            )  # fmt: skip
            result["http_user" if path == "/rank/user" else "http_group"] = res
            result.setdefault("tables", []).append(table(phase, res))
    finally:
        for proc in procs:
            stop_server(proc)
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    name = "synthetic" if args.bundle is None else bundle.name
    (work / f"load_bench-{name}.json").write_text(json.dumps(result, indent=1))
    print(f"\nbundle {bundle}: {result['users']:,} users x {result['items']:,} items")
    print(f"load average {result['load_avg_at_start']} -> {result['load_avg_at_end']}")
    print("\n".join(result["tables"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
