"""Small SQL-text helpers shared by the engine's queries (DuckDB dialect): literals, quoted
names, event-type lists, rounding and Python's whitespace."""

from __future__ import annotations

from collections.abc import Iterable

from features.schema import PURCHASE_EVENTS, TEXT_EVENTS


def lit(value: str) -> str:
    """`value` as a SQL string literal (quotes doubled; sqlglot re-escapes it for Spark)."""
    return "'" + value.replace("'", "''") + "'"


def quote(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def num(value: float) -> str:
    """`value` as an exact DOUBLE literal: repr round-trips, and the exponent makes both DuckDB
    and Spark read a DOUBLE (a plain `0.2` is a DECIMAL there)."""
    text = repr(float(value))
    return text if "e" in text else text + "e0"


def in_list(values: Iterable[str]) -> str:
    """`'a', 'b', ...` for an IN clause."""
    return ", ".join(lit(v) for v in sorted(values))


def buy_types() -> str:
    """The purchase event types (order, 接龙) for an IN clause."""
    return in_list(e.value for e in PURCHASE_EVENTS)


def text_types() -> str:
    """The event types whose text is read for interests (search, comment, chat)."""
    return in_list(e.value for e in TEXT_EVENTS)


def round_half_even(x: str) -> str:
    """SQL rounding `x` (a DOUBLE) to a BIGINT like numpy's round: halves go to the even side."""
    f = f"floor({x})"
    return (
        f"CAST(CASE WHEN {x} - {f} > 0.5 THEN {f} + 1 WHEN {x} - {f} < 0.5 THEN {f} "
        f"ELSE {f} + ({f} % 2) END AS BIGINT)"
    )


# what Python's str.strip() removes: every character for which str.isspace() holds, as a
# regex class
SPACE = (
    r"[\x{09}-\x{0d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
    r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
# ... and as half-open ranges of first characters, wide enough to hold every one of them: a
# string starts in a range when it compares between the bounds (UTF-8 byte order, as both
# engines compare strings), which costs far less than decoding a character
SPACE_RANGES = (("", "!"), ("\u0085", "\u00a1"), ("\u1680", "\u1681"), ("\u2000", "\u2060"),
                ("\u3000", "\u3001"))  # fmt: skip


def may_start_with_space(x: str) -> str:
    """SQL true where `x` may start with whitespace (true for every string that does, and for
    a few that do not: confirm with :data:`SPACE`)."""
    tests = (f"{x} < {lit(hi)}" if not lo else f"({x} >= {lit(lo)} AND {x} < {lit(hi)})"
             for lo, hi in SPACE_RANGES)  # fmt: skip
    return f"({' OR '.join(tests)})"


# ... and as the code points of every one of them
SPACE_CODES = ", ".join(
    str(c) for c in (*range(9, 14), *range(28, 33), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                     0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
)  # fmt: skip


def may_have_space_at_edge(x: str) -> str:
    """SQL true where the first or last character of `x` may be whitespace (a superset).

    The last character is decoded once (comparing it to each range would cut it out of the
    string once per comparison, which costs Spark more than the decoding)."""
    return f"({may_start_with_space(x)} OR unicode(substr({x}, -1)) IN ({SPACE_CODES}))"


def strip(x: str) -> str:
    """SQL for `x` without leading and trailing whitespace, as Python's str.strip() sees it."""
    return f"regexp_replace({x}, '^{SPACE}+|{SPACE}+$', '', 'g')"
