"""The ops console at /ui in a real browser (Playwright driving Debian's Chromium) against the
real server: every flow, and no console error or failed request beyond the ones a test expects.

The server runs with ranking protected by a read token, so every flow also shows the console
works with the service's token (entered once, kept in sessionStorage).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_world import shared_bundle

from serving.cli import free_port, server_env, start_server, stop_server

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
READ, ADMIN = "read-token-e2e", "admin-token-e2e"
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (.ci/run installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bundle = shared_bundle(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("console")
    port = free_port()
    env = server_env(
        bundle,
        work,
        workers=1,
        extra={
            "LINLI_SERVING__AUTH__PROTECT_RANKING": "true",
            "LINLI_READ_TOKEN": READ,
            "LINLI_ADMIN_TOKEN": ADMIN,
        },
    )
    proc = start_server(port, env, work / "server.log", timeout=150)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)
    assert "status=5" not in (work / "server.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    pw = sync_api.sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        yield b
    finally:
        b.close()
        pw.stop()


class Console:
    """One page of the console with every console error and failed request recorded."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.expected: set[int] = set()  # HTTP statuses a test provokes on purpose
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("response", self._response)
        self.page.goto(f"{url}/ui")
        self.page.wait_for_selector("#member-form")

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            status = msg.text.split("status of ")[-1][:3]
            if not (status.isdigit() and int(status) in self.expected):
                self.errors.append(f"console: {msg.text}")

    def _response(self, r: Any) -> None:
        if r.status >= 400 and r.status not in self.expected:
            self.errors.append(f"HTTP {r.status}: {r.url}")

    def login(self) -> None:
        self.page.fill("#token", READ)
        self.page.click("#token-save")

    def close(self) -> None:
        self.page.wait_for_timeout(200)  # let late console messages arrive
        self.context.close()
        assert not self.errors, self.errors


@pytest.fixture
def ui(browser: Any, server: str) -> Iterator[Console]:
    c = Console(browser, server)
    yield c
    c.close()


