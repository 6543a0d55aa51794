"""Missing-glyph check of an HTML page in headless Chromium (Playwright, Debian's chromium).

The page is generated on a machine without CJK fonts. The *reader* is simulated by a font
made on the fly that covers every Chinese character of the page, handed to Chromium through
a private fontconfig file. Then, for every text node (HTML and SVG) holding Chinese, Chromium
says which fonts drew it (``CSS.getPlatformFontsForNode``) and fontTools checks that those
fonts hold a glyph for each of its Chinese characters. Text baked into images or glyph paths
is not text: every ``<figure>`` must hold real text.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
CHROMIUM = "/usr/bin/chromium"
FAMILY = "Reader CJK Test"


def make_cjk_font(chars: set[str], path: Path) -> Path:
    """A TrueType font with a box glyph for each character (a reader's Chinese font)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    names = [".notdef"] + [f"uni{ord(c):04X}" for c in sorted(chars)]
    cmap = {ord(c): f"uni{ord(c):04X}" for c in chars}
    pen = TTGlyphPen(None)
    for x0, y0, x1, y1 in ((100, -100, 900, 800),):
        pen.moveTo((x0, y0))
        pen.lineTo((x0, y1))
        pen.lineTo((x1, y1))
        pen.lineTo((x1, y0))
        pen.closePath()
    box = pen.glyph()
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap(cmap)
    fb.setupGlyf({n: box for n in names})
    fb.setupHorizontalMetrics({n: (1000, 100) for n in names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": FAMILY, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    fb.save(str(path))
    return path


def system_cjk_fonts() -> list[str]:
    """Font files of this machine that draw Chinese (any holding 一, U+4E00)."""
    out = subprocess.run(
        ["fc-list", ":charset=4e00", "file"], capture_output=True, text=True, check=False
    )
    return sorted({ln.split(":")[0].strip() for ln in out.stdout.splitlines() if ln.strip()})


def fontconfig_with(font_dir: Path, conf: Path) -> Path:
    """A fontconfig file: the system's configuration without its CJK fonts (a machine that has
    none, whatever this one has installed), plus ``font_dir``."""
    reject = "".join(f"<glob>{f}</glob>" for f in system_cjk_fonts())
    conf.write_text(
        "<?xml version='1.0'?><!DOCTYPE fontconfig SYSTEM 'fonts.dtd'><fontconfig>"
        "<include ignore_missing='yes'>/etc/fonts/fonts.conf</include>"
        f"<selectfont><rejectfont>{reject}</rejectfont></selectfont>"
        f"<dir>{font_dir}</dir><cachedir>{font_dir / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return conf


@dataclass
class GlyphReport:
    """What the browser drew: CJK text nodes, the ones with missing glyphs, figures without text."""

    cjk_nodes: int = 0
    missing: list[str] = field(default_factory=list)
    figures: int = 0
    figures_without_text: int = 0
    texts: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # anything but the page itself


def _font_files(env: dict[str, str]) -> dict[str, str]:
    """family and postscript name -> font file, as fontconfig (with ``env``) lists them."""
    out = subprocess.run(
        ["fc-list", "--format", "%{file}\t%{family}\t%{postscriptname}\n"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    files: dict[str, str] = {}
    for line in out.splitlines():
        path, families, ps = (line.split("\t") + ["", ""])[:3]
        for name in [*families.split(","), ps]:
            files.setdefault(name.strip(), path)
    return files


def _cmap(path: str, cache: dict[str, set[int]]) -> set[int]:
    if path not in cache:
        from fontTools.ttLib import TTFont

        font = TTFont(path, fontNumber=0, lazy=True)
        cache[path] = set(font.getBestCmap() or {})
    return cache[path]


def _text_nodes(node: dict[str, Any], parent: int | None = None) -> list[tuple[int, str]]:
    """(element node id, text) of every text node under ``node``."""
    found = []
    if node.get("nodeType") == 3 and parent is not None:
        found.append((parent, node.get("nodeValue", "")))
    for child in node.get("children", []) or []:
        found += _text_nodes(child, node["nodeId"] if node.get("nodeType") == 1 else parent)
    return found


def check_page(page: Path, env: dict[str, str], wait_js: str | None = None) -> GlyphReport:
    """Open ``page`` in Chromium with the fontconfig of ``env``; which CJK text lacks glyphs."""
    from playwright.sync_api import sync_playwright

    report = GlyphReport()
    files = _font_files(env)
    cmaps: dict[str, set[int]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], env=env)
        try:
            tab = browser.new_page(viewport={"width": 1240, "height": 900})
            url = page.resolve().as_uri()
            tab.on("request", lambda r: r.url != url and report.requests.append(r.url))
            tab.goto(url)
            if wait_js:
                tab.wait_for_function(wait_js, timeout=60_000)
            report.figures = tab.evaluate("document.querySelectorAll('figure').length")
            report.figures_without_text = tab.evaluate(
                "Array.from(document.querySelectorAll('figure')).filter(f =>"
                " !Array.from(f.querySelectorAll('svg text')).some(t => t.textContent.trim())"
                " || f.querySelector('img')).length"
            )
            cdp = tab.context.new_cdp_session(tab)
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
            for node_id, text in _text_nodes(root):
                chars = {c for c in text if CJK.match(c)}
                if not chars:
                    continue
                try:
                    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node_id})["fonts"]
                except Exception:  # a node with no layout (e.g. hidden language, <title>)
                    continue
                if not fonts:
                    continue
                report.cjk_nodes += 1
                report.texts.append(text)
                covered: set[int] = set()
                for f in fonts:
                    path = files.get(f["postScriptName"]) or files.get(f["familyName"])
                    if path:
                        covered |= _cmap(path, cmaps)
                lacking = sorted(c for c in chars if ord(c) not in covered)
                if lacking:
                    report.missing.append(f"{text.strip()[:40]!r}: {''.join(lacking)}")
        finally:
            browser.close()
    return report
