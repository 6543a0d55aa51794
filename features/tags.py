"""Customer tags: the rules file, keyword segmentation (jieba) and tag queries.

The tags themselves (value tiers, rule, interest and manual tags) are computed by the feature
job's SQL (:mod:`features.engine.tags_sql`, :mod:`features.engine.interest_sql`), which
reads the rules loaded here and segments text with :func:`keyword_hits`' tokenizer.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from features.schema import Col

RULE, MANUAL = "rule", "manual"
DETAIL = "detail"
TAG_COLUMNS = [Col.USER_ID, Col.TAG, Col.SOURCE, DETAIL]


def load_rules(path: Path | str) -> dict[str, Any]:
    """Read the tag rules file."""
    path = Path(path)
    try:
        rules = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"tag rules file not found: {path}") from exc
    if not isinstance(rules, dict):
        raise ValueError(f"{path}: tag rules must be a mapping")
    return rules


@lru_cache(maxsize=4)
def _tokenizer(words: tuple[str, ...]) -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    for w in words:
        tk.add_word(w, freq=100000)
    return tk


def keyword_hits(texts: pd.Series, keywords: dict[str, list[str]]) -> pd.DataFrame:
    """(row index, interest, keyword) for each keyword token found in each text, via jieba."""
    vocab = {w: interest for interest, words in keywords.items() for w in words}
    tk = _tokenizer(tuple(sorted(vocab)))
    clean = texts.dropna().astype("string")
    codes, uniq = pd.factorize(clean)
    # segmentation runs once per distinct text (a UDF on a distributed engine)
    tokens = [[w for w in tk.lcut(str(t)) if w in vocab] for t in uniq]
    per_text = pd.DataFrame({"code": np.arange(len(uniq)), "kw": tokens}).explode("kw").dropna()
    per_text["interest"] = per_text["kw"].map(vocab)
    rows = pd.DataFrame({"row": clean.index, "code": codes})
    return rows.merge(per_text, on="code")[["row", "interest", "kw"]]


# ---- tag queries -------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class TagQueryError(ValueError):
    """A tag query that does not parse."""


def query_users(tags: pd.DataFrame, expression: str) -> pd.Index:
    """Users matching a tag expression: `interest:fitness AND (tier:gold OR tier:diamond) AND NOT allergy:mango`.

    Operators AND, OR, NOT (any case) and parentheses; NOT binds tighter than AND,
    AND tighter than OR. A term ending in `*` matches every tag with that prefix.
    """
    tokens = _TOKEN.findall(expression)
    if not tokens:
        raise TagQueryError("empty tag query")
    by_tag: dict[str, set[str]] = {
        str(t): set(u) for t, u in tags.groupby(Col.TAG, sort=True)[Col.USER_ID]
    }
    universe = set(tags[Col.USER_ID])
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise TagQueryError(f"tag query ends too early: {expression!r}")
        pos += 1
        return tokens[pos - 1]

    def term(tok: str) -> set[str]:
        if tok.endswith("*"):
            prefix = tok[:-1]
            return set().union(*(u for t, u in by_tag.items() if t.startswith(prefix)))
        return set(by_tag.get(tok, set()))

    def atom() -> set[str]:
        tok = take()
        if tok.upper() == "NOT":
            return universe - atom()
        if tok == "(":
            inner = disjunction()
            if take() != ")":
                raise TagQueryError(f"missing ')' in tag query {expression!r}")
            return inner
        if tok == ")" or tok.upper() in {"AND", "OR"}:
            raise TagQueryError(f"unexpected {tok!r} in tag query {expression!r}")
        return term(tok)

    def conjunction() -> set[str]:
        acc = atom()
        while (p := peek()) is not None and p.upper() == "AND":
            take()
            acc &= atom()
        return acc

    def disjunction() -> set[str]:
        acc = conjunction()
        while (p := peek()) is not None and p.upper() == "OR":
            take()
            acc |= conjunction()
        return acc

    result = disjunction()
    if pos != len(tokens):
        raise TagQueryError(f"unexpected {tokens[pos]!r} in tag query {expression!r}")
    return pd.Index(sorted(result), name=Col.USER_ID)
