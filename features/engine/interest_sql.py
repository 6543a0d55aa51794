"""Interest tags in the engine: search, comment and chat text segmented by jieba.

The definition is that of the pandas interest tags it replaced (tests/tags_oracle.py).
Each distinct text goes through jieba once (a vectorised UDF,
:meth:`features.engine.base.Engine.register_tokens`); its keyword hits are joined back to
the events. Input: `ev_u`; output: `interest_t` (user_id, tag, detail), e.g.
`interest:fitness`, "mentioned 减脂、鸡胸肉 (3x)": the first five distinct keywords in the
order the user wrote them (event ts, then `_row`, then place in the text), joined with 、,
and the count of all hits.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.engine.base import Engine
from features.engine.sql_text import lit, num, text_types

INTEREST = "interest_t"
TOKENS_FN = "linli_vocab_tokens"
MAX_WORDS = 5


def vocabulary(keywords: dict[str, list[str]]) -> dict[str, str]:
    """keyword -> interest (a keyword listed under two interests belongs to the later one)."""
    return {w: interest for interest, words in keywords.items() for w in words}


def _text_events(t: str) -> str:
    """Events of `t` whose text is read: search, comment or chat, with a text and a user."""
    return (
        f"{t}.event_type IN ({text_types()}) AND {t}.text IS NOT NULL AND {t}.user_id IS NOT NULL"
    )


def build_interest(engine: Engine, rules: dict[str, Any]) -> None:
    """Table `interest_t` from the text events of `ev_u`."""
    cfg = rules["interests"]
    vocab = vocabulary(cfg["keywords"])
    engine.register_tokens(TOKENS_FN, vocab)
    engine.put(
        "tg_vocab",
        pd.DataFrame(
            {
                "kw": pd.Series(list(vocab), dtype="string"),
                "interest": pd.Series(list(vocab.values()), dtype="string"),
            }
        ),
    )
    texts = _text_events("ev_u")
    # jieba once per distinct text
    engine.create(
        "tg_texts",
        f"SELECT text, {TOKENS_FN}(text) AS toks FROM (SELECT DISTINCT text FROM ev_u WHERE {texts}) d",
        keep=True,
    )
    # per distinct text and keyword: its hits and its first place in the text
    engine.create(
        "tg_text_kw",
        """
        SELECT h.text, v.interest, h.kw, count(*) AS hits, min(h.pos) AS pos
        FROM (SELECT text, kw, array_position(toks, kw) AS pos
              FROM (SELECT text, toks, unnest(toks) AS kw FROM tg_texts) x) h
        JOIN tg_vocab v ON v.kw = h.kw
        GROUP BY h.text, v.interest, h.kw
        """,
        keep=True,
    )
    # per user, interest and keyword: hits and the first mention (ts, _row, place in text);
    # then per user and interest: all hits, the first five keywords by first mention
    first = "struct_pack(t := e.ts_us, r := e._row, p := k.pos)"
    words = "list_sort(list(struct_pack(f := f, w := kw)))"
    engine.create(
        INTEREST,
        f"""
        SELECT user_id, {lit(cfg["tag_prefix"])} || interest AS tag,
               'mentioned '
               || array_to_string(list_transform(array_slice({words}, 1, {MAX_WORDS}),
                                                 lambda x: x.w), '、')
               || ' (' || CAST(CAST(sum(hits) AS BIGINT) AS VARCHAR) || 'x)' AS detail
        FROM (SELECT e.user_id, k.interest, k.kw, sum(k.hits) AS hits, min({first}) AS f
              FROM ev_u e JOIN tg_text_kw k ON k.text = e.text
              WHERE {_text_events("e")}
              GROUP BY e.user_id, k.interest, k.kw) g
        GROUP BY user_id, interest
        HAVING sum(hits) >= {num(cfg["min_mentions"])}
        """,
    )
