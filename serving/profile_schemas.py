"""Request and response models of the member endpoints: ``/users/profile``, ``/users/query``,
``/groups/profile`` (pydantic; examples are ids of the `make demo` world, seed 42)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

MAX_PAGE = 1000
_RID = "The request id (the caller's or a generated one)."
MAX_EXPRESSION = 2000


def _as_text(v: Any) -> Any:
    """Numbers are accepted where ids are expected (a phone or a segment id typed as a number)."""
    return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


Id = Annotated[
    str,
    BeforeValidator(_as_text),
    StringConstraints(min_length=1, max_length=256, strip_whitespace=True),
]


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: Id | None = Field(
        None, description="Caller's request id (echoed); generated when absent."
    )


class UserProfileRequest(_Req):
    """One member's profile, found by any identifier."""

    user: Id = Field(
        ...,
        description="Any identifier: `phone:13800138000`, a bare phone in any format "
        "(`138 0013 8000`, `+86-138-0013-8000`), `wecom:...`, `openid:...`, "
        "`member_card:...` or the unified user_id.",
        examples=["183 2087 9953"],
    )


class UsersQueryRequest(_Req):
    """Users selected by tags (AND / OR / NOT, parentheses, `prefix*`) and segments."""

    expression: str | None = Field(
        None,
        max_length=MAX_EXPRESSION,
        description="Tag expression, e.g. `interest:fitness AND (tier:gold OR tier:diamond) "
        "AND NOT allergy:mango`; `segment:<id>` selects a segment; `prefers:*` any tag with "
        "that prefix. Case-insensitive.",
        examples=["interest:fitness AND NOT allergy:mango"],
    )
    segments: list[Id] | None = Field(
        None,
        max_length=100,
        description="Only users in one of these segments (ids as strings or numbers).",
        examples=[["0"]],
    )
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Page size (1..1000).")
    offset: int = Field(0, ge=0, description="First row of the page (0-based).")
    format: Literal["json", "csv"] = Field(
        "json",
        description="json: count and one page; csv: every matching user as a CSV download "
        "(user_id, identifiers, value tier, segment, orders, spend, groups).",
    )


class GroupProfileRequest(_Req):
    """One group's profile."""

    group_id: Id = Field(..., description="A known group id.", examples=["G00001"])


class TagOut(BaseModel):
    """One tag of a member."""

    tag: str = Field(..., description="The tag, e.g. `interest:fitness` or `allergy:mango`.")
    source: str = Field(
        ...,
        description="rule (computed from events), manual (leader note in the data), "
        "live (leader note ingested since the bundle was built) or segment.",
    )
    detail: str = Field("", description="The leader's note or the segment name, when known.")


class Named(BaseModel):
    """An id with its display name."""

    id: str = Field(..., description="The id.")
    name: str = Field(..., description="Its display name.")


class ConstraintsOut(BaseModel):
    """A member's hard constraints."""

    tags: list[str] = Field(..., description="allergy:X / avoid:X tags in force.")
    forbidden_items: int = Field(..., description="Catalogue items they must not be offered.")
    examples: list[str] = Field(..., description="Names of a few of those items.")


class UserProfileResponse(BaseModel):
    """Who a member is, in one answer."""

    request_id: str = Field(..., description=_RID)
    user_id: str = Field(..., description="The unified user id.")
    identifiers: list[str] = Field(..., description="Every other identifier of the person.")
    value_tier: str | None = Field(None, description="Value tier from the RFM score.")
    rfm: dict[str, Any] = Field(
        ...,
        description="recency_days, frequency (orders), monetary (yuan), aov, orders_per_30d, "
        "rfm_score (3..15), first_seen, last_seen.",
    )
    tags: list[TagOut] = Field(..., description="Every tag, with where it came from.")
    segment: Named | None = Field(None, description="The discovered segment, when known.")
    groups: list[Named] = Field(..., description="Groups the member belongs to.")
    constraints: ConstraintsOut = Field(..., description="Allergies and avoidances in force.")
    activity: dict[str, int] = Field(
        ..., description="Messages, comments, shares, live views, 接龙 and orders counts."
    )


class UserRow(BaseModel):
    """One user of a query's page."""

    user_id: str = Field(..., description="The unified user id.")
    value_tier: str | None = Field(None, description="Value tier from the RFM score.")
    frequency: int | None = Field(None, description="Orders.")
    monetary: float | None = Field(None, description="Total spend (yuan).")
    segment: str | None = Field(None, description="Segment name, when known.")


class UsersQueryResponse(BaseModel):
    """How many users match, and one page of them (highest spend first)."""

    request_id: str = Field(..., description=_RID)
    expression: str = Field(..., description="The expression evaluated (segments folded in).")
    count: int = Field(..., description="Users matching, over every page.")
    offset: int = Field(..., description="First row of this page (0-based).")
    limit: int = Field(..., description="Page size asked for.")
    users: list[UserRow] = Field(..., description="This page, highest spend first.")
    unknown_terms: list[str] = Field(
        ..., description="Terms that match no tag of anyone (a typo, or nobody has it yet)."
    )


class GroupProfileResponse(BaseModel):
    """One group: who is in it and what they buy."""

    request_id: str = Field(..., description=_RID)
    group_id: str = Field(..., description="The group asked for.")
    name: str | None = Field(None, description="The group's name, when the data has one.")
    kind: str | None = Field(
        None, description="The group's kind (e.g. community, live), when known."
    )
    leader: str | None = Field(None, description="The leader's unified user id, when known.")
    members: int = Field(..., description="Current members.")
    value_tiers: dict[str, int] = Field(..., description="Members per value tier.")
    segments: list[dict[str, Any]] = Field(..., description="segment_id, name, members.")
    top_tags: list[dict[str, Any]] = Field(..., description="tag, members (most common first).")
    top_items: list[dict[str, Any]] = Field(..., description="item_id, name, purchases.")
    constrained_members: int = Field(..., description="Members with a hard constraint.")
