"""The live response model: P(watch a live) and P(join its 接龙 | watched) for each invited person.

Learned from the feature store's own past lives: every member present at a live's start is
an example. Features come from :mod:`features.live_response` (history before a cut only).
Two families: gradient-boosted trees, or a logistic regression on log-odds of the rates and
logs of the shares (it extrapolates to audiences more extreme than any past live); the
campaign simulation picks the one with the lower validation log-loss.

For the serving bundle (:func:`fit_for_bundle`) the logistic family is fitted and written as
plain coefficients (JSON; no pickle) with the History at the end of the data, so the server
predicts a plan's view and 接龙 rates with numpy. Its interval comes from the backtest: the
lives after the training window, predicted vs observed per live (10th / 90th percentile of
the error).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import store_layout as store
from features.live_response import (
    FEATURES,
    History,
    history_at,
    history_tables,
    invitations,
    log_odds_design,
)
from features.schema import Col
from training.response_frame import invitation_frame

log = logging.getLogger("linli.response")


def training_frame(
    h: History, inv: pd.DataFrame, lives: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """Features and labels of every invitation in ``inv`` (lives in sorted order).

    The features of :func:`features.live_response.live_features`, gathered for all lives at
    once (:func:`training.response_frame.invitation_frame`).
    """
    return invitation_frame(h, inv, lives, items)


# -- the response model --------------------------------------------------------------------------------
@dataclass
class ResponseModel:
    """P(watch), P(接龙 | watched) classifiers and the rate of 接龙 without watching."""

    view: Any
    join_if_view: Any
    p_join_no_view: float
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: pd.DataFrame) -> pd.DataFrame:
        """p_view, p_jielong_if_view, p_jielong per row."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            pv = self.view.predict_proba(x[list(FEATURES)])[:, 1]
            pj = self.join_if_view.predict_proba(x[list(FEATURES)])[:, 1]
        return pd.DataFrame(
            {
                "p_view": pv,
                "p_jielong_if_view": pj,
                "p_jielong": pv * pj + (1 - pv) * self.p_join_no_view,
            },
            index=x.index,
        )


def classifier(family: str, seed: int) -> Any:
    """``boosting`` (gradient-boosted trees) or ``logistic`` (on the log-odds design)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if family == "boosting":
        return HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.08,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=seed,
        )
    if family == "logistic":
        return make_pipeline(
            FunctionTransformer(log_odds_design),
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=3000),
        )
    raise ValueError(f"unknown model family {family!r}")


FAMILIES = ("boosting", "logistic")


def _fit_pair(frame: pd.DataFrame, family: str, seed: int) -> tuple[Any, Any]:
    """Fit P(watch) and P(接龙 | watched) with one thread (OpenMP on busy cores is 20x slower)."""
    from threadpoolctl import threadpool_limits

    x = frame[list(FEATURES)]
    seen = frame["viewed"].to_numpy(bool)
    with threadpool_limits(1):
        view = classifier(family, seed).fit(x, frame["viewed"].astype(int))
        join = classifier(family, seed).fit(x[seen], frame.loc[seen, "joined"].astype(int))
    return view, join


def choose_family(
    frame: pd.DataFrame, seed: int = 0, share: float = 0.3
) -> tuple[str, dict[str, float]]:
    """The family with the lower log-loss of P(接龙) on the last ``share`` of the training lives."""
    from sklearn.metrics import log_loss

    cut = frame[Col.START_TS].quantile(1 - share)
    fit, val = frame[frame[Col.START_TS] <= cut], frame[frame[Col.START_TS] > cut]
    if fit["viewed"].nunique() < 2 or fit["joined"].nunique() < 2 or val["joined"].nunique() < 2:
        return "logistic", {}
    losses = {}
    for fam in FAMILIES:
        view, join = _fit_pair(fit, fam, seed)
        no_view = float(fit.loc[~fit["viewed"], "joined"].mean())
        model = ResponseModel(view, join, no_view)
        pred = model.predict(val)
        pv, pj = pred["p_view"].to_numpy(), pred["p_jielong_if_view"].to_numpy()
        p = np.clip(pv * pj + (1 - pv) * no_view, 1e-6, 1 - 1e-6)
        losses[fam] = float(log_loss(val["joined"].astype(int), p, labels=[0, 1]))
    return min(losses, key=lambda f: losses[f]), losses


def fit_response(frame: pd.DataFrame, seed: int = 0, family: str = "auto") -> ResponseModel:
    """P(watch) and P(接龙 | watched) classifiers (family by validation on the last lives when auto)."""
    losses: dict[str, float] = {}
    if family == "auto":
        family, losses = choose_family(frame, seed)
    view, join = _fit_pair(frame, family, seed)
    seen = frame["viewed"].to_numpy(bool)
    no_view = frame.loc[~seen, "joined"]
    info = {
        "family": family,
        **{f"validation_log_loss.{k}": v for k, v in losses.items()},
        "examples": int(len(frame)),
        "viewers": int(seen.sum()),
        "lives": int(frame[Col.LIVE_ID].nunique()),
    }
    return ResponseModel(view, join, float(no_view.mean()) if len(no_view) else 0.0, info)


def backtest(model: ResponseModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per live: predicted vs observed view rate and 接龙 rate; their MAE and correlation."""
    pred = model.predict(frame)
    f = pd.concat(
        [
            frame[[Col.LIVE_ID, "viewed", "joined"]].reset_index(drop=True),
            pred.reset_index(drop=True),
        ],
        axis=1,
    )
    per = f.groupby(Col.LIVE_ID).agg(
        invited=("viewed", "size"),
        view_rate=("viewed", "mean"),
        pred_view_rate=("p_view", "mean"),
        jielong_rate=("joined", "mean"),
        pred_jielong_rate=("p_jielong", "mean"),
    )
    stats: dict[str, float] = {"lives": float(len(per))}
    observed = {"view_rate": "viewed", "jielong_rate": "joined"}
    predicted = {"view_rate": "p_view", "jielong_rate": "p_jielong"}
    for a in ("view_rate", "jielong_rate"):
        stats[f"{a}_mae"] = float((per[a] - per[f"pred_{a}"]).abs().mean())
        stats[f"{a}_corr"] = float(per[a].corr(per[f"pred_{a}"])) if len(per) > 2 else float("nan")
        stats[f"{a}_observed"] = float(f[observed[a]].mean())
        stats[f"{a}_predicted"] = float(f[predicted[a]].mean())
    return per.reset_index(), stats


