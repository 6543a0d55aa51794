"""The report page's frame: bilingual text, figures, the language toggle, plotly.js inlined.

Text is written in both languages (``<span class="zh">``, ``<span class="en">``); the
button in the header switches the page (and redraws every chart in that language). The page
is self-contained: plotly.js is inlined once, the charts' specs are JSON in the page,
nothing is fetched at run time.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import pandas as pd

from experiments.report.charts import Chart

TITLE_ZH, TITLE_EN = "邻里经营报告", "Linli BI report"
Header = dict[str, tuple[str, str]]  # column -> (zh, en)

CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f7fafc;color:#1a202c}
main{max-width:1180px;margin:0 auto;padding:24px 32px}
h1{font-size:26px;margin:8px 0 2px} h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #e2e8f0;padding-bottom:4px}
.muted{color:#718096;font-size:13px} .kpis{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.kpi{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:130px}
.kpi b{display:block;font-size:20px} .kpi span{font-size:12px;color:#4a5568}
.summary{background:#fffbea;border:1px solid #f6e05e;border-radius:8px;padding:12px 16px;font-size:15px;line-height:1.6}
figure{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:12px 0;padding:12px}
.chart{width:100%;min-height:300px} figcaption{font-size:13px;color:#4a5568;margin-top:6px}
table.t{border-collapse:collapse;font-size:12.5px;background:#fff;margin:8px 0}
table.t th,table.t td{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:right}
table.t th{background:#edf2f7} .flag-drift{color:#c53030;font-weight:bold}
.win-challenger{color:#276749;font-weight:bold} .win-champion{color:#9b2c2c;font-weight:bold}
details{margin-top:36px} summary{font-size:18px;font-weight:bold;cursor:pointer}
.lang{float:right;margin-top:10px;padding:6px 12px;border:1px solid #a0aec0;border-radius:6px;background:#fff;cursor:pointer;font-size:14px}
body.en .zh{display:none} body:not(.en) .en{display:none}
"""

SCRIPT = """
(function(){
  var charts = JSON.parse(document.getElementById('chart-specs').textContent);
  var config = {displayModeBar:false, responsive:true};
  function draw(lang){
    document.body.classList.toggle('en', lang === 'en');
    document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
    document.title = document.body.dataset['title' + (lang === 'en' ? 'En' : 'Zh')];
    Object.keys(charts).forEach(function(id){
      var fig = charts[id][lang];
      Plotly.react(id, fig.data, fig.layout, config);
    });
  }
  var button = document.getElementById('lang');
  button.addEventListener('click', function(){
    draw(document.body.classList.contains('en') ? 'zh' : 'en');
  });
  var wanted = (location.hash === '#en' || location.search.indexOf('lang=en') >= 0) ? 'en' : 'zh';
  draw(wanted);
})();
"""


def t(zh: str, en: str) -> str:
    """Escaped text in both languages (the page shows one)."""
    return f"<span class='zh'>{html.escape(zh)}</span><span class='en'>{html.escape(en)}</span>"


def t_html(zh: str, en: str) -> str:
    """Like :func:`t` for text that is already HTML."""
    return f"<span class='zh'>{zh}</span><span class='en'>{en}</span>"


def pct(v: float) -> str:
    """A share as a percentage string."""
    return f"{100 * float(v):.1f}%"


def table(
    df: pd.DataFrame | None,
    headers: Header,
    formats: dict[str, Callable[[Any], str]] | None = None,
    max_rows: int = 15,
) -> str:
    """An escaped HTML table of the ``headers`` columns, with bilingual column names."""
    if df is None or not len(df):
        return f"<p class='muted'>{t('（没有数据）', '(nothing to show)')}</p>"
    cols = [c for c in headers if c in df.columns]
    head = "".join(f"<th>{t(*headers[c])}</th>" for c in cols)
    body = []
    for _, r in df.head(max_rows).iterrows():
        cells = []
        for c in cols:
            v = r[c]
            f = (formats or {}).get(c)
            text = (
                "–"
                if v is None or (not isinstance(v, str) and pd.isna(v))
                else f(v)
                if f
                else str(v)
            )
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='t'><tr>{head}</tr>{''.join(body)}</table>"


class Figures:
    """Collects the page's charts: each gets a div id; their specs go into one JSON block."""

    def __init__(self) -> None:
        self.specs: dict[str, Chart] = {}

    def add(self, chart: Chart, caption: str = "") -> str:
        """A ``<figure>`` holding the chart (drawn by the browser) and its caption."""
        cid = f"chart-{len(self.specs) + 1}"
        self.specs[cid] = chart
        title = html.escape(chart["zh"]["layout"]["title"]["text"])
        cap = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f"<figure><div class='chart' id='{cid}' aria-label='{title}'></div>{cap}</figure>"


@cache
def plotly_js() -> str:
    """plotly.js as shipped inside the plotly package (no network)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _finite(value: Any) -> Any:
    """NaN / inf -> None, through lists and dicts (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_for_script(value: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")


def render_page(body: str, figures: Figures) -> str:
    """The whole HTML document."""
    specs = _json_for_script(figures.specs)
    title = f"{TITLE_ZH} · {TITLE_EN}"
    return (
        "<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style>"
        f"<script>{plotly_js()}</script></head>"
        f"<body data-title-zh='{html.escape(title)}' data-title-en='{html.escape(TITLE_EN)}'>"
        "<main>\n<button id='lang' class='lang' type='button'>"
        "<span class='zh'>English</span><span class='en'>中文</span></button>\n"
        f"{body}\n</main>"
        f"<script type='application/json' id='chart-specs'>{specs}</script>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
