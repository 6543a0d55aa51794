"""Timestamps -> microseconds since the epoch (UTC) in portable SQL: DuckDB and Spark agree.

Text is matched by one regular expression and turned into an instant with integer arithmetic
(days from the civil date, no engine date functions, whose leniency differs):

- ISO-8601 date or date-time: ``2026-05-01``, ``2026-05-01T10:00``, ``2026-05-01 10:00:00.5``,
  ``2026-05-01T10:00:00+08:00`` / ``+0800`` / ``-05`` / ``Z``; ``/`` as the date separator
  (``2026/5/1 10:00``, as Excel writes it), one-digit month, day, hour, minute or second, and
  ``2026`` or ``2026-05`` (the first day) are read as pandas reads them. Without an offset a
  value is China time (UTC+08:00).
- Unix epoch seconds (9-11 digits, optional fraction) and milliseconds (12-14 digits): UTC.
- Invalid dates and times (Feb 30, month 13, hour 24, minute 60, offset +24:00) and instants
  outside pandas' nanosecond range (1677-09-22 00:12:43 .. 2262-04-10 23:47:16, checked on the
  wall time for values without offset, as pandas does) are unparseable (NULL).

A typed column needs no text: TIMESTAMP (naive: China wall time), TIMESTAMP WITH TIME ZONE,
and numbers (epoch seconds in [1e8, 1e11), integral milliseconds in [1e11, 1e14)).

Differences from pandas ``parse_timestamps`` (features.validate before the SQL), found by
comparing both on a generated corpus of 8,000 values (every date, time and offset form
above, crossed, plus what experiments/checks/corrupt.py and the adapters write); all other
values give the same instant or the same NULL:

- "Without offset" means the fixed offset +08:00. pandas used the Asia/Shanghai zone, whose
  history has daylight saving time (1940-1949, 1986-1991: summer instants an hour later
  here) and local mean time +08:05:43 before 1901.
- Two-digit offsets (``-05``, ``+08``, ``+00``) are read; pandas raised TypeError on them.
- Epoch seconds with a fraction are exact (``1714531200.1`` -> .100000 s); pandas went
  through float64 and landed a microsecond lower on many fractions. Digits below a
  microsecond are dropped (pandas kept nanoseconds).
- Not read (pandas read them): ISO basic forms (``20260501``, ``2026-05-01T100000``) and
  ``.``, ``\\`` or a space as the date separator (``2026.05.01``).
- A number column holding integral milliseconds as floats is read (pandas saw the text
  ``1714531200000.0`` and rejected it).
"""

from __future__ import annotations

TS_EXPECTED = "expected ISO-8601 date and time, optional offset, or Unix epoch seconds / ms"
CHINA_OFFSET_S = 8 * 3600
# pandas' nanosecond range less a day each side, as microseconds (Timestamp.min/max +- 1 day)
LO_US = -9223285636854775
HI_US = 9223285636854775

# groups: 1 year, 2 date separator, 3 month, 4 day, 5 hour, 6 minute, 7 second, 8 fraction,
# 9 offset (DuckDB's regexp_extract takes group numbers up to 9)
ISO_RE = (
    r"^([0-9]{4})(?:([-/])([0-9]{1,2})(?:[-/]([0-9]{1,2})"
    r"(?:[T ]([0-9]{1,2})(?::([0-9]{1,2})(?::([0-9]{1,2})(?:\.([0-9]*))?)?)? *"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?)?)?$"
)
EPOCH_S_RE = r"^[0-9]{9,11}(\.[0-9]+)?$"
EPOCH_MS_RE = r"^[0-9]{12,14}$"
_PARTS = ("y", "sep", "mo", "d", "h", "mi", "s", "frac", "off")


def _int(text: str, default: int) -> str:
    return f"coalesce(CAST(nullif({text}, '') AS BIGINT), {default})"


def _days_from_civil(y: str, m: str, d: str) -> str:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).

    The year is shifted by 400 (146097 days) so every division is of non-negative numbers.
    """
    yy = f"({y} - CASE WHEN {m} <= 2 THEN 1 ELSE 0 END + 400)"
    yoe = f"({yy} % 400)"
    doy = f"((153 * (({m} + 9) % 12) + 2) // 5 + {d} - 1)"
    doe = f"({yoe} * 365 + {yoe} // 4 - {yoe} // 100 + {doy})"
    return f"(({yy} // 400) * 146097 + {doe} - 719468 - 146097)"


def _days_in_month(y: str, m: str) -> str:
    leap = f"(({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0)"
    return (
        f"CASE WHEN {m} = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END "
        f"WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
    )


def in_range(us: str) -> str:
    """`us` where it lies inside pandas' nanosecond range, else NULL."""
    return f"CASE WHEN {us} BETWEEN {LO_US} AND {HI_US} THEN {us} END"


