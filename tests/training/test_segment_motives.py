"""Segments that separate motives: motive blocks, names on every preset and a real dataset, evaluation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.segment_eval import evaluate_segments
from features.build import run as build_features
from features.schema import Col
from features.settings import Settings
from features.synth import PRESETS, generate, preset_config, write_world
from training.segment_motives import price_block, time_block
from training.segments import (
    NEW_SEGMENT,
    PLACEHOLDER_VALUES,
    SegmentConfig,
    name_segments,
    placeholder_names,
)

SIZE = {"people": 250, "items": 200, "seed": 4}
# ../shared/datasets beside the repository (CI layout; worktrees sit one level deeper)
_ROOT = Path(__file__).resolve().parents[2]
TAFENG = (
    Path(
        os.environ.get(
            "LINLI_DATASETS",
            next(
                (p for p in (_ROOT.parent / "shared", _ROOT.parents[1] / "shared") if p.exists()),
                _ROOT.parent / "shared",
            )
            / "datasets",
        )
    )
    / "tafeng"
)


@pytest.fixture(scope="module")
def preset_worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small world per preset (and the default), with its feature store."""
    out = {}
    for name in ["default", *PRESETS]:
        root = tmp_path_factory.mktemp(f"seg-{name}")
        months = {} if "months" in PRESETS.get(name, {}) else {"months": 2}
        write_world(generate(preset_config(name, **months, **SIZE)), root)
        settings = Settings(work_dir=root / "work")
        build_features(root / "data", root / "features", settings, progress=False)
        out[name] = root
    return out


def _check_names(report: dict) -> None:
    names = [s["name"] for s in report["segments"]]
    assert report["names_unique"] and len(names) == len(set(names)), names
    assert report["placeholder_names"] == [], names
    for name in names:
        words = {w.strip(" ()·/").lower() for w in name.replace("·", " ").split()}
        assert not words & (PLACEHOLDER_VALUES - {""}), name


@pytest.mark.slow
def test_every_preset_gets_unique_names_and_both_aris(preset_worlds: dict[str, Path]) -> None:
    for name, root in preset_worlds.items():
        report = evaluate_segments(root, seed=0)
        _check_names(report)
        assert report["k_true"] == (10 if name == "many" else 6), name
        assert 2 <= report["k"] <= 12, name
        assert -1.0 <= report["ari"] <= 1.0 and -1.0 <= report["ari_naive"] <= 1.0, name
        assert report["ari"] > 0.1, (name, report["ari"])
        assert -1.0 <= report["ari_ceiling"] <= 1.0, name
        assert report["users_scored"] > 0.9 * SIZE["people"], name


@pytest.mark.slow
@pytest.mark.skipif(not TAFENG.exists(), reason="Ta-Feng is not in ../shared/datasets")
def test_tafeng_slice_gets_unique_names_without_placeholders(tmp_path: Path) -> None:
    from features.adapters import adapter, write_tables

    events = adapter("tafeng").to_schema(TAFENG)["events"]
    ids = events[Col.ID_VALUE].drop_duplicates().iloc[:1500]
    write_tables({"events": events[events[Col.ID_VALUE].isin(ids)]}, tmp_path / "data", "parquet")
    report = evaluate_segments(tmp_path, seed=0)
    _check_names(report)
    assert report["ari"] is None and report["k_true"] is None  # no truth on real data
    assert sum(s["size"] for s in report["segments"]) == report["users"]


def test_placeholder_tags_never_name_a_segment_and_names_stay_unique() -> None:
    rows = [
        (0, "tier:unknown", 0.9, 0.3, 3.0),
        (0, "freq:low", 0.6, 0.3, 2.0),
        (0, "prefers:fruit", 0.5, 0.2, 2.5),
        (1, "freq:low", 0.7, 0.3, 2.3),
        (1, "prefers:nan", 0.8, 0.2, 4.0),
        (1, "prefers:eggs", 0.4, 0.2, 2.0),
        (2, "tier:regular", 0.9, 0.5, 1.8),
        (2, "freq:low", 0.6, 0.3, 2.0),
    ]
    lifts = pd.DataFrame(rows, columns=[Col.SEGMENT_ID, Col.TAG, "share", "share_all", "lift"])
    names = name_segments(lifts, [NEW_SEGMENT, 0, 1, 2], SegmentConfig(name_parts=1))
    values = list(names.values())
    assert len(values) == len(set(values)), values
    assert placeholder_names(values) == []
    assert all("regular" not in v for v in values), values
    assert "fruit" in names[0]
    # two segments led by "occasional buyers": the one with a further label gains it
    assert names[1] == "occasional buyers · eggs lovers" and names[2] == "occasional buyers"
    assert placeholder_names(["bargain hunters · unknown", "fruit lovers"]) == [
        "bargain hunters · unknown"
    ]


def test_price_and_time_blocks_read_motives() -> None:
    users = pd.Index(["a", "b", "c"])
    ts = pd.to_datetime(
        ["2026-05-04 07:10", "2026-05-04 07:30", "2026-05-09 20:00", "2026-05-09 20:30"]
    ).tz_localize("Asia/Shanghai")
    events = pd.DataFrame(
        {
            Col.USER_ID: ["a", "a", "b", "b"],
            Col.TS: ts,
            Col.EVENT_TYPE: ["order", "order", "order", "order"],
            Col.ITEM_ID: ["cheap", "cheap", "dear", "cheap"],
            Col.QUANTITY: [1, 1, 1, 1],
            Col.AMOUNT: [5.0, 5.0, 30.0, 10.0],
        }
    )
    items = pd.DataFrame(
        {
            Col.ITEM_ID: ["cheap", "dear"],
            Col.PRICE: [10.0, 30.0],
            Col.CATEGORY: ["grain", "grain"],
            Col.SUBCATEGORY: ["rice", "rice"],
        }
    )
    price, pnames = price_block(users, events, items)
    p = pd.DataFrame(price, index=users, columns=pnames)
    assert p.loc["a", "price_tier"] < p.loc["b", "price_tier"]
    assert p.loc["a", "discount_share"] == 1.0 and p.loc["b", "discount_share"] == 0.0
    assert p.loc["a", "paid_ratio"] == 0.5 and p.loc["b", "paid_ratio"] == 1.0
    assert np.allclose(p.loc["c"], p.loc[["a", "b"]].mean())  # no purchases: population mean
    time, tnames = time_block(users, events)
    t = pd.DataFrame(time, index=users, columns=tnames)
    assert t.loc["a", "early_morning"] == 1.0 and t.loc["b", "evening"] == 1.0
    assert t.loc["b", "weekend"] == 1.0 and t.loc["a", "weekend"] == 0.0
    assert t.loc["c"].sum() == 0.0
