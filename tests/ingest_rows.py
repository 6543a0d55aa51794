"""Ingestion rows shared by the ingest tests (in-process and against a real server)."""

from __future__ import annotations

from typing import Any


def ev(i: int | str, **kw: Any) -> dict[str, Any]:
    """A valid order event."""
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


MIXED: list[Any] = [
    ev(1),
    ev(2, event_type="teleport"),  # unknown enum
    ev(3, ts="yesterday-ish"),  # bad timestamp
    ev(4, quantity=-1),  # negative
    ev(5, order_id=None),  # order without order_id
    ev(6, event_type="search", item_id=None, order_id=None, text="减脂餐", channel="miniapp"),
    ev(1),  # same event again in the batch
    "not an object",
    ev(9, text={"nested": True}),
    ev(10, ts=None),
    ev(11, amount="12,5"),
    ev(12, ts="2026-06-01 10:00:00", shop="A"),  # no offset = China time; extra field kept
]
