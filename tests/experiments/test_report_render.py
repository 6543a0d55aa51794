"""The BI report renders Chinese anywhere: charts drawn by the browser as text (no glyph baked
where a font lacked it), a fixed title, the A/B section (or its "none ran" note), the ops
summary, the zh / en toggle; A/B verdict tag and metrics in MLflow."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from loop_world import loop_world
from report_glyphs import CHROMIUM, CJK, check_page, fontconfig_with, make_cjk_font

from experiments import report as R
from features.build import run as build_features
from training.settings import Settings

pytestmark = pytest.mark.timeout(300)
CHARTS_DRAWN = "document.querySelectorAll('.chart .main-svg').length > 0"
TITLE = "邻里经营报告 · Linli BI report"


def _title(page: str) -> str:
    outside_scripts = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    titles = re.findall(r"<title>(.*?)</title>", outside_scripts)
    assert len(titles) == 1
    return titles[0]


def test_small_report_title_toggle_summary_and_no_ab_note(
    tiny_data: Path, tracked: Settings, tmp_path: Path
) -> None:
    features = tmp_path / "features"
    build_features(tiny_data, features, tracked, progress=False)
    out = tmp_path / "report.html"
    numbers = R.write_report(features, out, tracked)  # reads the (empty) registry
    page = out.read_text(encoding="utf-8")
    assert _title(page) == TITLE
    assert "id='lang'" in page and "<span class='en'>" in page  # the English toggle
    assert "还没有运行过 A/B 测试" in page and "No A/B test has run yet" in page
    assert numbers["ab"] == []
    summary = re.search(r"<p class='summary'>(.*?)</p>", page, re.S)
    assert (
        summary is not None
        and "位会员" in summary.group(1)
        and "members placed" in summary.group(1)
    )
    ops_view = page[: page.index("<details>")]
    for jargon in ("ndcg", "RFM", "lift", "parquet", "/tmp", str(tmp_path)):
        assert jargon not in re.sub(r"<script.*?</script>", "", ops_view, flags=re.S)
    # self-contained: the only scripts are inline, nothing has a src or an outside href
    html_only = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"<script[^>]*\bsrc=", page) and not re.search(
        r"(href|src)=['\"]?http", html_only
    )


def _page_chars(page: Path) -> set[str]:
    return {c for c in page.read_text(encoding="utf-8") if CJK.match(c)}


@pytest.mark.slow
def test_report_with_ab_verdict_has_no_missing_glyphs_without_cjk_fonts(
    tracked: Settings, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import mlflow

    from experiments import ab
    from training import tracking
    from training.evaluation import compare as C
    from training.train import train

    world = loop_world(tmp_path_factory.getbasetemp())
    features = world / "features"
    train("p_topfreq", features, {}, tracked, alias="champion", holdout="none")
    res = C.run_ab(
        features,
        C.VariantSpec("champion", alias="champion"),
        C.VariantSpec("challenger", kind="popularity"),
        tracked,
        n_boot=200,
    )
    parent = ab.log_ab(res, tmp_path / "ab", tracked)
    run = mlflow.MlflowClient().get_run(parent)
    v = ab.verdict(res)
    assert run.data.tags[ab.TAG_AB_WINNER] == v["winner"] == "champion"  # popularity loses
    assert run.data.tags[ab.TAG_AB_VERDICT].startswith("champion wins: ndcg_at_10 -")
    assert run.data.metrics["verdict.winner"] == -1.0
    assert run.data.metrics["verdict.ci_high"] == pytest.approx(v["ci_high"])
    assert v["ci_high"] < 0
    assert run.info.run_name == "A/B p_topfreq v1 @champion vs popularity"
    assert mlflow.get_experiment(run.info.experiment_id).name.endswith("-ab")

    out = tmp_path / "report.html"
    numbers = R.write_report(features, out, tracked)
    page = out.read_text(encoding="utf-8")
    assert _title(page) == TITLE and "Last online A/B" not in page
    assert numbers["ab"][0]["winner"] == "champion" and "当前模型更好" in page
    assert "the champion wins" in page and "No A/B test has run yet" not in page
    assert numbers["champion"]["version"] == "1"
    found = tracking.search_runs(f"tags.`{tracking.TAG_RUN_TYPE}` = 'report'", tracked)
    assert len(found) == 1

    if not Path(CHROMIUM).exists() or shutil.which("fc-list") is None:
        pytest.skip("no /usr/bin/chromium or fontconfig (apt-get install chromium fontconfig)")
    fonts = tmp_path / "reader-fonts"
    fonts.mkdir()
    make_cjk_font(_page_chars(out), fonts / "reader-cjk.ttf")
    env = {**os.environ, "FONTCONFIG_FILE": str(fontconfig_with(fonts, tmp_path / "fonts.conf"))}
    seen = check_page(out, env, CHARTS_DRAWN)
    assert seen.figures >= 10 and seen.figures_without_text == 0
    assert seen.missing == []
    assert seen.requests == []  # nothing fetched: plotly.js and the chart specs are inline
    assert any("接龙" in text for text in seen.texts)  # chart text is text, drawn by the reader


def test_the_glyph_check_sees_baked_and_missing_glyphs(tmp_path: Path) -> None:
    """A figure whose text is a path (what matplotlib wrote) and Chinese no font covers."""
    if not Path(CHROMIUM).exists() or shutil.which("fc-list") is None:
        pytest.skip("no /usr/bin/chromium or fontconfig")
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><h2>接龙 conversion</h2><figure><svg width='40' height='20'>"
        "<path d='M0 0 L10 10'/></svg></figure></body></html>",
        encoding="utf-8",
    )
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    make_cjk_font({"接"}, fonts / "partial.ttf")  # the reader's font lacks 龙
    env = {**os.environ, "FONTCONFIG_FILE": str(fontconfig_with(fonts, tmp_path / "fonts.conf"))}
    seen = check_page(page, env)
    assert seen.figures == 1 and seen.figures_without_text == 1
    assert len(seen.missing) == 1 and seen.missing[0].endswith(": 龙")
