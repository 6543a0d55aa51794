"""Value tiers and every tag of every user, as SQL in the engine.

The definitions are those of :mod:`features.tags` (`value_tiers`, `build_tags`), written once
in DuckDB's dialect and transpiled for Spark. Input tables (see the engine contract):
`profile` (:func:`features.engine.profiles_sql.profile_sql`), `ev_u`, `items_c`,
`members_u`, `groups_c`, `manual_u`. Output tables:

- `tiers_t` (user_id, tag, detail, rfm_score): the value tier of every profiled user;
- `tags_t` (user_id, tag, source, detail): tier, frequency, AOV, channel, group, compound,
  interest (:mod:`features.engine.interest_sql`), manual and category tags, one row per
  (user_id, tag, source), unsorted (:func:`fetch_tags` sorts).

Ties are broken as pandas breaks them: RFM quintiles rank ties by their average rank;
a user's categories of equal share keep category order; the first channel is the earliest
event's, then the smallest `_row`; of two rows with one (user_id, tag, source) the one
pandas concatenates first wins (tier, frequency, AOV, channel, group, compound, interest,
manual, category; manual tags by `_row`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.engine.base import Engine
from features.engine.interest_sql import INTEREST, build_interest
from features.engine.sql_text import buy_types, lit, num, round_half_even, strip
from features.schema import Col
from features.tags import DETAIL, MANUAL, RULE, TAG_COLUMNS

TIERS, TAGS = "tiers_t", "tags_t"
TIER_COLUMNS = [Col.USER_ID, Col.TAG, DETAIL, "rfm_score"]


# ---- value tiers -------------------------------------------------------------------------


def _quintile(col: str, descending: bool = False) -> str:
    """ceil(pandas rank(pct=True, method="average") * 5) clipped to 1..5, over non-null `col`.

    The average rank of a tie is the mean of its first rank (rank()) and its last (the rows
    up to and including its peers: count() over the same order); a half-integer, exact in
    DOUBLE like pandas' sum of ranks / ties. Divided by the count, times 5, as pandas does.
    """
    order = f"ORDER BY {col} DESC NULLS LAST" if descending else f"ORDER BY {col} NULLS LAST"
    avg_rank = f"(CAST(rank() OVER ({order}) + count({col}) OVER ({order}) AS DOUBLE) / 2.0e0)"
    pct = f"{avg_rank} / CAST(count({col}) OVER () AS DOUBLE)"
    return (
        f"CASE WHEN {col} IS NOT NULL THEN least(greatest(ceil({pct} * 5.0e0), 1.0e0), 5.0e0) END"
    )


def tiers_sql(rules: dict[str, Any]) -> str:
    """Per profiled user: value tier tag, its label (detail) and the RFM score.

    Recency, frequency and monetary are scored 1..5 by quintile over purchasing users (more
    recent is higher); users without orders score 0 and get the lowest tier.
    """
    tiers = sorted(rules["value_tier"]["tiers"], key=lambda t: -t["min_score"])

    def pick(field: str) -> str:
        whens = " ".join(
            f"WHEN p.frequency > 0 AND s.score >= {num(t['min_score'])} THEN {lit(t[field])}"
            for t in tiers
        )
        return f"CASE {whens} ELSE {lit(tiers[-1][field])} END"

    return f"""
        SELECT p.user_id, {pick("tag")} AS tag, {pick("label")} AS detail,
               CASE WHEN p.frequency > 0 THEN s.score ELSE 0.0e0 END AS rfm_score
        FROM profile p
        LEFT JOIN (
            SELECT user_id,
                   {_quintile("recency_days", descending=True)}
                   + {_quintile("frequency")} + {_quintile("monetary")} AS score
            FROM profile WHERE frequency > 0
        ) s ON s.user_id = p.user_id
    """


def build_tiers(engine: Engine, rules: dict[str, Any]) -> None:
    """Table `tiers_t` from `profile` (the semantics of the pandas `value_tiers` it replaced)."""
    engine.create(TIERS, tiers_sql(rules), keep=True)


def fetch_tiers(engine: Engine) -> pd.DataFrame:
    """`tiers_t` by user id: user_id, tag, detail (the tier's label), rfm_score."""
    t = engine.fetch(f"SELECT user_id, tag, detail, rfm_score FROM {TIERS} ORDER BY user_id")
    return pd.DataFrame(
        {
            Col.USER_ID: t["user_id"].astype("string"),
            Col.TAG: t["tag"].astype("string"),
            DETAIL: t["detail"].astype("string"),
            "rfm_score": t["rfm_score"].astype("float64"),
        }
    )


# ---- rule tags ---------------------------------------------------------------------------


def _aov_quantiles_sql(q_high: float, q_low: float) -> str:
    """One row (hi, lo): the AOV quantiles of users with AOV > 0, as numpy's `linear` method.

    numpy: virtual index x = (n - 1) * q; a, b the sorted values at floor(x) and floor(x) + 1
    (both the last at or past the end); g = x - floor(x); a + (b - a) * g when g < 0.5, else
    b - (b - a) * (1 - g). The same arithmetic here, so the same double.
    """

    def k(name: str, q: float) -> str:
        return f"SELECT {lit(name)} AS which, n, CAST(n - 1 AS DOUBLE) * {num(q)} AS x FROM c"

    return f"""
        WITH v AS (
            SELECT aov, row_number() OVER (ORDER BY aov) - 1 AS i
            FROM profile WHERE frequency > 0 AND aov > 0
        ), c AS (SELECT count(*) AS n FROM v),
        k AS (
            SELECT which, x - floor(x) AS g,
                   CASE WHEN x >= n - 1 THEN n - 1 ELSE CAST(floor(x) AS BIGINT) END AS lo_i,
                   CASE WHEN x >= n - 1 THEN n - 1 ELSE CAST(floor(x) AS BIGINT) + 1 END AS hi_i
            FROM ({k("hi", q_high)} UNION ALL {k("lo", q_low)}) x
        ), ab AS (
            SELECT k.which, k.g, max(CASE WHEN v.i = k.lo_i THEN v.aov END) AS a,
                   max(CASE WHEN v.i = k.hi_i THEN v.aov END) AS b
            FROM k JOIN v ON v.i = k.lo_i OR v.i = k.hi_i
            GROUP BY k.which, k.g
        ), q AS (
            SELECT which,
                   CASE WHEN g >= 0.5e0 THEN b - (b - a) * (1.0e0 - g) ELSE a + (b - a) * g END AS q
            FROM ab
        )
        SELECT max(CASE WHEN which = 'hi' THEN q END) AS hi,
               max(CASE WHEN which = 'lo' THEN q END) AS lo
        FROM q
    """


def _behaviour_sql(rules: dict[str, Any]) -> str:
    """Tier (part 0), frequency high / low (1, 2) and AOV high / low (3, 4) rows."""
    fr, av = rules["frequency"], rules["aov"]
    buyers = "FROM profile p WHERE p.frequency > 0"

    def rule(part: int, cfg: dict[str, Any], cond: str, src: str = buyers) -> str:
        return (
            f"SELECT p.user_id, {lit(cfg['tag'])} AS tag, {lit(cfg['label'])} AS detail, "
            f"{part} AS part, 0 AS ord {src} AND {cond}"
        )

    aov = "FROM profile p CROSS JOIN tg_aov q WHERE p.frequency > 0 AND p.aov > 0"
    return " UNION ALL ".join(
        [
            f"SELECT user_id, tag, detail, 0 AS part, 0 AS ord FROM {TIERS}",
            rule(1, fr["high"], f"p.orders_per_30d >= {num(fr['high']['min_orders_per_30d'])}"),
            rule(2, fr["low"], f"p.orders_per_30d <= {num(fr['low']['max_orders_per_30d'])}"),
            rule(3, av["high"], "p.aov >= q.hi", aov),
            rule(4, av["low"], "p.aov <= q.lo", aov),
        ]
    )


def _channel_sql(rules: dict[str, Any]) -> str:
    """Part 5: the channel of the user's first event with a channel (ts, then _row).

    Two passes (the earliest ts per user, then the smallest _row among the events at it) are
    faster than one arg_min over a (ts, _row) struct.
    """
    prefix = lit(rules["channel"]["tag_prefix"])
    return f"""
        SELECT e.user_id, {prefix} || arg_min(e.channel, e._row) AS tag,
               '' AS detail, 5 AS part, 0 AS ord
        FROM ev_u e
        JOIN (SELECT user_id, min(ts_us) AS ts_us FROM ev_u
              WHERE channel IS NOT NULL AND user_id IS NOT NULL GROUP BY user_id) f
            ON f.user_id = e.user_id AND f.ts_us = e.ts_us
        WHERE e.channel IS NOT NULL
        GROUP BY e.user_id
    """


def _location_sql(rules: dict[str, Any]) -> str:
    """Parts 6, 7: every group of a current member, and the compound of its general groups.

    The compound is capture group 1 of `compound_pattern` searched in the group's name
    (RE2 / Java regex here, Python's `re` in pandas: the default pattern means the same).
    """
    cfg = rules["location"]
    pat = lit(cfg["compound_pattern"])
    return f"""
        SELECT DISTINCT user_id, {lit(cfg["group_prefix"])} || group_id AS tag, '' AS detail,
               6 AS part, 0 AS ord
        FROM members_u WHERE left_at_us IS NULL
        UNION ALL
        SELECT DISTINCT m.user_id, {lit(cfg["compound_prefix"])} || g.compound AS tag,
               '' AS detail, 7 AS part, 0 AS ord
        FROM members_u m
        JOIN (SELECT group_id, regexp_extract(name, {pat}, 1) AS compound
              FROM groups_c
              WHERE coalesce(kind, 'general') = 'general' AND regexp_matches(name, {pat})
        ) g ON g.group_id = m.group_id
        WHERE m.left_at_us IS NULL
    """


def _category_sql(rules: dict[str, Any]) -> str:
    """Part 10: categories with a large share of the user's purchase lines.

    Share = lines in the category / the user's lines with a category; kept when it reaches
    `min_share` and `min_lines`; at most `max_per_user`, largest share first, equal shares
    in category order (pandas' stable sort of the (user, category)-ordered counts).
    """
    cfg = rules["category_preference"]
    pct = round_half_even("s.share * 100.0e0")
    return f"""
        SELECT s.user_id, {lit(cfg["tag_prefix"])} || s.category AS tag,
               CAST({pct} AS VARCHAR) || '% of purchases' AS detail, 10 AS part, 0 AS ord
        FROM (
            SELECT user_id, category, share,
                   row_number() OVER (PARTITION BY user_id ORDER BY share DESC, category) AS r
            FROM (
                SELECT user_id, category, n,
                       CAST(n AS DOUBLE) / CAST(sum(n) OVER (PARTITION BY user_id) AS DOUBLE)
                           AS share
                FROM (
                    SELECT e.user_id, i.category, count(*) AS n
                    FROM ev_u e JOIN items_c i ON i.item_id = e.item_id
                    WHERE e.event_type IN ({buy_types()}) AND e.user_id IS NOT NULL
                          AND i.category IS NOT NULL
                    GROUP BY e.user_id, i.category
                ) c
            ) t
            WHERE share >= {num(cfg["min_share"])} AND n >= {num(cfg["min_lines"])}
        ) s
        WHERE s.r <= {int(cfg["max_per_user"])}
    """


def _manual_sql(engine: Engine) -> str:
    """Part 9: leader-written tags (trimmed) with the note as detail; of one user's repeated tag
    the first row's note wins (by `_row`; a `manual_u` without `_row` gives any one of them)."""
    cols = engine.columns("manual_u")
    ord_ = "_row" if "_row" in cols else "0"
    return f"""
        SELECT user_id, {strip("tag")} AS tag, coalesce(note, '') AS detail,
               9 AS part, {ord_} AS ord
        FROM manual_u
    """


def _interest_part() -> str:
    return f"SELECT user_id, tag, detail, 8 AS part, 0 AS ord FROM {INTEREST}"


def rule_parts_disjoint(rules: dict[str, Any]) -> bool:
    """Whether no two rule-tag parts can give the same tag (then rule tags need no dedup).

    Tier, frequency and AOV tags are fixed strings; channel, group, compound, interest and
    category tags are a prefix plus a value. Two parts can meet only when they share a fixed
    tag, a fixed tag starts with a prefix, or one prefix starts with another. Within a part
    each row is already one (user, tag): one per profile row, per user, per user and
    interest or category, and the group and compound rows are distinct.
    """
    fr, av = rules["frequency"], rules["aov"]
    fixed = [
        {str(t["tag"]) for t in rules["value_tier"]["tiers"]},
        {str(fr["high"]["tag"])},
        {str(fr["low"]["tag"])},
        {str(av["high"]["tag"])},
        {str(av["low"]["tag"])},
    ]
    prefixes = [
        str(rules["channel"]["tag_prefix"]),
        str(rules["location"]["group_prefix"]),
        str(rules["location"]["compound_prefix"]),
        str(rules["interests"]["tag_prefix"]),
        str(rules["category_preference"]["tag_prefix"]),
    ]
    if sum(len(f) for f in fixed) != len(set().union(*fixed)):
        return False
    if any(t.startswith(p) for f in fixed for t in f for p in prefixes):
        return False
    return not any(
        p.startswith(q) for i, p in enumerate(prefixes) for j, q in enumerate(prefixes) if i != j
    )


def tags_sql(rules: dict[str, Any], manual: str) -> str:
    """Every tag, one row per (user_id, tag, source): the first part's detail wins."""
    rule_parts = [
        _behaviour_sql(rules),
        _channel_sql(rules),
        _location_sql(rules),
        _interest_part(),
        _category_sql(rules),
    ]
    rules_union = " UNION ALL ".join(f"SELECT * FROM ({p}) r{i}" for i, p in enumerate(rule_parts))
    known = "WHERE user_id IS NOT NULL AND tag IS NOT NULL"
    if rule_parts_disjoint(rules):  # the default rules: each rule tag comes from one part
        rule_tags = (
            f"SELECT user_id, tag, {lit(RULE)} AS source, detail FROM ({rules_union}) r {known}"
        )
    else:  # the earliest part's row wins (rule parts have ord 0: the part number decides)
        rule_tags = f"""
            SELECT user_id, tag, {lit(RULE)} AS source, arg_min(detail, part) AS detail
            FROM ({rules_union}) r {known}
            GROUP BY user_id, tag
        """
    return f"""
        {rule_tags}
        UNION ALL
        SELECT user_id, tag, {lit(MANUAL)} AS source, arg_min(detail, ord) AS detail
        FROM ({manual}) m {known}
        GROUP BY user_id, tag
    """


def build_tags(engine: Engine, rules: dict[str, Any]) -> None:
    """Tables `tiers_t` and `tags_t` (the semantics of the pandas `build_tags` they replaced)."""
    build_tiers(engine, rules)
    av = rules["aov"]
    engine.create(
        "tg_aov",
        _aov_quantiles_sql(av["high"]["min_quantile"], av["low"]["max_quantile"]),
        keep=True,
    )
    build_interest(engine, rules)
    engine.create(TAGS, tags_sql(rules, _manual_sql(engine)), keep=True)


def sorted_tags_sql() -> str:
    """`tags_t` in the store's order: by user, source, tag."""
    return f"SELECT user_id, tag, source, detail FROM {TAGS} ORDER BY user_id, source, tag"


def fetch_tags(engine: Engine) -> pd.DataFrame:
    """`tags_t` as the old pandas `build_tags` returned it (tests/tags_oracle.py), sorted."""
    t = engine.fetch(sorted_tags_sql())
    return pd.DataFrame({c: t[c].astype("str") for c in TAG_COLUMNS})
