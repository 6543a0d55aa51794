"""A screenshot of the MLflow compare view of champion vs challenger (real server, headless Chromium).

``python -m experiments.demos.mlflow_compare_shot --features work/features --out docs/mlflow-compare.png``

In a fresh work folder (``--work``, its own SQLite store): train the champion
(``--champion-kind``, alias ``champion``) and the challenger (``--challenger-kind``, alias
``challenger``) on the feature store, run the offline A/B of the two aliases (a parent run with
the verdict and one child run per variant in the ``linli-ab`` experiment), start ``mlflow ui``
with one worker on a free port, open the compare view of the two child runs in Playwright
(Debian's ``/usr/bin/chromium``) and save a full-page PNG. The server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"


def prepare_runs(features: Path, champion: str, challenger: str, seed: int) -> tuple[str, str]:
    """Train both, run the A/B; the A/B experiment id and the parent run id."""
    import mlflow

    from experiments import ab
    from training import tracking
    from training.evaluation import compare as C
    from training.settings import load_settings
    from training.train import train

    settings = load_settings().model_copy(update={"seed": seed})
    train(champion, features, {}, settings, alias="champion")
    train(challenger, features, {}, settings, alias="challenger")
    res = C.run_ab(
        features,
        C.VariantSpec("champion", alias="champion"),
        C.VariantSpec("challenger", alias="challenger"),
        settings,
        n_boot=500,
    )
    parent = ab.log_ab(res, settings.work_dir / "ab", settings)
    print(ab.verdict(res)["text"])
    exp_id = tracking.configure(settings, "ab")
    return exp_id, mlflow.get_run(parent).info.run_id


def child_runs(parent: str) -> list[str]:
    """The variant runs of an A/B parent, champion first."""
    import mlflow

    runs = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    runs = runs.sort_values("tags.linli.ab.variant", ascending=False)  # champion, challenger
    return [str(r) for r in runs["run_id"]]


def start_ui(store: Path, artifacts: Path, port: int) -> subprocess.Popen[bytes]:
    """``mlflow ui`` with one worker, as ``make mlflow-ui`` runs it; waits until it answers."""
    cmd = [
        str(Path(sys.executable).with_name("mlflow")),
        "ui",
        "--backend-store-uri",
        f"sqlite:///{store}",
        "--default-artifact-root",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(1)
    stop_ui(proc)
    raise RuntimeError("mlflow ui did not answer within 120 s")


def stop_ui(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and its worker (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass


def compare_url(port: int, exp_id: str, runs: list[str]) -> str:
    """The MLflow UI's compare view of ``runs``."""
    q = urllib.parse.urlencode({"runs": json.dumps(runs), "experiments": json.dumps([exp_id])})
    return f"http://127.0.0.1:{port}/#/compare-runs?{q}"


def screenshot(url: str, names: list[str], out: Path) -> None:
    """Open the compare view in headless Chromium, wait for the run names, save a PNG."""
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1440, "height": 1900})
            tab.goto(url, timeout=120_000)
            for name in names:
                tab.get_by_text(name, exact=False).first.wait_for(timeout=120_000)
            _close_assistant(tab)
            _choose_axes(tab, ["kind", "ab.version"], ["ndcg_at_10", "recall_at_10"])
            tab.wait_for_timeout(3000)  # the plots settle
            tab.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def _close_assistant(tab: Any) -> None:
    """Close the UI's assistant side panel when it is open (it hides half the compare view)."""
    close = tab.get_by_role("button", name="Close", exact=True)
    if close.count():
        close.first.click()


def _choose_axes(tab: Any, params: list[str], metrics: list[str]) -> None:
    """Parallel-coordinates plot on what the A/B is about (the UI opens on arbitrary columns)."""
    tab.get_by_role("button", name="Clear All").first.click()
    for selector, values in (("#dubois-select-1", params), ("#dubois-select-2", metrics)):
        box = tab.locator(selector)
        for value in values:
            box.click()
            box.fill(value)
            tab.keyboard.press("Enter")
        tab.keyboard.press("Escape")


def main(argv: list[str] | None = None) -> int:
    """CLI: see the module doc."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--features", type=Path, required=True, help="feature store to train on")
    p.add_argument("--out", type=Path, default=Path("docs/mlflow-compare.png"), help="PNG to write")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    p.add_argument("--champion-kind", default="p_topfreq", help="model kind of the champion")
    p.add_argument("--challenger-kind", default="popularity", help="model kind of the challenger")
    p.add_argument("--seed", type=int, default=42, help="seed of the models and the bootstrap")
    args = p.parse_args(argv)
    from training.mlflow_server import free_port

    with tempfile.TemporaryDirectory(prefix="linli-compare-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        os.environ["LINLI_WORK_DIR"] = str(work)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        exp_id, parent = prepare_runs(
            args.features.resolve(), args.champion_kind, args.challenger_kind, args.seed
        )
        runs = child_runs(parent)
        port = free_port()
        proc = start_ui(work / "mlflow.db", work / "mlartifacts", port)
        try:
            import mlflow

            names = [str(mlflow.get_run(r).info.run_name) for r in runs]
            screenshot(compare_url(port, exp_id, runs), names, args.out)
        finally:
            stop_ui(proc)
    print(f"compare view of {', '.join(names)} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
