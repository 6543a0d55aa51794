"""Hard constraints in the engine: `allergy:X` / `avoid:X` tags -> the (user, item) pairs never to recommend.

Input tables:
`tags_t` (:mod:`features.engine.tags_sql`) and `items_c`; output: `constraints_t`
(user_id, item_id, tag). The subject X is the tag after its first `:`, stripped and lower
case; an item holds X when its `;`-separated attributes list `contains:X`, or its lower-case
name or category contains X or one of X's synonyms from the rules (a literal substring:
regex characters in a synonym are plain characters).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.engine.base import Engine
from features.engine.sql_text import lit, strip
from features.schema import CONTAINS_PREFIX, LIST_SEP, Col

CONSTRAINTS = "constraints_t"
CONSTRAINT_COLUMNS = [Col.USER_ID, Col.ITEM_ID, Col.TAG]
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


def subjects_sql(prefixes: list[str], tags: str = "tags_t") -> str:
    """(user_id, tag, subject) of every hard-constraint tag of the table `tags`."""
    starts = " OR ".join(f"starts_with(tag, {lit(p)})" for p in prefixes) or "FALSE"
    return f"""
        SELECT DISTINCT user_id, tag, subject
        FROM (SELECT user_id, tag,
                     CASE WHEN strpos(tag, ':') > 0
                          THEN lower({strip("substr(tag, strpos(tag, ':') + 1)")}) END AS subject
              FROM {tags} WHERE {starts}) t
        WHERE subject IS NOT NULL AND subject <> ''
    """


def subject_items_sql(subjects: str) -> str:
    """(subject, item_id) of every item of `items_c` that holds a subject of table `subjects`.

    `cn_syn` holds the rules' synonyms (:func:`synonym_table`).
    """
    sep = lit(LIST_SEP)
    return f"""
        WITH s AS (SELECT DISTINCT subject FROM {subjects}),
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
    """


def prefixes_of(rules: dict[str, Any]) -> list[str]:
    """The tag prefixes that make a hard constraint (`allergy:`, `avoid:` by default)."""
    return list(rules.get("constraints", {}).get("prefixes", DEFAULT_PREFIXES))


def resolve_constraints(engine: Engine, rules: dict[str, Any]) -> None:
    """Table `constraints_t` from `tags_t` and `items_c`."""
    engine.put("cn_syn", synonym_table(rules))
    engine.create("cn_tags", subjects_sql(prefixes_of(rules)), keep=True)
    engine.create("cn_items", subject_items_sql("cn_tags"), keep=True)
    engine.create(
        CONSTRAINTS,
        """
        SELECT DISTINCT c.user_id, m.item_id, c.tag
        FROM cn_tags c JOIN cn_items m ON m.subject = c.subject
        """,
        keep=True,
    )


def sorted_constraints_sql() -> str:
    """`constraints_t` in the store's order: by user, item, tag."""
    return f"SELECT user_id, item_id, tag FROM {CONSTRAINTS} ORDER BY user_id, item_id, tag"


def fetch_constraints(engine: Engine) -> pd.DataFrame:
    """`constraints_t` sorted by user, item and tag (user_id, item_id, tag)."""
    t = engine.fetch(sorted_constraints_sql())
    if t.empty:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in CONSTRAINT_COLUMNS})
    return pd.DataFrame(
        {
            Col.USER_ID: t["user_id"].astype("str"),
            Col.ITEM_ID: t["item_id"].astype("string"),
            Col.TAG: t["tag"].astype("str"),
        }
    )


class ConstraintMatcher:
    """The constraint SQL over one item catalogue, for tags that arrive one at a time.

    Serving applies a leader's ingested `allergy:X` note at once with the same definition as
    the feature job: :meth:`subjects` reads the constraint tags of a few rows, :meth:`items_of`
    finds the catalogue positions of the items holding a subject (in-process DuckDB).
    """

    def __init__(self, items: pd.DataFrame, rules: dict[str, Any]) -> None:
        from features.engine.duck import DuckEngine

        self.prefixes = prefixes_of(rules)
        self.engine = DuckEngine(threads=1)
        cols = {c: items[c] if c in items.columns else None for c in _ITEM_TEXT}
        self.engine.put(
            "items_c",
            pd.DataFrame(
                {
                    "item_id": pd.Series(range(len(items)), dtype="int64"),  # the position
                    **{
                        c: pd.Series(v, dtype="string")
                        if v is not None
                        else pd.Series(pd.NA, index=range(len(items)), dtype="string")
                        for c, v in cols.items()
                    },
                }
            ),
        )
        self.engine.put("cn_syn", synonym_table(rules))

    def subjects(self, tags: pd.DataFrame) -> pd.DataFrame:
        """(user_id, tag, subject) of the hard-constraint tags among `tags` (user_id, tag)."""
        self.engine.put(
            "cm_tags",
            pd.DataFrame(
                {
                    "user_id": pd.Series(tags[Col.USER_ID].to_numpy(), dtype="string"),
                    "tag": pd.Series(tags[Col.TAG].to_numpy(), dtype="string"),
                }
            ),
        )
        return self.engine.fetch(subjects_sql(self.prefixes, "cm_tags") + " ORDER BY 1, 2")

    def items_of(self, subject: str) -> np.ndarray:
        """Catalogue positions of the items that hold `subject`, ascending."""
        self.engine.put(
            "cm_subject", pd.DataFrame({"subject": pd.Series([subject], dtype="string")})
        )
        found = self.engine.fetch(
            f"SELECT item_id FROM ({subject_items_sql('cm_subject')}) m ORDER BY item_id"
        )
        return found["item_id"].to_numpy(np.int32)


_ITEM_TEXT = ("name", "category", "attributes")
