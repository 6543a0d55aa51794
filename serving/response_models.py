"""Response models of the HTTP API (pydantic): every field described for the OpenAPI page.

Re-exported by :mod:`serving.schemas`, which holds the request models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = [
    "AudienceCounts",
    "AudienceMember",
    "AudienceResponse",
    "BundleItem",
    "BundleOut",
    "BundlesResponse",
    "ErrorResponse",
    "ExperimentResponse",
    "Funnel",
    "FunnelModel",
    "HostOut",
    "HostsResponse",
    "InfoResponse",
    "IngestResponse",
    "ItemOut",
    "KOCOut",
    "KOCResponse",
    "LivePlanResponse",
    "PlanHost",
    "PlanTheme",
    "RankGroupResponse",
    "RankUserResponse",
    "Rate",
    "ReloadResponse",
    "RowResult",
    "SegmentOut",
    "SegmentProfileResponse",
    "SegmentsResponse",
    "Served",
    "SimilarResponse",
    "ValidationErrorResponse",
]


def _as_text(value: Any) -> Any:
    """Ids read from a matching table may be numbers: answer them as text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


TableText = Annotated[str, BeforeValidator(_as_text)]


class _Sparse(BaseModel):
    """A model whose optional fields are left out of the answer when nobody set them.

    Rows of matching tables and intervals carry only what they have; the fields are declared
    for the documentation, not to add nulls to the JSON.
    """

    @model_serializer(mode="wrap")
    def _without_unset_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        declared, given = type(self).model_fields, self.model_fields_set
        return {k: v for k, v in data.items() if v is not None or k in given or k not in declared}


class ItemOut(BaseModel):
    """One ranked item."""

    item_id: str = Field(..., description="Catalogue item id.")
    name: str = Field(..., description="Item name (the id when the catalogue has none).")
    category: str | None = Field(None, description="Catalogue category.")
    price: float | None = Field(None, description="Catalogue price in yuan.")
    score: float = Field(..., description="The ranking score (higher first; comparable per list).")
    reason: str = Field(..., description="Short reason in words.")
    conflicts: int | None = Field(
        None, description="Group flag mode: members whose hard constraints this item breaks."
    )
    conflict_tags: list[str] | None = Field(None, description="Those members' constraint tags.")


_RID = "The request id (the caller's or a generated one)."
_VARIANT = "champion or challenger (the A/B arm that served)."


class Served(BaseModel):
    """Fields every ranked answer carries."""

    request_id: str = Field(..., description=_RID)
    variant: str = Field(..., description=_VARIANT)
    model_version: str | None = Field(
        None, description="Registered model version of that arm (null if not registered)."
    )
    fallback: str | None = Field(
        None,
        description="Why popular items were served instead of the model's: group_popular "
        "or global_popular (null when the model ranked).",
    )


class RankUserResponse(Served):
    """Items for one person."""

    user_id: str | None = Field(None, description="Unified user id (null for an unknown user).")
    known_user: bool = Field(..., description="Whether the identifier belongs to a known person.")
    items: list[ItemOut] = Field(..., description="Ranked items, best first.")
    unknown_candidates: list[str] = Field(
        default_factory=list, description="Candidate item ids not in the catalogue (skipped)."
    )


class RankGroupResponse(Served):
    """Items for a group."""

    group_id: str | None = Field(None, description="The group (null for explicit members).")
    strategy: str = Field(..., description="The aggregation strategy that ranked.")
    mix: str | None = Field(
        None, description="The group-rebuy mix that served it (None: the strategy alone)."
    )
    constraint_mode: str = Field(..., description="exclude or flag, as requested.")
    members: int = Field(..., description="Members ranked for (known people).")
    members_scored: int = Field(..., description="Members the model has scores for.")
    unknown_members: int = Field(0, description="Explicit identifiers no user matches.")
    exact: bool | None = Field(
        None,
        description="True when the aggregation ran over the whole catalogue (or is provably "
        "equal); false when a candidate pool may have cut an item.",
    )
    items: list[ItemOut] = Field(..., description="Ranked items, best first.")
    unknown_candidates: list[str] = Field(
        default_factory=list, description="Candidate item ids not in the catalogue (skipped)."
    )


class SimilarResponse(Served):
    """Items like one item."""

    item_id: str = Field(..., description="The item asked about.")
    items: list[ItemOut] = Field(..., description="Most similar first (never the item itself).")