def _csv(download: Any) -> list[dict[str, str]]:
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_member_by_any_phone_format_needs_the_token(ui: Console) -> None:
    p = ui.page
    assert p.url.split("#")[0].endswith("/ui/")  # /ui redirects to the page
    ui.expected = {401}
    p.fill("#member-id", "+86 139-0000-0003")
    p.click("#member-form button")
    sync_api.expect(p.locator("#status")).to_contain_text("令牌")
    ui.expected = set()
    ui.login()
    for form in ["+86 139-0000-0003", "139 0000 0003", "13900000003", "phone:13900000003"]:
        p.fill("#member-id", form)
        p.click("#member-form button")
        sync_api.expect(p.locator("#profile-user")).to_have_text("wecom:w3")
        p.wait_for_selector("#user-items tbody tr")
    sync_api.expect(p.locator("#profile-tier")).not_to_have_text("—")
    assert p.locator("#profile-tags .chip.rule").count() > 0
    assert "phone:13900000003" in p.inner_text("#profile")
    row = p.locator("#user-items tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert cells[0].strip() and cells[2].startswith("¥") and cells[3].strip()  # name, price, reason


def test_member_constraints_and_group_link(ui: Console) -> None:
    p = ui.page
    ui.login()
    p.fill("#member-id", "wecom:w7")  # a leader noted a constraint for every 7th person
    p.click("#member-form button")
    p.wait_for_selector("#profile-constraints .chip.danger")
    assert p.locator("#profile-tags .chip.manual").count() > 0
    p.locator(".group-link").first.click()
    p.wait_for_selector("#group-profile")
    sync_api.expect(p.locator("#tab-group")).to_be_visible()


def test_group_items_flags_and_live_plan_with_edited_theme(ui: Console) -> None:
    p = ui.page
    ui.login()
    p.click("nav .tab[data-tab=group]")
    p.fill("#group-id", "g1")
    p.click("#group-form button")
    sync_api.expect(p.locator("#group-members")).to_have_text("83")
    assert p.locator("#group-items tbody tr").count() == 10
    assert p.locator("#group-items .flag").count() > 0  # members' allergies flagged
    p.wait_for_selector("#plan-theme")
    for part in (
        "#plan-items tbody tr",
        "#plan-audience tbody tr",
        "#plan-kocs tr",
        "#plan-funnel",
    ):
        assert p.locator(part).count() > 0, part
    p.fill("#theme-name", "夏日轻食")
    p.fill("#theme-keywords", "减脂餐, 轻食")
    p.fill("#theme-categories", "veg")
    p.click("#theme-apply")
    sync_api.expect(p.locator("#plan-theme")).to_have_text("夏日轻食")
    cats = p.locator("#plan-items tbody tr td:nth-child(2)").all_inner_texts()
    assert cats and set(cats) == {"veg"}
    assert p.locator("#plan-audience tbody tr").count() == 12  # the first 12, then "show all"
    p.click("#plan-all")
    n = p.locator("#plan-audience tbody tr").count()
    with p.expect_download() as dl:
        p.click("#plan-csv")
    rows = _csv(dl.value)
    assert len(rows) == n > 12 and rows[0]["reasons"]


def test_audience_builder_count_pages_csv_and_errors(ui: Console, server: str) -> None:
    p = ui.page
    ui.login()
    p.click("nav .tab[data-tab=audience]")
    p.wait_for_selector(".seg")
    expr = "prefers:* AND NOT allergy:mango"
    want = httpx.post(
        f"{server}/users/query",
        json={"expression": expr, "limit": 1000},
        headers={"authorization": f"Bearer {READ}"},
    ).json()
    p.fill("#query-expr", expr)
    p.click("#query-form button")
    sync_api.expect(p.locator("#query-count")).to_contain_text(str(want["count"]))
    shown = p.locator("#query-users tbody tr td:first-child").all_inner_texts()
    assert shown == [u["user_id"] for u in want["users"][:20]]
    p.click("#query-next")
    sync_api.expect(p.locator("#query-users tbody tr td:first-child").first).to_have_text(
        want["users"][20]["user_id"]
    )
    with p.expect_download() as dl:
        p.click("#query-csv")
    rows = _csv(dl.value)
    assert [r["user_id"] for r in rows] == [u["user_id"] for u in want["users"]]
    p.fill("#query-expr", "")
    p.locator(".seg").first.check()
    p.click("#query-form button")
    sync_api.expect(p.locator("#query-count")).not_to_have_text("共 0 人")
    ui.expected = {400}
    p.locator(".seg").first.uncheck()
    p.fill("#query-expr", "tier:gold AND (")
    p.click("#query-form button")
    sync_api.expect(p.locator("#status")).to_contain_text("expression:")
    assert "\n" not in p.inner_text("#status")


def test_leader_note_ingested_live_shows_at_once(ui: Console, server: str) -> None:
    r = httpx.post(
        f"{server}/ingest/manual_tags",
        json={
            "tags": [
                {
                    "id_type": "phone",
                    "id_value": "139-0000-0006",
                    "tag": "likes:durian",
                    "note": "爱吃榴莲",
                }
            ]
        },  # fmt: skip
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    p = ui.page
    ui.login()
    p.click("nav .tab[data-tab=audience]")
    p.fill("#query-expr", "likes:durian")
    p.click("#query-form button")
    sync_api.expect(p.locator("#query-count")).to_contain_text("1")
    p.locator(".user-link").first.click()
    sync_api.expect(p.locator("#profile-user")).to_have_text("wecom:w6")
    sync_api.expect(p.locator("#profile-tags .chip.live")).to_have_text("likes:durian")


def test_english_toggle_and_back(ui: Console) -> None:
    p = ui.page
    ui.login()
    sync_api.expect(p.locator("nav .tab[data-tab=member]")).to_have_text("会员")
    p.fill("#member-id", "wecom:w3")
    p.click("#member-form button")
    p.wait_for_selector("#profile-user")
    p.click("#lang")
    sync_api.expect(p.locator("nav .tab[data-tab=member]")).to_have_text("Members")
    sync_api.expect(p.locator("#profile")).to_contain_text("Recommended for them")
    p.reload()
    sync_api.expect(p.locator("nav .tab[data-tab=audience]")).to_have_text("Audience")
    p.click("#lang")
    sync_api.expect(p.locator("nav .tab[data-tab=audience]")).to_have_text("人群圈选")
