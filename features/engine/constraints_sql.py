"""Hard constraints in the engine: `allergy:X` / `avoid:X` tags -> the (user, item) pairs never to recommend.

The definition is that of :func:`features.constraints.resolve_constraints`. Input tables:
`tags_t` (:mod:`features.engine.tags_sql`) and `items_c`; output: `constraints_t`
(user_id, item_id, tag). The subject X is the tag after its first `:`, stripped and lower
case; an item holds X when its `;`-separated attributes list `contains:X`, or its lower-case
name or category contains X or one of X's synonyms from the rules (a literal substring:
regex characters in a synonym are plain characters).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.constraints import CONSTRAINT_COLUMNS
from features.engine.base import Engine
from features.engine.sql_text import lit, strip
from features.schema import CONTAINS_PREFIX, LIST_SEP, Col

CONSTRAINTS = "constraints_t"
DEFAULT_PREFIXES = ["allergy:", "avoid:"]


def synonym_table(rules: dict[str, Any]) -> pd.DataFrame:
    """subject, word: the synonyms of each subject, both lower case."""
    cfg = rules.get("constraints", {})
    synonyms = {str(k).lower(): v for k, v in cfg.get("synonyms", {}).items()}
    pairs = [(s, str(w).lower()) for s, words in synonyms.items() for w in words if w]
    return pd.DataFrame(
        {
            "subject": pd.Series([s for s, _ in pairs], dtype="string"),
            "word": pd.Series([w for _, w in pairs], dtype="string"),
        }
    )


def resolve_constraints(engine: Engine, rules: dict[str, Any]) -> None:
    """Table `constraints_t` from `tags_t` and `items_c`."""
    cfg = rules.get("constraints", {})
    prefixes = cfg.get("prefixes", DEFAULT_PREFIXES)
    starts = " OR ".join(f"starts_with(tag, {lit(p)})" for p in prefixes) or "FALSE"
    engine.put("cn_syn", synonym_table(rules))
    engine.create(
        "cn_tags",
        f"""
        SELECT DISTINCT user_id, tag, subject
        FROM (SELECT user_id, tag,
                     CASE WHEN strpos(tag, ':') > 0
                          THEN lower({strip("substr(tag, strpos(tag, ':') + 1)")}) END AS subject
              FROM tags_t WHERE {starts}) t
        WHERE subject IS NOT NULL AND subject <> ''
        """,
        keep=True,
    )
    sep = lit(LIST_SEP)
    engine.create(
        "cn_items",
        f"""
        WITH s AS (SELECT DISTINCT subject FROM cn_tags),
        w AS (
            SELECT subject, subject AS word FROM s
            UNION SELECT s.subject, y.word FROM s JOIN cn_syn y ON y.subject = s.subject
        )
        SELECT w.subject, i.item_id FROM w JOIN items_c i
            ON strpos(lower(coalesce(i.name, '')), w.word) > 0
            OR strpos(lower(coalesce(i.category, '')), w.word) > 0
        UNION
        SELECT s.subject, i.item_id FROM s JOIN items_c i
            ON strpos({sep} || lower(coalesce(i.attributes, '')) || {sep},
                      {sep} || {lit(CONTAINS_PREFIX)} || s.subject || {sep}) > 0
        """,
        keep=True,
    )
    engine.create(
        CONSTRAINTS,
        """
        SELECT DISTINCT c.user_id, m.item_id, c.tag
        FROM cn_tags c JOIN cn_items m ON m.subject = c.subject
        """,
        keep=True,
    )


def fetch_constraints(engine: Engine) -> pd.DataFrame:
    """`constraints_t` as :func:`features.constraints.resolve_constraints` returns it, sorted."""
    t = engine.fetch(
        f"SELECT user_id, item_id, tag FROM {CONSTRAINTS} ORDER BY user_id, item_id, tag"
    )
    if t.empty:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in CONSTRAINT_COLUMNS})
    return pd.DataFrame(
        {
            Col.USER_ID: t["user_id"].astype("str"),
            Col.ITEM_ID: t["item_id"].astype("string"),
            Col.TAG: t["tag"].astype("str"),
        }
    )
