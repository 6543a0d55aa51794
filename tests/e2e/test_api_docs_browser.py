"""The API page in a real browser: /docs renders, and "Try it out" -> Execute answers 200.

Drives Debian's Chromium through Playwright (skipped when either is missing).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from serving_world import shared_bundle

from serving.cli import free_port, server_env, start_server, stop_server

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OPERATIONS = ["Ranking-linli__rank_user", "Ranking-linli__rank_group", "Matching-linli__live_plan",
              "Matching-linli__segment_profile", "Health-linli__info"]  # fmt: skip


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH")
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("docs-browser")
    port = free_port()
    proc = start_server(port, server_env(bundle, work, workers=1), work / "server.log", timeout=150)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


def test_try_it_out_answers_200_in_the_browser(base_url: str) -> None:
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(base_url + "/")  # redirects to /docs
            assert page.url.endswith("/docs")
            page.wait_for_selector(".swagger-ui .info .title")
            assert page.inner_text(".swagger-ui .info .title").startswith("Linli")
            for op in OPERATIONS:
                sel = f"#operations-{op}"
                page.click(f"{sel} .opblock-summary")
                page.click(f"{sel} .execute")
                cell = f"{sel} .live-responses-table tbody .response-col_status"
                page.wait_for_selector(cell, timeout=60_000)
                assert page.inner_text(cell).strip() == "200", op
        finally:
            browser.close()
    assert not errors, errors
