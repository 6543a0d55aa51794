"""The request -> answer logic behind every endpoint, framework-free (the BentoML service wraps it).

:class:`Engine` maps ids to bundle indices, routes A/B variants, calls :mod:`serving.ranking`
and :mod:`serving.matching`, logs exposures and shapes the pydantic responses. Bad input
that pydantic cannot see (an unknown group, item or category) raises :class:`ApiError`
with the HTTP status and the field it concerns.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from features.tags import load_rules
from serving import matching, plan, ranking
from serving import schemas as s
from serving.artifacts import Bundle, BundleError, Variant, load_bundle
from serving.exposures import ExposureLog
from serving.group_rebuy import DEFAULT_MIX, GroupMix
from serving.overlay import Overlay
from serving.settings import ExperimentSettings, Settings


class ApiError(Exception):
    """A 4xx answer: status, the request field at fault, and a message naming it."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = f"{field}: {message}" if field else message

    def body(self) -> s.ErrorResponse:
        """The JSON error body."""
        return s.ErrorResponse(error=self.message, field=self.field)


def _rid(given: str | None) -> str:
    return given or uuid.uuid4().hex[:16]


def _group_mix(rebuy: bool, category_cap: int | None) -> GroupMix | None:
    """The group-rebuy mix of a request: the evaluated default, its cap overridden when given."""
    if not rebuy:
        return None
    if category_cap is None:
        return DEFAULT_MIX
    return replace(DEFAULT_MIX, category_cap=category_cap or None)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    try:
        if v != v:  # NaN / NA
            return None
    except (TypeError, ValueError):
        return None
    return str(v)


