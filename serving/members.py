"""Members over a loaded bundle: find a person by any identifier, their profile, tag queries.

Pure functions over :class:`serving.artifacts.Bundle` plus the leader notes ingested since it
was built (``(identifier key, tag, note)`` rows, see :class:`serving.overlay.Overlay`); no I/O.

- :func:`resolve` accepts every documented identifier form: ``phone:138...``, a bare phone in
  any format (``138 0013 8000``, ``+86-138...``), ``wecom:``/``openid:``/... keys and the
  unified user_id.
- :func:`tag_frame` is every tag of every user (the bundle's rule and manual tags, the
  segment as ``segment:<id>``, live leader notes), lower-cased for matching.
- :func:`query` evaluates an AND / OR / NOT expression over it with
  :func:`features.tags.query_users` (the same engine as the feature layer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.schema import Col
from features.tags import MANUAL, query_users
from serving.artifacts import USER, Bundle
from serving.matching import segment_assignments
from serving.ranking import resolve_user

Note = tuple[str, str, str]  # (identifier key, tag, note)
SEGMENT_PREFIX = "segment:"
LIVE = "live"  # source of a leader note ingested after the bundle was built
_BARE_PHONE = re.compile(r"^\+?[\d\s\-()]{11,20}$")
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_OPERATORS = {"AND", "OR", "NOT", "(", ")"}
MAX_DEPTH = 32


def resolve(bundle: Bundle, text: str) -> int | None:
    """User index of any identifier form, a bare phone number included; None when unknown."""
    text = text.strip()
    u = resolve_user(bundle, text)
    if u is None and ":" not in text and _BARE_PHONE.match(text):
        u = resolve_user(bundle, f"phone:{text}")
    return u


def _cached(bundle: Bundle, name: str, key: Any) -> Any:
    hit = getattr(bundle, name, None)
    return hit[1] if hit is not None and hit[0] == key else None


def identifiers_of(bundle: Bundle, user: int) -> list[str]:
    """Every identifier key that resolves to `user` (live links included)."""
    key = len(bundle.identifiers)
    inverse = _cached(bundle, "_member_ids", key)
    if inverse is None:
        inverse = {}
        for k, u in bundle.identifiers.items():
            inverse.setdefault(u, []).append(k)
        bundle._member_ids = (key, inverse)  # type: ignore[attr-defined]
    uid = str(bundle.users[user])
    return sorted(k for k in inverse.get(user, []) if k != uid)


def _live_rows(bundle: Bundle, notes: list[Note]) -> pd.DataFrame:
    rows = [(bundle.identifiers.get(k), t, n) for k, t, n in notes]
    known = [(u, t, n) for u, t, n in rows if u is not None and t]
    return pd.DataFrame(
        {
            USER: pd.Series([r[0] for r in known], dtype="int64"),
            Col.TAG: pd.Series([r[1] for r in known], dtype="string"),
            Col.SOURCE: LIVE,
            "detail": pd.Series([r[2] for r in known], dtype="string"),
        }
    )


def tag_frame(bundle: Bundle, notes: list[Note]) -> pd.DataFrame:
    """user (index), tag, source (rule | manual | live | segment), detail, key (lower-cased tag)."""
    cache_key = (len(notes), len(bundle.identifiers))
    hit = _cached(bundle, "_member_tags", cache_key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    parts = []
    ut = bundle.user_tags
    if ut is not None and len(ut):
        src = ut[Col.SOURCE] if Col.SOURCE in ut.columns else pd.Series("", index=ut.index)
        parts.append(
            pd.DataFrame(
                {
                    USER: ut[USER].astype("int64"),
                    Col.TAG: ut[Col.TAG].astype("string"),
                    Col.SOURCE: src.astype("string").fillna(""),
                    "detail": "",
                }
            )
        )
    seg = segment_assignments(bundle)
    if seg is not None:
        parts.append(
            pd.DataFrame(
                {
                    USER: seg[USER].astype("int64"),
                    Col.TAG: SEGMENT_PREFIX + seg["segment_id"].astype("string"),
                    Col.SOURCE: "segment",
                    "detail": seg["segment_name"].astype("string"),
                }
            )
        )
    parts.append(_live_rows(bundle, notes))
    frame = pd.concat([p for p in parts if len(p)] or [parts[-1]], ignore_index=True)
    frame["key"] = frame[Col.TAG].str.strip().str.lower()
    frame = frame.drop_duplicates([USER, "key", Col.SOURCE]).sort_values(USER, kind="stable")
    frame = frame.reset_index(drop=True)
    bundle._member_tags = (cache_key, frame)  # type: ignore[attr-defined]
    return frame


def tags_of(frame: pd.DataFrame, user: int) -> pd.DataFrame:
    """The rows of `frame` (sorted by user) for one user."""
    col = frame[USER].to_numpy()
    lo, hi = np.searchsorted(col, user, "left"), np.searchsorted(col, user, "right")
    return frame.iloc[lo:hi]


class QueryError(ValueError):
    """A tag expression that cannot be evaluated (the message names what is wrong)."""


@dataclass
class QueryResult:
    """Matching user indices (ordered by spend, then index) and terms that match no tag."""

    users: np.ndarray
    unknown_terms: list[str]


def _terms(expression: str) -> list[str]:
    tokens = _TOKEN.findall(expression)
    depth = 0
    for t in tokens:
        depth += (t == "(") - (t == ")")
        if depth > MAX_DEPTH:
            raise QueryError(f"parentheses nested deeper than {MAX_DEPTH}")
    return [t for t in tokens if t.upper() not in _OPERATORS]


def query(
    bundle: Bundle, notes: list[Note], expression: str | None, segments: list[str] | None
) -> QueryResult:
    """Users matching `expression` (AND / OR / NOT, `prefix*`) and in any of `segments`."""
    frame = tag_frame(bundle, notes)
    expr = " ".join(expression.split()) if expression else ""
    if segments:
        seg = " OR ".join(SEGMENT_PREFIX + str(s).strip().lower() for s in segments)
        expr = f"({expr}) AND ({seg})" if expr else seg
    if not expr:
        raise QueryError("give a tag expression or segment ids")
    terms = list(dict.fromkeys(_terms(expr.lower())))
    keys = frame["key"]
    exact = [t for t in terms if not t.endswith("*")]
    prefixes = tuple(t[:-1] for t in terms if t.endswith("*"))
    hit_rows = keys.isin(exact) | (keys.str.startswith(prefixes) if prefixes else False)
    relevant = frame.loc[hit_rows, [USER, "key"]]
    seen = set(relevant["key"].tolist())
    unknown = [
        t
        for t in terms
        if not (any(k.startswith(t[:-1]) for k in seen) if t.endswith("*") else t in seen)
    ]
    # only the tags the expression names, plus every user once (the universe NOT works in):
    # the same answer as the whole frame, without grouping tags nobody asked about
    everyone = pd.DataFrame({USER: frame[USER].unique(), "key": ""})
    both = pd.concat([relevant, everyone], ignore_index=True)
    tags = pd.DataFrame({Col.USER_ID: both[USER].to_numpy(), Col.TAG: both["key"].to_numpy()})
    try:
        hit = query_users(tags, expr.lower())
    except ValueError as exc:  # features.tags.TagQueryError
        raise QueryError(str(exc)) from exc
    except RecursionError as exc:
        raise QueryError("tag expression too deeply nested") from exc
    users = np.asarray(hit, np.int64)
    return QueryResult(users=order_by_spend(bundle, users), unknown_terms=unknown)


def order_by_spend(bundle: Bundle, users: np.ndarray) -> np.ndarray:
    """Users by total spend (highest first), then by index: a stable, useful order for ops."""
    prof = bundle.user_profile
    if prof is None or "monetary" not in prof.columns or not len(users):
        return np.sort(users)
    spend = np.zeros(bundle.n_users, np.float64)
    spend[prof[USER].to_numpy(np.int64)] = prof["monetary"].fillna(0.0).to_numpy(np.float64)
    return users[np.lexsort((users, -spend[users]))]


def profile_rows(bundle: Bundle, users: np.ndarray) -> pd.DataFrame:
    """user, value_tier, frequency, monetary, ... for these users, in their order."""
    prof = bundle.user_profile
    base = pd.DataFrame({USER: users})
    if prof is None:
        return base
    return base.merge(prof.drop_duplicates(USER), on=USER, how="left")


def constraint_tags(bundle: Bundle, frame_rows: pd.DataFrame, user: int) -> list[str]:
    """The hard-constraint tags of a user: from the bundle and from live notes."""
    ct = bundle.constraint_tags
    static = ct.loc[ct[USER] == user, "tag"].astype(str).str.lower().unique().tolist()
    live = frame_rows.loc[frame_rows[Col.SOURCE].isin([LIVE, MANUAL]), "key"].tolist()
    prefixes = ("allergy:", "avoid:")
    return sorted({*static, *(t for t in live if t.startswith(prefixes))})


def segment_of(bundle: Bundle, user: int) -> dict[str, str] | None:
    """The user's segment id and name, when the bundle has segments."""
    seg = segment_assignments(bundle)
    if seg is None:
        return None
    hit = seg[seg[USER] == user]
    if not len(hit):
        return None
    return {"segment_id": str(hit["segment_id"].iloc[0]), "name": str(hit["segment_name"].iloc[0])}
