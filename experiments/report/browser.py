"""The browser check: open the page in headless Chromium, collect console messages, screenshot it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium_binary() -> str | None:
    """The headless browser on PATH (chromium, chromium-browser or google-chrome)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def open_in_chromium(
    page: Path, png: Path | None = None, width: int = 1240, height: int = 900, timeout: float = 90.0
) -> list[str]:
    """Load the page in headless Chromium (optionally screenshot it); the console messages it logged."""
    binary = chromium_binary()
    if binary is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="linli-chromium-") as profile:
        cmd = [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={width},{height}",
            "--virtual-time-budget=3000",
        ]
        cmd.append(f"--screenshot={png.resolve()}" if png is not None else "--dump-dom")
        cmd.append(page.resolve().as_uri())
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if png is not None and not png.exists():
        raise RuntimeError(
            f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}"
        )
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def screenshot(page: Path, png: Path, width: int = 1240, scale: float = 0.6) -> list[str]:
    """A full-page PNG (page height estimated from the figures), downscaled; console messages."""
    from PIL import Image

    text = page.read_text(encoding="utf-8")
    height = 900 + 520 * text.count("<figure>") + 30 * text.count("<tr>")
    png.parent.mkdir(parents=True, exist_ok=True)
    messages = open_in_chromium(page, png, width, height)
    img: Image.Image = Image.open(png)
    px = np.asarray(img.convert("L"))
    rows = np.flatnonzero((px < 245).any(axis=1))  # trim the empty bottom
    if len(rows):
        img = img.crop((0, 0, img.width, min(img.height, int(rows[-1]) + 40)))
    if scale != 1.0:
        img = img.resize(
            (int(img.width * scale), int(img.height * scale)), Image.Resampling.LANCZOS
        )
    img.save(png, optimize=True)
    return messages
