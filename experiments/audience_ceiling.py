"""How far a learned audience can go: a supervised reference at the evaluation's own cut.

The audience learns from earlier cuts. The reference here is more generous: at the very cut
of :mod:`experiments.audience_eval`, on the same users and the same signals
(:func:`training.audience_signals.signals_at`, as model input), a seeded histogram
gradient-boosting classifier learns the true answer (bought a theme item in the horizon)
of four fifths of the users and ranks the other fifth (5-fold, stratified, out of fold).
It knows the month it is judged on, which no audience can. When even this reference is
under 1.05x the naive list, a 1.05x audience row is out of reach with these signals: the
rest of who buys next month is chance the log does not show.

    python -m experiments.audience_ceiling --features WORLD/features [--seed 0]
    python -m experiments.audience_ceiling --dataset tafeng [--src ../shared/datasets]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import audience_eval as ae
from features.schema import Col
from training.audience import AudienceConfig, Theme, conflicted_users, theme_log_for
from training.audience_model import _matrix
from training.audience_signals import signals_at, to_days, users_at

FOLDS = 5


def out_of_fold(m: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold probabilities of a seeded gradient-boosting classifier."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if y.all() or not y.any() or min(int(y.sum()), int((~y).sum())) < FOLDS:
        return np.zeros(len(y))
    model = HistGradientBoostingClassifier(
        learning_rate=0.08, max_iter=100, max_leaf_nodes=15, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=False, random_state=seed,
    )  # fmt: skip
    from threadpoolctl import threadpool_limits

    cv = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):  # small fits: threads only contend on a shared machine
        p = cross_val_predict(model, m, y, cv=cv, method="predict_proba")
    return np.asarray(p[:, 1])


def theme_reference(
    case: ae.Case, theme: Theme, cut: pd.Timestamp, ks: Sequence[int], cfg: AudienceConfig
) -> dict[str, Any]:
    """The reference's and the naive list's precision@k for one theme at the cut."""
    past = case.purchases[case.purchases[Col.TS] <= cut]
    events = None if case.events is None else case.events[case.events[Col.TS] <= cut]
    end = cut + pd.Timedelta(days=case.horizon_days)
    future = case.purchases[(case.purchases[Col.TS] > cut) & (case.purchases[Col.TS] <= end)]
    ti, log = theme_log_for(theme, case.items, past, events)
    t_cut = float(to_days(pd.Series([cut]))[0])
    excluded = conflicted_users(
        case.constraints if case.constraints is not None else pd.DataFrame(),
        ti,
        cfg.category_conflict_share,
    )[Col.USER_ID].astype(str)
    users = users_at(log, t_cut)
    x = signals_at(
        log, t_cut, users, cfg.half_life_days, cfg.prior_baskets, cfg.seed, cfg.embedding
    )
    truth = set(future.loc[future[Col.ITEM_ID].isin(ti.all), Col.USER_ID].astype(str))
    ids = pd.Index(x.index.astype(str))
    y = ids.isin(list(truth))
    p = pd.Series(out_of_fold(_matrix(x), y, cfg.seed), index=ids)
    p = p[~p.index.isin(excluded)]
    ref = pd.Index(p.index.to_numpy()[np.lexsort((p.index.to_numpy(), -p.to_numpy()))])
    naive = ae.naive_list(past, ti.all, ids)
    naive = naive[~naive.isin(excluded)]
    row: dict[str, Any] = {"case": case.name, "theme": theme.name, "buyers": len(truth & set(ids))}
    for k in ks:
        k_eff = min(k, max(len(ids) // 5, 1))
        row[f"k{k}"] = k_eff
        row[f"reference@{k}"] = ae.precision_at(ref, truth, k_eff)
        row[f"naive@{k}"] = ae.precision_at(naive, truth, k_eff)
    return row


def evaluate_reference(
    case: ae.Case, ks: Sequence[int] = ae.KS, cfg: AudienceConfig | None = None
) -> dict[str, Any]:
    """Mean precision@k of the reference and the naive list over the case's themes."""
    cfg = cfg or AudienceConfig()
    cut = ae.default_cut(case.purchases[Col.TS], case.horizon_days)
    rows = [theme_reference(case, t, cut, ks, cfg) for t in case.themes]
    df = pd.DataFrame(rows)
    out: dict[str, Any] = {"case": case.name, "themes": len(df)}
    for k in ks:
        ref, naive = float(df[f"reference@{k}"].mean()), float(df[f"naive@{k}"].mean())
        out[f"k{k}"] = int(df[f"k{k}"].min())
        out[f"reference@{k}"] = round(ref, 4)
        out[f"naive@{k}"] = round(naive, 4)
        out[f"ratio@{k}"] = round(ref / naive, 3) if naive > 0 else float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: the reference beside the naive list, mean over themes, as one JSON line."""
    p = argparse.ArgumentParser(prog="python -m experiments.audience_ceiling", description=__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--features", type=Path, help="feature store of a synthetic world")
    g.add_argument("--dataset", choices=sorted(ae.HORIZON), help="a real dataset")
    p.add_argument("--src", type=Path, default=ae.SRC, help="folder of the real datasets")
    p.add_argument("--work", type=Path, default=Path("work/real"), help="dataset cache")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and the classifier")
    a = p.parse_args(argv)
    if a.features is not None:
        case = ae.load_case(a.features, a.features.parent.name, [], 30.0, "")
        case.themes = ae.synthetic_themes(case)
    else:
        case = ae.real_case(a.dataset, a.src, a.work)
    print(json.dumps(evaluate_reference(case, cfg=AudienceConfig(seed=a.seed))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