class BundleItem(BaseModel):
    """An item inside a bundle."""

    item_id: str = Field(..., description="Catalogue item id.")
    name: str = Field(..., description="Item name.")


class BundleOut(_Sparse):
    """One bundle of complementary items (mined bundles carry their table's columns too)."""

    model_config = ConfigDict(extra="allow")

    items: list[BundleItem] = Field(..., description="The items sold together.")
    price: float | None = Field(None, description="Sum of the items' prices in yuan.")
    bundle_id: str | None = Field(None, description="Id in the bundles table (mined bundles).")
    name: str | None = Field(None, description="Bundle name.")
    theme: str | None = Field(None, description="The theme it was mined for.")
    lift: float | None = Field(None, description="Association lift of the items (> 1: together).")


class BundlesResponse(BaseModel):
    """Bundles and where they came from."""

    request_id: str = Field(..., description=_RID)
    source: str = Field(..., description="bundles table, or co-purchases when none matched.")
    bundles: list[BundleOut] = Field(..., description="Best first.")


class AudienceMember(BaseModel):
    """One invited user."""

    user_id: str = Field(..., description="Unified user id.")
    score: float = Field(..., description="Fit with the theme (higher first).")
    reasons: str = Field(..., description="Why this person (purchases, tags), in words.")
    in_group: bool | None = Field(
        None, description="Live plans: a member of the group (listed first); null elsewhere."
    )


class AudienceResponse(BaseModel):
    """A theme's audience."""

    request_id: str = Field(..., description=_RID)
    theme: str = Field(..., description="The theme's name.")
    variant: str = Field(..., description=_VARIANT)
    audience: list[AudienceMember] = Field(..., description="Best fit first.")
    excluded_by_constraints: int = Field(..., description="Users left out for a hard constraint.")
    candidates: int = Field(..., description="People considered before the cut to n.")
    source: str | None = Field(None, description="audiences table, or computed from the bundle.")


class SegmentOut(BaseModel):
    """A segment in the list."""

    segment_id: str = Field(..., description="Segment id (use it in /segments/profile, /bundles).")
    name: str = Field(..., description="A name from what its members buy and are tagged with.")
    size: int = Field(..., description="Members.")


class SegmentsResponse(BaseModel):
    """All segments (available=false when the bundle has no segments table)."""

    request_id: str = Field(..., description=_RID)
    available: bool = Field(..., description="False when the bundle has no segments table.")
    message: str | None = Field(None, description="Why segments are not available.")
    segments: list[SegmentOut] = Field(..., description="Every segment, by id.")


class SegmentProfileResponse(BaseModel):
    """A segment's profile."""

    model_config = ConfigDict(extra="allow")

    request_id: str = Field(..., description=_RID)
    available: bool = Field(..., description="False when the bundle has no segments table.")
    message: str | None = Field(None, description="Why the profile is not available.")
    segment_id: str = Field(..., description="The segment asked about.")
    profile: dict[str, Any] | None = Field(
        None,
        description="segment_id, name, size, value_tiers (tier -> share), aov (yuan), "
        "orders_per_30d, top_categories [{category, share}], top_items [{item_id, name}], "
        "groups [{group_id, members}].",
    )


class HostOut(_Sparse):
    """A live-stream host (a host_scores table's columns when it has one)."""

    model_config = ConfigDict(extra="allow")

    host_id: TableText | None = Field(None, description="Host id of the hosts table.")
    name: TableText | None = Field(None, description="Host name.")
    score: float | None = Field(None, description="Fit with the group (higher first).")
    reason: TableText | None = Field(
        None, description="Which tags of the group it matches, in words."
    )


class KOCOut(_Sparse):
    """A key opinion consumer (a koc table's columns when it has one)."""

    model_config = ConfigDict(extra="allow")

    user_id: TableText | None = Field(None, description="Unified user id.")
    score: float | None = Field(None, description="Influence score (higher first).")
    reason: TableText | None = Field(
        None, description="Referred orders, shares, early 接龙, comments, in words."
    )


class HostsResponse(BaseModel):
    """Hosts for a group."""

    request_id: str = Field(..., description=_RID)
    group_id: str = Field(..., description="The group asked about.")
    source: str = Field(..., description="host_scores table, or tag overlap with the group.")
    hosts: list[HostOut] = Field(..., description="Best fit first.")


