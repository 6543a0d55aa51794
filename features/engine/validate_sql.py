"""Row validation against SCHEMA.md as SQL: a raw table -> clean rows and rejects with reasons.

Written once in DuckDB's dialect and run by DuckDB or Spark (:func:`features.engine.base.render`).
A row gets the reason of the first rule it breaks, in this order: missing required field (the
spec's required columns in order), then per spec column in order: unknown enum value,
unparseable timestamp, unparseable number, negative number; then a field required for the
row's event_type; then a key repeated among otherwise valid rows (the first, smallest `_row`,
is kept). Strings are trimmed (Python's whitespace, as ``str.strip``) and blank is missing.

:func:`checked_sql` is the one SELECT over the raw table computing every value and reason;
its result is held (`<clean>_checked`). The rows to reject (`<clean>_bad`) are those with a
reason and the repeats of a key among the others (found by grouping on the key); the clean
table is a view of the held rows without them, and the rejects join the raw table with them.
Whitespace is trimmed by a regex only where a value's first or last character may be whitespace,
and a typed column's text is built only for the reason of a rejected row; typed numbers and
timestamps are not parsed. Timestamps: :mod:`features.engine.timestamps_sql`.
"""

from __future__ import annotations

from features.engine.base import ROW, Engine
from features.engine.sql_text import (
    SPACE,
    lit,
    may_have_space_at_edge,
    may_start_with_space,
    quote,
    strip,
)
from features.engine.timestamps_sql import (
    TS_EXPECTED,
    text_stage1,
    text_stage1b,
    text_stage2,
    text_us,
    typed_us,
)
from features.errors import LinliInputError
from features.schema import Col, ColumnSpec, TableSpec

SHOWN_CHARS = 60
NUMBER_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
MAX_DOUBLE = "1.7976931348623157e308"


class MissingColumns(LinliInputError):
    """A required column is absent from the raw table."""


def as_text(col: str, kind: str) -> str:
    """A raw column of engine type `kind` as text, untrimmed (NaN and NULL are NULL)."""
    if kind == "string":
        return col
    if kind == "number":  # infinities spelled as pandas (and DuckDB) do, not as Spark
        d = f"CAST({col} AS DOUBLE)"
        return (
            f"CASE WHEN isnan({d}) THEN NULL WHEN {d} > {MAX_DOUBLE} THEN 'inf' "
            f"WHEN {d} < -{MAX_DOUBLE} THEN '-inf' ELSE CAST({col} AS VARCHAR) END"
        )
    if kind == "timestamptz":  # the UTC wall time (both engines run in UTC), marked as UTC
        return f"CAST(CAST({col} AS TIMESTAMP) AS VARCHAR) || '+00:00'"
    return f"CAST({col} AS VARCHAR)"


def clean_text(text: str) -> str:
    """Trimmed text, blank -> NULL; the regex runs only on text whose first or last character
    may be whitespace (comparisons of the edges cost far less than a regex on every value)."""
    return (
        f"CASE WHEN {text} = '' THEN NULL WHEN {may_have_space_at_edge(text)} "
        f"THEN nullif({strip(text)}, '') ELSE {text} END"
    )


def blank(text: str) -> str:
    """True where `text` is NULL, empty or only whitespace (no regex unless it may start with
    whitespace)."""
    return (
        f"({text} IS NULL OR {text} = '' OR ({may_start_with_space(text)} "
        f"AND regexp_matches({text}, '^{SPACE}+$')))"
    )


def _shown(v: str) -> str:
    return f"substr({v}, 1, {SHOWN_CHARS})"


def _typed_number(col: str) -> str:
    """A typed number, NULL where NaN (missing) or infinite (unparseable, as its text shows)."""
    v = f"CAST({col} AS DOUBLE)"
    return f"CASE WHEN abs({v}) <= {MAX_DOUBLE} THEN {v} END"


def _text_number(v: str) -> str:
    n = f"CASE WHEN regexp_matches({v}, '{NUMBER_RE}') THEN TRY_CAST({v} AS DOUBLE) END"
    return f"CASE WHEN abs({n}) <= {MAX_DOUBLE} THEN {n} END"


def _typed(cs: ColumnSpec, kind: str) -> bool:
    """Whether a number or timestamp column comes typed, needing no text parsing."""
    if cs.kind == "timestamp":
        return kind in ("timestamp", "timestamptz", "number")
    return cs.kind == "number" and kind == "number"


