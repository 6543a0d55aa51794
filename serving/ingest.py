"""Ingestion, the pure part: a batch of JSON rows -> the rows to store and one answer per row.

Validation is :func:`features.validate.validate`, the code the feature job runs on files, so
a row the server accepts is a row the next feature build keeps. Per row the answer is
``accepted`` (stored now), ``duplicate`` (the same event_id, or for identity links and leader
notes the same content, is already stored or came earlier in the batch) or ``rejected`` with
the reason. A stored row keeps the text the caller sent (trimmed, empty -> missing; numbers as
their JSON text); fields outside SCHEMA.md are kept as a JSON ``extra`` for events and ignored
for the other tables.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.event_store import EXTRA
from features.schema import EVENTS, IDENTITY_LINKS, MANUAL_TAGS, Col, TableSpec
from features.validate import validate

INGEST_TABLES: dict[str, TableSpec] = {
    t.name: t for t in (EVENTS, IDENTITY_LINKS, MANUAL_TAGS)
}  # fmt: skip
Status = Literal["accepted", "duplicate", "rejected"]
ACCEPTED: Status = "accepted"
DUPLICATE: Status = "duplicate"
REJECTED: Status = "rejected"
_POS = "_pos"
TEXT_FIELDS = frozenset({Col.TEXT, Col.NOTE})  # free text: tabs and line breaks allowed
# control characters (and lone surrogates, which no UTF-8 store can hold) are refused per row
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # never in any field
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")  # not in ids, short fields


@dataclass(frozen=True)
class FieldLimits:
    """Per-field bounds of an ingested row (characters), checked before validation."""

    max_field_chars: int = 256
    max_text_chars: int = 2000
    max_fields: int = 64


@dataclass(frozen=True)
class Prepared:
    """A validated batch: what to store and what to say about the rest."""

    table: str
    n: int
    ids: list[str | None]  # per row: event_id, or the content key of a side row
    rows: list[tuple[int, dict[str, str | None]]]  # (position, values to store) of valid rows
    reasons: dict[int, str] = field(default_factory=dict)  # position -> why it was rejected
    repeats: frozenset[int] = frozenset()  # positions repeating an earlier valid row

    @property
    def keys(self) -> list[str]:
        """The key of every row to store (event_id or content key), in `rows` order."""
        return [str(self.ids[pos]) for pos, _ in self.rows]


@dataclass(frozen=True)
class RowAnswer:
    """What happened to one row of a batch."""

    index: int
    id: str | None
    status: Status
    reason: str | None = None


def _cell(value: Any) -> tuple[str | None, str | None]:
    """A JSON value as the text a CSV cell would hold; (None, why) when it is not a scalar."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, str):
        return value.strip() or None, None
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value), None
    kind = "an object" if isinstance(value, dict) else "an array"
    return None, f"expected a string or a number, got {kind}"


def field_problem(name: str, text: str, limits: FieldLimits) -> str | None:
    """Why a field's text cannot be stored (a control character, too long), or None.

    The reason names the field and the position, never the value (it may be personal data).
    """
    free = name in TEXT_FIELDS
    cap = limits.max_text_chars if free else limits.max_field_chars
    if len(text) > cap:
        return f"field {name[:60]}: {len(text)} characters, at most {cap}"
    bad = (_CONTROL if free else _CONTROL_OR_BREAK).search(text)
    if bad is not None:
        return f"field {name[:60]}: control character U+{ord(bad.group()):04X} at position {bad.start()}"
    return None


def _normalise(
    row: Any, limits: FieldLimits = FieldLimits()
) -> tuple[dict[str, str | None] | None, str | None]:
    """One JSON row -> {lower-case column: text}; (None, reason) when its shape is wrong."""
    if not isinstance(row, dict):
        return None, "row is not a JSON object"
    if len(row) > limits.max_fields:
        return None, f"row has {len(row)} fields, at most {limits.max_fields}"
    out: dict[str, str | None] = {}
    for k, v in row.items():
        name = str(k).strip().lower()
        if (why := field_problem("field name", name, limits)) is not None:
            return None, why
        text, why = _cell(v)
        if why is None and text is not None:
            why = field_problem(name, text, limits)
            if why is not None:
                return None, why
        if why is not None:
            return None, f"field {name[:60]}: {why}"
        out[name] = text
    return out, None


