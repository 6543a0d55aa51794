"""The pages around the API: ``/docs`` (Swagger UI), ``/docs.json``, ``/`` and ``GET /info``.

BentoML 1.4 serves its Swagger page at ``/`` (with BentoML's boilerplate, a tag manager and
version "None") and no ``/docs``. :class:`ApiPages`, an ASGI middleware of the service, answers:

- ``GET /docs``: the Swagger UI (BentoML's bundled assets under ``/static_content``), with
  "Try it out" on, over ``/docs.json``;
- ``GET /docs.json``: :func:`serving.openapi.build` of BentoML's document, its examples written
  with the served bundle's ids (:func:`serving.api_examples.ids_for`), built once per bundle;
- ``GET /``: a redirect to ``/docs``;
- ``GET /info``: the same answer as ``POST /info`` (the call goes on as a POST with ``{}``).

The service calls :func:`bind` with its runtime when it starts (examples then use the bundle's
ids; before that, the demo's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from serving import openapi
from serving.api_examples import DEMO, ExampleIds, ids_for
from serving.runtime import Runtime

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Linli API</title>
  <link rel="stylesheet" type="text/css" href="/static_content/swagger-ui.css">
  <link rel="icon" type="image/png" href="/static_content/favicon-light-32x32.png">
  <style>body { margin: 0; } .swagger-ui .topbar { display: none; }</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="/static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "/docs.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        tryItOutEnabled: true,
        persistAuthorization: true,
        displayRequestDuration: true,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        layout: "BaseLayout",
      });
    };
  </script>
</body>
</html>
"""
DOCS, SPEC, INFO = "/docs", "/docs.json", "/info"
_runtime: Runtime | None = None


def bind(runtime: Runtime | None) -> None:
    """Write the examples with `runtime`'s bundle ids (None: the demo's)."""
    global _runtime
    _runtime = runtime


def current_ids() -> tuple[tuple[int, str], ExampleIds]:
    """(a key of the bundle served, the example ids for it)."""
    rt = _runtime
    bundle = rt.engine.bundle if rt is not None else None
    if bundle is None:
        return (0, ""), DEMO
    return (id(bundle), str(bundle.manifest.get("created_at"))), ids_for(bundle)


async def _send(send: Any, status: int, body: bytes, ctype: bytes, extra: list[Any]) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ApiPages:
    """ASGI middleware for /docs, /docs.json, / and GET /info (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        base_spec: Callable[[], dict[str, Any]] | None = None,
        models: openapi.Models | None = None,
        protect_ranking: bool = False,
    ) -> None:
        self.app = app
        self.base_spec = base_spec
        self.models = models or {}
        self.protect_ranking = protect_ranking
        self._cache: tuple[tuple[int, str], bytes] | None = None

    def spec(self) -> bytes:
        """The OpenAPI document as JSON (rebuilt when the bundle changes)."""
        key, ids = current_ids()
        if self._cache is None or self._cache[0] != key:
            base = self.base_spec() if self.base_spec is not None else {"paths": {}}
            doc = openapi.build(base, ids, self.models, self.protect_ranking)
            self._cache = (key, json.dumps(doc, ensure_ascii=False).encode())
        return self._cache[1]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in (DOCS, DOCS + "/"):
            await _send(send, 200, PAGE.encode(), b"text/html; charset=utf-8", [])
        elif path == SPEC:
            await _send(send, 200, self.spec(), b"application/json", [])
        elif path == "/":
            await _send(send, 307, b"", b"text/plain", [(b"location", DOCS.encode())])
        elif path == INFO and scope.get("method") == "GET":
            await self.app(*_as_post(scope, receive), send)
        else:
            await self.app(scope, receive, send)


def _as_post(scope: dict[str, Any], receive: Any) -> tuple[dict[str, Any], Any]:
    """A GET of /info as the POST of ``{}`` it stands for."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    post = {**scope, "method": "POST", "headers": headers}
    sent = False

    async def body() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    return post, body
