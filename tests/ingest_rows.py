"""Rows for ingestion tests in the SCHEMA.md `events` format (a helper beside the world helpers)."""

from __future__ import annotations

from typing import Any


def ev(i: int | str, **kw: Any) -> dict[str, Any]:
    """A valid order event with id ``e<i>`` by ``wecom:w<i>``; `kw` overrides fields."""
    base: dict[str, Any] = {
        "event_id": f"e{i}",
        "ts": "2026-06-01T09:30:00+08:00",
        "event_type": "order",
        "id_type": "wecom",
        "id_value": f"w{i}",
        "item_id": "fruit-1",
        "quantity": 2,
        "amount": 59.8,
        "order_id": f"o{i}",
        "group_id": "g1",
    }
    return {**base, **kw}
