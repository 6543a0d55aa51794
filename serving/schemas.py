"""Request and response models of the HTTP API (pydantic): bounds and field descriptions.

Whole-request examples live in :mod:`serving.api_examples` (one per route, with ids of the
served bundle); the OpenAPI page is assembled by :mod:`serving.openapi`.

Every request model forbids unknown fields, so a typo is a 400 naming it rather than a
silently ignored option. Bounds: k in 1..200; explicit groups up to 1000 members;
identifiers and ids up to 256 characters; lists bounded. Ids that look like numbers may be
sent as JSON numbers (``"segment_id": 4`` is ``"4"``). A person's identifier is
``type:value`` (``wecom:...``, ``openid:...``, ``phone:...``, ``member_card:...``; the unified
user id has this form) or a bare 11-digit mainland phone (``+86``, spaces and dashes
allowed), which is read as ``phone:``; anything else is a 400 that lists these forms.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from serving.response_models import *  # noqa: F403  (the answers, re-exported)

MAX_K = 200
MAX_GROUP = 1000
MAX_CANDIDATES = 5000
MAX_ID = 256

ID_FORMS = (
    "wecom:…, openid:…, phone:…, member_card:… (type:value; the unified user_id has this "
    "form) or a bare 11-digit mainland phone such as 13812345678 (+86, spaces, dashes allowed)"
)
_PHONE = re.compile(r"^(?:\+?86|0086)?(1\d{10})$")
_PHONE_NOISE = re.compile(r"[\s\-().]")


def _number_as_text(value: Any) -> Any:
    """An id sent as a JSON number (``"segment_id": 4``) is the id written in digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def person_identifier(text: str) -> str:
    """``type:value`` as given; a bare mainland phone -> ``phone:<11 digits>``; else ValueError."""
    if ":" in text:
        return text
    match = _PHONE.match(_PHONE_NOISE.sub("", text))
    if match:
        return f"phone:{match.group(1)}"
    raise ValueError(f"not an identifier: use {ID_FORMS}")


_ID_SCHEMA = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_ID},
        {"type": "integer", "minimum": 0},
    ]
}
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID, strip_whitespace=True),
    BeforeValidator(_number_as_text),
    WithJsonSchema(_ID_SCHEMA),
]
PersonId = Annotated[Identifier, AfterValidator(person_identifier)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
K = Annotated[int, Field(ge=1, le=MAX_K, description="How many items to return (1..200).")]
StrategyName = Literal["average", "least_misery", "most_pleasure", "borda", "fair"]
_USER = f"Any identifier of the person: {ID_FORMS}."


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_ID)

    request_id: Identifier | None = Field(
        None, description="Caller's request id (echoed and logged); generated when absent."
    )


class _Filters(BaseModel):
    categories: list[Name] | None = Field(
        None, max_length=50, description="Only items of these categories (404 for an unknown one)."
    )
    candidates: list[Identifier] | None = Field(
        None,
        max_length=MAX_CANDIDATES,
        description="Rank only these item ids (unknown ids are reported and skipped).",
    )


class RankUserRequest(_Request, _Filters):
    """Rank items for one person."""

    model_config = ConfigDict(extra="forbid")

    user: PersonId = Field(..., description=_USER)
    k: K = 10
    exclude_bought: bool = Field(False, description="Leave out items the user already bought.")
    group_id: Identifier | None = Field(
        None, description="Group context for the popular-items fallback of an unknown user."
    )


