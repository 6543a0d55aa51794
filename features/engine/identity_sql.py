"""Identity resolution in the engine: identifiers -> nodes, links -> edges, connected components.

The components come from iterative min-label propagation (each node takes the smallest label
among itself and its neighbours, then the label of its label) repeated until no label changes;
every step is one SQL statement over the whole graph. The rules are those of
:mod:`features.identity`: WeCom id preferred, earliest seen next; ids stable across rebuilds
(the previous identity table chains every old identifier to its user id); the older id survives
a merge, and the merge is recorded; an identifier whose links would join more than
`max_people_per_identifier` people is not merged through.

Input tables (registered by the caller): `ev` (id_type, id_value, ts_us, referrer),
`extra_ids` (id_type, id_value, ts_us), `extra_refs` (referrer: `type:value` of group leaders), `links` (id_type_a, id_value_a, id_type_b, id_value_b,
ts_us), `prev` (id_type, id_value, user_id, first_seen_us). Output tables: `ident`
(id_type, id_value, user_id, first_seen_us, k), `merges_t`, `suspicious_t`.
"""

from __future__ import annotations

import logging

from features.engine.base import Engine
from features.schema import ID_TYPE_PREFERENCE, IdType

log = logging.getLogger(__name__)

MAX_ITERATIONS = 200
MERGE_REASON = "identity link joined two known people; the older id survives"


def key_sql(t: str, v: str) -> str:
    """SQL for the `type:value` key of an identifier (phones as their 11 national digits)."""
    tt = f"lower(trim({t}))"
    digits = f"regexp_replace(trim({v}), '[^0-9]', '', 'g')"
    national = (
        f"CASE WHEN regexp_matches({digits}, '^(0086|86)1[0-9]{{10}}$') "
        f"THEN regexp_replace({digits}, '^(0086|86)', '') ELSE {digits} END"
    )
    phone = f"CASE WHEN {national} = '' THEN trim({v}) ELSE {national} END"
    return f"{tt} || ':' || CASE WHEN {tt} = '{IdType.PHONE.value}' THEN {phone} ELSE trim({v}) END"


def ref_type_sql(ref: str) -> str:
    """The type part of a `type:value` reference."""
    return f"CASE WHEN strpos({ref}, ':') > 0 THEN substr({ref}, 1, strpos({ref}, ':') - 1) ELSE {ref} END"


def ref_value_sql(ref: str) -> str:
    """The value part of a `type:value` reference (missing without a colon)."""
    return f"CASE WHEN strpos({ref}, ':') > 0 THEN substr({ref}, strpos({ref}, ':') + 1) END"


def _type_rank_sql(key: str) -> str:
    whens = " ".join(
        f"WHEN '{t.value if isinstance(t, IdType) else t}' THEN {i}"
        for i, t in enumerate(ID_TYPE_PREFERENCE)
    )
    return f"CASE split_part({key}, ':', 1) {whens} ELSE {len(ID_TYPE_PREFERENCE)} END"


def _nodes(engine: Engine) -> None:
    ref_k = key_sql(ref_type_sql("referrer"), ref_value_sql("referrer"))
    engine.create(
        "id_seen",
        f"""
        SELECT {key_sql("id_type", "id_value")} AS k, fs
            FROM (SELECT id_type, id_value, min(ts_us) AS fs FROM ev GROUP BY id_type, id_value) p
        UNION ALL SELECT {ref_k} AS k, CAST(NULL AS BIGINT) AS fs
            FROM (SELECT DISTINCT referrer FROM ev WHERE referrer IS NOT NULL) r
        UNION ALL SELECT {ref_k} AS k, CAST(NULL AS BIGINT) AS fs FROM extra_refs
            WHERE referrer IS NOT NULL
        UNION ALL SELECT {key_sql("id_type", "id_value")} AS k, ts_us AS fs FROM extra_ids
        UNION ALL SELECT {key_sql("id_type_a", "id_value_a")} AS k, ts_us AS fs FROM links
        UNION ALL SELECT {key_sql("id_type_b", "id_value_b")} AS k, ts_us AS fs FROM links
        UNION ALL SELECT {key_sql("id_type", "id_value")} AS k, first_seen_us AS fs FROM prev
        UNION ALL SELECT user_id AS k, CAST(NULL AS BIGINT) AS fs FROM prev
        """,
    )
    engine.create(
        "id_nodes",
        """
        SELECT k, fs, row_number() OVER (ORDER BY k) - 1 AS n
        FROM (SELECT k, min(fs) AS fs FROM id_seen WHERE k IS NOT NULL GROUP BY k) s
        """,
        keep=True,
    )


