"""The member endpoints' logic: validate, call :mod:`serving.members`, shape the answer.

Framework-free like :class:`serving.engine.Engine` (the BentoML service wraps it); bad input
raises :class:`serving.engine.ApiError` with the status and the field at fault.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.schema import Col
from serving import members as m
from serving import profile_schemas as ps
from serving.artifacts import USER, Bundle
from serving.engine import ApiError, Engine
from serving.matching import segment_assignments

RFM_FIELDS = ("recency_days", "frequency", "monetary", "aov", "orders_per_30d", "rfm_score")
MAX_CSV = 200_000


def _rid(given: str | None) -> str:
    return given or uuid.uuid4().hex[:16]


@dataclass
class Source:
    """What the member endpoints read: the bundle in service and the leader notes ingested since."""

    bundle: Bundle | None
    notes: list[m.Note] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def of(cls, engine: Engine) -> Source:
        """The engine's bundle and live notes."""
        notes = engine.overlay.notes if engine.overlay is not None else []
        return cls(engine.bundle, notes, engine.error)


def _notes(src: Source) -> list[m.Note]:
    return src.notes


def _bundle(src: Source) -> Bundle:
    if src.bundle is None:
        raise ApiError(503, None, f"no artifact bundle loaded: {src.error}")
    return src.bundle


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, np.generic):
        v = v.item()
    return round(v, 3) if isinstance(v, float) else v


def profile(src: Source, req: ps.UserProfileRequest) -> ps.UserProfileResponse:
    """One member's identifiers, tier, RFM, tags with source, segment, groups, constraints."""
    b = _bundle(src)
    u = m.resolve(b, req.user)
    if u is None:
        raise ApiError(
            404,
            "user",
            f"no member with identifier {req.user[:80]!r} (forms: phone:138..., a bare phone, "
            "wecom:..., openid:..., member_card:..., the unified user_id)",
        )
    rows = m.tags_of(m.tag_frame(b, _notes(src)), u)
    prof = b.user_profile
    rec = prof[prof[USER] == u] if prof is not None else pd.DataFrame()
    rfm = {k: _plain(rec[k].iloc[0]) for k in (*RFM_FIELDS, "first_seen", "last_seen") if k in rec}
    act = b.user_activity
    arow = act[act[USER] == u] if act is not None else pd.DataFrame()
    activity = {str(c): int(arow[c].iloc[0]) for c in arow.columns if c != USER and len(arow)}
    forbidden = b.forbidden(u)
    names = b.items["name"] if "name" in b.items.columns else b.items["item_id"]
    seg = m.segment_of(b, u)
    groups = b.groups
    return ps.UserProfileResponse(
        request_id=_rid(req.request_id),
        user_id=str(b.users[u]),
        identifiers=m.identifiers_of(b, u),
        value_tier=_plain(rec["value_tier"].iloc[0]) if "value_tier" in rec and len(rec) else None,
        rfm=rfm,
        tags=[
            ps.TagOut(tag=str(t), source=str(s) or "rule", detail=str(d or ""))
            for t, s, d in zip(rows[Col.TAG], rows[Col.SOURCE], rows["detail"], strict=True)
            if s != "segment"
        ],
        segment=ps.Named(id=seg["segment_id"], name=seg["name"]) if seg else None,
        groups=[
            ps.Named(id=str(groups["group_id"].iloc[g]), name=_group_name(groups, g))
            for g in b.user_group_list(u).tolist()
        ],
        constraints=ps.ConstraintsOut(
            tags=m.constraint_tags(b, rows, u),
            forbidden_items=len(forbidden),
            examples=[str(names.iloc[i]) for i in forbidden[:5].tolist()],
        ),
        activity=activity,
    )


def _group_name(groups: pd.DataFrame, g: int) -> str:
    if "name" in groups.columns and pd.notna(groups["name"].iloc[g]):
        return str(groups["name"].iloc[g])
    return str(groups["group_id"].iloc[g])


def _check_segments(b: Bundle, segments: list[str] | None) -> None:
    if not segments:
        return
    seg = segment_assignments(b)
    if seg is None:
        raise ApiError(422, "segments", "the bundle has no segments table (run `linli segments`)")
    known = set(seg["segment_id"].astype(str).str.lower())
    bad = [s for s in segments if s.lower() not in known]
    if bad:
        raise ApiError(404, "segments", f"unknown segments {bad[:5]}; known: {sorted(known)[:30]}")


def select(src: Source, req: ps.UsersQueryRequest) -> tuple[Bundle, m.QueryResult, str]:
    """The users a query selects (raises ApiError on a bad expression or segment)."""
    b = _bundle(src)
    _check_segments(b, req.segments)
    try:
        res = m.query(b, _notes(src), req.expression, req.segments)
    except m.QueryError as exc:
        field = "expression" if req.expression else "segments"
        raise ApiError(400, field, str(exc)) from exc
    expr = " ".join((req.expression or "").split())
    if req.segments:
        seg = " OR ".join(f"segment:{s}" for s in req.segments)
        expr = f"({expr}) AND ({seg})" if expr else seg
    return b, res, expr