class _Plan:
    """The select items of each stage of the one-pass query, column by column.

    Per spec column i: `_v<i>` its trimmed text, `_u<i>` its parsed value (numbers and
    timestamps). A typed column keeps its value `_r<i>`; its text is only built for the
    reason of a rejected row (inside the CASE branch, so not for every row).
    """

    def __init__(self, spec: TableSpec, types: dict[str, str]) -> None:
        self.spec, self.types = spec, types
        self.first: list[str] = []  # from raw: values as text / typed
        self.ts1: list[str] = []  # text timestamps: regex parts
        self.ts1b: list[str] = []  # ... year, month, day
        self.ts2: list[str] = []  # ... local microseconds, offset
        self.final: list[str] = []  # parsed values _u<i> from text
        self.checks: list[str] = [f"CASE WHEN {self.missing(c)} THEN {lit(f'missing required field: {c}')} END"
                                  for c in spec.required_columns]  # fmt: skip
        for i, cs in enumerate(spec.columns):
            if cs.name in types:
                self._column(i, cs, quote(cs.name), types[cs.name])
        self._required_when()

    def _index(self, name: str) -> tuple[int, ColumnSpec, str]:
        i = self.spec.column_names.index(name)
        return i, self.spec.columns[i], self.types[name]

    def v(self, name: str) -> str:
        """The trimmed text of spec column `name` (NULL when the raw table lacks it)."""
        if name not in self.types:
            return "CAST(NULL AS VARCHAR)"
        i, cs, kind = self._index(name)
        return clean_text(as_text(f"_r{i}", kind)) if _typed(cs, kind) else f"_v{i}"

    def missing(self, name: str) -> str:
        """True where spec column `name` is missing (absent, NULL, blank, NaN)."""
        if name not in self.types:
            return "TRUE"
        i, cs, kind = self._index(name)
        if not _typed(cs, kind):  # blank, tested without trimming every value
            return blank(as_text(f"_r{i}", kind))
        if kind == "number":
            return f"(_r{i} IS NULL OR isnan(CAST(_r{i} AS DOUBLE)))"
        return f"_r{i} IS NULL"

    def _column(self, i: int, cs: ColumnSpec, col: str, kind: str) -> None:
        self.first.append(f"{col} AS _r{i}")
        if _typed(cs, kind):
            parsed = typed_us(col, kind) if cs.kind == "timestamp" else _typed_number(col)
            self.first.append(f"{parsed} AS _u{i}")
        else:
            self.first.append(f"{clean_text(as_text(col, kind))} AS _v{i}")
        v, present = self.v(cs.name), f"NOT {self.missing(cs.name)}"
        if cs.kind == "enum" and cs.enum is not None:
            allowed = ", ".join(lit(e) for e in cs.enum)
            self.checks.append(
                f"CASE WHEN {v} NOT IN ({allowed}) "
                f"THEN {lit(f'unknown {cs.name}: ')} || {_shown(v)} END"
            )
        elif cs.kind == "timestamp":
            if not _typed(cs, kind):
                p = f"_p{i}"
                self.ts1 += text_stage1(v, p)
                self.ts1b += text_stage1b(p)
                self.ts2 += text_stage2(v, p)
                self.final.append(f"{text_us(p)} AS _u{i}")
            self.checks.append(
                f"CASE WHEN {present} AND _u{i} IS NULL THEN "
                f"{lit(f'unparseable timestamp in {cs.name}: ')} || {_shown(v)} "
                f"|| {lit(f' ({TS_EXPECTED})')} END"
            )
        elif cs.kind == "number":
            if not _typed(cs, kind):
                self.final.append(f"{_text_number(v)} AS _u{i}")
            self.checks.append(
                f"CASE WHEN {present} AND _u{i} IS NULL THEN "
                f"{lit(f'unparseable number in {cs.name}: ')} || {_shown(v)} END"
            )
            if cs.nonnegative:
                self.checks.append(
                    f"CASE WHEN _u{i} < 0 THEN {lit(f'negative {cs.name}: ')} || {_shown(v)} END"
                )

    def _required_when(self) -> None:
        etype = self.v(Col.EVENT_TYPE)
        if Col.EVENT_TYPE not in self.types:
            return
        for col, types in self.spec.required_when.items():
            needs = ", ".join(lit(t) for t in sorted(types))
            self.checks.append(
                f"CASE WHEN {etype} IN ({needs}) AND {self.missing(col)} "
                f"THEN {lit(f'missing required field: {col} for ')} || {_shown(etype)} END"
            )

    def out_column(self, i: int, cs: ColumnSpec) -> str:
        """The clean value of spec column `cs` (typed; NULL of its type when absent)."""
        present = cs.name in self.types
        if cs.kind == "timestamp":
            return f"{f'_u{i}' if present else 'CAST(NULL AS BIGINT)'} AS {quote(cs.name + '_us')}"
        if cs.kind == "number":
            return f"{f'_u{i}' if present else 'CAST(NULL AS DOUBLE)'} AS {quote(cs.name)}"
        return f"{self.v(cs.name)} AS {quote(cs.name)}"


def _stage(items: list[str], inner: str, alias: str) -> str:
    return f"SELECT *, {', '.join(items)} FROM ({inner}) {alias}" if items else inner


def repeated_reason(spec: TableSpec) -> str:
    return f"repeated {'/'.join(spec.key)}: same record as an earlier row, kept once"


