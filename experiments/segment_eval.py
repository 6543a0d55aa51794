"""Segment evaluation: Linli's segments against the true personas and against naive k-means.

`evaluate_segments(world_dir, seed)` reads `WORLD/data` (the feature store `WORLD/features` is
built when missing) and, where the world has a truth (`WORLD/truth`, written by `linli synth`),
scores both Linli's segments (k chosen by the method) and the naive baseline
(:mod:`experiments.segment_baseline`, k-means with the true k) by the adjusted Rand index
against the true personas, on the same users. Without a truth (the real datasets) it reports
the segments' names and sizes and whether the names are unique and free of placeholders.

    python -m experiments.segment_eval WORLD [WORLD ...] [--seed 0]
    python -m experiments.segment_eval --dataset tafeng [--src ../shared/datasets]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from experiments.segment_baseline import naive_segments
from experiments.synth_truth import PERSONA, load_user_truth
from features import store_layout as store
from features.matrix import Interactions
from features.schema import Col
from training.segments import (
    NEW_SEGMENT,
    SegmentConfig,
    UserFeatures,
    discover_with_features,
    placeholder_names,
)

EVENT_COLUMNS = [
    Col.USER_ID,
    Col.TS,
    Col.EVENT_TYPE,
    Col.ITEM_ID,
    Col.AMOUNT,
    Col.TEXT,
    Col.CHANNEL,
]


def ensure_features(world: Path) -> Path:
    """WORLD/features, built from WORLD/data when missing."""
    f = world / "features"
    if not (f / store.SUMMARY).exists():
        from features.build import run
        from features.settings import Settings

        run(world / "data", f, Settings(work_dir=world / "work"), progress=False)
    return f


def dataset_world(name: str, out: Path, src: Path = Path("../shared/datasets")) -> Path:
    """OUT/data from a real dataset through its adapter (kept when already there)."""
    if not (out / "data").exists():
        from features.adapters import adapter, write_tables

        write_tables(adapter(name).to_schema(src / name), out / "data", "parquet")
    return out


def evaluate_segments(
    world_dir: Path | str, seed: int = 0, details: bool = False
) -> dict[str, Any]:
    """Our segments (ARI, k found) beside the naive baseline (ARI with the true k), or names only.

    With a truth, ``ari_ceiling`` is the supervised reference on our features
    (:func:`experiments.segment_ceiling.features_reference`); ``details`` adds ``matched``,
    the users with persona, segment, naive label and event count.
    """
    world = Path(world_dir)
    t0 = time.perf_counter()
    f = ensure_features(world)
    inter = Interactions.load(f / store.MATRIX_DIR)
    items, users, tags = (pd.read_parquet(f / n) for n in (store.ITEMS, store.USERS, store.TAGS))
    present = set(pq.read_schema(f / store.EVENTS).names)
    events = pd.read_parquet(f / store.EVENTS, columns=[c for c in EVENT_COLUMNS if c in present])
    cfg = SegmentConfig(seed=seed)
    seg, cl, _, feats = discover_with_features(inter, items, users, tags, cfg, events=events)
    sizes = seg.groupby(Col.SEGMENT_NAME).size().sort_values(ascending=False)
    names = seg.drop_duplicates(Col.SEGMENT_ID)[Col.SEGMENT_NAME].astype(str).tolist()
    out: dict[str, Any] = {
        "world": str(world),
        "users": int(len(seg)),
        "k": int(cl.k),
        "segments": [{"name": str(n), "size": int(s)} for n, s in sizes.items()],
        "names_unique": len(names) == len(set(names)),
        "placeholder_names": placeholder_names(names),
        "ari": None,
        "ari_naive": None,
        "k_true": None,
    }
    truth_dir = world / "truth"
    if (truth_dir / "people.parquet").exists():
        out.update(_against_truth(f, truth_dir, inter, events, seg, (feats, cfg), details))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _against_truth(
    f: Path,
    truth_dir: Path,
    inter: Interactions,
    events: pd.DataFrame,
    seg: pd.DataFrame,
    clustered: tuple[UserFeatures, SegmentConfig],
    details: bool,
) -> dict[str, Any]:
    """ARI of ours, of the naive baseline and of the supervised reference, on the same users."""
    from sklearn.metrics import adjusted_rand_score

    from experiments.segment_ceiling import features_reference

    feats, cfg = clustered
    seed = cfg.seed
    truth = load_user_truth(f, truth_dir)
    k_true = int(pd.read_parquet(truth_dir / "people.parquet")[PERSONA].nunique())
    naive = pd.DataFrame(
        {
            Col.USER_ID: np.asarray(inter.users.ids, dtype=str),
            "naive": naive_segments(inter, events, k_true, seed),
        }
    )
    m = truth.merge(seg.astype({Col.USER_ID: str}), on=Col.USER_ID).merge(naive, on=Col.USER_ID)
    ours = float(adjusted_rand_score(m[PERSONA], m[Col.SEGMENT_ID]))
    base = float(adjusted_rand_score(m[PERSONA], m["naive"]))
    ceiling = features_reference(feats, cfg, m, PERSONA, seed)
    extra: dict[str, Any] = {}
    if details:
        n_events = events.groupby(events[Col.USER_ID].astype(str)).size()
        extra["matched"] = m.assign(events=m[Col.USER_ID].map(n_events).fillna(0).to_numpy())
    return {
        **extra,
        "k_true": k_true,
        "ari": round(ours, 4),
        "ari_naive": round(base, 4),
        "ari_ceiling": round(ceiling, 4),
        "ratio": round(ours / base, 3) if base > 0 else None,
        "users_scored": int(len(m)),
        "new_users": int((m[Col.SEGMENT_ID] == NEW_SEGMENT).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: evaluate each world (or real dataset) and print one JSON line per world."""
    p = argparse.ArgumentParser(prog="python -m experiments.segment_eval", description=__doc__)
    p.add_argument("worlds", nargs="*", type=Path)
    p.add_argument("--dataset", action="append", default=[], help="a real dataset name")
    p.add_argument("--src", type=Path, default=Path("../shared/datasets"))
    p.add_argument("--work", type=Path, default=Path("work/segment_eval"))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    worlds = list(a.worlds) + [dataset_world(d, a.work / d, a.src) for d in a.dataset]
    for w in worlds:
        print(json.dumps(evaluate_segments(w, a.seed), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
