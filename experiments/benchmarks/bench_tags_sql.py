"""Benchmark: value tiers, every tag and the hard constraints as SQL in DuckDB, on a large log.

`python -m experiments.benchmarks.bench_tags_sql --events work/bench_features/data/events.parquet`
puts the engine tables of the contract in a DuckDB engine (ev_u from the events, user_id =
id_value; profile from profile_sql; items_c from items.parquet beside the events; 400
general groups with every user a member; manual allergy / avoid tags for 0.5 % of users),
then times :func:`features.engine.tags_sql.build_tags`, :func:`resolve_constraints` and
fetching the results to pandas, wall and CPU seconds, a few repeats. `--distinct-texts N`
rewrites the texts into about N distinct ones (jieba runs once per distinct text).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from features.engine import constraints_sql, interest_sql, tags_sql
from features.engine.duck import DuckEngine
from features.engine.profiles_sql import profile_sql
from features.settings import DEFAULT_TAG_RULES
from features.tags import _tokenizer, load_rules


def setup(engine: DuckEngine, events: Path, items: Path, distinct_texts: int) -> dict[str, int]:
    """The contract's tables from an events Parquet file (SCHEMA.md columns)."""
    text = "text"
    if distinct_texts:  # the phrase plus a number: about `distinct_texts` distinct texts
        text = f"CASE WHEN text IS NOT NULL THEN text || '第' || (hash(event_id) % {distinct_texts}) || '号' END"
    con = engine.con
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ev_u AS
        SELECT row_number() OVER () - 1 AS _row, event_id, epoch_us(ts) AS ts_us, event_type,
               id_type, id_value, item_id, quantity, amount, order_id, group_id,
               CAST(NULL AS VARCHAR) AS live_id, {text} AS text, channel,
               CAST(NULL AS VARCHAR) AS referrer, id_value AS user_id,
               CAST(NULL AS VARCHAR) AS referrer_user_id
        FROM read_parquet('{events}')""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE profile AS {profile_sql()}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE items_c AS
        SELECT item_id, name, category, price, CAST(NULL AS VARCHAR) AS subcategory,
               CASE WHEN hash(item_id) % 7 = 0 THEN 'contains:mango;organic'
                    WHEN hash(item_id) % 11 = 0 THEN 'contains:peanut' END AS attributes,
               CAST(NULL AS VARCHAR) AS season, TRUE AS in_catalogue
        FROM read_parquet('{items}')""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE groups_c AS
        SELECT 'G' || g AS group_id, '小区' || (g // 2) || '期' || (g % 2 + 1) || '号群' AS name,
               CAST(NULL AS VARCHAR) AS leader, 'general' AS kind,
               CAST(NULL AS BIGINT) AS created_at_us, CAST(NULL AS VARCHAR) AS leader_user_id
        FROM range(400) t(g)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE members_u AS
        SELECT 'G' || (hash(user_id) % 400) AS group_id, 'x' AS id_type, user_id AS id_value,
               CAST(NULL AS BIGINT) AS joined_at_us,
               CASE WHEN hash(user_id) % 20 = 0 THEN 0 END AS left_at_us, user_id
        FROM profile""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE manual_u AS
        SELECT row_number() OVER () AS _row, 'x' AS id_type, user_id AS id_value,
               ['allergy:mango', 'avoid:seafood', 'allergy:peanut', 'likes:fruit']
                   [CAST(hash(user_id) % 4 AS INT) + 1] AS tag,
               '备注' AS note, 'leader' AS author, CAST(NULL AS BIGINT) AS ts_us, user_id
        FROM profile WHERE hash(user_id) % 200 = 0""")
    tables = ("ev_u", "profile", "items_c", "members_u", "manual_u")
    sizes = {t: engine.count(t) for t in tables}
    sizes["distinct_texts"] = int(engine.scalar("SELECT count(DISTINCT text) FROM ev_u") or 0)  # type: ignore[call-overload]
    return sizes


def _timed(fn: object) -> dict[str, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(time.process_time() - c, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=Path, default=Path("work/bench_features/data/events.parquet"))
    p.add_argument("--items", type=Path, default=None, help="default: items.parquet beside")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--distinct-texts", type=int, default=0)
    args = p.parse_args(argv)
    rules = load_rules(DEFAULT_TAG_RULES)
    engine = DuckEngine(threads=args.threads)
    sizes = setup(
        engine,
        args.events,
        args.items or args.events.with_name("items.parquet"),
        args.distinct_texts,
    )
    print(json.dumps(sizes))
    vocab = interest_sql.vocabulary(rules["interests"]["keywords"])
    print(
        json.dumps(
            {
                "jieba dictionary load (once per process)": _timed(
                    lambda: _tokenizer(tuple(sorted(vocab))).lcut("预热")
                )
            }
        )
    )
    for _ in range(args.repeats):
        steps = {
            "tiers + tags": _timed(lambda: tags_sql.build_tags(engine, rules)),
            "constraints": _timed(lambda: constraints_sql.resolve_constraints(engine, rules)),
        }
        steps["fetch tiers, tags, constraints"] = _timed(
            lambda: (
                tags_sql.fetch_tiers(engine),
                tags_sql.fetch_tags(engine),
                constraints_sql.fetch_constraints(engine),
            )
        )
        rows = {t: engine.count(t) for t in ("tiers_t", "tags_t", "constraints_t")}
        print(json.dumps({"steps": steps, "rows": rows}, ensure_ascii=False))
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
