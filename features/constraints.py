"""Hard constraints: `allergy:X` / `avoid:X` tags resolved to the (user, item) pairs never to recommend."""

from __future__ import annotations

import re

import pandas as pd

from features.schema import CONTAINS_PREFIX, LIST_SEP, Col

SUBJECT = "subject"
CONSTRAINT_COLUMNS = [Col.USER_ID, Col.ITEM_ID, Col.TAG]


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
