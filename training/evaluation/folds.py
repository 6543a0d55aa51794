"""Evaluation folds: what a model fits on, whom it recommends for, and what they bought next.

Basket datasets (Ta-Feng, Instacart, a feature store's baskets) become one fold per seed
with the protocols of :mod:`training.evaluation.split`; a feature store becomes a temporal
fold (events before the cut vs purchases after it, for warm users).

Basket data has no shared calendar (Ta-Feng has no dates; Instacart users are aligned
at their first order), so each user's baskets are placed one day apart ending at the
snapshot: recency and decay count baskets ago.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import store_layout as store
from features.engine.frames import interactions_of_events
from features.matrix import IdMap, Interactions
from features.schema import PURCHASE_EVENTS, Col, EventType
from training.evaluation.split import (
    BASKET,
    BasketSplit,
    last_basket_split,
    number_baskets,
    protocol_split,
    temporal_cutoff,
    temporal_split,
)
from training.settings import Settings

DATASETS = ("tafeng", "instacart", "features")
SNAPSHOT = pd.Timestamp("2001-01-01T00:00:00", tz="Asia/Shanghai")  # basket data: day 0 = now
HISTORY_BUCKETS = (0, 3, 6, 10, 20, 10**9)  # basket-count edges of the history segments
Holdout = Literal["auto", "next-basket", "temporal", "none"]


# -- data ------------------------------------------------------------------------------
def load_baskets(dataset: str, src: Path | str) -> pd.DataFrame:
    """A basket frame (user_id, basket_index, item_id as strings) from a dataset's own files."""
    src = Path(src)
    if dataset == "tafeng":
        from features.adapters.tafeng import read_baskets

        lines = read_baskets(src)
    elif dataset == "instacart":
        from features.adapters.instacart import to_schema

        ev = to_schema(src)["events"].rename(columns={Col.ID_VALUE: Col.USER_ID})
        lines = number_baskets(ev[[Col.USER_ID, Col.ORDER_ID, Col.TS, Col.ITEM_ID]])
    elif dataset == "features":
        bask = pd.read_parquet(src / store.BASKETS)
        lines = number_baskets(bask[[Col.USER_ID, Col.ORDER_ID, Col.TS, Col.ITEM_ID]])
    else:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    lines = lines.dropna(subset=[Col.USER_ID, Col.ITEM_ID])
    out = pd.DataFrame(
        {
            Col.USER_ID: lines[Col.USER_ID].astype("string").to_numpy(),
            BASKET: lines[BASKET].to_numpy(np.int64),
            Col.ITEM_ID: lines[Col.ITEM_ID].astype("string").to_numpy(),
        }
    )
    return out.drop_duplicates().reset_index(drop=True)


def basket_events(lines: pd.DataFrame, snapshot: pd.Timestamp = SNAPSHOT) -> pd.DataFrame:
    """Order events for basket lines, each user's baskets one day apart ending at ``snapshot``."""
    last = lines.groupby(Col.USER_ID, sort=False)[BASKET].transform("max")
    ago = (last - lines[BASKET]).to_numpy(np.int64)
    user = lines[Col.USER_ID].astype("string")
    return pd.DataFrame(
        {
            Col.USER_ID: user.to_numpy(),
            Col.ITEM_ID: lines[Col.ITEM_ID].astype("string").to_numpy(),
            Col.EVENT_TYPE: str(EventType.ORDER),
            Col.TS: snapshot - pd.to_timedelta(ago, unit="D"),
            Col.ORDER_ID: (user + ":" + lines[BASKET].astype("string")).to_numpy(),
        }
    )


def interactions_from_baskets(
    lines: pd.DataFrame, users: IdMap, items: IdMap, settings: Settings
) -> Interactions:
    """The Interactions a model fits on, from basket lines (purchases only)."""
    return interactions_of_events(
        basket_events(lines),
        users,
        items,
        settings.features.event_weights,
        settings.features.half_life_days,
        snapshot=SNAPSHOT,
    )