def _edges(engine: Engine) -> None:
    """`link_e` (a, b): identity links as node pairs; `prev_e`: old identifier -> its user id."""
    engine.create(
        "link_e",
        f"""
        SELECT na.n AS a, nb.n AS b
        FROM links l
        JOIN id_nodes na ON na.k = {key_sql("l.id_type_a", "l.id_value_a")}
        JOIN id_nodes nb ON nb.k = {key_sql("l.id_type_b", "l.id_value_b")}
        """,
    )
    engine.create(
        "prev_e",
        f"""
        SELECT na.n AS a, nb.n AS b
        FROM prev p
        JOIN id_nodes na ON na.k = {key_sql("p.id_type", "p.id_value")}
        JOIN id_nodes nb ON nb.k = p.user_id
        """,
    )


def components(engine: Engine, edges: str, out: str) -> int:
    """Table `out` (n, comp): the smallest node number of each node's component; returns rounds.

    `edges` is a table of (a, b) node pairs; nodes without edges are their own component.
    """
    engine.create(
        "cc_e", f"SELECT a, b FROM {edges} UNION SELECT b AS a, a AS b FROM {edges}", keep=True
    )
    engine.create("cc_l", "SELECT DISTINCT a AS n, a AS l FROM cc_e", keep=True)
    rounds, changed = 0, 1
    while changed:
        rounds += 1
        if rounds > MAX_ITERATIONS:
            raise RuntimeError(f"connected components did not settle in {MAX_ITERATIONS} rounds")
        engine.create(
            "cc_m",
            """
            SELECT c.n, least(c.l, coalesce(m.l, c.l)) AS l
            FROM cc_l c
            LEFT JOIN (SELECT e.a AS n, min(x.l) AS l FROM cc_e e JOIN cc_l x ON x.n = e.b
                       GROUP BY e.a) m ON m.n = c.n
            """,
        )
        # pointer jumping: a node's label becomes its label's label
        engine.create(
            "cc_j",
            "SELECT m.n, least(m.l, coalesce(p.l, m.l)) AS l FROM cc_m m LEFT JOIN cc_m p ON p.n = m.l",
            keep=True,
        )
        changed = engine.scalar(  # type: ignore[assignment]
            "SELECT count(*) AS c FROM cc_j j JOIN cc_l c ON c.n = j.n WHERE j.l <> c.l"
        )
        engine.create("cc_l", "SELECT n, l FROM cc_j")
    engine.create(
        out,
        "SELECT v.n, coalesce(c.l, v.n) AS comp FROM id_nodes v LEFT JOIN cc_l c ON c.n = v.n",
    )
    return rounds


def _guard_shared(engine: Engine, cap: int | None) -> None:
    """Drop the links of identifiers that would join more than `cap` people (`suspicious_t`)."""
    reason = (
        f"shared identifier: its links would join more than {cap} people; not merged"
        if cap is not None
        else ""
    )
    engine.create(
        "suspicious_t",
        "SELECT CAST(NULL AS VARCHAR) AS id_key, CAST(NULL AS BIGINT) AS people, "
        "CAST(NULL AS BIGINT) AS links, CAST(NULL AS VARCHAR) AS reason WHERE 1 = 0",
    )
    engine.create("edges_kept", "SELECT a, b FROM link_e")
    if cap is None or not engine.count("link_e"):
        return
    engine.create(
        "lp",
        "SELECT DISTINCT a, b FROM (SELECT a, b FROM link_e UNION ALL SELECT b AS a, a AS b "
        "FROM link_e) e WHERE a <> b",
    )
    engine.create("cand", f"SELECT a AS n FROM lp GROUP BY a HAVING count(*) > {int(cap)}")
    if not engine.count("cand"):
        return
    engine.create(
        "free_e",
        "SELECT a, b FROM lp WHERE a NOT IN (SELECT n FROM cand) AND b NOT IN (SELECT n FROM cand)",
    )
    components(engine, "free_e", "free_comp")
    engine.create(
        "shared",
        f"""
        SELECT p.a AS n, count(DISTINCT c.comp) AS people
        FROM lp p JOIN cand x ON x.n = p.a JOIN free_comp c ON c.n = p.b
        GROUP BY p.a HAVING count(DISTINCT c.comp) > {int(cap)}
        """,
    )
    engine.create(
        "suspicious_t",
        f"""
        SELECT v.k AS id_key, s.people, u.links, '{reason}' AS reason
        FROM shared s JOIN id_nodes v ON v.n = s.n
        JOIN (SELECT n, count(*) AS links FROM (SELECT a AS n FROM link_e UNION ALL
              SELECT b AS n FROM link_e) e GROUP BY n) u ON u.n = s.n
        """,
    )
    engine.create(
        "edges_kept",
        "SELECT a, b FROM link_e WHERE a NOT IN (SELECT n FROM shared) "
        "AND b NOT IN (SELECT n FROM shared)",
    )


