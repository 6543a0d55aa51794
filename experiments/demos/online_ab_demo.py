"""An online A/B on the synthetic world: serve two variants, log exposures, simulate what people do next.

``python -m experiments.demos.online_ab_demo --features WORK/features [--champion repeat] [--challenger popularity]``

1. The newest ``--holdout-days`` of the feature store are held out; both models are fit on
   the events before the cut and exported into one serving bundle (champion, challenger).
2. A real BentoML server routes each person by a stable hash (``--share`` to the challenger)
   and logs every served list to its exposure log; every person who bought something in the
   held-out days asks for a ranking (``--visits`` times).
3. What they do next is drawn by :func:`experiments.online_ab.simulate_responses`: the items
   they really bought after the cut are the ones they want (clicked with probability 0.5 when
   examined, bought after a click with 0.6; others 0.03 and 0.15).
4. :func:`experiments.online_ab.run_analysis` attributes the events to the exposures and
   reports CTR, conversion and revenue per exposure per variant with CIs, the differences
   with a z-test, and logs one MLflow run (``linli.run_type=online-ab``).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from training.settings import Settings, load_settings


def run_demo(
    features: Path,
    out: Path,
    champion: str,
    challenger: str,
    share: float,
    holdout_days: float,
    visits: int,
    seed: int,
    settings: Settings,
    log_mlflow: bool = True,
) -> dict[str, Any]:
    """Serve, simulate, analyse; returns the analysis summary."""
    import httpx

    from experiments import online_ab as O
    from serving.cli import free_port, server_env, start_server, stop_server
    from serving.exposures import read_exposures
    from training.evaluation.folds import features_fold
    from training.export import ExportVariant, export_bundle
    from training.models import build_model

    t0 = time.perf_counter()
    fold = features_fold(features, settings, holdout_days=holdout_days)
    variants = {
        name: ExportVariant(
            build_model(kind).fit(fold.train),
            {"version": f"{name}:{kind}"},
            fold.train.users,
            fold.train.items,
        )
        for name, kind in (("champion", champion), ("challenger", challenger))
    }
    bundle = export_bundle(features, out / "bundle", variants)
    exposures = out / "exposures"
    if exposures.exists():
        for f in exposures.glob("exposures-*.jsonl"):
            f.unlink()
    env = server_env(
        bundle,
        out,
        workers=1,
        access_log=False,
        extra={
            "LINLI_SERVING__EXPOSURE_DIR": str(exposures.resolve()),
            "LINLI_SERVING__EXPERIMENT__ENABLED": "true",
            "LINLI_SERVING__EXPERIMENT__CHALLENGER_SHARE": str(share),
            "LINLI_SERVING__EXPERIMENT__SALT": f"demo-{seed}",
        },
    )
    port = free_port()
    proc = start_server(port, env, out / "server.log", timeout=180)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for _ in range(visits):
                for u in fold.eval_ids:
                    r = c.post("/rank/user", json={"user": str(u), "k": 10})
                    r.raise_for_status()
    finally:
        stop_server(proc)
    truth = fold.truth.tocoo()
    relevant = pd.DataFrame(
        {
            "user_id": fold.eval_ids[truth.row].astype(str),
            "item_id": fold.train.items.ids[truth.col].astype(str),
        }
    )
    prices = pd.read_parquet(features / "items.parquet").set_index("item_id")["price"]
    events = O.simulate_responses(read_exposures(exposures), relevant, prices, seed=seed)
    events_path = out / "later_events.parquet"
    events.drop(columns=["user_id"]).to_parquet(events_path, index=False)
    result = O.run_analysis(
        exposures, O.load_events(events_path, features), 72.0, challenger_share=share, seed=seed
    )
    print(O.format_result(result))
    if log_mlflow:
        run_id = O.log_result(
            result, out / "analysis", settings, run_name=f"online-ab {champion} vs {challenger}"
        )
        print(f"MLflow run {run_id}")
    else:
        O.write_outputs(result, out / "analysis")
    print(
        f"-> {out / 'analysis'}  ({time.perf_counter() - t0:.0f}s; {len(fold.eval_ids):,} people x {visits} visits)"
    )
    return {"variants": result.variants, "diffs": result.diffs, "info": result.info}


def main(argv: list[str] | None = None) -> int:
    """CLI: run the online A/B story on a feature store."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.demos.online_ab_demo", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--features", type=Path, default=None, help="feature store (WORK/features)")
    p.add_argument("--out", type=Path, default=None, help="output folder (WORK/online_ab_demo)")
    p.add_argument("--champion", default="repeat")
    p.add_argument("--challenger", default="popularity", help="the deliberately worse variant")
    p.add_argument(
        "--share", type=float, default=0.5, help="share of people routed to the challenger"
    )
    p.add_argument("--holdout-days", type=float, default=14.0)
    p.add_argument("--visits", type=int, default=1, help="ranking requests per person")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-mlflow", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    settings = load_settings()
    features = args.features or settings.work_dir / "features"
    out = (args.out or settings.work_dir / "online_ab_demo").resolve()
    out.mkdir(parents=True, exist_ok=True)
    run_demo(
        features,
        out,
        args.champion,
        args.challenger,
        args.share,
        args.holdout_days,
        args.visits,
        args.seed,
        settings,
        not args.no_mlflow,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
