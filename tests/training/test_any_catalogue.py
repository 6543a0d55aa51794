"""Matching jobs on catalogues unlike ours: English names, missing subcategories, no texts, huge lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import linli_cli
from features.build import run as build_features
from features.settings import Settings
from training.audience import Theme, resolve_theme

NAMES = ["Chicken Breast", "Whole Milk", "Basmati Rice", "Green Apple", "Rye Bread", "Free Range Eggs"]  # fmt: skip


def test_theme_items_on_a_catalogue_with_missing_subcategories() -> None:
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "name": ["Chicken Breast", "鸡胸肉", None],
            "category": ["meat", "meat", "dairy"],
            "subcategory": ["poultry", None, None],
        }
    ).astype("string")
    ti = resolve_theme(Theme(name="t", items=["chicken", "鸡胸", "c"], categories=["dairy"]), items)
    assert set(ti.core) == {"a", "b", "c"}


def _world(root: Path, huge: bool, texts: bool) -> Path:
    """16 weeks of orders of six English-named items (one sold by the tens of thousands)."""
    rng = np.random.default_rng(3)
    rows = []
    start = pd.Timestamp("2026-01-05T09:00:00+08:00")
    for day in range(16 * 7):
        for j, _ in enumerate(NAMES):
            for k in range(int(rng.poisson(1.0 + j * 0.6))):
                q = (
                    int(rng.integers(20_000, 32_624))
                    if huge and j == 0
                    else int(rng.integers(1, 4))
                )
                ts = (start + pd.Timedelta(days=day, minutes=k)).isoformat()
                rows.append((f"e{day}-{j}-{k}", ts, "order", "openid", f"u{k % 7}", f"i{j}", q, f"o{day}-{j}-{k}", ""))  # fmt: skip
        if texts and day % 3 == 0:
            ts = (start + pd.Timedelta(days=day, hours=2)).isoformat()
            rows.append((f"s{day}", ts, "search", "openid", "u1", "", "", "", "any fresh chicken today?"))  # fmt: skip
    cols = ["event_id", "ts", "event_type", "id_type", "id_value", "item_id", "quantity", "order_id", "text"]  # fmt: skip
    data = root / "data"
    data.mkdir(parents=True)
    pd.DataFrame(rows, columns=cols).to_csv(data / "events.csv", index=False)
    pd.DataFrame(
        {
            "item_id": [f"i{j}" for j in range(len(NAMES))],
            "name": NAMES,
            "category": ["meat", "dairy", "grain", "fruit", "bakery", "eggs"],
            "subcategory": ["poultry", "milk", None, None, "bread", None],
        }
    ).to_csv(data / "items.csv", index=False)
    fs = root / "fs"
    build_features(data, fs, Settings(work_dir=root / "w"), progress=False, use_store=False)
    return fs


def _forecast(fs: Path, *extra: str) -> tuple[int, dict[str, float], pd.DataFrame]:
    out = fs.parent / "matching"
    argv = ["forecast", "--features", str(fs), "--out", str(out), "--no-mlflow", "--holdout-weeks", "4"]  # fmt: skip
    rc = linli_cli.app([*argv, *extra])
    metrics = json.loads((out / "forecast_metrics.json").read_text()) if rc == 0 else {}
    ahead = pd.read_parquet(out / "forecast.parquet") if rc == 0 else pd.DataFrame()
    return rc, metrics, ahead


@pytest.mark.slow
@pytest.mark.parametrize("texts", [True, False], ids=["english-texts", "no-texts"])
def test_forecast_on_english_names_with_and_without_texts(tmp_path: Path, texts: bool) -> None:
    rc, m, ahead = _forecast(_world(tmp_path, huge=False, texts=texts))
    assert rc == 0
    assert np.isfinite(m["item_wape"]) and np.isfinite(m["category_wape"])
    assert {"item_wape_croston", "item_wape_zero", "item_wape_top", "item_wape_rest"} <= set(m)
    assert np.isfinite(ahead["forecast"]).all() and (ahead["forecast"] >= 0).all()


@pytest.mark.slow
def test_huge_quantities_cannot_overflow_the_forecast(tmp_path: Path) -> None:
    rc, m, ahead = _forecast(_world(tmp_path, huge=True, texts=False), "--no-mentions")
    assert rc == 0
    assert all(np.isfinite(v) for k, v in m.items() if "wape" in k and "rest" not in k)
    assert np.isfinite(ahead["forecast"]).all()
    items = ahead[ahead["level"] == "item"]
    small = items[items["key"] != "i0"]
    assert small["forecast"].max() < 100  # the big seller's scale does not leak to the others
    assert small.groupby("key")["forecast"].mean().nunique() > 1  # not one number for all
    assert m["item_top_volume_share"] > 0.99  # the huge item is scored apart ...
    assert m["item_wape_rest"] < 1.0  # ... and the rest is forecast better than all-zero