def _users(engine: Engine) -> None:
    """`comp_user` (comp, user_id): the previous survivor of a component, else its minted id."""
    engine.create(
        "minted",
        f"""
        SELECT comp, k AS user_id FROM (
            SELECT c.comp, v.k, row_number() OVER (
                PARTITION BY c.comp ORDER BY {_type_rank_sql("v.k")}, v.fs NULLS LAST, v.k) AS r
            FROM id_nodes v JOIN id_comp c ON c.n = v.n) s
        WHERE r = 1
        """,
    )
    engine.create(
        "known",
        """
        SELECT k.user_id, k.kf, c.comp FROM
            (SELECT user_id, min(first_seen_us) AS kf FROM prev GROUP BY user_id) k
        JOIN id_nodes v ON v.k = k.user_id JOIN id_comp c ON c.n = v.n
        """,
    )
    engine.create(
        "survivor",
        """
        SELECT comp, user_id, kf FROM (SELECT comp, user_id, kf, row_number() OVER (
            PARTITION BY comp ORDER BY kf NULLS LAST, user_id) AS r FROM known) s
        WHERE r = 1
        """,
    )
    engine.create(
        "merges_t",
        f"""
        SELECT s.user_id AS kept_user_id, k.user_id AS absorbed_user_id,
               k.kf AS first_seen_absorbed_us, s.kf AS first_seen_kept_us,
               '{MERGE_REASON}' AS reason
        FROM known k JOIN survivor s ON s.comp = k.comp
        WHERE k.user_id <> s.user_id
        """,
    )
    engine.create(
        "comp_user",
        """
        SELECT m.comp, coalesce(s.user_id, m.user_id) AS user_id
        FROM minted m LEFT JOIN survivor s ON s.comp = m.comp
        """,
    )


def resolve_identity(engine: Engine, max_people_per_identifier: int | None) -> int:
    """Build `ident`, `merges_t` and `suspicious_t` from the registered inputs; returns rounds."""
    _nodes(engine)
    _edges(engine)
    _guard_shared(engine, max_people_per_identifier)
    engine.create("all_e", "SELECT a, b FROM edges_kept UNION ALL SELECT a, b FROM prev_e")
    rounds = components(engine, "all_e", "id_comp")
    log.info("identity: connected components settled in %d rounds", rounds)
    _users(engine)
    # previous user ids are nodes too, but not identifiers of their own
    engine.create("prev_keys", f"SELECT {key_sql('id_type', 'id_value')} AS k FROM prev")
    engine.create(
        "ident",
        """
        SELECT split_part(v.k, ':', 1) AS id_type,
               substr(v.k, strpos(v.k, ':') + 1) AS id_value,
               u.user_id, v.fs AS first_seen_us, v.k
        FROM id_nodes v JOIN id_comp c ON c.n = v.n JOIN comp_user u ON u.comp = c.comp
        WHERE v.k NOT IN (SELECT user_id FROM prev WHERE user_id IS NOT NULL)
           OR v.k IN (SELECT k FROM prev_keys WHERE k IS NOT NULL)
        """,
        keep=True,
    )
    return rounds
