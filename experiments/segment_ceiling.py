"""How far segments can go on a world: a supervised reference, the confusion table, where errors sit.

Segments are unsupervised; the true personas of a synthetic world tell how much of the
persona the users' features hold at all. The *supervised reference*
(:func:`supervised_reference`) fits a multinomial logistic regression on the very feature
matrix the segments cluster (:meth:`training.segments.UserFeatures.matrix` with the segment
config's block weights) with the true personas as labels, predicts every user from the
other folds (5-fold, stratified, seeded), and scores those predictions by the adjusted Rand
index like the segments. A clustering of those features that matched it would be as good as
knowing the answer for 80% of the users; when it sits below 1.05x the naive baseline, a
1.05x segment row is out of reach on that world with these features, and the confusion
table (:func:`confusion`) and the error rate by activity (:func:`errors_by_activity`) show
what separates the rest (users with a handful of events, identities that never link).

    python -m experiments.segment_ceiling WORLD [WORLD ...] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.schema import Col
from training.segments import SegmentConfig, UserFeatures

FOLDS = 5
ACTIVITY_BINS = 5


def supervised_reference(x: np.ndarray, personas: np.ndarray, seed: int) -> float:
    """ARI of out-of-fold logistic-regression predictions of the personas from `x`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    classes, counts = np.unique(personas, return_counts=True)
    folds = int(min(FOLDS, counts.min())) if len(classes) > 1 else 0
    if folds < 2 or x.shape[1] == 0:
        return float("nan")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = LogisticRegression(C=1.0, max_iter=2000)
    pred = cross_val_predict(model, x, personas, cv=cv)
    return float(adjusted_rand_score(personas, pred))


def features_reference(
    feats: UserFeatures, cfg: SegmentConfig, truth: pd.DataFrame, persona: str, seed: int
) -> float:
    """:func:`supervised_reference` on the segments' own feature matrix (active users with a truth)."""
    x, _ = feats.matrix(cfg.block_weights, cfg.whole_blocks)
    ids = np.asarray(feats.users.ids, dtype=str)[feats.active]
    t = truth.assign(**{Col.USER_ID: truth[Col.USER_ID].astype(str)}).set_index(Col.USER_ID)
    labels = t[persona].reindex(ids)
    ok = labels.notna().to_numpy()
    return supervised_reference(x[ok], labels[ok].astype(str).to_numpy(), seed)


def confusion(personas: pd.Series, segments: pd.Series) -> pd.DataFrame:
    """Personas (rows) x segments (columns): users in each cell."""
    return pd.crosstab(personas.rename("persona"), segments.rename("segment"))


def errors_by_activity(
    personas: pd.Series, segments: pd.Series, events: pd.Series, bins: int = ACTIVITY_BINS
) -> pd.DataFrame:
    """Share of users outside their segment's majority persona, per quantile of event count.

    A segment stands for the persona most of its users have; a user of another persona in
    it counts as an error. Rows: event-count range, users, error share.
    """
    table = confusion(personas, segments)
    majority = table.idxmax(axis=0)
    wrong = segments.map(majority).to_numpy() != personas.to_numpy()
    binned = pd.qcut(events.rank(method="first"), bins, labels=False)
    frame = pd.DataFrame({"bin": binned.to_numpy(), "events": events.to_numpy(), "wrong": wrong})
    out = frame.groupby("bin").agg(
        events_min=("events", "min"),
        events_max=("events", "max"),
        users=("wrong", "size"),
        error_share=("wrong", "mean"),
    )
    return out.reset_index(drop=True)


def world_ceiling(world: Path, seed: int = 0) -> dict[str, Any]:
    """Ours, naive, the supervised reference, the 1.05x target, confusion and errors by activity."""
    from experiments import segment_eval as se
    from experiments.synth_truth import PERSONA

    r = se.evaluate_segments(world, seed, details=True)
    if r.get("ari") is None:
        raise ValueError(f"{world}: no truth/people.parquet, so no personas to compare with")
    m: pd.DataFrame = r.pop("matched")
    return {
        **{k: v for k, v in r.items() if k != "segments"},
        "target": round(1.05 * float(r["ari_naive"]), 4),
        "confusion": confusion(m[PERSONA], m[Col.SEGMENT_ID]),
        "errors_by_activity": errors_by_activity(m[PERSONA], m[Col.SEGMENT_ID], m["events"]),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: for each world, the figures as JSON and the two tables as text."""
    p = argparse.ArgumentParser(prog="python -m experiments.segment_ceiling", description=__doc__)
    p.add_argument("worlds", nargs="+", type=Path, help="world folders (WORLD/data, WORLD/truth)")
    p.add_argument("--seed", type=int, default=0, help="seed of the segments and the folds")
    a = p.parse_args(argv)
    for w in a.worlds:
        r = world_ceiling(w, a.seed)
        tables = {k: r.pop(k) for k in ("confusion", "errors_by_activity")}
        print(json.dumps(r, ensure_ascii=False, default=str), flush=True)
        for name, table in tables.items():
            print(f"{name}:\n{table.to_string()}\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
