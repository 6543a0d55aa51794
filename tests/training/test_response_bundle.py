"""The response model the bundle carries: JSON coefficients and History tables reproduce the fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loop_world import loop_world

from features import store_layout as store
from features.live_response import (
    history_at,
    history_from_tables,
    history_tables,
    invitations,
    live_features,
    log_odds_design,
)
from features.schema import Col
from serving.response import logistic
from training.response import fit_for_bundle, fit_response, logistic_coefficients, training_frame

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loop_world(tmp_path_factory.getbasetemp()) / "features"


def _tables(features: Path) -> dict[str, pd.DataFrame]:
    rd = lambda n: pd.read_parquet(features / n)  # noqa: E731
    return {
        "events": rd(store.EVENTS),
        "baskets": rd(store.BASKETS),
        "items": rd(store.ITEMS),
        "lives": rd(store.LIVE_SESSIONS),
        "members": rd(store.GROUP_MEMBERS),
    }


def test_coefficients_and_history_tables_reproduce_the_model(features: Path) -> None:
    t = _tables(features)
    inv = invitations(t["lives"], t["members"], t["events"])
    cut = inv[Col.START_TS].quantile(0.5)
    h = history_at(cut, inv, t["events"], t["baskets"], t["items"], t["lives"])
    frame = training_frame(h, inv[inv[Col.START_TS] >= cut], t["lives"], t["items"])
    model = fit_response(frame, seed=1, family="logistic")
    x = frame[list(model.view.feature_names_in_)]
    for clf in (model.view, model.join_if_view):
        coef = json.loads(json.dumps(logistic_coefficients(clf)))  # survives JSON
        got = logistic(coef, log_odds_design(x).to_numpy(float))
        np.testing.assert_allclose(got, clf.predict_proba(x)[:, 1], rtol=1e-6, atol=1e-9)
    # the History written as tables gives the same features back
    tables, scalars = history_tables(h)
    h2 = history_from_tables(
        {
            k: pd.read_parquet(_roundtrip(v, features.parent / f"rt-{k}.parquet"))
            for k, v in tables.items()
        },
        json.loads(json.dumps(scalars)),
    )
    live = t["lives"].iloc[-1]
    users = pd.Index(inv[inv[Col.LIVE_ID] == str(live[Col.LIVE_ID])][Col.USER_ID].astype(str))
    items = str(live[Col.ITEM_IDS]).split(";")
    a = live_features(h, users, items, str(live[Col.HOST_ID]), t["items"])
    b = live_features(h2, users, items, str(live[Col.HOST_ID]), t["items"])
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def _roundtrip(df: pd.DataFrame, path: Path) -> Path:
    df.to_parquet(path, index=False)
    return path


def test_fit_for_bundle_backtests_and_bounds_its_interval(features: Path) -> None:
    r = fit_for_bundle(features, seed=2)
    m = r.model
    assert m["family"] == "logistic" and m["lives"] >= 10
    assert len(m["view"]["coef"]) == len(m["features"]) == 12
    bt = m["backtest"]
    assert bt["lives"] >= 5 and 0 < bt["view_rate_mae"] < 0.25
    for rate in ("view_rate", "jielong_rate"):
        band = m["interval"][rate]
        assert band["low"] < band["high"]
    assert {"response_people", "response_past", "response_hosts"} <= set(r.tables)
    json.dumps(m)  # plain JSON, no pickle
