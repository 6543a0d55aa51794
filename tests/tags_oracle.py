"""The pandas implementation of tiers, tags and constraints from before they became SQL.

Kept only as the oracle of tests/features/test_tags_sql.py (and the rule tests of
test_tags.py): the feature job runs :mod:`features.engine.tags_sql`,
:mod:`features.engine.interest_sql` and :mod:`features.engine.constraints_sql`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from features.engine.constraints_sql import CONSTRAINT_COLUMNS
from features.schema import CONTAINS_PREFIX, LIST_SEP, PURCHASE_EVENTS, TEXT_EVENTS, Col
from features.tags import DETAIL, MANUAL, RULE, TAG_COLUMNS, keyword_hits


def purchases(events: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines (order and 接龙) of the clean, unified event log."""
    return events[events[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]


def rfm(events: pd.DataFrame, snapshot: pd.Timestamp | None = None) -> pd.DataFrame:
    """Recency (days), frequency (orders), monetary (yuan), AOV and activity span per user."""
    users = events.groupby(Col.USER_ID, sort=True)[Col.TS].agg(["min", "max"])
    snapshot = snapshot if snapshot is not None else events[Col.TS].max()
    buys = purchases(events)
    amount = buys[Col.AMOUNT] if Col.AMOUNT in buys.columns else pd.Series(0.0, index=buys.index)
    orders = (
        buys.assign(_amount=amount.fillna(0.0))
        .groupby(Col.USER_ID)
        .agg(
            last_order=(Col.TS, "max"),
            frequency=(Col.ORDER_ID, "nunique"),
            monetary=("_amount", "sum"),
            lines=(Col.ITEM_ID, "size"),
        )
    )
    out = users.rename(columns={"min": "first_seen", "max": "last_seen"}).join(orders)
    out["frequency"] = out["frequency"].fillna(0).astype(int)
    out["monetary"] = out["monetary"].fillna(0.0)
    out["lines"] = out["lines"].fillna(0).astype(int)
    out["recency_days"] = (snapshot - out["last_order"]).dt.total_seconds() / 86400.0
    out["aov"] = (out["monetary"] / out["frequency"]).where(out["frequency"] > 0)
    span_days = (out["last_seen"] - out["first_seen"]).dt.total_seconds() / 86400.0
    out["orders_per_30d"] = out["frequency"] / np.maximum(span_days, 30.0) * 30.0
    return out.reset_index()


def _quintile(values: pd.Series) -> pd.Series:
    scores = np.ceil(values.rank(pct=True, method="average").to_numpy() * 5)
    return pd.Series(scores, index=values.index).clip(1, 5)


def value_tiers(profile: pd.DataFrame, rules: dict[str, Any]) -> pd.DataFrame:
    """Value tier per user from RFM quintile scores (users without orders are the lowest tier)."""
    buyers = profile["frequency"] > 0
    score = pd.Series(0.0, index=profile.index)
    if buyers.any():
        b = profile[buyers]
        score[buyers] = (
            _quintile(-b["recency_days"]) + _quintile(b["frequency"]) + _quintile(b["monetary"])
        )
    tiers = sorted(rules["value_tier"]["tiers"], key=lambda t: -t["min_score"])
    tag = pd.Series(tiers[-1]["tag"], index=profile.index, dtype="string")
    label = pd.Series(tiers[-1]["label"], index=profile.index, dtype="string")
    for t in reversed(tiers):  # highest last so it wins
        hit = buyers & (score >= t["min_score"])
        tag[hit], label[hit] = t["tag"], t["label"]
    return pd.DataFrame(
        {Col.USER_ID: profile[Col.USER_ID], Col.TAG: tag, DETAIL: label, "rfm_score": score}
    )


def _rows(users: pd.Series, tag: pd.Series | str, detail: pd.Series | str = "") -> pd.DataFrame:
    return pd.DataFrame(
        {
            Col.USER_ID: users.to_numpy(),
            Col.TAG: tag.to_numpy() if isinstance(tag, pd.Series) else tag,
            Col.SOURCE: RULE,
            DETAIL: detail.to_numpy() if isinstance(detail, pd.Series) else detail,
        }
    )


def behaviour_tags(profile: pd.DataFrame, rules: dict[str, Any]) -> pd.DataFrame:
    """Value tier, frequency and AOV tags."""
    tiers = value_tiers(profile, rules)
    out = [_rows(tiers[Col.USER_ID], tiers[Col.TAG], tiers[DETAIL])]
    fr = rules["frequency"]
    buyers = profile[profile["frequency"] > 0]
    opm = buyers["orders_per_30d"]
    out.append(
        _rows(
            buyers.loc[opm >= fr["high"]["min_orders_per_30d"], Col.USER_ID],
            fr["high"]["tag"],
            fr["high"]["label"],
        )
    )
    out.append(
        _rows(
            buyers.loc[opm <= fr["low"]["max_orders_per_30d"], Col.USER_ID],
            fr["low"]["tag"],
            fr["low"]["label"],
        )
    )
    av = rules["aov"]
    valued = buyers[buyers["aov"] > 0]
    if len(valued):
        hi = valued["aov"].quantile(av["high"]["min_quantile"])
        lo = valued["aov"].quantile(av["low"]["max_quantile"])
        out.append(
            _rows(
                valued.loc[valued["aov"] >= hi, Col.USER_ID], av["high"]["tag"], av["high"]["label"]
            )
        )
        out.append(
            _rows(
                valued.loc[valued["aov"] <= lo, Col.USER_ID], av["low"]["tag"], av["low"]["label"]
            )
        )
    return pd.concat(out, ignore_index=True)


def category_tags(events: pd.DataFrame, items: pd.DataFrame, rules: dict[str, Any]) -> pd.DataFrame:
    """Categories that make up a large share of a user's purchases."""
    cfg = rules["category_preference"]
    buys = purchases(events)[[Col.USER_ID, Col.ITEM_ID]].merge(
        items[[Col.ITEM_ID, Col.CATEGORY]], on=Col.ITEM_ID, how="inner"
    )
    if buys.empty:
        return _rows(pd.Series([], dtype="string"), "")
    counts = buys.groupby([Col.USER_ID, Col.CATEGORY]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby(Col.USER_ID)["n"].transform("sum")
    keep = counts[(counts["share"] >= cfg["min_share"]) & (counts["n"] >= cfg["min_lines"])]
    keep = keep.sort_values([Col.USER_ID, "share"], ascending=[True, False])
    keep = keep.groupby(Col.USER_ID).head(cfg["max_per_user"])
    return _rows(
        keep[Col.USER_ID],
        cfg["tag_prefix"] + keep[Col.CATEGORY].astype("string"),
        (keep["share"] * 100).round(0).astype(int).astype(str) + "% of purchases",
    )


def channel_tags(events: pd.DataFrame, rules: dict[str, Any]) -> pd.DataFrame:
    """The first channel each user came through."""
    if Col.CHANNEL not in events.columns:
        return _rows(pd.Series([], dtype="string"), "")
    with_channel = events[events[Col.CHANNEL].notna()].sort_values(Col.TS, kind="stable")
    first = with_channel.groupby(Col.USER_ID, sort=True)[Col.CHANNEL].first()
    return _rows(first.index.to_series(), rules["channel"]["tag_prefix"] + first.astype("string"))


def location_tags(
    members: pd.DataFrame | None, groups: pd.DataFrame | None, rules: dict[str, Any]
) -> pd.DataFrame:
    """Group membership and residential compound (from general groups' names)."""
    if members is None or members.empty:
        return _rows(pd.Series([], dtype="string"), "")
    cfg = rules["location"]
    current = members[members[Col.LEFT_AT].isna()] if Col.LEFT_AT in members.columns else members
    out = [
        _rows(current[Col.USER_ID], cfg["group_prefix"] + current[Col.GROUP_ID].astype("string"))
    ]
    if groups is not None and Col.NAME in groups.columns:
        general = groups
        if Col.KIND in groups.columns:
            general = groups[groups[Col.KIND].fillna("general") == "general"]
        compound = (
            general[Col.NAME].astype("string").str.extract(cfg["compound_pattern"], expand=False)
        )
        named = pd.DataFrame({Col.GROUP_ID: general[Col.GROUP_ID], "compound": compound}).dropna()
        joined = current.merge(named, on=Col.GROUP_ID)[[Col.USER_ID, "compound"]].drop_duplicates()
        out.append(
            _rows(joined[Col.USER_ID], cfg["compound_prefix"] + joined["compound"].astype("string"))
        )
    return pd.concat(out, ignore_index=True)


def _join_words(words: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`、`-joined keywords per key, column-wise (no per-group Python)."""
    if words.empty:
        return pd.DataFrame({**{k: pd.Series([], dtype="string") for k in keys}, "words": []})
    wide = words.assign(_r=words.groupby(keys).cumcount()).pivot(
        index=keys, columns="_r", values="kw"
    )
    joined = wide[0].astype("string")
    for c in wide.columns[1:]:
        nxt = wide[c].astype("string")
        joined = joined.where(nxt.isna(), joined + "、" + nxt)
    return joined.rename("words").reset_index()


def interest_tags(events: pd.DataFrame, rules: dict[str, Any]) -> pd.DataFrame:
    """Interests from what users searched, commented and wrote in chat."""
    cfg = rules["interests"]
    if Col.TEXT not in events.columns:
        return _rows(pd.Series([], dtype="string"), "")
    texts = events.loc[events[Col.EVENT_TYPE].isin([str(e) for e in TEXT_EVENTS]), Col.TEXT]
    hits = keyword_hits(texts, cfg["keywords"])
    if hits.empty:  # no text names a known keyword
        return _rows(pd.Series([], dtype="string"), "")
    hits[Col.USER_ID] = events.loc[hits["row"], Col.USER_ID].to_numpy()
    keys = [Col.USER_ID, "interest"]
    agg = hits.groupby(keys).size().rename("n").reset_index()
    words = hits.drop_duplicates([*keys, "kw"]).groupby(keys).head(5)
    agg = agg.merge(_join_words(words, keys), on=keys)
    agg = agg[agg["n"] >= cfg["min_mentions"]]
    return _rows(
        agg[Col.USER_ID],
        cfg["tag_prefix"] + agg["interest"],
        "mentioned " + agg["words"] + " (" + agg["n"].astype(str) + "x)",
    )


def manual_tags(manual: pd.DataFrame | None) -> pd.DataFrame:
    """Leader-written tags (already mapped to user_id), with the leader's note as detail."""
    if manual is None or manual.empty:
        return pd.DataFrame(columns=TAG_COLUMNS)
    note = manual[Col.NOTE] if Col.NOTE in manual.columns else pd.Series("", index=manual.index)
    out = pd.DataFrame(
        {
            Col.USER_ID: manual[Col.USER_ID].to_numpy(),
            Col.TAG: manual[Col.TAG].astype("string").str.strip().to_numpy(),
            Col.SOURCE: MANUAL,
            DETAIL: note.fillna("").to_numpy(),
        }
    )
    return out


def build_tags(
    events: pd.DataFrame,
    profile: pd.DataFrame,
    rules: dict[str, Any],
    items: pd.DataFrame | None = None,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    manual: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every tag of every user: user_id, tag, source (rule | manual), detail."""
    parts = [
        behaviour_tags(profile, rules),
        channel_tags(events, rules),
        location_tags(members, groups, rules),
        interest_tags(events, rules),
        manual_tags(manual),
    ]
    if items is not None:
        parts.append(category_tags(events, items, rules))
    tags = pd.concat([p for p in parts if len(p)], ignore_index=True)
    tags = tags.dropna(subset=[Col.USER_ID, Col.TAG])
    tags = tags.drop_duplicates(subset=[Col.USER_ID, Col.TAG, Col.SOURCE])
    return tags.sort_values([Col.USER_ID, Col.SOURCE, Col.TAG]).reset_index(drop=True)[TAG_COLUMNS]


def resolve_constraints(
    tags: pd.DataFrame, items: pd.DataFrame, rules: dict[str, Any]
) -> pd.DataFrame:
    """Every (user_id, item_id, tag) pair that a hard constraint forbids."""
    cfg = rules.get("constraints", {})
    prefixes = cfg.get("prefixes", ["allergy:", "avoid:"])
    synonyms = {k.lower(): v for k, v in cfg.get("synonyms", {}).items()}
    ctags = constraint_tags(tags, prefixes)
    parts = []
    for subject, who in ctags.groupby(SUBJECT):
        forbidden = items.loc[items_matching(items, str(subject), synonyms), [Col.ITEM_ID]]
        if len(forbidden):
            parts.append(who[[Col.USER_ID, Col.TAG]].merge(forbidden, how="cross"))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in CONSTRAINT_COLUMNS})
    out = pd.concat(parts, ignore_index=True)[CONSTRAINT_COLUMNS]
    return out.drop_duplicates().sort_values(CONSTRAINT_COLUMNS).reset_index(drop=True)


SUBJECT = "subject"


def constraint_tags(tags: pd.DataFrame, prefixes: list[str]) -> pd.DataFrame:
    """Tags that are hard constraints, with their subject X (lower case)."""
    tag = tags[Col.TAG].astype("string")
    hit = pd.Series(False, index=tags.index)
    for p in prefixes:
        hit |= tag.str.startswith(p)
    out = tags.loc[hit, [Col.USER_ID, Col.TAG]].drop_duplicates()
    out[SUBJECT] = out[Col.TAG].str.split(":", n=1).str[1].str.strip().str.lower()
    return out[out[SUBJECT].fillna("") != ""].reset_index(drop=True)


def items_matching(items: pd.DataFrame, subject: str, synonyms: dict[str, list[str]]) -> pd.Series:
    """Mask of items that hold `subject`: attribute contains:X, or X (or a synonym) in name/category."""
    words = [subject, *synonyms.get(subject, [])]
    pattern = "|".join(re.escape(w) for w in words if w)
    mask = pd.Series(False, index=items.index)
    if Col.ATTRIBUTES in items.columns:
        attrs = LIST_SEP + items[Col.ATTRIBUTES].fillna("").astype("string").str.lower() + LIST_SEP
        mask |= attrs.str.contains(
            f"{LIST_SEP}{re.escape(CONTAINS_PREFIX + subject)}{LIST_SEP}", regex=True
        )
    for col in (Col.NAME, Col.CATEGORY):  # as SCHEMA.md says: attributes, name or category
        if col in items.columns:
            mask |= (
                items[col].fillna("").astype("string").str.lower().str.contains(pattern, regex=True)
            )
    return mask.fillna(False).astype(bool)
