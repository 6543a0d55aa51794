"""The BI report: funnel and value tables on hand-made data, the page on the synthetic world, Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from loop_world import loop_world

from experiments import report as R
from experiments.report import browser as B
from experiments.report import tables as T
from training.settings import Settings

pytestmark = pytest.mark.timeout(150)
TZ = "Asia/Shanghai"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ)


def test_invitations_count_members_present_at_the_start_only() -> None:
    lives = pd.DataFrame(
        {
            "live_id": ["L1", "L2"],
            "group_id": ["g", "g"],
            "start_ts": [ts("2026-05-10 20:00"), ts("2026-05-20 20:00")],
        }
    )
    members = pd.DataFrame(
        {
            "group_id": ["g", "g", "g", "g"],
            "user_id": ["a", "b", "c", "d"],
            "joined_at": [ts("2026-01-01"), ts("2026-05-15"), ts("2026-01-01"), pd.NaT],
            "left_at": [pd.NaT, pd.NaT, ts("2026-05-12"), pd.NaT],
        }
    )
    ev = pd.DataFrame(
        {
            "event_type": ["live_view", "jielong", "jielong", "live_view", "order"],
            "user_id": ["a", "a", "b", "d", "c"],
            "live_id": ["L1", "L1", "L2", "L2", None],
        }
    )
    inv = T.live_invitations(lives, members, ev)
    got = {(r.live_id, r.user_id): (r.viewed, r.joined) for r in inv.itertuples()}
    assert got == {
        ("L1", "a"): (True, True),
        ("L1", "c"): (False, False),
        ("L1", "d"): (False, False),  # no join date: a member all along
        ("L2", "a"): (False, False),
        ("L2", "b"): (False, True),  # joined the group after L1; 接龙 without watching
        ("L2", "d"): (True, False),  # c left on the 12th, before L2
    }
    f = T.funnel(inv, "live_id")
    assert f.loc["L1", "view_rate"] == pytest.approx(1 / 3)
    assert f.loc["L1", "jielong_per_viewer"] == 1.0 and f.loc["L2", "joiners"] == 1


def test_drift_pairs_and_tiers_on_toy_data() -> None:
    days = pd.date_range("2026-01-01", periods=40, freq="D")
    daily = pd.DataFrame({"view": [100] * 33 + [10] * 7, "order": [50] * 40}, index=days)
    d = T.volume_drift(daily).set_index("event_type")
    assert d.loc["view", "flag"] == "drift" and d.loc["order", "flag"] == "ok"
    assert d.loc["view", "ratio"] == pytest.approx(0.1)
    baskets = pd.DataFrame(
        {"order_id": [f"o{i}" for i in range(60) for _ in (0, 1)], "item_id": ["a", "b"] * 60}
    )
    baskets = pd.concat(
        [baskets, pd.DataFrame({"order_id": [f"p{i}" for i in range(40)], "item_id": ["c"] * 40})]
    )
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "name": ["鸡胸肉", "牛油果", "大米"]})
    pairs = T.item_pairs(baskets, items, min_count=5)
    assert len(pairs) == 1 and {pairs.loc[0, "name_a"], pairs.loc[0, "name_b"]} == {
        "鸡胸肉",
        "牛油果",
    }
    assert pairs.loc[0, "lift"] == pytest.approx(100 / 60)
    snaps = pd.DataFrame(
        {
            "snapshot": [1, 1, 2, 2, 2],
            "user_id": ["u", "v", "u", "v", "w"],
            "tier": ["tier:gold", "tier:regular", "tier:diamond", "tier:regular", "tier:regular"],
        }
    )
    t = T.tier_transitions(snaps)
    assert t.loc["tier:gold", "tier:diamond"] == 1 and t.loc["new", "tier:regular"] == 1


def test_a_chart_without_axis_titles_is_refused() -> None:
    from experiments.report.charts import check_chart, layout

    fig = {"data": [], "layout": layout("a title", "x (unit)", "")}
    with pytest.raises(ValueError, match="yaxis title"):
        check_chart(fig)
    fig["layout"]["title"]["text"] = ""
    with pytest.raises(ValueError, match="title, yaxis title"):
        check_chart(fig)


@pytest.mark.slow
def test_report_on_the_synthetic_world(
    tracked: Settings, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import mlflow

    from training import tracking
    from training.models import build_model
    from training.train import load_matrix

    world = loop_world(tmp_path_factory.getbasetemp())
    data = load_matrix(world / "features")
    with tracking.run("champion", tracked):
        tracking.log_training(
            build_model("p_topfreq").fit(data),
            data,
            world / "features" / "matrix",
            {"ndcg_at_10": 0.2, "recall_at_10": 0.25},
            0.1,
            tracked,
            alias="champion",
        )
    out = tmp_path / "report.html"
    numbers = R.write_report(world / "features", out, tracked)
    page = out.read_text(encoding="utf-8")
    assert page.count("<figure>") == page.count("<div class='chart'") >= 9
    assert not re.search(r"<script[^>]*\bsrc=", page)  # self-contained: plotly.js is inline
    for section in (
        "Segment → live view → 接龙",
        "Customer value per segment",
        "Value-tier movement",
        "Repurchase",
        "Items bought together",
        "A/B tests",
        "Model health",
    ):
        assert section in page
    assert 0 < numbers["view_rate"] < 1 and 0 < numbers["jielong_per_viewer"] < 1
    assert numbers["champion"]["version"] == "1" and "v1 (p_topfreq)" in page
    funnel = pd.DataFrame(numbers["segment_funnel"]).set_index("segment")
    assert funnel.loc["tier 钻石", "jielong_rate"] > funnel.loc["tier 普通", "jielong_rate"]
    runs = mlflow.search_runs(
        experiment_names=[tracked.tracking.experiment + "-reports"],
        filter_string="tags.`linli.run_type` = 'report'",
    )
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(runs.iloc[0]["run_id"], "report")}
    assert "report/report.html" in arts
    if B.chromium_binary() is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    png = tmp_path / "report.png"
    assert B.screenshot(out, png) == []  # no console message of any kind
    from PIL import Image

    w, h = Image.open(png).size
    assert w > 600 and h > 2000


def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    if B.chromium_binary() is None:
        pytest.skip("no chromium on PATH")
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('boom'); nope();</script></body></html>")
    messages = B.open_in_chromium(page)
    assert any("boom" in m for m in messages) and any("nope" in m for m in messages)