def _page_rows(b: Bundle, users: np.ndarray) -> pd.DataFrame:
    rows = m.profile_rows(b, users)
    seg = segment_assignments(b)
    names = pd.Series(dtype="string")
    if seg is not None:
        names = seg.drop_duplicates(USER).set_index(USER)["segment_name"]
    rows["segment"] = rows[USER].map(names)
    rows["user_id"] = b.users[users].astype(str)
    return rows


def query(src: Source, req: ps.UsersQueryRequest) -> ps.UsersQueryResponse:
    """Count and one page of the users a tag / segment query selects."""
    b, res, expr = select(src, req)
    page = res.users[req.offset : req.offset + req.limit]
    rows = _page_rows(b, page)
    return ps.UsersQueryResponse(
        request_id=_rid(req.request_id),
        expression=expr,
        count=len(res.users),
        offset=req.offset,
        limit=req.limit,
        users=[
            ps.UserRow(
                user_id=r["user_id"],
                value_tier=_plain(r.get("value_tier")),
                frequency=_plain(r.get("frequency")),
                monetary=_plain(r.get("monetary")),
                segment=_plain(r.get("segment")),
            )
            for r in rows.to_dict("records")
        ],
        unknown_terms=res.unknown_terms,
    )


def query_csv(src: Source, req: ps.UsersQueryRequest) -> str:
    """Every selected user (at most 200,000) as CSV text with a header row."""
    b, res, _ = select(src, req)
    users = res.users[:MAX_CSV]
    rows = _page_rows(b, users)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["user_id", "identifiers", "value_tier", "segment", "orders", "spend", "groups"])
    gid = b.groups["group_id"].astype(str).to_numpy() if len(b.groups) else np.empty(0, object)
    for r, u in zip(rows.to_dict("records"), users.tolist(), strict=True):
        w.writerow(
            [
                r["user_id"],
                ";".join(m.identifiers_of(b, u)),
                _plain(r.get("value_tier")) or "",
                _plain(r.get("segment")) or "",
                int(_plain(r.get("frequency")) or 0),
                _plain(r.get("monetary")) or 0,
                ";".join(gid[b.user_group_list(u)].tolist()),
            ]
        )
    return out.getvalue()


def group_profile(src: Source, req: ps.GroupProfileRequest) -> ps.GroupProfileResponse:
    """A group's members by tier and segment, their commonest tags and items."""
    b = _bundle(src)
    g = b.group_index.get(req.group_id)
    if g is None:
        raise ApiError(404, "group_id", f"unknown group {req.group_id[:80]!r}")
    members = b.members(g).astype(np.int64)
    rows = m.profile_rows(b, members)
    tier = rows["value_tier"] if "value_tier" in rows else pd.Series(pd.NA, index=rows.index)
    tiers = tier.astype("string").fillna("unknown").value_counts()
    frame = m.tag_frame(b, _notes(src))
    mine = frame[frame[USER].isin(members)]
    seg = mine[mine[Col.SOURCE] == "segment"]
    segs = seg.groupby(["key", "detail"]).size().sort_values(ascending=False)
    tags = mine[~mine["key"].str.startswith(("group:", "segment:"))]["key"].value_counts()
    pop = b.group_popularity[g].toarray().ravel()
    top = np.argsort(-pop, kind="stable")[:5]
    names = b.items["name"] if "name" in b.items.columns else b.items["item_id"]
    info = b.groups.iloc[g]
    return ps.GroupProfileResponse(
        request_id=_rid(req.request_id),
        group_id=req.group_id,
        name=_plain(info.get("name")),
        kind=_plain(info.get("kind")),
        leader=_plain(info.get("leader")),
        members=len(members),
        value_tiers={str(k): int(v) for k, v in dict(tiers).items()},
        segments=[
            {"segment_id": str(k).removeprefix("segment:"), "name": str(n), "members": int(c)}
            for k, n, c in zip(
                segs.index.get_level_values(0), segs.index.get_level_values(1), segs, strict=True
            )
        ],
        top_tags=[{"tag": str(t), "members": int(c)} for t, c in tags.head(10).items()],
        top_items=[
            {
                "item_id": str(b.items["item_id"].iloc[i]),
                "name": str(names.iloc[i]),
                "purchases": int(pop[i]),
            }
            for i in top.tolist()
            if pop[i] > 0
        ],  # fmt: skip
        constrained_members=sum(len(b.forbidden(int(u))) > 0 for u in members.tolist()),
    )