def text_stage1(x: str, p: str) -> list[str]:
    """Select items splitting the trimmed text `x` into parts `<p>_y`, `<p>_mo`, ... (strings)."""
    items = [f"regexp_extract({x}, '{ISO_RE}', {i + 1}) AS {p}_{n}" for i, n in enumerate(_PARTS)]
    epoch = (
        f"CASE WHEN regexp_matches({x}, '{EPOCH_S_RE}') THEN 1 "
        f"WHEN regexp_matches({x}, '{EPOCH_MS_RE}') THEN 2 ELSE 0 END"
    )
    return [*items, f"{epoch} AS {p}_ep"]


def text_stage2(x: str, p: str) -> list[str]:
    """Select items: the parts as numbers, validity, local microseconds and offset seconds."""
    y, mo, d = f"{p}_yi", f"{p}_moi", f"{p}_di"
    off = f"{p}_off"
    off_s = (
        f"CASE WHEN {off} = '' THEN NULL WHEN {off} = 'Z' THEN 0 "
        f"ELSE (CASE WHEN substr({off}, 1, 1) = '-' THEN -1 ELSE 1 END) "
        f"* (CAST(substr({off}, 2, 2) AS BIGINT) * 3600 + {_off_minutes(off)} * 60) END"
    )
    off_ok = f"({off} IN ('', 'Z') OR (CAST(substr({off}, 2, 2) AS BIGINT) <= 23 AND {_off_minutes(off)} <= 59))"
    sep_ok = f"({p}_d = '' OR substr({x}, 6 + length({p}_mo), 1) = {p}_sep)"
    hi, mii, si = _int(f"{p}_h", 0), _int(f"{p}_mi", 0), _int(f"{p}_s", 0)
    valid = (
        f"{p}_y <> '' AND {mo} BETWEEN 1 AND 12 AND {d} BETWEEN 1 AND {_days_in_month(y, mo)} "
        f"AND {hi} <= 23 AND {mii} <= 59 AND {si} <= 59 AND {sep_ok} AND {off_ok}"
    )
    local = (
        f"(({_days_from_civil(y, mo, d)} * 86400 + {hi} * 3600 + {mii} * 60 + {si}) * 1000000 "
        f"+ CAST(rpad(substr({p}_frac, 1, 6), 6, '0') AS BIGINT))"
    )
    epoch_us = (
        f"CASE WHEN {p}_ep = 1 THEN CAST(split_part({x}, '.', 1) AS BIGINT) * 1000000 "
        f"+ CAST(rpad(substr(split_part({x}, '.', 2), 1, 6), 6, '0') AS BIGINT) "
        f"WHEN {p}_ep = 2 THEN CAST({x} AS BIGINT) * 1000 END"
    )
    return [
        f"CASE WHEN {valid} THEN {local} END AS {p}_local",
        f"{off_s} AS {p}_offs",
        f"{epoch_us} AS {p}_epus",
    ]


def _off_minutes(off: str) -> str:
    return f"CASE WHEN length({off}) > 3 THEN CAST(right({off}, 2) AS BIGINT) ELSE 0 END"


def text_stage1b(p: str) -> list[str]:
    """Select items: year, month and day as numbers (month and day default to 1)."""
    return [f"{_int(f'{p}_y', 0)} AS {p}_yi", f"{_int(f'{p}_mo', 1)} AS {p}_moi",
            f"{_int(f'{p}_d', 1)} AS {p}_di"]  # fmt: skip


def text_us(p: str) -> str:
    """The UTC microseconds of a text timestamp from its stage-2 columns (NULL: unparseable)."""
    naive = in_range(f"{p}_local") + f" - {CHINA_OFFSET_S * 1000000}"
    aware = in_range(f"{p}_local - {p}_offs * 1000000")
    return (
        f"CASE WHEN {p}_ep > 0 THEN {in_range(f'{p}_epus')} "
        f"WHEN {p}_offs IS NULL THEN {naive} ELSE {aware} END"
    )


def typed_us(col: str, kind: str) -> str:
    """The UTC microseconds of a typed column: 'timestamp' (China wall time), 'timestamptz'
    or 'number' (epoch seconds or integral milliseconds); NULL when out of range."""
    if kind == "timestamptz":  # the casts make any unit (s, ms, ns) microseconds
        return in_range(f"epoch_us(CAST({col} AS TIMESTAMPTZ))")
    if kind == "timestamp":
        return f"({in_range(f'epoch_us(CAST({col} AS TIMESTAMP))')} - {CHINA_OFFSET_S * 1000000})"
    if kind == "number":
        v = f"CAST({col} AS DOUBLE)"
        return (
            f"CASE WHEN isnan({v}) THEN NULL "
            f"WHEN {v} >= 1e8 AND {v} < 1e11 THEN {in_range(f'CAST(floor({v} * 1000000) AS BIGINT)')} "
            f"WHEN {v} >= 1e11 AND {v} < 1e14 AND {v} = floor({v}) "
            f"THEN {in_range(f'CAST({v} AS BIGINT) * 1000')} END"
        )
    raise ValueError(f"no typed parse for {kind!r}")
