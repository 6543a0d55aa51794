"""Request bodies checked against their endpoint's model, with one-line errors that name the field.

BentoML answers a body that does not fit with ``"1 validation error for
RankUserRequestIODescriptor"``: an internal class name, and the field only in ``detail``.
:func:`error_body` turns a pydantic ``ValidationError`` into the answer every endpoint gives
(the fast path included)::

    400 {"error": "k: Input should be less than or equal to 200", "field": "k",
         "detail": [{"type": "less_than_equal", "loc": ["k"], "msg": "..."}]}

:class:`CheckBody` is the ASGI middleware that validates a POST body with the endpoint's own
request model before BentoML sees it (a body that fits goes on unchanged), so every endpoint,
including ones added later, answers this way. :func:`request_models` finds each route's model
from the service's APIs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from serving.asgi_body import read_body, replay
from serving.log_privacy import log_client_error

_PLAIN = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "model_type": "send a JSON object",
    "model_attributes_type": "send a JSON object",
    "dict_type": "send a JSON object",
}


def _message(err: dict[str, Any]) -> str:
    """Pydantic's message without class names or the 'Value error, ' prefix, on one line."""
    kind, msg = str(err.get("type", "")), str(err.get("msg", ""))
    msg = _PLAIN.get(kind, msg.removeprefix("Value error, "))
    return " ".join(msg.split())


def field_path(loc: Sequence[Any]) -> str | None:
    """``("theme", "items", 0)`` -> ``"theme.items.0"``; the whole body -> None."""
    return ".".join(str(p) for p in loc) or None


def error_body(exc: ValidationError) -> dict[str, Any]:
    """The 400 body for a request that does not fit its model (see the module docstring)."""
    raw = exc.errors(include_context=False, include_input=False, include_url=False)
    detail = [{"type": e["type"], "loc": list(e["loc"]), "msg": _message(dict(e))} for e in raw]
    first: dict[str, Any] = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    field = field_path(first["loc"])
    line = f"{field}: {first['msg']}" if field else str(first["msg"])
    if len(detail) > 1:
        line += f" (and {len(detail) - 1} more: see detail)"
    return {"error": line, "field": field, "detail": detail}


def check(model: type[BaseModel], body: bytes) -> ValidationError | None:
    """None when `body` (JSON; empty = ``{}``) fits `model`, else the validation error."""
    try:
        model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        return exc
    return None


def plain_model(spec: Any) -> type[BaseModel] | None:
    """The pydantic model behind a BentoML IO spec (BentoML subclasses it as <Model>IODescriptor)."""
    if not isinstance(spec, type):
        return None
    mro = [c for c in spec.__mro__ if issubclass(c, BaseModel) and c is not BaseModel]
    plain = [c for c in mro if not c.__name__.endswith("IODescriptor")]
    return plain[0] if plain else None


def api_models(
    apis: dict[str, Any],
) -> dict[str, tuple[type[BaseModel] | None, type[BaseModel] | None]]:
    """Route -> (request model, response model) of each BentoML API."""
    return {
        str(api.route): (
            plain_model(getattr(api, "input_spec", None)),
            plain_model(getattr(api, "output_spec", None)),
        )
        for api in apis.values()
    }


def request_models(apis: dict[str, Any]) -> dict[str, type[BaseModel]]:
    """Route -> the request model of each BentoML API (the model given as ``input_spec``)."""
    return {route: m[0] for route, m in api_models(apis).items() if m[0] is not None}


class CheckBody:
    """ASGI middleware: a POST body that does not fit its route's model is a 400 (module docstring)."""

    def __init__(self, app: Any, models: dict[str, type[BaseModel]] | None = None) -> None:
        self.app = app
        self.models = models or {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        model = self.models.get(path)
        if model is None or scope.get("type") != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        exc = check(model, body)
        if exc is not None:
            log_client_error(path, exc)
            data = json.dumps(error_body(exc), ensure_ascii=False, default=str).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": data})
            return
        await self.app(scope, replay(body, receive), send)
