"""The ops console: static HTML / JS / CSS under ``serving/console/``, mounted at ``/ui``.

A Starlette app with one :class:`starlette.staticfiles.StaticFiles` route, mounted on the
BentoML service with ``bentoml.asgi_app`` (no second server). The page calls the service's
own JSON endpoints from the browser; nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("console")
PATH = "/ui"


async def _index(request: Request) -> RedirectResponse:
    """``/ui`` -> ``/ui/`` so the page's relative links resolve."""
    return RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=307)


def console_app() -> Starlette:
    """The console's ASGI app (index.html at its root)."""
    return Starlette(
        routes=[
            Route("", _index),
            Mount("/", StaticFiles(directory=STATIC, html=True), name="console"),
        ]
    )
