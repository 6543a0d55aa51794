"""The ranking hot path: ``POST /rank/user`` and ``/rank/group`` answered in one ASGI step.

BentoML's endpoint machinery (request context, IO descriptors, serde, a streamed response
object, background-task bookkeeping) cost more per call than the ranking itself: a bare
FastAPI app calling the same engine served 2-2.5x the requests
(``python -m experiments.benchmarks.load_bench``). This middleware sits inside the service's
middleware stack, after :class:`serving.guard.Guard` (tokens, body size) and the JSON
content-type check, so those still hold, as do BentoML's metrics, tracing and access log
around it. It does what the endpoint did, with the same models and answers:

- the body is validated by the endpoint's own request model (``400`` with the one-line
  ``error`` naming the field, and ``detail[].loc``: :func:`serving.validation.error_body`);
- the engine comes from :meth:`serving.runtime.Runtime.sync` (live constraints, reloads and
  A/B changes from the store apply before the answer), and the engine logs the exposure;
- :class:`serving.engine.ApiError` becomes its status and ``{"error", "field"}`` body;
- the response is serialised once by pydantic and sent with its length in one message.

Every other path goes on to the BentoML app unchanged. The service calls :func:`bind` with
its runtime when it starts; until then (or with no bundle) requests go to BentoML too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from serving import schemas as s
from serving.asgi_body import read_body
from serving.engine import ApiError, Engine
from serving.log_privacy import log_client_error
from serving.runtime import Runtime
from serving.validation import error_body

log = logging.getLogger("linli.serving.fastpath")

Handler = Callable[[Engine, Any], BaseModel]
ROUTES: dict[str, tuple[type[BaseModel], Handler]] = {
    "/rank/user": (s.RankUserRequest, lambda e, r: e.rank_user(r)),
    "/rank/group": (s.RankGroupRequest, lambda e, r: e.rank_group(r)),
}
_JSON = (b"content-type", b"application/json")
_runtime: Runtime | None = None


def bind(runtime: Runtime | None) -> None:
    """Serve the hot paths from `runtime` (None: leave them to BentoML)."""
    global _runtime
    _runtime = runtime


def answer(runtime: Runtime, path: str, body: bytes) -> tuple[int, bytes]:
    """Status and JSON body for one ranking call (free of ASGI)."""
    model, handler = ROUTES[path]
    try:
        req = model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        log_client_error(path, exc)
        return 400, json.dumps(error_body(exc), ensure_ascii=False, default=str).encode()
    try:
        return 200, handler(runtime.sync(), req).model_dump_json().encode()
    except ApiError as exc:
        return exc.status, exc.body().model_dump_json().encode()
    except Exception:  # a bug: logged with its traceback, a JSON 500 as BentoML would answer
        log.exception("%s failed", path)
        return 500, b'{"error": "An unexpected error has occurred, please check the server log."}'


class FastRank:
    """ASGI middleware answering the ranking endpoints directly (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        rt = _runtime
        path = scope.get("path", "")
        if (
            rt is None
            or scope.get("type") != "http"
            or scope.get("method") != "POST"
            or path not in ROUTES
            or not rt.engine.ready
        ):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        status, data = answer(rt, path, body)
        headers = [_JSON, (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
