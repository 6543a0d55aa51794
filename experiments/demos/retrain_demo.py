"""The retraining loop on a two-month synthetic world: month 1 trains the champion, month 2 arrives.

``python -m experiments.demos.retrain_demo --out work/retrain-demo [--people 6000] [--serve]``

1. ``linli synth`` a world of ``--months`` (2) months; its events are cut at the start of
   the last month into ``data/events/<month>.parquet`` parts (live sessions likewise), the
   other tables are current-state exports and stay whole.
2. Month 1 only: feature store, ``linli train --model repeat --alias champion``, export of
   the serving bundle (with ``--serve``, a BentoML server starts on it).
3. Month 2 arrives as a new file in ``data/events/``; ``linli retrain --data data`` builds the
   features, trains the challenger, runs the A/B on the newest holdout and promotes or
   refuses (with ``--serve`` the running server is reloaded and must answer with the new
   version, with no failed request while it swaps).
4. The same command again: nothing new, the job says so (idempotent).
5. A deliberately weak challenger (``--model popularity``): refused, with the reason.

Everything goes under ``--out`` (its own MLflow store ``mlflow.db``: ``mlflow ui
--backend-store-uri sqlite:///OUT/mlflow.db`` shows the retrain runs and their A/B).
A summary is written to ``OUT/retrain_demo.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from features.schema import Col
from training.settings import Settings

EVENT_PARTS = "events"
LIVE_PARTS = "live_sessions"


def china_ts(values: pd.Series) -> pd.Series:
    """Timestamps as UTC; text without an offset is China time (as SCHEMA.md says)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    s = values.astype(str)
    naive = ~s.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True)
    return pd.to_datetime(s.where(~naive, s + "+08:00"), utc=True, format="mixed")


def month_cut(events_path: Path) -> pd.Timestamp:
    """The first instant of the last calendar month of the events (China time)."""
    last = china_ts(pd.read_parquet(events_path, columns=[Col.TS])[Col.TS]).max()
    last = last.tz_convert("Asia/Shanghai")
    return pd.Timestamp(year=last.year, month=last.month, day=1, tz="Asia/Shanghai")


def split_world(src: Path, dst: Path, cut: pd.Timestamp) -> dict[str, Path]:
    """Copy a data dir to ``dst`` with events and lives before ``cut`` only; return the later parts."""
    dst.mkdir(parents=True, exist_ok=True)
    later: dict[str, Path] = {}
    pending = dst.parent / f"{dst.name}-arrivals"
    pending.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        name = f.name.split(".")[0]
        if name not in (EVENT_PARTS, LIVE_PARTS):
            shutil.copy2(f, dst / f.name)
            continue
        df = pd.read_parquet(f)
        col = Col.TS if name == EVENT_PARTS else Col.START_TS
        ts = china_ts(df[col])
        early = (ts < cut.tz_convert("UTC")).to_numpy()
        (dst / name).mkdir(exist_ok=True)
        df[early].to_parquet(
            dst / name / f"{(cut - pd.Timedelta(days=1)):%Y-%m}.parquet", index=False
        )
        path = pending / name / f"{cut:%Y-%m}.parquet"
        path.parent.mkdir(exist_ok=True)
        df[~early].to_parquet(path, index=False)
        later[name] = path
    return later


def arrive(later: dict[str, Path], data: Path) -> None:
    """Month 2's files land in the data directory (new parts beside month 1's)."""
    for name, path in later.items():
        shutil.copy2(path, data / name / path.name)


def _hammer(url: str, users: list[str], stop: threading.Event, result: dict[str, Any]) -> None:
    """Rank users in a loop until stopped; count answers by status (for the reload check)."""
    import httpx

    counts: dict[int, int] = {}
    versions: set[str] = set()
    with httpx.Client(base_url=url, timeout=30) as c:
        i = 0
        while not stop.is_set():
            r = c.post("/rank/user", json={"user": users[i % len(users)], "k": 5})
            counts[r.status_code] = counts.get(r.status_code, 0) + 1
            if r.status_code == 200:
                versions.add(str(r.json().get("model_version")))
            i += 1
    result.update({"status_counts": counts, "versions_seen": sorted(versions)})