def checked_sql(
    spec: TableSpec, raw: str, types: dict[str, str]
) -> tuple[str, list[str], list[str]]:
    """The one-pass SELECT over `raw`: `_row`, the clean columns, the keys and the reason
    `_reason` (before the key dedupe); the clean columns' names and the keys' names."""
    plan = _Plan(spec, types)
    extras = [c for c in types if c not in spec.column_names]
    first = [ROW, *plan.first, *(f"{clean_text(as_text(quote(c), types[c]))} AS _x{j}"
                                 for j, c in enumerate(extras))]  # fmt: skip
    q = f"SELECT {', '.join(first)} FROM {raw}"
    q = _stage(plan.ts1, q, "_a")
    q = _stage(plan.ts1b, q, "_b")
    q = _stage(plan.ts2, q, "_c")
    q = _stage(plan.final, q, "_d")
    outs = [plan.out_column(i, cs) for i, cs in enumerate(spec.columns)]
    outs += [f"_x{j} AS {quote(c)}" for j, c in enumerate(extras)]
    names = [o.split(" AS ")[-1] for o in outs]
    keys, key_names = [], []
    for j, k in enumerate(spec.key):  # a text column is its own key; others key by their text
        if spec.columns[spec.column_names.index(k)].kind in ("string", "enum"):
            key_names.append(quote(k))
        else:
            keys.append(f"{plan.v(k)} AS _k{j}")
            key_names.append(f"_k{j}")
    reason = f"coalesce({', '.join(plan.checks)})" if plan.checks else "CAST(NULL AS VARCHAR)"
    sql = f"SELECT {', '.join([ROW, *outs, *keys])}, {reason} AS _reason FROM ({q}) _e"
    return sql, names, key_names


def validate_table(engine: Engine, spec: TableSpec, raw: str, clean: str, rejects: str) -> None:
    """Tables `clean` and `rejects` from the raw table `raw` (see the module docstring).

    `raw` holds `_row` and the file's columns; `clean` gets `_row`, every spec column (a
    timestamp as `<name>_us`), then the extra columns as text; `rejects` gets `_row`, the
    raw columns as text (untrimmed) and `reason`.

    One pass over `raw` computes every value and reason (`<clean>_checked`, held); the rows
    to reject, `<clean>_bad`, are those with a reason and the repeats of a key among the
    others; `clean` is a view of the held rows without them, and `rejects` the raw rows with
    them.
    """
    types = {c: k for c, k in engine.column_types(raw).items() if c != ROW}
    missing = [c for c in spec.required_columns if c not in types]
    if missing:
        raise MissingColumns(
            f"table {spec.name!r}: required column(s) missing: {', '.join(missing)}",
            column=missing[0],
            hint="add the column (see SCHEMA.md)",
        )
    sql, names, keys = checked_sql(spec, raw, types)
    checked, bad = f"{clean}_checked", f"{clean}_bad"
    engine.create(checked, sql, keep=True)
    bad_rows = f"SELECT {ROW}, _reason AS reason FROM {checked} WHERE _reason IS NOT NULL"
    if keys:  # of the valid rows sharing a key, the first (smallest `_row`) is kept
        on = " AND ".join(f"c.{k} IS NOT DISTINCT FROM f.{k}" for k in keys)
        bad_rows += f"""
            UNION ALL
            SELECT c.{ROW}, {lit(repeated_reason(spec))} AS reason
            FROM {checked} c
            JOIN (SELECT {", ".join(keys)}, min({ROW}) AS _first FROM {checked}
                  WHERE _reason IS NULL GROUP BY {", ".join(keys)} HAVING count(*) > 1) f
                ON {on}
            WHERE c._reason IS NULL AND c.{ROW} > f._first
        """
    engine.create(bad, bad_rows, keep=True)
    cols = ", ".join(f"c.{n}" for n in names)
    engine.view(
        clean,
        f"SELECT c.{ROW}, {cols} FROM {checked} c "
        f"LEFT JOIN {bad} b ON b.{ROW} = c.{ROW} WHERE b.{ROW} IS NULL",
    )
    raw_cols = [c for c in types if c != Col.REASON]
    texts = [f"{as_text('r.' + quote(c), types[c])} AS {quote(c)}" for c in raw_cols]
    engine.create(
        rejects,
        f"SELECT r.{ROW}, {', '.join(texts)}, b.reason FROM {raw} r "
        f"JOIN {bad} b ON b.{ROW} = r.{ROW}",
        keep=True,
    )


def validation_counts(engine: Engine, clean: str, rejects: str) -> dict[str, int]:
    """Rows read, kept and rejected, and rejects per reason kind (text before the first ':')."""
    kept, rejected = engine.count(clean), engine.count(rejects)
    kinds = engine.fetch(
        f"SELECT split_part(reason, ':', 1) AS kind, count(*) AS n FROM {rejects} GROUP BY 1"
    )
    per = {str(k): int(n) for k, n in zip(kinds["kind"], kinds["n"], strict=True)}
    return {
        "read": kept + rejected,
        "kept": kept,
        "rejected": rejected,
        **{f"rejected[{k}]": per[k] for k in sorted(per)},
    }