def content_key(table: str, values: dict[str, str | None], columns: Sequence[str]) -> str:
    """A stable key for a row without an id of its own (identity link, leader note)."""
    blob = json.dumps([table, [values.get(c) for c in columns]], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def prepare(table: str, batch: Sequence[Any], limits: FieldLimits = FieldLimits()) -> Prepared:
    """Validate a batch of JSON rows of `table` with the feature job's validation.

    Field bounds and control characters are checked first, per row, so a row with a NUL
    byte or a 4 MB text is rejected with its reason (the same on every store back-end).
    """
    spec = INGEST_TABLES[table]
    n = len(batch)
    reasons: dict[int, str] = {}
    shaped: list[dict[str, str | None]] = []
    pos: list[int] = []
    for i, row in enumerate(batch):
        norm, why = _normalise(row, limits)
        if norm is None:
            reasons[i] = str(why)
        else:
            shaped.append(norm)
            pos.append(i)
    ids: list[str | None] = [None] * n
    for i, r in zip(pos, shaped, strict=True):
        if table == EVENTS.name and r.get(Col.EVENT_ID) is not None:
            ids[i] = str(r[Col.EVENT_ID]).strip()[:256] or None
    if not shaped:
        return Prepared(table, n, ids, [], reasons)

    extra_cols = sorted({c for r in shaped for c in r} - set(spec.column_names))
    raw = pd.DataFrame(
        {c: pd.Series([r.get(c) for r in shaped], dtype=object) for c in spec.column_names}
    )
    raw[_POS] = np.asarray(pos, np.int64)
    checked = validate(raw, spec)

    repeats: set[int] = set()
    rej = checked.rejects
    for p, reason in zip(rej[_POS].tolist(), rej[Col.REASON].tolist(), strict=True):
        if spec.key and str(reason).startswith(f"repeated {'/'.join(spec.key)}"):
            repeats.add(int(p))
        else:
            reasons[int(p)] = str(reason)

    by_pos = dict(zip(pos, shaped, strict=True))
    rows: list[tuple[int, dict[str, str | None]]] = []
    for p in checked.clean[_POS].tolist():
        r = by_pos[int(p)]
        values = {c: r.get(c) for c in spec.column_names}
        if table == EVENTS.name:
            extra = {c: r[c] for c in extra_cols if r.get(c) is not None}
            values[EXTRA] = json.dumps(extra, ensure_ascii=False) if extra else None
        else:
            ids[int(p)] = content_key(table, values, spec.column_names)
        rows.append((int(p), values))
    return Prepared(table, n, ids, rows, reasons, frozenset(repeats))


def answer(prepared: Prepared, stored: Sequence[bool]) -> list[RowAnswer]:
    """One answer per row of the batch, given per stored row whether it was new to the store."""
    status: dict[int, Status] = {
        pos: ACCEPTED if new else DUPLICATE
        for (pos, _), new in zip(prepared.rows, stored, strict=True)
    }
    out = []
    for i in range(prepared.n):
        if i in prepared.reasons:
            out.append(RowAnswer(i, prepared.ids[i], REJECTED, prepared.reasons[i]))
        elif i in prepared.repeats:
            out.append(RowAnswer(i, prepared.ids[i], DUPLICATE, "repeated earlier in this batch"))
        else:
            out.append(RowAnswer(i, prepared.ids[i], status[i]))
    return out


def counts(answers: Sequence[RowAnswer]) -> dict[str, int]:
    """How many rows were accepted, duplicate and rejected."""
    out: dict[str, int] = {ACCEPTED: 0, DUPLICATE: 0, REJECTED: 0}
    for a in answers:
        out[a.status] += 1
    return out


def changes_of(prepared: Prepared) -> list[tuple[str, str, dict[str, Any]]]:
    """A side table's valid rows as (kind, key, payload) for the store's ``changes`` table."""
    return [(prepared.table, str(prepared.ids[p]), values) for p, values in prepared.rows]


def prepare_tables(
    batches: Sequence[tuple[str, Sequence[Any]]], limits: FieldLimits = FieldLimits()
) -> dict[str, Prepared]:
    """Validate waiting batches, the rows of each table together (one validation per table)."""
    out: dict[str, Prepared] = {}
    for table in dict.fromkeys(t for t, _ in batches):
        out[table] = prepare(table, [r for t, rows in batches if t == table for r in rows], limits)
    return out


def batch_bytes(rows: Sequence[Any]) -> int:
    """About how many bytes a batch holds in memory (its JSON text), for the queue's bound."""
    return len(json.dumps(rows, ensure_ascii=False, default=str).encode("utf-8", "replace"))
