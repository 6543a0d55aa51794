"""The input contract of ../shared/SCHEMA.md, declared once: tables, columns, kinds, enums.

Every loader, validator, generator and adapter names columns through :class:`Col`
and tables through :data:`TABLES`, never through string literals of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

ColumnKind = Literal["string", "timestamp", "number", "list", "enum"]

CHINA_TZ = "Asia/Shanghai"
LIST_SEP = ";"


class Col:
    """Column names of every table (SCHEMA.md), plus the derived ones Linli adds."""

    # events
    EVENT_ID = "event_id"
    TS = "ts"
    EVENT_TYPE = "event_type"
    ID_TYPE = "id_type"
    ID_VALUE = "id_value"
    ITEM_ID = "item_id"
    QUANTITY = "quantity"
    AMOUNT = "amount"
    ORDER_ID = "order_id"
    GROUP_ID = "group_id"
    LIVE_ID = "live_id"
    TEXT = "text"
    CHANNEL = "channel"
    REFERRER = "referrer"
    # identity_links
    ID_TYPE_A = "id_type_a"
    ID_VALUE_A = "id_value_a"
    ID_TYPE_B = "id_type_b"
    ID_VALUE_B = "id_value_b"
    SOURCE = "source"
    # items
    NAME = "name"
    CATEGORY = "category"
    PRICE = "price"
    SUBCATEGORY = "subcategory"
    ATTRIBUTES = "attributes"
    SEASON = "season"
    # groups / group_members
    LEADER = "leader"
    KIND = "kind"
    CREATED_AT = "created_at"
    JOINED_AT = "joined_at"
    LEFT_AT = "left_at"
    # live_sessions / hosts
    START_TS = "start_ts"
    END_TS = "end_ts"
    HOST_ID = "host_id"
    THEME = "theme"
    ITEM_IDS = "item_ids"
    TAGS = "tags"
    # manual_tags
    TAG = "tag"
    NOTE = "note"
    AUTHOR = "author"
    # derived by Linli
    USER_ID = "user_id"
    REASON = "reason"
    WEIGHT = "weight"
    SEGMENT_ID = "segment_id"
    SEGMENT_NAME = "segment_name"
    SCORE = "score"


class EventType(StrEnum):
    """The event_type enum of SCHEMA.md."""

    VIEW = "view"
    CLICK = "click"
    SEARCH = "search"
    CART = "cart"
    ORDER = "order"
    JIELONG = "jielong"
    LIVE_VIEW = "live_view"
    LIVE_COMMENT = "live_comment"
    MESSAGE = "message"
    SHARE = "share"


class IdType(StrEnum):
    """Identifier sources SCHEMA.md names; any other source name is also allowed."""

    WECOM = "wecom"
    OPENID = "openid"
    PHONE = "phone"
    MEMBER_CARD = "member_card"


# Canonical-id preference when a person has several identifiers (WeCom first).
ID_TYPE_PREFERENCE: tuple[str, ...] = (
    IdType.WECOM,
    IdType.OPENID,
    IdType.PHONE,
    IdType.MEMBER_CARD,
)

ITEM_EVENTS = frozenset(
    {EventType.VIEW, EventType.CLICK, EventType.CART, EventType.ORDER, EventType.JIELONG}
)
PURCHASE_EVENTS = frozenset({EventType.ORDER, EventType.JIELONG})
TEXT_EVENTS = frozenset({EventType.SEARCH, EventType.LIVE_COMMENT, EventType.MESSAGE})
GROUP_KINDS = ("general", "value", "interest")


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its kind, whether it must be present and filled, and its allowed values."""

    name: str
    kind: ColumnKind = "string"
    required: bool = False
    enum: tuple[str, ...] | None = None
    nonnegative: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One table of the data directory."""

    name: str
    columns: tuple[ColumnSpec, ...]
    required: bool = False
    key: tuple[str, ...] = ()
    # column -> event types for which it is required (events only)
    required_when: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, kind: ColumnKind = "string", required: bool = False, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, kind, required, **kw)  # type: ignore[arg-type]


EVENTS = TableSpec(
    name="events",
    required=True,
    key=(Col.EVENT_ID,),
    columns=(
        _c(Col.EVENT_ID, required=True),
        _c(Col.TS, "timestamp", required=True),
        _c(Col.EVENT_TYPE, "enum", required=True, enum=tuple(e.value for e in EventType)),
        _c(Col.ID_TYPE, required=True),
        _c(Col.ID_VALUE, required=True),
        _c(Col.ITEM_ID),
        _c(Col.QUANTITY, "number", nonnegative=True),
        _c(Col.AMOUNT, "number", nonnegative=True),
        _c(Col.ORDER_ID),
        _c(Col.GROUP_ID),
        _c(Col.LIVE_ID),
        _c(Col.TEXT),
        _c(Col.CHANNEL),
        _c(Col.REFERRER),
    ),
    required_when={
        Col.ITEM_ID: frozenset(e.value for e in ITEM_EVENTS),
        Col.ORDER_ID: frozenset(e.value for e in PURCHASE_EVENTS),
    },
)

IDENTITY_LINKS = TableSpec(
    name="identity_links",
    columns=(
        _c(Col.ID_TYPE_A, required=True),
        _c(Col.ID_VALUE_A, required=True),
        _c(Col.ID_TYPE_B, required=True),
        _c(Col.ID_VALUE_B, required=True),
        _c(Col.TS, "timestamp"),
        _c(Col.SOURCE),
    ),
)

ITEMS = TableSpec(
    name="items",
    key=(Col.ITEM_ID,),
    columns=(
        _c(Col.ITEM_ID, required=True),
        _c(Col.NAME, required=True),
        _c(Col.CATEGORY, required=True),
        _c(Col.PRICE, "number", nonnegative=True),
        _c(Col.SUBCATEGORY),
        _c(Col.ATTRIBUTES, "list"),
        _c(Col.SEASON),
    ),
)

GROUPS = TableSpec(
    name="groups",
    key=(Col.GROUP_ID,),
    columns=(
        _c(Col.GROUP_ID, required=True),
        _c(Col.NAME, required=True),
        _c(Col.LEADER),
        _c(Col.KIND),
        _c(Col.CREATED_AT, "timestamp"),
    ),
)

GROUP_MEMBERS = TableSpec(
    name="group_members",
    columns=(
        _c(Col.GROUP_ID, required=True),
        _c(Col.ID_TYPE, required=True),
        _c(Col.ID_VALUE, required=True),
        _c(Col.JOINED_AT, "timestamp"),
        _c(Col.LEFT_AT, "timestamp"),
    ),
)

LIVE_SESSIONS = TableSpec(
    name="live_sessions",
    key=(Col.LIVE_ID,),
    columns=(
        _c(Col.LIVE_ID, required=True),
        _c(Col.GROUP_ID, required=True),
        _c(Col.START_TS, "timestamp", required=True),
        _c(Col.END_TS, "timestamp"),
        _c(Col.HOST_ID),
        _c(Col.THEME),
        _c(Col.ITEM_IDS, "list"),
    ),
)

HOSTS = TableSpec(
    name="hosts",
    key=(Col.HOST_ID,),
    columns=(
        _c(Col.HOST_ID, required=True),
        _c(Col.NAME, required=True),
        _c(Col.TAGS, "list"),
    ),
)

MANUAL_TAGS = TableSpec(
    name="manual_tags",
    columns=(
        _c(Col.ID_TYPE, required=True),
        _c(Col.ID_VALUE, required=True),
        _c(Col.TAG, required=True),
        _c(Col.NOTE),
        _c(Col.AUTHOR),
        _c(Col.TS, "timestamp"),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        EVENTS,
        IDENTITY_LINKS,
        ITEMS,
        GROUPS,
        GROUP_MEMBERS,
        LIVE_SESSIONS,
        HOSTS,
        MANUAL_TAGS,
    )
}

FILE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv.gz", ".csv", ".jsonl")

# Hard-constraint tag prefixes: an item matching X is never recommended.
CONSTRAINT_PREFIXES: tuple[str, ...] = ("allergy:", "avoid:")
CONTAINS_PREFIX = "contains:"
