"""The BI report: one self-contained HTML page of the loop's funnels, value and model health.

``linli report --out report.html [--features DIR] [--matching DIR] [--screenshot docs/report.png]``

Read from the feature store (``linli features build``), the matching outputs
(``segments.parquet`` from ``linli segments``; value tiers stand in without them) and the
MLflow registry. Sections, each a plot with a title, axis labels and units:

1. **segment -> live view -> 接龙**: every member present in a group when one of its lives
   started counts as invited; ``live_view`` events of that live make them a viewer, 接龙 lines
   of that live a joiner. Per segment, per group (top groups) and per live.
2. **LTV per segment**: cumulative revenue per user by 30-day month since the first order
   (a month counts only users observed that long, so late joiners do not drag it down).
3. **value-tier movement**: the RFM tiers of the tag rules recomputed at each month end
   (stacked counts) and the transitions between the last two month ends.
4. **repurchase**: share of a month's buyers who buy again the next month; per category,
   share of a category's buyers who buy it again within 30 days.
5. **item associations**: the item pairs with the highest lift among baskets (support,
   confidence and lift as in :mod:`training.bundles`).
6. **model health**: the champion (version, kind, trained at, holdout metrics), metrics over
   registered versions, the last retrain decisions and A/B runs, and the data volume per
   day and event type with the last 7 days against the 28 before (drift flagged outside
   x0.5 .. x2), next to the volume the champion was trained on.

A plain-words summary for operations opens the page; an A/B section lists the A/B runs in
MLflow (who wins, by how much, the CI) or says none ran; model metrics, data volume, a glossary
and file paths sit in a closed details section. Text is Chinese with an English toggle.

Charts are Plotly specs drawn by the reader's browser (plotly.js inlined: the page is one
self-contained file, nothing is fetched), so every label is text in the reader's own fonts,
never glyphs baked where a font lacked them. ``--screenshot`` opens the page in headless
Chromium, fails on any console message, and writes a PNG. The page is logged to MLflow as an
artifact (``report/``) in the reports experiment. Pure functions compute the tables and the
chart specs; I/O sits at the edges.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from experiments.report.browser import screenshot
from experiments.report.data import load_report_data
from experiments.report.sections import build_report
from features.cli_parser import LinliParser, existing_dir, one_line
from features.progress import Steps
from training.settings import Settings, load_settings

log = logging.getLogger("linli.report")


def write_report(
    features: Path,
    out: Path,
    settings: Settings,
    matching: Path | None = None,
    log_mlflow: bool = True,
    steps: Steps | None = None,
) -> dict[str, Any]:
    """Build, write (and log) the page; the numbers behind it (``steps``: 3 steps of progress)."""
    t0 = time.perf_counter()
    steps = steps or Steps("report", 3, enabled=False)
    with steps.step("read the feature store and the matching outputs"):
        data = load_report_data(features, matching)
    with steps.step("compute and draw the sections"):
        page, numbers = build_report(data, settings, read_registry=log_mlflow)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    numbers["seconds"] = round(time.perf_counter() - t0, 2)
    (out.with_suffix(".json")).write_text(
        json.dumps(numbers, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    if log_mlflow:
        from training import tracking

        with (
            steps.step("log the page to MLflow"),
            tracking.run("report", settings, tags={tracking.TAG_RUN_TYPE: "report"}),
        ):
            tracking.log_params(
                {"features": str(features.resolve()), "segments": data.segment_source}
            )
            flat = {
                k: v for k, v in numbers.items() if isinstance(v, int | float) and v is not None
            }
            tracking.log_metrics(flat)
            tracking.log_artifact(out, "report")
            tracking.log_artifact(out.with_suffix(".json"), "report")
    return numbers


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli report --out report.html [--features DIR] [--screenshot PNG]``."""
    p = LinliParser(prog="linli report", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML page to write")
    p.add_argument(
        "--features", type=existing_dir, default=None, help="feature store (WORK/features)"
    )
    p.add_argument("--matching", type=Path, default=None, help="folder with segments.parquet")
    p.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        help="also open it in headless Chromium and save a PNG",
    )
    p.add_argument("--no-mlflow", action="store_true", help="no registry section, no MLflow run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    features = args.features or settings.work_dir / "features"
    try:
        with Steps("linli report", 3 if not args.no_mlflow else 2) as steps:
            numbers = write_report(
                features, args.out, settings, args.matching, not args.no_mlflow, steps
            )
    except (FileNotFoundError, ValueError) as exc:
        print(f"linli report: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"report: {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {numbers['seconds']}s)")
    if args.screenshot is not None:
        messages = screenshot(args.out, args.screenshot)
        print(f"screenshot: {args.screenshot}; console messages: {len(messages)}")
        for m in messages:
            print(f"  {m}", file=sys.stderr)
        if messages:
            return 1
    return 0
