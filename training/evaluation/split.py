"""Evaluation splits over event and basket frames: global temporal cut, next basket, Ta-Feng protocol.

Pure functions over DataFrames. A *basket frame* has one row per basket line with
``user_id``, ``basket_index`` (0, 1, ... within each user, in time order) and
``item_id`` (extra columns ride along); :func:`number_baskets` derives
``basket_index`` from order ids and timestamps.

The Ta-Feng protocol of "A Next Basket Recommendation Reality Check" (Li et al.,
TOIS 2023): shuffle users with a seed; the first 72% are train users, the next 8%
validation, the last 20% test. Each user's last basket is their *future* basket.
A model may see every user's history and the future baskets of train users (and
of validation users once tuning is over); it predicts the future basket of each
test (or validation) user from their history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.schema import Col

BASKET = "basket_index"
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.72, 0.08, 0.20)


@dataclass(frozen=True)
class UserSplit:
    """Users shuffled into train / validation / test (each a sorted array of ids)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int


@dataclass(frozen=True)
class BasketSplit:
    """What a model may fit on, and the baskets it must predict."""

    fit: pd.DataFrame  # basket lines the model may see
    target: pd.DataFrame  # the future basket lines of the evaluated users
    users: UserSplit
    evaluated: np.ndarray  # the users whose future basket is the target (sorted)


def temporal_split(
    events: pd.DataFrame,
    cutoff: pd.Timestamp | str | None = None,
    holdout_days: float | None = None,
    ts_col: str = Col.TS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global cut in time: rows before ``cutoff`` and rows at or after it.

    Give ``cutoff`` or ``holdout_days`` (the cut is that many days before the last
    timestamp).
    """
    if (cutoff is None) == (holdout_days is None):
        raise ValueError("give exactly one of cutoff or holdout_days")
    ts = events[ts_col]
    if cutoff is None:
        cut = ts.max() - pd.Timedelta(days=float(holdout_days))  # type: ignore[arg-type]
    else:
        cut = pd.Timestamp(cutoff)
        if ts.dt.tz is not None and cut.tz is None:
            cut = cut.tz_localize(ts.dt.tz)
    before = ts < cut
    return events[before].copy(), events[~before].copy()


def temporal_cutoff(
    events: pd.DataFrame, holdout_days: float, ts_col: str = Col.TS
) -> pd.Timestamp:
    """The timestamp ``holdout_days`` before the last event."""
    return pd.Timestamp(events[ts_col].max() - pd.Timedelta(days=float(holdout_days)))


def number_baskets(
    lines: pd.DataFrame,
    order_col: str = Col.ORDER_ID,
    ts_col: str | None = Col.TS,
    user_col: str = Col.USER_ID,
) -> pd.DataFrame:
    """Add ``basket_index``: each user's orders numbered 0, 1, ... by (time, order id)."""
    keys = [user_col] + ([ts_col] if ts_col and ts_col in lines.columns else []) + [order_col]
    orders = lines[keys].drop_duplicates(subset=[user_col, order_col])
    orders = orders.sort_values(keys, kind="stable")
    orders[BASKET] = orders.groupby(user_col, sort=False).cumcount().astype("int64")
    out = lines.merge(orders[[user_col, order_col, BASKET]], on=[user_col, order_col], how="left")
    return out


def last_basket_mask(lines: pd.DataFrame, user_col: str = Col.USER_ID) -> pd.Series:
    """True for the lines of each user's last basket."""
    last = lines.groupby(user_col, sort=False)[BASKET].transform("max")
    return lines[BASKET] == last


def next_basket_split(
    lines: pd.DataFrame, user_col: str = Col.USER_ID, min_history: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last basket is the target, earlier ones the history.

    Users with fewer than ``min_history`` earlier baskets keep all their lines in the
    history and have no target.
    """
    is_last = last_basket_mask(lines, user_col)
    n_baskets = lines.groupby(user_col, sort=False)[BASKET].transform("nunique")
    is_target = is_last & (n_baskets > min_history)
    return lines[~is_target].copy(), lines[is_target].copy()


def user_split(
    users: np.ndarray | pd.Series | list[str],
    seed: int,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> UserSplit:
    """Shuffle distinct users with ``seed`` and cut them into train / validation / test."""
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative shares summing to 1: {fractions}")
    ids = np.sort(np.asarray(pd.Series(users, dtype="string").dropna().unique(), dtype=object))
    order = np.random.default_rng(seed).permutation(len(ids))
    n_train = int(round(fractions[0] * len(ids)))
    n_val = int(round(fractions[1] * len(ids)))
    shuffled = ids[order]
    return UserSplit(
        train=np.sort(shuffled[:n_train]),
        val=np.sort(shuffled[n_train : n_train + n_val]),
        test=np.sort(shuffled[n_train + n_val :]),
        seed=seed,
    )


def protocol_split(
    lines: pd.DataFrame,
    seed: int,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    target: Literal["test", "val"] = "test",
    user_col: str = Col.USER_ID,
) -> BasketSplit:
    """The Ta-Feng protocol over a basket frame (each user's last basket is the future one).

    ``target="test"``: fit on every history plus the future baskets of train and
    validation users, predict test users. ``target="val"`` (for tuning): fit on every
    history plus train users' future baskets, predict validation users.
    """
    users = user_split(lines[user_col], seed, fractions)
    is_future = last_basket_mask(lines, user_col)
    evaluated = users.test if target == "test" else users.val
    seen_future = np.concatenate([users.train, users.val]) if target == "test" else users.train
    user = lines[user_col].astype("string")
    fit = lines[~is_future | user.isin(seen_future)]
    tgt = lines[is_future & user.isin(evaluated)]
    # a user whose only basket is the future one has no history to predict from
    has_history = pd.Index(pd.unique(fit[user_col].astype("string")))
    evaluated = evaluated[pd.Index(evaluated).isin(has_history)]
    tgt = tgt[tgt[user_col].astype("string").isin(evaluated)]
    return BasketSplit(fit.copy(), tgt.copy(), users, np.sort(evaluated))


def last_basket_split(lines: pd.DataFrame, user_col: str = Col.USER_ID) -> BasketSplit:
    """Every user with a history is evaluated on their last basket; the fit sees histories only."""
    history, target = next_basket_split(lines, user_col)
    evaluated = np.sort(np.asarray(target[user_col].astype("string").unique(), dtype=object))
    users = UserSplit(
        train=np.array([], dtype=object), val=np.array([], dtype=object), test=evaluated, seed=-1
    )
    return BasketSplit(history, target, users, evaluated)
