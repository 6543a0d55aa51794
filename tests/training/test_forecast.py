"""Demand forecast: weekly panels, season and holiday features, no look-ahead, beating seasonal-naive."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.schema import Col
from training.forecast import (
    BASELINE,
    KEY,
    WEEK,
    YHAT,
    ForecastConfig,
    Y,
    build_design,
    calendar,
    design_rows,
    forecast_ahead,
    full_weeks,
    holdout,
    season_months,
    wape,
    weekly_panel,
)

TZ = "Asia/Shanghai"
FAST = ForecastConfig(max_iter=60, holdout_weeks=6, mentions=False, planned_lives=False)


def test_season_months_parses_ranges_lists_and_wraparound() -> None:
    m = season_months(pd.Series(["6-8", "12;1;2", "11-2", "", None]))
    assert np.flatnonzero(m[0]).tolist() == [6, 7, 8]
    assert np.flatnonzero(m[1]).tolist() == [1, 2, 12]
    assert np.flatnonzero(m[2]).tolist() == [1, 2, 11, 12]
    assert m[3, 1:].all() and m[4, 1:].all()  # no season: all year


def test_full_weeks_drop_partial_weeks() -> None:
    ts = pd.Series(pd.to_datetime(["2026-05-01T10:00", "2026-06-30T09:00"]).tz_localize(TZ))
    weeks = full_weeks(ts)
    assert weeks[0] == pd.Timestamp("2026-05-04") and weeks[0].day_of_week == 0
    assert weeks[-1] + pd.Timedelta(days=6) <= pd.Timestamp("2026-06-30")


def test_weekly_panel_sums_quantities_and_fills_zeros() -> None:
    items = pd.DataFrame({Col.ITEM_ID: ["a", "b"], Col.CATEGORY: ["fruit", "fruit"]})
    buys = pd.DataFrame(
        {
            Col.ITEM_ID: ["a", "a", "b"],
            Col.QUANTITY: [2, 1, 5],
            Col.TS: pd.to_datetime(
                ["2026-05-04T10:00", "2026-05-06T10:00", "2026-05-12T10:00"]
            ).tz_localize(TZ),
        }
    )
    weeks = pd.DatetimeIndex(["2026-05-04", "2026-05-11"])
    p = weekly_panel(buys, items, "item", weeks).set_index([KEY, WEEK])[Y]
    assert p[("a", weeks[0])] == 3 and p[("a", weeks[1])] == 0 and p[("b", weeks[1])] == 5
    c = weekly_panel(buys, items, "category", weeks).set_index([KEY, WEEK])[Y]
    assert c.tolist() == [3.0, 5.0]


def test_calendar_knows_chinese_festivals() -> None:
    weeks = pd.date_range("2026-09-07", periods=6, freq="7D")
    cal = calendar(weeks, ("Mid-Autumn",)).set_index(WEEK)
    assert cal.loc["2026-09-21", "days_to_festival"] == 4  # Mid-Autumn 2026-09-25
    assert cal.loc["2026-09-28", "days_off"] >= 3  # National Day 10-01..10-03


def _seasonal_world(
    n_items: int = 12, weeks: int = 70, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Purchase lines whose weekly demand follows item seasons, a trend and noise."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-06")
    w = pd.date_range(start, periods=weeks, freq="7D")
    months = (w + pd.Timedelta(days=3)).month.to_numpy()
    seasons = ["6-8", "12;1;2", "", "3-5"] * (n_items // 4)
    in_season = season_months(pd.Series(seasons))[:, months]
    base = rng.uniform(3, 12, n_items)[:, None]
    lam = base * (0.3 + 2.5 * in_season) * (1 + 0.004 * np.arange(weeks))[None, :]
    units = rng.poisson(lam)
    k, t = np.nonzero(units)
    qty = units[k, t]
    ts = (w[t] + pd.to_timedelta(rng.uniform(0, 6.9, len(t)), unit="D")).tz_localize(TZ)
    buys = pd.DataFrame({Col.ITEM_ID: [f"i{j}" for j in k], Col.QUANTITY: qty, Col.TS: ts})
    items = pd.DataFrame(
        {
            Col.ITEM_ID: [f"i{j}" for j in range(n_items)],
            Col.CATEGORY: [f"c{j % 3}" for j in range(n_items)],
            Col.SEASON: seasons,
            Col.PRICE: rng.uniform(5, 50, n_items),
        }
    )
    return buys, items


def test_rows_use_only_what_is_known_at_the_origin() -> None:
    buys, items = _seasonal_world(weeks=30)
    d = build_design(buys, items, "item", FAST)
    rows = design_rows(d, np.array([10]), horizons=3, season_weeks=52)
    origin_col = 10
    for h in (1, 2, 3):
        r = rows[rows["horizon"] == h]
        assert (r["lag0"].to_numpy() == d.y[:, origin_col]).all()
        assert (r[Y].to_numpy() == d.y[:, origin_col + h]).all()
        assert r["same_week_last_season"].isna().all()  # 52 weeks back is before the data


def test_model_beats_seasonal_naive_on_held_out_weeks() -> None:
    buys, items = _seasonal_world()
    d = build_design(buys, items, "item", FAST)
    test, m = holdout(d, FAST, "item")
    assert m["baseline_is_seasonal"] == 1.0
    assert m["wape"] < m["wape_baseline"]
    assert m["wape"] == pytest.approx(wape(test[Y], test[YHAT]))
    assert (test[YHAT] >= 0).all()
    assert set(test["horizon"]) == {1, 2, 3, 4}
    first_test = d.weeks[-FAST.holdout_weeks]
    assert (pd.DatetimeIndex(test[WEEK]) >= first_test).all()


def test_forecast_ahead_covers_the_next_weeks() -> None:
    buys, items = _seasonal_world(weeks=40)
    d = build_design(buys, items, "category", FAST, future_weeks=FAST.horizons)
    out = forecast_ahead(d, FAST, "category", FAST.horizons)
    assert len(out) == 3 * FAST.horizons
    last_full = full_weeks(buys[Col.TS])[-1]
    assert pd.DatetimeIndex(out[WEEK]).min() == last_full + pd.Timedelta(days=7)
    assert out[BASELINE].notna().all() and (out[YHAT] >= 0).all()


def test_wape() -> None:
    assert wape(np.array([10.0, 0.0]), np.array([8.0, 1.0])) == pytest.approx(0.3)
    assert np.isnan(wape(np.zeros(2), np.ones(2)))


@pytest.mark.slow
def test_cli_on_a_small_world(tmp_path: Path) -> None:
    from matching_world import small_world

    from training.matching_cli import forecast_main

    f = small_world() / "features"
    rc = forecast_main(
        [
            "--features",
            str(f),
            "--out",
            str(tmp_path),
            "--no-mlflow",
            "--holdout-weeks",
            "3",
            "--weeks",
            "2",
        ]
    )
    assert rc == 0
    fc = pd.read_parquet(tmp_path / "forecast.parquet")
    assert set(fc["level"]) == {"item", "category"}
    assert set(fc["horizon"]) == {1, 2}
    m = json.loads((tmp_path / "forecast_metrics.json").read_text())
    assert m["item_baseline_is_seasonal"] == 0.0  # 3 months: the baseline falls back to naive
    assert 0 <= m["category_wape"] < 2