# -- the model the serving bundle carries ---------------------------------------------------------------
def logistic_coefficients(pipe: Any) -> dict[str, Any]:
    """A fitted logistic pipeline (design -> scaler -> regression) as plain numbers."""
    scaler, lr = pipe.steps[1][1], pipe.steps[2][1]
    return {
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "coef": [float(v) for v in lr.coef_[0]],
        "intercept": float(lr.intercept_[0]),
    }


def _interval(per_live: pd.DataFrame, rate: str) -> dict[str, float] | None:
    """10th / 90th percentile of observed - predicted per backtest live (None below 5 lives)."""
    if len(per_live) < 5:
        return None
    err = per_live[rate] - per_live[f"pred_{rate}"]
    return {"low": float(err.quantile(0.1)), "high": float(err.quantile(0.9))}


@dataclass
class BundleResponse:
    """What ``linli export`` writes: the coefficients (JSON) and the History tables."""

    model: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def fit_for_bundle(
    features: Path | str, seed: int = 0, backtest_days: float = 21.0, train_days: float = 45.0
) -> BundleResponse:
    """Fit the logistic response model on the lives before the backtest window, for the bundle.

    Windows: the last ``backtest_days`` (at most a quarter of the data's span) are the
    backtest, the ``train_days`` before them (at most half the span) the training lives.

    Raises ValueError when the feature store has too few past lives to learn from.
    """
    features = Path(features)
    for name in (store.LIVE_SESSIONS, store.GROUP_MEMBERS, store.EVENTS, store.BASKETS):
        if not (features / name).exists():
            raise ValueError(f"no {name} in {features}: the response model needs past lives")
    rd = lambda n, cols=None: pd.read_parquet(features / n, columns=cols)  # noqa: E731
    events = rd(store.EVENTS, [Col.TS, Col.EVENT_TYPE, Col.USER_ID, Col.ITEM_ID, Col.LIVE_ID])
    baskets, items = rd(store.BASKETS), rd(store.ITEMS)
    lives, members = rd(store.LIVE_SESSIONS), rd(store.GROUP_MEMBERS)
    end = events[Col.TS].max()
    # short data: the windows shrink so a quarter of the span stays history before training
    span = (end - events[Col.TS].min()).total_seconds() / 86400.0
    backtest_days, train_days = min(backtest_days, 0.25 * span), min(train_days, 0.5 * span)
    inv = invitations(lives, members, events)
    t_test = end - pd.Timedelta(days=backtest_days)
    t_train = t_test - pd.Timedelta(days=train_days)
    h_train = history_at(t_train, inv, events, baskets, items, lives)
    in_train = (inv[Col.START_TS] >= t_train) & (inv[Col.START_TS] < t_test)
    train = training_frame(h_train, inv[in_train], lives, items)
    if not len(train) or train["viewed"].nunique() < 2 or train["joined"].nunique() < 2:
        raise ValueError(
            f"too few past lives between {t_train:%Y-%m-%d} and {t_test:%Y-%m-%d} to learn from"
        )
    model = fit_response(train, seed, family="logistic")
    h_test = history_at(t_test, inv, events, baskets, items, lives)
    test = training_frame(h_test, inv[inv[Col.START_TS] >= t_test], lives, items)
    per_live, bt = backtest(model, test) if len(test) else (pd.DataFrame(), {})
    if len(per_live):  # the naive forecast: every live at the training lives' mean rates
        for rate, col in (("view_rate", "viewed"), ("jielong_rate", "joined")):
            bt[f"{rate}_mae_naive"] = float(
                (per_live[rate] - float(train[col].mean())).abs().mean()
            )
    h_end = history_at(end + pd.Timedelta(seconds=1), inv, events, baskets, items, lives)
    tables, scalars = history_tables(h_end)
    spec = {
        "family": "logistic",
        "features": list(FEATURES),
        "view": logistic_coefficients(model.view),
        "join_if_view": logistic_coefficients(model.join_if_view),
        "p_join_no_view": model.p_join_no_view,
        "history": scalars,
        "train_from": str(t_train),
        "train_to": str(t_test),
        "examples": model.info["examples"],
        "lives": model.info["lives"],
        "backtest": bt,
        "interval": {
            "view_rate": _interval(per_live, "view_rate") if len(per_live) else None,
            "jielong_rate": _interval(per_live, "jielong_rate") if len(per_live) else None,
            "coverage": 0.8,
            "from": "observed - predicted rate of the backtest lives (10th / 90th percentile)",
        },
    }
    log.info(
        "response model: %d examples from %d lives; backtest %s",
        spec["examples"],
        spec["lives"],
        {k: round(v, 3) for k, v in bt.items()},
    )
    return BundleResponse(spec, {f"response_{k}": v for k, v in tables.items()})
