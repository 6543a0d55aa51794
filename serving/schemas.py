"""Request and response models of the HTTP API (pydantic): bounds, descriptions, examples.

Examples are given per field (BentoML 1.4 rejects model-level `examples` in its OpenAPI).

Every request model forbids unknown fields, so a typo is a 400 naming it rather than a
silently ignored option. Bounds: k in 1..200; explicit groups up to 1000 members;
identifiers and ids up to 256 characters; lists bounded.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_K = 200
MAX_GROUP = 1000
MAX_CANDIDATES = 5000
MAX_ID = 256

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID, strip_whitespace=True),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
K = Annotated[int, Field(ge=1, le=MAX_K, description="How many items to return (1..200).")]
StrategyName = Literal["average", "least_misery", "most_pleasure", "borda", "fair"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_ID)

    request_id: Identifier | None = Field(
        None, description="Caller's request id (echoed and logged); generated when absent."
    )


class _Filters(BaseModel):
    categories: list[Name] | None = Field(
        None, max_length=50, description="Only items of these categories."
    )
    candidates: list[Identifier] | None = Field(
        None,
        max_length=MAX_CANDIDATES,
        description="Rank only these item ids (unknown ids are reported and skipped).",
    )


class RankUserRequest(_Request, _Filters):
    """Rank items for one person."""

    model_config = ConfigDict(extra="forbid")

    user: Identifier = Field(
        ...,
        description="Any identifier of the person: `wecom:...`, `phone:...`, `openid:...` "
        "or the unified user_id.",
        examples=["wecom:w12", "phone:13900000003"],
    )
    k: K = 10
    exclude_bought: bool = Field(False, description="Leave out items the user already bought.")
    group_id: Identifier | None = Field(
        None, description="Group context for the popular-items fallback of an unknown user."
    )


class RankGroupRequest(_Request, _Filters):
    """Rank items for a group: a group_id or an explicit list of members (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    group_id: Identifier | None = Field(None, description="A known group.", examples=["g1"])
    users: list[Identifier] | None = Field(
        None,
        min_length=1,
        max_length=MAX_GROUP,
        description="Explicit members (any identifiers), at most 1000.",
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

    item_id: Identifier = Field(..., description="The item to find neighbours of.")
    k: K = 10
    user: Identifier | None = Field(
        None, description="When given, items this person must not get are left out."
    )
    categories: list[Name] | None = Field(None, max_length=50, description="Only these categories.")


class BundlesRequest(_Request):
    """Bundles for a segment, a theme or seed items."""

    model_config = ConfigDict(extra="forbid")

    segment_id: Identifier | None = Field(None, description="Bundles scored for this segment.")
    theme: Name | None = Field(None, description="Bundles of this theme (substring match).")
    items: list[Identifier] | None = Field(
        None, max_length=20, description="Seed items the bundle should contain."
    )
    user: Identifier | None = Field(
        None, description="Leave out bundles with an item this person must not get."
    )
    k: int = Field(5, ge=1, le=50, description="How many bundles (1..50).")


class ThemeSpec(BaseModel):
    """A theme: items, categories, keywords (any may be empty, not all)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="Theme name, e.g. 夏日轻食.")
    items: list[Identifier] = Field(default_factory=list, max_length=200)
    categories: list[Name] = Field(default_factory=list, max_length=50)
    keywords: list[Name] = Field(default_factory=list, max_length=50, examples=[["减脂餐"]])

    @model_validator(mode="after")
    def _not_empty(self) -> ThemeSpec:
        if not (self.items or self.categories or self.keywords):
            raise ValueError("a theme needs items, categories or keywords")
        return self


class AudienceRequest(_Request):
    """Users to invite for a theme."""

    model_config = ConfigDict(extra="forbid")

    theme: ThemeSpec
    n: int = Field(120, ge=1, le=5000, description="Audience size (1..5000).")


class SegmentsRequest(_Request):
    """List segments (no parameters)."""

    model_config = ConfigDict(extra="forbid")


class SegmentProfileRequest(_Request):
    """One segment's profile."""

    model_config = ConfigDict(extra="forbid")

    segment_id: Identifier


class GroupRequest(_Request):
    """A group and how many answers."""

    model_config = ConfigDict(extra="forbid")

    group_id: Identifier = Field(..., examples=["g1"])
    k: int = Field(5, ge=1, le=100, description="How many answers (1..100).")


class LivePlanRequest(_Request):
    """Plan a themed live-stream for a group."""

    model_config = ConfigDict(extra="forbid")

    group_id: Identifier = Field(..., examples=["g1"])
    theme: ThemeSpec | None = Field(None, description="Theme; inferred from the group when absent.")
    k: K = 8
    audience_n: int = Field(120, ge=1, le=5000, description="Audience size (1..5000).")
    koc_n: int = Field(5, ge=0, le=50, description="KOCs to brief first.")


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
        examples=[
            [
                {
                    "event_id": "mp-000123",
                    "ts": "2026-06-01T09:30:00+08:00",
                    "event_type": "jielong",
                    "id_type": "wecom",
                    "id_value": "w12",
                    "item_id": "fruit-1",
                    "quantity": 2,
                    "amount": 59.8,
                    "order_id": "J-778",
                    "group_id": "g1",
                }
            ]
        ],
    )


class IngestLinksRequest(_Request):
    """A batch of identity links (SCHEMA.md `identity_links`); needs the admin token."""

    model_config = ConfigDict(extra="forbid")

    links: list[Any] = Field(
        ...,
        description="Objects with id_type_a, id_value_a, id_type_b, id_value_b (ts, source).",
        examples=[
            [
                {
                    "id_type_a": "wecom",
                    "id_value_a": "w12",
                    "id_type_b": "openid",
                    "id_value_b": "o-9",
                }
            ]
        ],
    )


class IngestTagsRequest(_Request):
    """A batch of leader notes (SCHEMA.md `manual_tags`); needs the admin token."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Any] = Field(
        ...,
        description="Objects with id_type, id_value, tag (note, author, ts). `allergy:X` and "
        "`avoid:X` hold for every endpoint as soon as the call returns.",
        examples=[
            [
                {
                    "id_type": "wecom",
                    "id_value": "w12",
                    "tag": "allergy:mango",
                    "note": "孩子对芒果过敏",
                }
            ]
        ],
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

    enabled: bool | None = None
    name: Name | None = None
    challenger_share: float | None = Field(None, ge=0.0, le=1.0)
    salt: Name | None = None


# -- responses ---------------------------------------------------------------------------------
class ItemOut(BaseModel):
    """One ranked item."""

    item_id: str
    name: str
    category: str | None = None
    price: float | None = None
    score: float
    reason: str = Field(..., description="Short reason in words.")
    conflicts: int | None = Field(
        None, description="Group flag mode: members whose hard constraints this item breaks."
    )
    conflict_tags: list[str] | None = Field(None, description="Those members' constraint tags.")


class Served(BaseModel):
    """Fields every ranked answer carries."""

    request_id: str
    variant: str = Field(..., description="champion or challenger (the A/B arm that served).")
    model_version: str | None = None
    fallback: str | None = Field(
        None,
        description="Why popular items were served instead of the model's: group_popular "
        "or global_popular (null when the model ranked).",
    )


class RankUserResponse(Served):
    """Items for one person."""

    user_id: str | None = Field(None, description="Unified user id (null for an unknown user).")
    known_user: bool
    items: list[ItemOut]
    unknown_candidates: list[str] = Field(default_factory=list)


class RankGroupResponse(Served):
    """Items for a group."""

    group_id: str | None = None
    strategy: str
    mix: str | None = Field(
        None, description="The group-rebuy mix that served it (None: the strategy alone)."
    )
    constraint_mode: str
    members: int
    members_scored: int
    unknown_members: int = Field(0, description="Explicit identifiers no user matches.")
    exact: bool | None = Field(
        None,
        description="True when the aggregation ran over the whole catalogue (or is provably "
        "equal); false when a candidate pool may have cut an item.",
    )
    items: list[ItemOut]
    unknown_candidates: list[str] = Field(default_factory=list)


class SimilarResponse(Served):
    """Items like one item."""

    item_id: str
    items: list[ItemOut]


class BundleItem(BaseModel):
    """An item inside a bundle."""

    item_id: str
    name: str


class BundleOut(BaseModel):
    """One bundle of complementary items."""

    model_config = ConfigDict(extra="allow")

    items: list[BundleItem]
    price: float | None = None


class BundlesResponse(BaseModel):
    """Bundles and where they came from."""

    request_id: str
    source: str
    bundles: list[BundleOut]


class AudienceMember(BaseModel):
    """One invited user."""

    user_id: str
    score: float
    reasons: str
    in_group: bool | None = None


class AudienceResponse(BaseModel):
    """A theme's audience."""

    request_id: str
    theme: str
    variant: str
    audience: list[AudienceMember]
    excluded_by_constraints: int = Field(..., description="Users left out for a hard constraint.")
    candidates: int
    source: str | None = Field(None, description="audiences table, or computed from the bundle.")


class SegmentOut(BaseModel):
    """A segment in the list."""

    segment_id: str
    name: str
    size: int


class SegmentsResponse(BaseModel):
    """All segments (available=false when the bundle has no segments table)."""

    request_id: str
    available: bool
    message: str | None = None
    segments: list[SegmentOut]


class SegmentProfileResponse(BaseModel):
    """A segment's profile."""

    model_config = ConfigDict(extra="allow")

    request_id: str
    available: bool
    message: str | None = None
    segment_id: str
    profile: dict[str, Any] | None = None


class HostsResponse(BaseModel):
    """Hosts for a group."""

    request_id: str
    group_id: str
    source: str
    hosts: list[dict[str, Any]]


class KOCResponse(BaseModel):
    """KOC candidates of a group."""

    request_id: str
    group_id: str
    source: str
    kocs: list[dict[str, Any]]


class LivePlanResponse(BaseModel):
    """A live-stream plan: theme, items, bundle, host, audience, KOCs."""

    request_id: str
    group_id: str
    variant: str
    theme: dict[str, Any]
    items: list[ItemOut]
    bundle: BundleOut | None = None
    bundle_note: str | None = Field(None, description="Why there is no bundle ('no bundle: ...').")
    host: dict[str, Any] | None = None
    audience: list[AudienceMember]
    audience_counts: dict[str, int] = Field(
        default_factory=dict, description="in_group (listed first), invitees, total."
    )
    audience_excluded_by_constraints: int
    funnel: dict[str, Any] | None = Field(
        None, description="invited -> viewers -> 接龙 -> expected order value, with intervals."
    )
    kocs: list[dict[str, Any]]
    notes: list[str] = Field(default_factory=list, description="What was missing or inferred.")


class InfoResponse(BaseModel):
    """Health, readiness and the models being served."""

    status: str
    ready: bool
    bundle: str | None = None
    bundle_created_at: str | None = None
    data_digest: str | None = None
    bundle_digest: str | None = Field(
        None, description="sha256 of the served bundle's manifest (equal on every worker)."
    )
    experiment_hash: str | None = Field(
        None, description="sha256 of the A/B settings in force (equal on every worker)."
    )
    users: int = 0
    items: int = 0
    groups: int = 0
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    experiment: dict[str, Any] = Field(default_factory=dict)
    tables: list[str] = Field(default_factory=list)
    message: str | None = None
    ingest: dict[str, Any] = Field(
        default_factory=dict, description="Write queue and live-change figures of this worker."
    )


class RowResult(BaseModel):
    """What happened to one row of an ingestion batch."""

    index: int = Field(..., description="Position in the batch.")
    id: str | None = Field(None, description="event_id, or the content key of a link / note.")
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = Field(None, description="Why it was rejected (or repeated).")


class IngestResponse(BaseModel):
    """Per-row answers of an ingestion call; every accepted row is on disk."""

    request_id: str
    table: str
    accepted: int
    duplicates: int
    rejected: int
    results: list[RowResult]


class ReloadResponse(BaseModel):
    """The bundle now served and the one before."""

    request_id: str
    status: str
    bundle: str | None = None
    bundle_created_at: str | None = None
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    previous: dict[str, Any] = Field(default_factory=dict)


class ExperimentResponse(BaseModel):
    """The A/B settings in force after the change."""

    request_id: str
    experiment: dict[str, Any]


class ErrorResponse(BaseModel):
    """A 4xx answer: what is wrong and which field."""

    error: str
    field: str | None = None
