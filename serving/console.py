"""The ops console: static HTML / JS / CSS under ``serving/console/``, mounted at ``/ui``.

One :class:`starlette.staticfiles.StaticFiles` app (``/ui`` redirects to ``/ui/``, which
serves ``index.html``), mounted on the BentoML service with ``bentoml.asgi_app``: no second
server. The page calls the service's own JSON endpoints from the browser; nothing is fetched
from elsewhere at run time.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("console")
PATH = "/ui"


def console_app() -> StaticFiles:
    """The console's ASGI app (index.html at its root)."""
    return StaticFiles(directory=STATIC, html=True)
