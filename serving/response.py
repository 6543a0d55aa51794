"""The live response model carried by the bundle: a plan's predicted view and 接龙 rates (numpy).

``linli export`` writes the logistic coefficients (manifest ``response_model``; plain JSON)
and the History at the end of the data (tables ``response_*``). Here the same features
(:func:`features.live_response.live_features`) are built for a plan's audience and the two
logistic models applied: P(watch), P(接龙 | watched); P(接龙) = P(watch) P(接龙 | watched) +
(1 - P(watch)) x the rate of 接龙 without watching. The interval is the backtest's: the 10th
and 90th percentile of observed - predicted rate over the lives after the training window
(widened to hold the point when both lie on one side).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.live_response import (
    FEATURES,
    History,
    history_from_tables,
    host_similarity,
    item_classes,
    live_features,
    log_odds_array,
)
from serving.artifacts import Bundle

MANIFEST_KEY = "response_model"
TABLE_PREFIX = "response_"


@dataclass
class ServedResponse:
    """The coefficients and the History a plan is predicted from."""

    spec: dict[str, Any]
    history: History


def load(bundle: Bundle) -> ServedResponse | None:
    """The bundle's response model (None when the export had too few lives to fit one)."""
    cached = getattr(bundle, "_response", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    spec = bundle.manifest.get(MANIFEST_KEY)
    if not spec:
        return None
    tables = {
        k[len(TABLE_PREFIX) :]: v for k, v in bundle.tables.items() if k.startswith(TABLE_PREFIX)
    }
    out = ServedResponse(spec, history_from_tables(tables, spec["history"]))
    bundle._response = out  # type: ignore[attr-defined]
    return out


def logistic(coef: dict[str, Any], design: np.ndarray) -> np.ndarray:
    """P(y = 1) of a standardised logistic regression given as plain numbers."""
    z = (design - np.asarray(coef["mean"])) / np.asarray(coef["scale"])
    return np.asarray(1.0 / (1.0 + np.exp(-(z @ np.asarray(coef["coef"]) + coef["intercept"]))))


def features(
    r: ServedResponse,
    users: list[str],
    item_ids: list[str],
    host_id: str | None,
    items: pd.DataFrame,
) -> pd.DataFrame:
    """The model's features for ``users`` invited to a live of ``item_ids`` with ``host_id``."""
    idx = pd.Index([str(u) for u in users])
    return live_features(r.history, idx, item_ids, host_id, items)


def with_host(
    r: ServedResponse, x: pd.DataFrame, host_id: str, item_ids: list[str], items: pd.DataFrame
) -> pd.DataFrame:
    """The same features with another host (only the host's two columns depend on it)."""
    h = r.history
    subs = item_classes(item_ids, items)[0]
    rate = h.hosts["host_view_rate"].to_dict()
    return x.assign(
        host_view_rate=float(rate.get(host_id, h.base_view)),
        host_similarity=host_similarity(h, host_id, subs),
    )


def predict(r: ServedResponse, x: pd.DataFrame) -> pd.DataFrame:
    """Per invited user (rows of ``x``): p_view, p_jielong_if_view, p_jielong, 接龙 basket (yuan)."""
    d = log_odds_array(x[list(FEATURES)].to_numpy(float))
    pv = logistic(r.spec["view"], d)
    pj = logistic(r.spec["join_if_view"], d)
    no_view = float(r.spec["p_join_no_view"])
    people = r.history.people["basket"].reindex(x.index)
    basket = people.fillna(r.history.base_basket).to_numpy(float)
    return pd.DataFrame(
        {
            "p_view": pv,
            "p_jielong_if_view": pj,
            "p_jielong": pv * pj + (1 - pv) * no_view,
            "basket": basket,
        },
        index=x.index,
    )


def _rate(point: float, band: dict[str, float] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"predicted": round(point, 4)}
    if band:
        # a biased backtest can put both quantiles on one side: the band still holds the point
        out["low"] = round(float(np.clip(point + min(band["low"], 0.0), 0, 1)), 4)
        out["high"] = round(float(np.clip(point + max(band["high"], 0.0), 0, 1)), 4)
    return out


def funnel(r: ServedResponse, p: pd.DataFrame) -> dict[str, Any]:
    """invited -> viewers -> 接龙 -> expected order value, with the rates and their interval."""
    n = len(p)
    band = r.spec.get("interval") or {}
    vr = float(p["p_view"].mean()) if n else 0.0
    jr = float(p["p_jielong"].mean()) if n else 0.0
    orders = float(p["p_jielong"].sum())
    value = float((p["p_jielong"] * p["basket"]).sum())
    view, join = _rate(vr, band.get("view_rate")), _rate(jr, band.get("jielong_rate"))

    def counts(rate: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v * n, 1) for k, v in rate.items()}

    bt = r.spec.get("backtest") or {}
    return {
        "invited": n,
        "view_rate": view,
        "jielong_rate": join,
        "jielong_per_viewer": round(
            float((p["p_view"] * p["p_jielong_if_view"]).sum() / max(p["p_view"].sum(), 1e-9)), 4
        ),
        "viewers": counts(view),
        "jielong_orders": counts(join),
        "avg_order_yuan": round(value / orders, 1) if orders > 0 else None,
        "expected_order_value_yuan": round(value, 0),
        "interval": band.get("from", "none (too few backtest lives)")
        if band.get("view_rate")
        else "none (too few backtest lives)",
        "model": {
            "family": r.spec.get("family"),
            "trained_on_lives": r.spec.get("lives"),
            "backtest_lives": int(bt.get("lives", 0)),
            "backtest_view_rate_mae": round(float(bt["view_rate_mae"]), 4)
            if "view_rate_mae" in bt
            else None,
            "backtest_jielong_rate_mae": round(float(bt["jielong_rate_mae"]), 4)
            if "jielong_rate_mae" in bt
            else None,
            "naive_view_rate_mae": round(float(bt["view_rate_mae_naive"]), 4)
            if "view_rate_mae_naive" in bt
            else None,
            "naive_jielong_rate_mae": round(float(bt["jielong_rate_mae_naive"]), 4)
            if "jielong_rate_mae_naive" in bt
            else None,
        },
    }
