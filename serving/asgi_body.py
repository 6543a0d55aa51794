"""The body of an ASGI request: read it whole, and hand it on to the next app as if unread.

Middleware that must see a body before the app does (the size guard, the body check, the
ranking fast path) reads it with :func:`read_body` and passes :func:`replay` on as the
app's ``receive``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]


async def read_body(receive: Any) -> bytes | None:
    """The whole request body from an ASGI ``receive``, or None when the client went away."""
    chunks, more = [], True
    while more:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunks.append(msg.get("body", b""))
        more = msg.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes, receive: Any) -> Receive:
    """A ``receive`` that yields ``body`` once as the whole request, then defers to ``receive``
    (for the disconnect message)."""
    sent = False

    async def again() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    return again