def _csr_for(
    users: IdMap, items: IdMap, user_ids: np.ndarray, lines: pd.DataFrame
) -> sp.csr_matrix:
    """Binary len(user_ids) x items matrix of the lines' (user, item) pairs."""
    row_of = pd.Series(np.arange(len(user_ids)), index=pd.Index(user_ids, dtype="string"))
    r = row_of.reindex(pd.Index(lines[Col.USER_ID].astype("string"))).to_numpy()
    c = items.index(lines[Col.ITEM_ID])
    ok = ~np.isnan(r) & (c >= 0)
    m = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (r[ok].astype(np.int64), c[ok])),
        shape=(len(user_ids), len(items)),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


# -- folds -----------------------------------------------------------------------------
@dataclass
class Fold:
    """One evaluation split: what to fit on, whom to recommend for, and what they bought."""

    seed: int
    train: Interactions
    eval_users: np.ndarray  # user indices into train.users
    truth: sp.csr_matrix  # rows aligned with eval_users
    history: sp.csr_matrix  # the eval users' purchases in train (rows aligned)
    segments: pd.Series | None = None  # a segment label per eval user (row position index)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def eval_ids(self) -> np.ndarray:
        """External ids of the evaluated users."""
        return self.train.users.ids[self.eval_users]


def history_segments(n_baskets: np.ndarray) -> pd.Series:
    """Label users by their number of history baskets (``01-03``, ``04-06``, ...)."""
    edges = HISTORY_BUCKETS
    labels = [
        f"{lo + 1:02d}-{hi:02d} baskets" if hi < 10**9 else f"{lo + 1:02d}+ baskets"
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return pd.Series(pd.cut(n_baskets, bins=list(edges), labels=labels).astype(str), name="segment")


def basket_fold(
    split: BasketSplit, users: IdMap, items: IdMap, settings: Settings, seed: int
) -> Fold:
    """A fold from a basket split: fit matrix, evaluated users, their future baskets."""
    train = interactions_from_baskets(split.fit, users, items, settings)
    eval_ids = np.asarray(split.evaluated, dtype=object)
    eval_idx = users.index(eval_ids)
    if (eval_idx < 0).any():
        raise ValueError("evaluated users missing from the user index")
    truth = _csr_for(users, items, eval_ids, split.target)
    history = train.purchases[eval_idx].tocsr()
    fit_users = split.fit[split.fit[Col.USER_ID].isin(eval_ids)]
    n_hist = fit_users.groupby(Col.USER_ID)[BASKET].nunique().reindex(pd.Index(eval_ids)).to_numpy()
    info = {
        "fit_lines": len(split.fit),
        "eval_users": len(eval_ids),
        "target_lines": len(split.target),
        "train_users": len(split.users.train),
        "val_users": len(split.users.val),
    }
    return Fold(seed, train, eval_idx, truth, history, history_segments(n_hist), info)


def basket_folds(
    lines: pd.DataFrame,
    seeds: Sequence[int],
    settings: Settings,
    protocol: str = "users",
    target: str = "test",
) -> Iterator[Fold]:
    """One fold per seed (built lazily) over a basket frame."""
    users = IdMap.from_values(lines[Col.USER_ID])
    items = IdMap.from_values(lines[Col.ITEM_ID])
    fixed = last_basket_split(lines) if protocol == "last" else None
    for seed in seeds:
        split = fixed or protocol_split(lines, seed, target=target)  # type: ignore[arg-type]
        yield basket_fold(split, users, items, settings, seed)


def features_fold(
    store_dir: Path | str,
    settings: Settings,
    holdout_days: float = 14.0,
    end: pd.Timestamp | None = None,
    seed: int = 0,
) -> Fold:
    """Temporal fold of a feature store: events before the cut vs purchases after it (warm users)."""
    from features.matrix import item_feature_matrix, user_feature_matrix

    store_dir = Path(store_dir)
    events = pd.read_parquet(store_dir / store.EVENTS)
    if end is not None:
        events = events[events[Col.TS] < end]
    cutoff = temporal_cutoff(events, holdout_days)
    before, after = temporal_split(events, cutoff=cutoff)
    mdir = store_dir / store.MATRIX_DIR
    if (mdir / "users.parquet").exists():
        users = IdMap(
            np.asarray(pd.read_parquet(mdir / "users.parquet")[Col.USER_ID], dtype=object)
        )
        items = IdMap(
            np.asarray(pd.read_parquet(mdir / "items.parquet")[Col.ITEM_ID], dtype=object)
        )
    else:
        users = IdMap.from_values(events[Col.USER_ID])
        items = IdMap.from_values(events[Col.ITEM_ID])
    train = interactions_of_events(
        before,
        users,
        items,
        settings.features.event_weights,
        settings.features.half_life_days,
        snapshot=cutoff,
    )
    if (store_dir / store.ITEMS).exists():
        train.item_features, train.item_feature_names = item_feature_matrix(
            items, pd.read_parquet(store_dir / store.ITEMS)
        )
    if (store_dir / store.TAGS).exists():
        train.user_features, train.user_feature_names = user_feature_matrix(
            users, pd.read_parquet(store_dir / store.TAGS)
        )
    buys = after[after[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
    warm = np.flatnonzero(np.diff(train.weights.indptr) > 0)
    buyers = users.index(buys[Col.USER_ID].dropna().astype("string").drop_duplicates())
    eval_idx = np.intersect1d(warm, buyers[buyers >= 0])
    eval_ids = users.ids[eval_idx]
    truth = _csr_for(users, items, eval_ids, buys)
    history = train.purchases[eval_idx].tocsr()
    n_hist = np.asarray(
        before[before[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
        .groupby(Col.USER_ID)[Col.ORDER_ID]
        .nunique()
        .reindex(pd.Index(eval_ids, dtype="string"))
        .fillna(0)
        .to_numpy(),
        dtype=np.int64,
    )
    info = {
        "cutoff": str(cutoff),
        "holdout_days": holdout_days,
        "fit_events": len(before),
        "holdout_purchase_lines": len(buys),
        "eval_users": len(eval_idx),
    }
    return Fold(seed, train, eval_idx, truth, history, history_segments(n_hist), info)


# -- the holdout of a feature store's matrix (training and tuning) -----------------------
def load_matrix(features_dir: Path | str) -> Interactions:
    """The feature store's interaction matrix (``DIR/matrix``)."""
    path = Path(features_dir) / store.MATRIX_DIR
    if not (path / "meta.json").exists():
        raise FileNotFoundError(f"no matrix in {path} (run `linli features build` first)")
    return Interactions.load(path)


def next_basket_fold(data: Interactions, seed: int = 0, depth: int = 1) -> Fold:
    """Fold whose truth is each user's last basket (``depth=2``: the one before, for validation)."""
    from features.matrix import hold_out_last_baskets

    train, truth = hold_out_last_baskets(data)
    for _ in range(depth - 1):
        train, truth = hold_out_last_baskets(train)
    has_truth = np.diff(truth.indptr) > 0
    has_history = np.diff(train.purchases.indptr) > 0
    eval_idx = np.flatnonzero(has_truth & has_history)
    n_hist: np.ndarray = np.zeros(len(eval_idx), np.int64)
    if train.baskets is not None and len(train.baskets):
        from features.matrix import BasketCol

        counts = train.baskets.groupby(BasketCol.USER)[BasketCol.BASKET].nunique()
        n_hist = counts.reindex(eval_idx).fillna(0).to_numpy(np.int64)
    info = {"split": "next-basket", "depth": depth, "eval_users": int(len(eval_idx))}
    return Fold(
        seed,
        train,
        eval_idx,
        truth[eval_idx].tocsr(),
        train.purchases[eval_idx].tocsr(),
        history_segments(n_hist),
        info,
    )


def holdout_fold(
    data: Interactions,
    features_dir: Path | str,
    settings: Settings,
    holdout: Holdout = "auto",
    holdout_days: float = 14.0,
    validation: bool = False,
) -> Fold | None:
    """The holdout fold for metrics (``validation=True``: one step earlier, for tuning)."""
    mode = holdout
    if mode == "auto":
        mode = "next-basket" if data.baskets is not None and len(data.baskets) else "temporal"
    if mode == "none":
        return None
    if mode == "next-basket":
        if data.baskets is None:
            raise ValueError("the matrix has no baskets; use --holdout temporal")
        return next_basket_fold(data, settings.seed, depth=2 if validation else 1)
    end = None
    if validation:
        events = pd.read_parquet(Path(features_dir) / store.EVENTS, columns=["ts"])
        end = temporal_cutoff(events, holdout_days)
    fold = features_fold(features_dir, settings, holdout_days, end=end, seed=settings.seed)
    fold.info["split"] = "temporal"
    return fold