def run_demo(out: Path, people: int, months: int, seed: int, serve: bool) -> dict[str, Any]:
    """The whole story; returns the summary written to ``OUT/retrain_demo.json``."""
    from experiments.retrain import RetrainConfig, retrain
    from features.build import run as build_features
    from features.synth import SynthConfig, generate, write_world
    from training import tracking
    from training.export import export_bundle, registry_variants
    from training.train import train

    t_start = time.perf_counter()
    settings = Settings(work_dir=out)
    summary: dict[str, Any] = {"out": str(out), "people": people, "months": months, "seed": seed}
    world = out / "world"
    if not (world / "data" / "events.parquet").exists():
        write_world(generate(SynthConfig(people=people, months=months, seed=seed)), world)
    cut = month_cut(world / "data" / "events.parquet")
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    later = split_world(world / "data", data, cut)
    summary["cut"] = str(cut)
    # month 1: features, champion, bundle
    month1 = out / "features-month1"
    build_features(data, month1, settings, progress=False, use_store=False)
    champ = train(
        "repeat",
        month1,
        {},
        settings,
        alias="champion",
        holdout="temporal",
        run_name="month-1 champion",
    )
    summary["champion_month1"] = {
        "version": champ.version,
        "metrics": {k: round(v, 4) for k, v in champ.metrics.items() if k.endswith("_at_10")},
    }
    bundle = out / "bundle"
    export_bundle(month1, bundle, registry_variants(settings, ("champion",)))
    (out / "retrain").mkdir(exist_ok=True)
    (out / "retrain" / "current.json").write_text(
        json.dumps({"features": str(month1.resolve()), "version": champ.version})
    )
    proc = None
    env_backup = dict(os.environ)
    try:
        url = None
        if serve:
            from serving.cli import free_port, server_env, start_server

            port = free_port()
            token = os.environ.setdefault("LINLI_ADMIN_TOKEN", os.urandom(12).hex())
            env = server_env(
                bundle, out, workers=1, access_log=False, extra={"LINLI_ADMIN_TOKEN": token}
            )
            proc = start_server(port, env, out / "server.log", timeout=180)
            url = f"http://127.0.0.1:{port}"
        # month 2 arrives
        arrive(later, data)
        users = (
            pd.read_parquet(month1 / "users.parquet", columns=[Col.USER_ID])[Col.USER_ID]
            .astype(str)
            .head(200)
            .tolist()
        )
        stop, traffic = threading.Event(), dict[str, Any]()
        hammer = threading.Thread(target=_hammer, args=(url, users, stop, traffic)) if url else None
        if hammer:
            hammer.start()
        first = retrain(data, settings, RetrainConfig(), bundle, reload_url=url)
        if hammer:
            time.sleep(2.0)
            stop.set()
            hammer.join()
            summary["traffic_during_retrain"] = traffic
        summary["retrain"] = _outcome(first)
        again = retrain(data, settings, RetrainConfig(), bundle, reload_url=url)
        summary["retrain_again"] = _outcome(again)
        weak = retrain(
            data, settings, RetrainConfig(model="popularity", params={}), bundle, reload_url=url
        )
        summary["retrain_popularity"] = _outcome(weak)
        if url:
            import httpx

            summary["server_info_after"] = (
                httpx.post(f"{url}/info", json={}, timeout=30).json().get("variants")
            )
    finally:
        if proc is not None:
            from serving.cli import stop_server

            stop_server(proc)
        os.environ.clear()
        os.environ.update(env_backup)
    summary["registry"] = tracking.versions(settings)[
        ["version", "aliases", "kind", "ndcg_at_10", "recall_at_10"]
    ].to_dict("records")
    summary["seconds"] = round(time.perf_counter() - t_start, 1)
    summary["mlflow_ui"] = (
        f"mlflow ui --backend-store-uri sqlite:///{(out / 'mlflow.db').resolve()} --port 5000"
    )
    (out / "retrain_demo.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    return summary


def _outcome(o: Any) -> dict[str, Any]:
    from dataclasses import asdict

    d = {k: v for k, v in asdict(o).items() if k not in ("ab", "steps")}
    d["steps"] = {s.name: {"status": s.status, "seconds": s.seconds} for s in o.steps}
    table = o.ab.get("table") if o.ab else None
    if table is not None:
        d["ab_overall"] = table[table["segment"] == "all"].round(5).to_dict("records")
    return d


def main(argv: list[str] | None = None) -> int:
    """CLI: run the two-month retraining story and print what happened."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.demos.retrain_demo", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--out", type=Path, default=Path("work/retrain-demo"))
    p.add_argument("--people", type=int, default=6000)
    p.add_argument("--months", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--serve", action="store_true", help="run a server and reload it on promotion")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    s = run_demo(args.out.resolve(), args.people, args.months, args.seed, args.serve)
    for name in ("retrain", "retrain_again", "retrain_popularity"):
        o = s[name]
        print(
            f"{name:<19} {o['decision']:<9} champion v{o['champion_before']} -> v{o['champion_after']}: {o['reason']}"
        )
    if "traffic_during_retrain" in s:
        print(f"traffic while retraining and reloading: {s['traffic_during_retrain']}")
    print(
        f"summary: {args.out / 'retrain_demo.json'}  ({s['seconds']}s)\nMLflow UI: {s['mlflow_ui']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