class Engine:
    """Loaded bundle + settings + exposure log; one method per endpoint."""

    def __init__(
        self,
        settings: Settings,
        bundle: Bundle | None = None,
        exposures: ExposureLog | None = None,
    ) -> None:
        self.settings = settings
        self.serving = settings.serving
        self.bundle_dir = Path(self.serving.bundle_dir or settings.work_dir / "bundle")
        self.error: str | None = None
        self.bundle: Bundle | None = bundle
        if bundle is None:
            try:
                self.bundle = load_bundle(self.bundle_dir)
            except (BundleError, FileNotFoundError, OSError, ValueError) as exc:
                self.error = str(exc)
        self.exposures = exposures or ExposureLog(
            self.serving.exposure_dir or settings.work_dir / "exposures",
            fsync=self.serving.fsync_exposures,
        )
        self.overlay: Overlay | None = None
        self._item_cols: dict[str, list[Any]] = {}
        if self.bundle is not None:
            self._prepare()

    # -- set-up ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        b = self.bundle
        assert b is not None
        for c in ("item_id", "name", "category", "price"):
            if c in b.items.columns:
                self._item_cols[c] = b.items[c].tolist()
        self._cat_index = {str(c).lower(): i for i, c in enumerate(b.categories.tolist())}
        cfg = load_rules(self.settings.features.tag_rules).get("constraints", {})
        self.overlay = Overlay(
            b, cfg.get("prefixes", ["allergy:", "avoid:"]), cfg.get("synonyms", {})
        )

    def add_live(self, links: list[dict[str, Any]], tags: list[dict[str, Any]]) -> None:
        """Apply ingested identity links and leader notes to the loaded bundle at once."""
        if self.overlay is not None:
            self.overlay.add(links, tags)

    def set_experiment(self, exp: ExperimentSettings) -> None:
        """Route with these A/B settings from the next request on."""
        self.serving = self.serving.model_copy(update={"experiment": exp})

    def _unknown_forbidden(self, identifiers: list[str]) -> np.ndarray | None:
        """Items forbidden to people the bundle does not know (from ingested notes), or None."""
        if self.overlay is None or not self.overlay.key_forbidden:
            return None
        parts = [self.overlay.forbidden_for_key(i) for i in identifiers]
        found = [p for p in parts if p is not None]
        return np.unique(np.concatenate(found)) if found else None

    def _without(
        self, allowed: np.ndarray | None, forbidden: np.ndarray | None
    ) -> np.ndarray | None:
        """`allowed` with `forbidden` items switched off (None stays None when nothing is)."""
        if forbidden is None or not len(forbidden):
            return allowed
        out = np.ones(self._b().n_items, bool) if allowed is None else allowed.copy()
        out[forbidden] = False
        return out

    @property
    def ready(self) -> bool:
        """Whether a bundle is loaded."""
        return self.bundle is not None

    def _b(self) -> Bundle:
        if self.bundle is None:
            raise ApiError(503, None, f"no artifact bundle loaded: {self.error}")
        return self.bundle

    # -- shared helpers ----------------------------------------------------------------------
    def _variant(self, unit: str) -> Variant:
        b = self._b()
        exp = self.serving.experiment
        name = ranking.choose_variant(b, unit, exp.enabled, exp.challenger_share, exp.salt)
        return b.variants[name]

    def _categories(self, cats: list[str] | None, field: str = "categories") -> list[int] | None:
        if not cats:
            return None
        out, bad = [], []
        for c in cats:
            i = self._cat_index.get(c.lower())
            (bad.append(c) if i is None else out.append(i))
        if bad:
            known = ", ".join(sorted(self._cat_index)[:30])
            raise ApiError(404, field, f"unknown categories {bad[:5]}; known: {known}")
        return out

    def _candidates(self, ids: list[str] | None) -> tuple[np.ndarray | None, list[str]]:
        if ids is None:
            return None, []
        b = self._b()
        idx = [b.item_index.get(i) for i in ids]
        unknown = [i for i, x in zip(ids, idx, strict=True) if x is None]
        return np.asarray([x for x in idx if x is not None], np.int64), unknown[:100]

    def _items_out(
        self,
        r: ranking.Ranked,
        conflict_tags: dict[int, list[str]] | None = None,
    ) -> list[s.ItemOut]:
        ids, names = self._item_cols["item_id"], self._item_cols.get("name")
        cats, prices = self._item_cols.get("category"), self._item_cols.get("price")
        out = []
        for j, i in enumerate(r.items.tolist()):
            price = prices[i] if prices is not None else None
            c = int(r.conflicts[j]) if r.conflicts is not None else None
            out.append(
                s.ItemOut(
                    item_id=str(ids[i]),
                    name=str(names[i]) if names is not None else str(ids[i]),
                    category=_text(cats[i]) if cats is not None else None,
                    price=float(price) if price is not None and price == price else None,
                    score=round(float(r.scores[j]), 6),
                    reason=r.reasons[j] if j < len(r.reasons) else "",
                    conflicts=c,
                    conflict_tags=(conflict_tags or {}).get(i) if c else None,
                )
            )
        return out

    def _log(self, **record: Any) -> None:
        exp = self.serving.experiment
        record.setdefault("experiment", exp.name if exp.enabled else None)
        self.exposures.write(record)

    def _group(self, group_id: str, field: str = "group_id") -> tuple[int, np.ndarray]:
        b = self._b()
        g = b.group_index.get(group_id)
        if g is None:
            raise ApiError(404, field, f"unknown group {group_id[:80]!r}")
        members = b.members(g)
        if not len(members):
            raise ApiError(422, field, f"group {group_id[:80]!r} has no current members")
        return g, members.astype(np.int64)

    def _theme(self, spec: s.ThemeSpec) -> matching.Theme:
        b = self._b()
        idx = [b.item_index.get(i) for i in spec.items]
        bad = [i for i, x in zip(spec.items, idx, strict=True) if x is None]
        if bad:
            raise ApiError(404, "theme.items", f"unknown items {bad[:5]}")
        cats = self._categories(spec.categories, "theme.categories") or []
        name = spec.name or " / ".join([*spec.keywords, *spec.categories, *spec.items][:3])
        return matching.Theme(
            name=name,
            items=np.asarray([x for x in idx if x is not None], np.int64),
            categories=cats,
            keywords=list(spec.keywords),
        )

    # -- endpoints ---------------------------------------------------------------------------
    def rank_user(self, req: s.RankUserRequest) -> s.RankUserResponse:
        """Items for one person (fallback to group / global popular items when unknown)."""
        b = self._b()
        rid = _rid(req.request_id)
        user = ranking.resolve_user(b, req.user)
        uid = str(b.users[user]) if user is not None else None
        variant = self._variant(uid or ranking.id_key(req.user))
        cats = self._categories(req.categories)
        cand, unknown = self._candidates(req.candidates)
        allowed = ranking.allowed_mask(b, cats, cand)
        if user is None:
            allowed = self._without(allowed, self._unknown_forbidden([req.user]))
        ctx_groups = None
        if req.group_id is not None:
            g = b.group_index.get(req.group_id)
            if g is None:
                raise ApiError(404, "group_id", f"unknown group {req.group_id[:80]!r}")
            ctx_groups = np.asarray([g], np.int64)
        r = ranking.rank_user(b, variant, user, req.k, req.exclude_bought, allowed, ctx_groups)
        items = self._items_out(r)
        version = variant.info.get("version")
        self._log(
            request_id=rid,
            endpoint="rank_user",
            user_id=uid,
            identifier=req.user,
            group_id=req.group_id,
            variant=variant.name,
            model_version=version,
            fallback=r.fallback,
            items=[i.item_id for i in items],
        )
        return s.RankUserResponse(
            request_id=rid,
            variant=variant.name,
            model_version=_text(version),
            fallback=r.fallback,
            user_id=uid,
            known_user=user is not None,
            items=items,
            unknown_candidates=unknown,
        )

    def rank_group(self, req: s.RankGroupRequest) -> s.RankGroupResponse:
        """Items for a group under an aggregation strategy, members' constraints respected."""
        b = self._b()
        rid = _rid(req.request_id)
        unknown_members = 0
        if req.group_id is not None:
            _, members = self._group(req.group_id)
            unit = f"group:{req.group_id}"
        else:
            assert req.users is not None
            found = [ranking.resolve_user(b, u) for u in req.users]
            unknown_members = sum(x is None for x in found)
            strangers = [u for u, x in zip(req.users, found, strict=True) if x is None]
            members = np.unique(np.asarray([x for x in found if x is not None], np.int64))
            unit = (
                "members:"
                + hashlib.sha256(",".join(map(str, members.tolist())).encode()).hexdigest()[:16]
            )
        variant = self._variant(unit)
        cats = self._categories(req.categories)
        cand, unknown = self._candidates(req.candidates)
        allowed = ranking.allowed_mask(b, cats, cand)
        if req.group_id is None and unknown_members:
            allowed = self._without(allowed, self._unknown_forbidden(strangers))
        r = ranking.rank_group(
            b,
            variant,
            members,
            req.k,
            req.strategy,
            req.constraint_mode,
            allowed,
            self.serving.group_pool,
            group=b.group_index.get(req.group_id) if req.group_id is not None else None,
            mix=_group_mix(req.rebuy, req.category_cap),
        )
        tags = (
            matching.constraint_tags_for(b, members, r.items)
            if req.constraint_mode == "flag" and r.conflicts is not None and r.conflicts.any()
            else None
        )
        items = self._items_out(r, tags)
        if req.constraint_mode == "exclude":
            for it in items:
                it.conflicts = None
        version = variant.info.get("version")
        self._log(
            request_id=rid,
            endpoint="rank_group",
            user_id=None,
            identifier=None,
            group_id=req.group_id or unit,
            variant=variant.name,
            model_version=version,
            fallback=r.fallback,
            items=[i.item_id for i in items],
        )
        exact = r.info.get("exact")
        return s.RankGroupResponse(
            request_id=rid,
            variant=variant.name,
            model_version=_text(version),
            fallback=r.fallback,
            group_id=req.group_id,
            strategy=req.strategy,
            mix=_text(r.info.get("mix")),
            constraint_mode=req.constraint_mode,
            members=int(len(members)),
            members_scored=int(r.info.get("members_scored", 0)),  # type: ignore[call-overload]
            unknown_members=unknown_members,
            exact=bool(exact) if exact is not None else None,
            items=items,
            unknown_candidates=unknown,
        )

    def similar(self, req: s.SimilarRequest) -> s.SimilarResponse:
        """Items like one item (the optional user's constraints respected)."""
        b = self._b()
        rid = _rid(req.request_id)
        item = b.item_index.get(req.item_id)
        if item is None:
            raise ApiError(404, "item_id", f"unknown item {req.item_id[:80]!r}")
        user = ranking.resolve_user(b, req.user) if req.user else None
        uid = str(b.users[user]) if user is not None else None
        variant = self._variant(uid or f"item:{req.item_id}")
        allowed = ranking.allowed_mask(b, self._categories(req.categories))
        if req.user and user is None:
            allowed = self._without(allowed, self._unknown_forbidden([req.user]))
        r = ranking.similar_items(b, variant, item, req.k, user, allowed)
        items = self._items_out(r)
        self._log(
            request_id=rid,
            endpoint="similar",
            user_id=uid,
            identifier=req.user,
            group_id=None,
            variant=variant.name,
            model_version=variant.info.get("version"),
            fallback=r.fallback,
            items=[i.item_id for i in items],
        )
        return s.SimilarResponse(
            request_id=rid,
            variant=variant.name,
            model_version=_text(variant.info.get("version")),
            fallback=r.fallback,
            item_id=req.item_id,
            items=items,
        )

    def bundles(self, req: s.BundlesRequest) -> s.BundlesResponse:
        """Bundles for a segment, theme or seed items."""
        b = self._b()
        rid = _rid(req.request_id)
        seeds = None
        if req.items:
            idx = [b.item_index.get(i) for i in req.items]
            bad = [i for i, x in zip(req.items, idx, strict=True) if x is None]
            if bad:
                raise ApiError(404, "items", f"unknown items {bad[:5]}")
            seeds = np.asarray(idx, np.int64)
        user = ranking.resolve_user(b, req.user) if req.user else None
        variant = self._variant(str(b.users[user]) if user is not None else "bundles")
        avoid = self._unknown_forbidden([req.user]) if req.user and user is None else None
        rows, source = matching.bundles(
            b,
            variant,
            req.k,
            req.segment_id,
            req.theme,
            seeds,
            user,
            set(avoid.tolist()) if avoid is not None else None,
        )
        return s.BundlesResponse(
            request_id=rid, source=source, bundles=[s.BundleOut(**r) for r in rows]
        )

    def audience(self, req: s.AudienceRequest) -> s.AudienceResponse:
        """Users to invite for a theme, with reasons; constrained users left out."""
        b = self._b()
        rid = _rid(req.request_id)
        theme = self._theme(req.theme)
        variant = self._variant(f"theme:{theme.name}")
        df, info = matching.audience(b, variant, theme, req.n)
        return s.AudienceResponse(
            request_id=rid,
            theme=theme.name,
            variant=variant.name,
            audience=[
                s.AudienceMember(
                    user_id=str(r.user_id),
                    score=float(r.score),  # type: ignore[arg-type]
                    reasons=str(r.reasons),
                )
                for r in df.itertuples()
            ],
            excluded_by_constraints=int(info["excluded_by_constraints"]),
            candidates=int(info["candidates"]),
            source=str(info.get("source", "")) or None,
        )

    def segments(self, req: s.SegmentsRequest) -> s.SegmentsResponse:
        """All segments with names and sizes."""
        b = self._b()
        rid = _rid(req.request_id)
        if b.table("segments") is None:
            return s.SegmentsResponse(
                request_id=rid,
                available=False,
                message="the bundle has no segments table (run the segment job, then `linli export`)",
                segments=[],
            )
        return s.SegmentsResponse(
            request_id=rid,
            available=True,
            segments=[s.SegmentOut(**x) for x in matching.segment_list(b)],
        )

    def segment_profile(self, req: s.SegmentProfileRequest) -> s.SegmentProfileResponse:
        """One segment's profile."""
        b = self._b()
        rid = _rid(req.request_id)
        if b.table("segments") is None:
            return s.SegmentProfileResponse(
                request_id=rid,
                available=False,
                segment_id=req.segment_id,
                message="the bundle has no segments table (run the segment job, then `linli export`)",
            )
        prof = matching.segment_profile(b, req.segment_id)
        if prof is None:
            raise ApiError(404, "segment_id", f"unknown segment {req.segment_id[:80]!r}")
        return s.SegmentProfileResponse(
            request_id=rid, available=True, segment_id=req.segment_id, profile=prof
        )

    def hosts(self, req: s.GroupRequest) -> s.HostsResponse:
        """Hosts ranked for a group."""
        b = self._b()
        g, members = self._group(req.group_id)
        rows, source = matching.hosts_for_group(b, g, members, req.k)
        return s.HostsResponse(
            request_id=_rid(req.request_id), group_id=req.group_id, source=source, hosts=rows
        )

    def kocs(self, req: s.GroupRequest) -> s.KOCResponse:
        """KOC candidates of a group."""
        b = self._b()
        g, members = self._group(req.group_id)
        rows, source = matching.kocs_for_group(b, g, members, req.k)
        return s.KOCResponse(
            request_id=_rid(req.request_id), group_id=req.group_id, source=source, kocs=rows
        )

    def live_plan(self, req: s.LivePlanRequest) -> s.LivePlanResponse:
        """Theme, items, bundle, host, audience, KOCs and funnel for a group's next live-stream."""
        b = self._b()
        rid = _rid(req.request_id)
        g, members = self._group(req.group_id)
        notes: list[str] = []
        if req.theme is not None:
            theme = self._theme(req.theme)
        else:
            usable = ranking.member_conflicts(b, members) == 0
            theme = plan.infer_theme(b, members, usable)
            notes.append(f"theme inferred from the group's tags and purchases: {theme.name}")
        variant = self._variant(f"group:{req.group_id}")
        r, item_note = self._plan_items(b, variant, members, theme, req.k)
        notes += item_note
        items = self._items_out(r)
        for it in items:
            it.conflicts = None
        aud, info = matching.audience(b, variant, theme, req.audience_n, first=members)
        notes.append(f"audience source: {info.get('source', '')}")
        aud, counts = plan.members_first(aud, set(b.users[members].astype(str).tolist()))
        parts = plan.compose(b, theme, req.group_id, r.items, members, aud["user_id"].tolist())
        notes += parts.notes
        kocs, ksource = matching.kocs_for_group(b, g, members, req.koc_n) if req.koc_n else ([], "")
        if ksource:
            notes.append(f"KOC source: {ksource}")
        self._log(
            request_id=rid,
            endpoint="live_plan",
            user_id=None,
            identifier=None,
            group_id=req.group_id,
            variant=variant.name,
            model_version=variant.info.get("version"),
            fallback=r.fallback,
            items=[i.item_id for i in items],
        )
        return s.LivePlanResponse(
            request_id=rid,
            group_id=req.group_id,
            variant=variant.name,
            theme={
                "name": theme.name,
                "categories": [str(b.categories[c]) for c in theme.categories],
                "keywords": theme.keywords,
                "items": [str(b.items["item_id"].iloc[i]) for i in theme.items.tolist()],
            },
            items=items,
            bundle=s.BundleOut(**parts.bundle) if parts.bundle else None,
            bundle_note=None if parts.bundle else parts.bundle_note,
            host=parts.host,
            audience=[
                s.AudienceMember(
                    user_id=str(x.user_id),
                    score=float(x.score),  # type: ignore[arg-type]
                    reasons=str(x.reasons),
                    in_group=bool(x.in_group),
                )
                for x in aud.itertuples()
            ],
            audience_counts=counts,
            audience_excluded_by_constraints=int(info["excluded_by_constraints"]),
            funnel=parts.funnel,
            kocs=kocs,
            notes=notes,
        )

    def _plan_items(
        self, b: Bundle, variant: Variant, members: np.ndarray, theme: matching.Theme, k: int
    ) -> tuple[ranking.Ranked, list[str]]:
        """The group's top theme items, one SKU per product."""
        notes = []
        allowed = None
        if len(theme.items) or theme.categories:
            allowed = np.zeros(b.n_items, bool)
            allowed[theme.item_set(b)] = True
        pool = self.serving.group_pool
        r = ranking.rank_group(b, variant, members, 6 * k, "fair", "exclude", allowed, pool)
        if not len(r.items) and allowed is not None:
            notes.append("no theme item fits every member; ranked the whole catalogue")
            r = ranking.rank_group(b, variant, members, 6 * k, "fair", "exclude", None, pool)
        r, dropped = plan.one_per_product(b, r, k)
        if dropped:
            notes.append(f"items: {dropped} other variants of listed products left out")
        return r, notes

    def info(self, req: s.InfoRequest | None = None) -> s.InfoResponse:
        """Health, readiness and the model versions served."""
        exp = self.serving.experiment.model_dump()
        if self.bundle is None:
            return s.InfoResponse(
                status="no bundle", ready=False, message=self.error, experiment=exp
            )
        b = self.bundle
        return s.InfoResponse(
            status="ok",
            ready=True,
            bundle=str(b.path),
            bundle_created_at=b.manifest.get("created_at"),
            data_digest=b.manifest.get("data_digest"),
            users=b.n_users,
            items=b.n_items,
            groups=len(b.groups),
            variants={
                k: {
                    kk: vv
                    for kk, vv in v.info.items()
                    if kk
                    in (
                        "registered_model",
                        "version",
                        "alias",
                        "kind",
                        "trained_at",
                        "data_digest",
                        "run_id",
                        "scoring",
                        "recall_at_10",
                        "ndcg_at_10",
                    )
                }
                for k, v in b.variants.items()
            },
            experiment=exp,
            tables=sorted(b.tables),
        )
