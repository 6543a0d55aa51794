"""Screenshots of the ops console (``/ui``) on a bundle, taken with headless Chromium.

    python -m experiments.demos.console_shot --bundle work/bundle --out docs/console.png

Starts the server on a free loopback port, opens the console in Debian's ``chromium``
(Playwright, no browser download), looks up a member by a phone number typed the way people
type it (the member with the most tags among those with a phone and a hard constraint) and
writes ``--out``; then opens the first group's live plan and writes ``<out>-plan.png``.
The choice is a pure function of the bundle, so the same bundle gives the same pictures.
``--fonts DIR`` adds a folder of fonts (e.g. a CJK font) when the system has none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from serving import artifacts as art
from serving.cli import free_port, server_env, start_server, stop_server
from serving.settings import load_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pick_member(bundle: Path) -> str:
    """A phone number (spaced like people type it) of the richest member with a constraint."""
    ident = pd.read_parquet(bundle / art.IDENTIFIERS)
    phones = ident[ident[art.ID_KEY].str.startswith("phone:")].drop_duplicates(art.USER)
    ct = pd.read_parquet(bundle / art.CONSTRAINT_TAGS)
    tags = pd.read_parquet(bundle / art.USER_TAGS)
    n_tags = tags.groupby(art.USER).size().rename("n")
    cand = phones[phones[art.USER].isin(ct[art.USER])]
    cand = (cand if len(cand) else phones).join(n_tags, on=art.USER)
    best = cand.sort_values(["n", art.USER], ascending=[False, True]).iloc[0]
    digits = str(best[art.ID_KEY]).removeprefix("phone:")
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"


def _fontconfig(fonts: Path, tmp: Path) -> dict[str, str]:
    conf = tmp / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{fonts.resolve()}</dir><cachedir>{tmp / 'cache'}</cachedir></fontconfig>"
    )
    return {"FONTCONFIG_FILE": str(conf)}


def shoot(url: str, member: str, group: str, out: Path, env: dict[str, str], width: int) -> None:
    """Member view -> `out`; the group's live plan -> `<out>-plan.png`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], env={**os.environ, **env}
        )
        page = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1)
        page.goto(f"{url}/ui/")
        page.fill("#member-id", member)
        page.click("#member-form button")
        page.wait_for_selector("#user-items tbody tr")
        page.screenshot(path=str(out), full_page=True)
        page.click("nav .tab[data-tab=group]")
        page.fill("#group-id", group)
        page.click("#group-form button")
        page.wait_for_selector("#plan-items tbody tr", timeout=60_000)
        page.add_style_tag(content="header { position: static; }")  # not over the element
        page.locator("#plan-box").screenshot(path=str(out.with_name(out.stem + "-plan.png")))
        browser.close()


def main(argv: list[str] | None = None) -> int:
    """CLI: start the server on the bundle, take the screenshots, stop the server."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.demos.console_shot", description=__doc__
    )
    p.add_argument("--bundle", type=Path, default=None, help="bundle folder (default WORK/bundle)")
    p.add_argument("--out", type=Path, default=Path("docs/console.png"), help="PNG to write")
    p.add_argument("--group", default=None, help="group for the plan (default: the first)")
    p.add_argument("--width", type=int, default=1360, help="viewport width (default 1360)")
    p.add_argument("--fonts", type=Path, default=None, help="extra font folder (default: none)")
    args = p.parse_args(argv)
    settings = load_settings()
    bundle = args.bundle or settings.serving.bundle_dir or settings.work_dir / "bundle"
    member = pick_member(Path(bundle))
    group = args.group or str(pd.read_parquet(Path(bundle) / art.GROUPS)["group_id"].iloc[0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="linli-shot-") as tmp:
        work = Path(tmp)
        env = _fontconfig(args.fonts, work) if args.fonts else {}
        port = free_port()
        proc = start_server(port, server_env(Path(bundle), work, workers=1), work / "server.log")
        try:
            shoot(f"http://127.0.0.1:{port}", member, group, args.out, env, args.width)
        finally:
            stop_server(proc)
    print(f"member {member!r}, group {group}: {args.out}, {args.out.stem}-plan.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
