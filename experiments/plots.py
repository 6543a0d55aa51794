"""Matplotlib set-up shared by the A/B plots, the BI report and the campaign simulation.

Figures are drawn with the non-interactive Agg backend; a CJK font (Noto Sans CJK, WenQuanYi,
...) is used when one is installed so that Chinese item, group and segment names render
(``apt-get install fonts-noto-cjk``); without one, such glyphs show as boxes and nothing fails.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#718096", "#b7791f")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend with a CJK-capable sans-serif font first."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [f for f in CJK_FONTS if f in have]
    plt.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [*cjk, "DejaVu Sans"],
            "axes.unicode_minus": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titleweight": "bold",
            "axes.titlesize": 12,
            "axes.labelsize": 10,
            "figure.dpi": 100,
            "svg.fonttype": "path",  # glyphs as paths: the SVG needs no font to display
        }
    )
    return plt


def check_labels(fig: Any) -> None:
    """Raise ValueError unless every axes of the figure has a title and both axis labels."""
    for ax in fig.axes:
        if not ax.get_visible() or getattr(ax, "_colorbar", None) is not None:
            continue
        if ax.get_label() == "<colorbar>":
            continue
        missing = [
            what
            for what, text in (
                ("title", ax.get_title()),
                ("x label", ax.get_xlabel()),
                ("y label", ax.get_ylabel()),
            )
            if not text.strip()
        ]
        if missing:
            raise ValueError(f"plot {ax.get_title()!r} lacks {', '.join(missing)}")


def to_svg(fig: Any) -> str:
    """The figure as an inline ``<svg>`` element (labels checked, figure closed)."""
    check_labels(fig)
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing-glyph warnings without a CJK font
        fig.savefig(buf, format="svg", bbox_inches="tight")
    pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def save(fig: Any, path: Path | str, dpi: int = 120) -> Path:
    """Write the figure to ``path`` (format from its suffix; labels checked, figure closed)."""
    check_labels(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path