class RankGroupRequest(_Request, _Filters):
    """Rank items for a group: a group_id or an explicit list of members (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    group_id: Identifier | None = Field(None, description="A known group (404 when unknown).")
    users: list[PersonId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_GROUP,
        description=f"Explicit members, at most 1000; each is {ID_FORMS}.",
    )
    k: K = 10
    strategy: StrategyName = Field(
        "average",
        description="average | least_misery | most_pleasure | borda | fair "
        "(GFAR: greedy, covers every member's top items).",
    )
    constraint_mode: Literal["exclude", "flag"] = Field(
        "exclude",
        description="exclude: drop items any member must not get; "
        "flag: keep them with the count of conflicting members.",
    )
    rebuy: bool = Field(
        True,
        description="Mix the group's own purchase history and members' repeat purchases with "
        "the strategy's score (false: the strategy alone).",
    )
    category_cap: int | None = Field(
        None,
        ge=0,
        le=200,
        description="Diversity: at most this many items of one category (0 = no cap; "
        "default: the evaluated default).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RankGroupRequest:
        if (self.group_id is None) == (self.users is None):
            raise ValueError("give exactly one of group_id or users")
        return self


class SimilarRequest(_Request):
    """Items similar to one item."""

    model_config = ConfigDict(extra="forbid")

    item_id: Identifier = Field(..., description="The item to find neighbours of (404 if unknown).")
    k: K = 10
    user: PersonId | None = Field(
        None, description=f"When given, items this person must not get are left out. {_USER}"
    )
    categories: list[Name] | None = Field(None, max_length=50, description="Only these categories.")


class BundlesRequest(_Request):
    """Bundles for a segment, a theme or seed items."""

    model_config = ConfigDict(extra="forbid")

    segment_id: Identifier | None = Field(
        None, description="Bundles scored for this segment (an id of `/segments`)."
    )
    theme: Name | None = Field(None, description="Bundles of this theme (substring match).")
    items: list[Identifier] | None = Field(
        None, max_length=20, description="Seed items the bundle should contain (404 if unknown)."
    )
    user: PersonId | None = Field(
        None, description=f"Leave out bundles with an item this person must not get. {_USER}"
    )
    k: int = Field(5, ge=1, le=50, description="How many bundles (1..50).")


class ThemeSpec(BaseModel):
    """A theme: items, categories, keywords (any may be empty, not all)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="Theme name, e.g. 夏日轻食.")
    items: list[Identifier] = Field(
        default_factory=list, max_length=200, description="Item ids on the theme."
    )
    categories: list[Name] = Field(
        default_factory=list, max_length=50, description="Categories on the theme, e.g. fruit."
    )
    keywords: list[Name] = Field(
        default_factory=list,
        max_length=50,
        description="Words people use for the theme (searches, messages), e.g. 减脂餐.",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> ThemeSpec:
        if not (self.items or self.categories or self.keywords):
            raise ValueError("a theme needs items, categories or keywords")
        return self


class AudienceRequest(_Request):
    """Users to invite for a theme."""

    model_config = ConfigDict(extra="forbid")

    theme: ThemeSpec = Field(..., description="What the live-stream or campaign is about.")
    n: int = Field(120, ge=1, le=5000, description="Audience size (1..5000).")


class SegmentsRequest(_Request):
    """List segments (no parameters)."""

    model_config = ConfigDict(extra="forbid")


class SegmentProfileRequest(_Request):
    """One segment's profile."""

    model_config = ConfigDict(extra="forbid")

    segment_id: Identifier = Field(..., description="A segment id of `/segments` (a number too).")


class GroupRequest(_Request):
    """A group and how many answers."""

    model_config = ConfigDict(extra="forbid")

    group_id: Identifier = Field(..., description="A known group (404 when unknown).")
    k: int = Field(5, ge=1, le=100, description="How many answers (1..100).")


class LivePlanRequest(_Request):
    """Plan a themed live-stream for a group."""

    model_config = ConfigDict(extra="forbid")

    group_id: Identifier = Field(..., description="A known group (404 when unknown).")
    theme: ThemeSpec | None = Field(None, description="Theme; inferred from the group when absent.")
    k: K = 8
    audience_n: int = Field(120, ge=1, le=5000, description="Audience size (1..5000).")
    koc_n: int = Field(5, ge=0, le=50, description="KOCs to brief first (0..50).")


class InfoRequest(_Request):
    """Health, readiness and model info (no parameters)."""

    model_config = ConfigDict(extra="forbid")


class IngestEventsRequest(_Request):
    """A batch of events (the columns of SCHEMA.md `events`); needs the admin token."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(
        ...,
        description="Event objects: event_id, ts, event_type, id_type, id_value, item_id, "
        "quantity, amount, order_id, group_id, live_id, text, channel, referrer. Each is "
        "validated on its own; at most serving.ingest.max_batch (1000) per call (413 beyond).",
    )


class IngestLinksRequest(_Request):
    """A batch of identity links (SCHEMA.md `identity_links`); needs the admin token."""

    model_config = ConfigDict(extra="forbid")

    links: list[Any] = Field(
        ...,
        description="Objects with id_type_a, id_value_a, id_type_b, id_value_b (ts, source): "
        "two identifiers of one person.",
    )


class IngestTagsRequest(_Request):
    """A batch of leader notes (SCHEMA.md `manual_tags`); needs the admin token."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Any] = Field(
        ...,
        description="Objects with id_type, id_value, tag (note, author, ts). `allergy:X` and "
        "`avoid:X` hold for every endpoint as soon as the call returns.",
    )


class ReloadRequest(_Request):
    """Swap in a newly exported bundle; needs the admin token."""

    model_config = ConfigDict(extra="forbid")

    bundle_dir: str | None = Field(
        None,
        max_length=1024,
        description="Bundle folder to load; default the configured one (serving.bundle_dir).",
    )


class ExperimentRequest(_Request):
    """Change the A/B routing (fields left out keep their value); needs the admin token."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(None, description="Route a share of traffic to the challenger.")
    name: Name | None = Field(None, description="Experiment name written with each exposure.")
    challenger_share: float | None = Field(
        None, ge=0.0, le=1.0, description="Share of people (groups) served by the challenger."
    )
    salt: Name | None = Field(
        None, description="Hash salt of the routing; a new salt reshuffles who sees which arm."
    )