class KOCResponse(BaseModel):
    """KOC candidates of a group."""

    request_id: str = Field(..., description=_RID)
    group_id: str = Field(..., description="The group asked about.")
    source: str = Field(..., description="koc table, or engagement counts from the event log.")
    kocs: list[KOCOut] = Field(..., description="Most influential first.")


class PlanTheme(BaseModel):
    """The theme a live plan was made for."""

    name: str = Field(..., description="Theme name (given, or inferred from the group).")
    categories: list[str] = Field(default_factory=list, description="Categories on the theme.")
    keywords: list[str] = Field(default_factory=list, description="Keywords / interests.")
    items: list[str] = Field(default_factory=list, description="Item ids named by the theme.")


class PlanHost(BaseModel):
    """The host chosen for a live plan."""

    model_config = ConfigDict(extra="allow")

    host_id: str = Field(..., description="Host id of the hosts table.")
    name: str = Field(..., description="Host name.")
    tags: str = Field("", description="The host's tags, `;`-separated.")
    meets_theme: list[str] = Field(default_factory=list, description="Host tags meeting the theme.")
    theme_tags_met: str | None = Field(None, description="How many theme tags are met, 'x of y'.")
    predicted_jielong_rate: float | None = Field(
        None, description="Predicted 接龙 rate of the audience with this host (null: no model)."
    )
    reasons: str = Field("", description="Why this host, in words.")


class Rate(_Sparse):
    """A predicted rate with its interval."""

    predicted: float = Field(..., description="Point prediction.")
    low: float | None = Field(None, description="Lower end of the backtest interval.")
    high: float | None = Field(None, description="Upper end of the backtest interval.")


class FunnelModel(BaseModel):
    """The response model behind a funnel and how it did in backtests."""

    model_config = ConfigDict(extra="allow")

    family: str | None = Field(None, description="Model family.")
    trained_on_lives: int | None = Field(None, description="Past lives it was fitted on.")
    backtest_lives: int = Field(0, description="Lives held out to test it.")
    backtest_view_rate_mae: float | None = Field(None, description="Its view-rate error there.")
    backtest_jielong_rate_mae: float | None = Field(None, description="Its 接龙-rate error there.")
    naive_view_rate_mae: float | None = Field(None, description="A naive mean's view-rate error.")
    naive_jielong_rate_mae: float | None = Field(None, description="The naive 接龙-rate error.")


class Funnel(BaseModel):
    """invited -> viewers -> 接龙 orders -> expected order value, with intervals."""

    model_config = ConfigDict(extra="allow")

    invited: int = Field(..., description="People invited (the audience).")
    view_rate: Rate = Field(..., description="Share of the invited who watch.")
    jielong_rate: Rate = Field(..., description="Share of the invited who place a 接龙 order.")
    jielong_per_viewer: float = Field(..., description="接龙 orders per viewer.")
    viewers: dict[str, float] = Field(..., description="Expected viewers (predicted, low, high).")
    jielong_orders: dict[str, float] = Field(
        ..., description="Expected 接龙 orders (predicted, low, high)."
    )
    avg_order_yuan: float | None = Field(None, description="Expected value of one order.")
    expected_order_value_yuan: float = Field(..., description="Expected order value in total.")
    interval: str = Field(..., description="Where the interval comes from (or none).")
    model: FunnelModel = Field(..., description="The response model and its backtest.")


class AudienceCounts(BaseModel):
    """How the plan's audience splits."""

    in_group: int = Field(0, description="Members of the group (listed first).")
    invitees: int = Field(0, description="People from outside the group.")
    total: int = Field(0, description="Everyone in the audience.")


