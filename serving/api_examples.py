"""One working example request per endpoint, with ids the served bundle knows.

The OpenAPI page (:mod:`serving.openapi`) shows ``EXAMPLES[route](ids)`` as each endpoint's
request body, so "Try it out" sends a call that answers 200. ``ids`` are those of the world
``make demo`` builds (``linli synth --people 10000 --months 6 --seed 42``: group ``G00001``,
a member reached by her bare phone, item ``SKU000001``, segment 0); when the served bundle
does not hold one of them (another world, a real dataset), :func:`ids_for` picks one that it
does hold: the first group with members, its most active member with a phone, the most popular
item, the first segment.

A new endpoint adds its example in one line::

    EXAMPLES["/items/profile"] = lambda ids: {"item_id": ids.item}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from serving.artifacts import Bundle


@dataclass(frozen=True)
class ExampleIds:
    """Ids the examples are written with (all known to the bundle the page describes)."""

    group: str = "G00001"
    user: str = "wecom:wmgveoP82KjOgu9W9SlF"  # a member of G00001
    phone: str | None = "13174197071"  # the same person's phone
    item: str = "SKU000001"
    category: str = "fruit"
    segment: str | None = "0"
    keyword: str = "减脂餐"


DEMO = ExampleIds()  # the `make demo` world's ids


def _segment_ids(b: Bundle) -> list[str]:
    table = b.table("segments")
    if table is None or "segment_id" not in table.columns:
        return []
    return sorted({str(x) for x in table["segment_id"].dropna()}, key=lambda x: (len(x), x))


def _members_by_activity(b: Bundle, group: int) -> list[int]:
    members = b.members(group).astype(np.int64)
    lines = np.diff(b.purchases.indptr)[members] if len(members) else members
    order = np.lexsort((members, -lines))  # most purchases first, then index
    return [int(m) for m in members[order]]


def ids_for(b: Bundle, demo: ExampleIds = DEMO) -> ExampleIds:
    """`demo`'s ids where `b` holds them, else ids of `b` (see the module docstring)."""
    groups = [str(g) for g in b.groups["group_id"]] if len(b.groups) else []
    with_members = [g for g in groups if len(b.members(b.group_index[g]))]
    group = demo.group if demo.group in with_members else (with_members or [demo.group])[0]
    phones: dict[int, str] = {}
    for key, u in b.identifiers.items():
        if key.startswith("phone:") and len(key) == 17:
            phones.setdefault(u, key[6:])
    members = _members_by_activity(b, b.group_index[group]) if group in b.group_index else []
    uid = {str(b.users[m]): m for m in members}
    if demo.user in uid:
        user, phone = demo.user, phones.get(uid[demo.user])
    else:
        chosen = next((m for m in members if m in phones), members[0] if members else None)
        user = str(b.users[chosen]) if chosen is not None else str(b.users[0])
        phone = phones.get(chosen) if chosen is not None else None
    item = demo.item
    if item not in b.item_index:
        item = str(b.items["item_id"].iloc[int(np.argmax(b.popularity))])
    cats = {str(c).lower() for c in b.categories}
    category = demo.category
    if category not in cats:
        category = str(b.categories[b.item_category[b.item_index[item]]])
    segments = _segment_ids(b)
    segment = demo.segment if demo.segment in segments else next(iter(segments), None)
    return replace(
        demo,
        group=group,
        user=user,
        phone=phone,
        item=item,
        category=category,
        segment=segment,
    )


def _number_if_digits(value: str) -> str | int:
    """Ids made of digits are shown as JSON numbers (both forms are accepted)."""
    return int(value) if value.isdigit() and len(value) < 16 else value


def _pretty_phone(phone: str | None, user: str) -> str:
    """A bare phone written the way people type it (+86, dashes), else the unified id."""
    return f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}" if phone else user


def _split(identifier: str) -> tuple[str, str]:
    t, _, v = identifier.partition(":")
    return t, v


def _bundles(ids: ExampleIds) -> dict[str, Any]:
    if ids.segment is not None:
        return {"segment_id": _number_if_digits(ids.segment), "k": 3}
    return {"items": [ids.item], "k": 3}


def _segment_profile(ids: ExampleIds) -> dict[str, Any]:
    return {"segment_id": _number_if_digits(ids.segment or "0")}


def _event(ids: ExampleIds) -> dict[str, Any]:
    t, v = _split(ids.user)
    return {
        "events": [
            {
                "event_id": "doc-example-1",
                "ts": "2026-06-01T09:30:00+08:00",
                "event_type": "jielong",
                "id_type": t,
                "id_value": v,
                "item_id": ids.item,
                "quantity": 2,
                "amount": 59.8,
                "order_id": "J-doc-1",
                "group_id": ids.group,
            }
        ]
    }


def _link(ids: ExampleIds) -> dict[str, Any]:
    t, v = _split(ids.user)
    return {
        "links": [
            {
                "id_type_a": t,
                "id_value_a": v,
                "id_type_b": "member_card",
                "id_value_b": "MC-doc-example",
            }
        ]
    }


def _tag(ids: ExampleIds) -> dict[str, Any]:
    t, v = _split(ids.user)
    return {"tags": [{"id_type": t, "id_value": v, "tag": "family:toddler", "note": "家里有宝宝"}]}


Example = Callable[[ExampleIds], dict[str, Any]]
EXAMPLES: dict[str, Example] = {
    "/rank/user": lambda ids: {"user": _pretty_phone(ids.phone, ids.user), "k": 5},
    "/rank/group": lambda ids: {"group_id": ids.group, "k": 10, "strategy": "fair"},
    "/items/similar": lambda ids: {"item_id": ids.item, "k": 5, "user": ids.user},
    "/bundles": _bundles,
    "/audience": lambda ids: {
        "theme": {"name": "夏日轻食", "keywords": [ids.keyword], "categories": [ids.category]},
        "n": 20,
    },
    "/segments": lambda ids: {},
    "/segments/profile": _segment_profile,
    "/hosts": lambda ids: {"group_id": ids.group, "k": 3},
    "/koc": lambda ids: {"group_id": ids.group, "k": 3},
    "/live/plan": lambda ids: {"group_id": ids.group, "k": 8, "audience_n": 20},
    "/users/profile": lambda ids: {"user": _pretty_phone(ids.phone, ids.user)},
    "/users/query": lambda ids: {"expression": "tier:gold OR tier:diamond", "limit": 5},
    "/groups/profile": lambda ids: {"group_id": ids.group},
    "/info": lambda ids: {},
    "/ingest/events": _event,
    "/ingest/identity_links": _link,
    "/ingest/manual_tags": _tag,
    "/admin/reload": lambda ids: {},
    "/admin/experiment": lambda ids: {"enabled": True, "challenger_share": 0.2},
}
