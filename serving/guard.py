"""ASGI middleware in front of every endpoint: who may call it (401) and how big a body may be (413).

- ``/ingest/*`` and ``/admin/*`` (ingestion, reload, experiment changes) always need
  ``Authorization: Bearer <token>`` with the admin token, read from the environment variable
  named by ``serving.auth.admin_token_env`` (``LINLI_ADMIN_TOKEN``). No token configured means
  no call gets in.
- The other POST endpoints (ranking, matching) are open, or need the read token
  (``LINLI_READ_TOKEN``) or the admin token when ``serving.auth.protect_ranking`` is on.
  ``/info``, ``/readyz``, ``/livez``, ``/metrics`` and the docs stay open.
- A wrong or missing token is ``401 {"error": "unauthorized"}``: the same answer whatever was
  wrong, checked before the body is read, compared in constant time.
- A body over ``serving.ingest.max_body_bytes`` (ingestion) or ``serving.max_body_bytes``
  (everything else) is ``413`` whether or not it announces its length.
- A body not fully received within ``serving.body_timeout_s`` (10 s) is ``408``: a client
  sending a byte at a time cannot hold a worker's slot (BentoML's ``traffic.max_concurrency``
  caps the requests in flight) for longer than that.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from typing import Any

from serving.asgi_body import replay
from serving.settings import Settings, load_settings

log = logging.getLogger("linli.serving.guard")

WRITE_PREFIXES = ("/ingest/", "/admin/")
OPEN_POSTS = frozenset({"/info"})
_DRAIN_LIMIT = 16 * 1024 * 1024  # read and discard at most this much of an oversized body


def _digest(token: str | None) -> bytes | None:
    return hashlib.sha256(token.encode()).digest() if token else None


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    for k, v in headers:
        if k == b"authorization":
            scheme, _, value = v.decode("latin-1").partition(" ")
            return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    return None


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for k, v in headers:
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


async def _answer(
    send: Any, status: int, body: dict[str, Any], extra: list[Any] | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": data})


class Guard:
    """Token check and body-size bound for every HTTP request (see the module docstring)."""

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        self.app = app
        settings = settings or load_settings()
        auth = settings.serving.auth
        self.admin = _digest(os.environ.get(auth.admin_token_env))
        self.read = _digest(os.environ.get(auth.read_token_env))
        self.protect_ranking = auth.protect_ranking
        self.max_body = settings.serving.max_body_bytes
        self.max_write_body = settings.serving.ingest.max_body_bytes
        self.body_timeout = settings.serving.body_timeout_s
        if self.admin is None:
            log.warning(
                "%s is not set: ingestion, reload and experiment endpoints refuse every call",
                auth.admin_token_env,
            )

    def allowed(self, path: str, method: str, token: str | None) -> bool:
        """Whether a call to `path` with `token` may go on."""
        write = path.startswith(WRITE_PREFIXES)
        if not write and (not self.protect_ranking or method != "POST" or path in OPEN_POSTS):
            return True
        given = _digest(token)
        if given is None:
            return False
        ok = self.admin is not None and hmac.compare_digest(given, self.admin)
        if not write and self.read is not None:
            ok = hmac.compare_digest(given, self.read) or ok
        return ok

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "GET")
        headers = scope.get("headers", [])
        if not self.allowed(path, method, bearer(headers)):
            await self._drain(receive, _DRAIN_LIMIT)
            await _answer(send, 401, {"error": "unauthorized"}, [(b"www-authenticate", b"Bearer")])
            return
        if method not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.max_write_body if path.startswith(WRITE_PREFIXES) else self.max_body
        announced = _content_length(headers)
        if announced is not None and announced > limit:
            await self._drain(receive, _DRAIN_LIMIT)
            await self._too_large(send, limit)
            return
        chunks, size, more = [], 0, True
        deadline = time.monotonic() + self.body_timeout
        while more:
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await _answer(
                    send,
                    408,
                    {"error": f"request body not received within {self.body_timeout:g} s"},
                    [(b"connection", b"close")],
                )
                return
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            more = msg.get("more_body", False)
            if size > limit:
                await self._drain(receive, _DRAIN_LIMIT, more)
                await self._too_large(send, limit)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        await self.app(scope, replay(body, receive), send)

    @staticmethod
    async def _drain(receive: Any, limit: int, more: bool = True) -> None:
        """Read and drop the rest of a refused body (bounded), so the client can read the answer."""
        seen = 0
        deadline = time.monotonic() + 5.0
        while more and seen < limit:
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return
            if msg["type"] == "http.disconnect":
                return
            seen += len(msg.get("body", b""))
            more = msg.get("more_body", False)

    @staticmethod
    async def _too_large(send: Any, limit: int) -> None:
        await _answer(
            send,
            413,
            {"error": f"request body too large: at most {limit} bytes", "field": "body"},
        )