class LivePlanResponse(BaseModel):
    """A live-stream plan: theme, items, bundle, host, audience, KOCs."""

    request_id: str = Field(..., description=_RID)
    group_id: str = Field(..., description="The group the live-stream is for.")
    variant: str = Field(..., description=_VARIANT)
    theme: PlanTheme = Field(..., description="The theme (given or inferred).")
    items: list[ItemOut] = Field(..., description="Items to sell, one per product, best first.")
    bundle: BundleOut | None = Field(None, description="A bundle of theme items (or null).")
    bundle_note: str | None = Field(None, description="Why there is no bundle ('no bundle: ...').")
    host: PlanHost | None = Field(None, description="The host (null without a hosts table).")
    audience: list[AudienceMember] = Field(..., description="Whom to invite, members first.")
    audience_counts: AudienceCounts = Field(
        default_factory=AudienceCounts, description="in_group (listed first), invitees, total."
    )
    audience_excluded_by_constraints: int = Field(
        ..., description="People left out because an item of the theme breaks their constraints."
    )
    funnel: Funnel | None = Field(
        None,
        description="invited -> viewers -> 接龙 -> expected order value, with intervals "
        "(null when the bundle has no response model).",
    )
    kocs: list[KOCOut] = Field(..., description="KOCs of the group to brief first.")
    notes: list[str] = Field(default_factory=list, description="What was missing or inferred.")


class InfoResponse(BaseModel):
    """Health, readiness and the models being served."""

    status: str = Field(..., description="ok, or no_bundle while nothing is loaded.")
    ready: bool = Field(..., description="Whether a bundle is loaded (as /readyz).")
    bundle: str | None = Field(None, description="The bundle folder served.")
    bundle_created_at: str | None = Field(None, description="When it was exported (UTC).")
    data_digest: str | None = Field(None, description="Digest of the feature store it came from.")
    bundle_digest: str | None = Field(
        None, description="sha256 of the served bundle's manifest (equal on every worker)."
    )
    experiment_hash: str | None = Field(
        None, description="sha256 of the A/B settings in force (equal on every worker)."
    )
    users: int = Field(0, description="People in the bundle.")
    items: int = Field(0, description="Items in the catalogue.")
    groups: int = Field(0, description="Groups.")
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="champion / challenger -> kind, registered_model, version, alias, "
        "trained_at, data_digest, scoring (vectors or topm).",
    )
    experiment: dict[str, Any] = Field(
        default_factory=dict, description="A/B settings: enabled, name, challenger_share, salt."
    )
    tables: list[str] = Field(default_factory=list, description="Matching tables in the bundle.")
    message: str | None = Field(None, description="Why no bundle is loaded.")
    ingest: dict[str, Any] = Field(
        default_factory=dict, description="Write queue and live-change figures of this worker."
    )


class RowResult(BaseModel):
    """What happened to one row of an ingestion batch."""

    index: int = Field(..., description="Position in the batch.")
    id: str | None = Field(None, description="event_id, or the content key of a link / note.")
    status: Literal["accepted", "duplicate", "rejected"] = Field(
        ..., description="accepted (stored now), duplicate (stored before) or rejected."
    )
    reason: str | None = Field(None, description="Why it was rejected (or repeated).")


class IngestResponse(BaseModel):
    """Per-row answers of an ingestion call; every accepted row is on disk."""

    request_id: str = Field(..., description=_RID)
    table: str = Field(..., description="events, identity_links or manual_tags.")
    accepted: int = Field(..., description="Rows stored by this call.")
    duplicates: int = Field(..., description="Rows already stored (same id or content).")
    rejected: int = Field(..., description="Rows refused (see results[].reason).")
    results: list[RowResult] = Field(..., description="One answer per row, in order.")


class ReloadResponse(BaseModel):
    """The bundle now served and the one before."""

    request_id: str = Field(..., description=_RID)
    status: str = Field(..., description="reloaded.")
    bundle: str | None = Field(None, description="The bundle folder now served.")
    bundle_created_at: str | None = Field(None, description="When it was exported.")
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="The model versions now served (as /info)."
    )
    previous: dict[str, Any] = Field(
        default_factory=dict, description="bundle, bundle_created_at, variants before the reload."
    )


class ExperimentResponse(BaseModel):
    """The A/B settings in force after the change."""

    request_id: str = Field(..., description=_RID)
    experiment: dict[str, Any] = Field(
        ..., description="enabled, name, challenger_share, salt now in force."
    )


class ErrorResponse(BaseModel):
    """A 4xx / 503 answer: what is wrong, in one line, and which field."""

    error: str = Field(..., description="One line naming the field and what to send instead.")
    field: str | None = Field(None, description="The request field at fault (dotted path).")


class ValidationErrorResponse(ErrorResponse):
    """A 400 for a body that does not fit the request model."""

    detail: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every problem: loc (the field's path), msg, type (pydantic's error type).",
    )
