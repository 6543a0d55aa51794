"""Row-level validation against SCHEMA.md: split a raw table into clean rows and rejects with reasons.

The rules live in one place, the SQL of :mod:`features.engine.validate_sql`; here they run on
an in-process DuckDB over a pandas frame and come back with the pandas types the rest of
Linli reads (timestamps tz-aware China time, numbers float64, text as pandas "string"). A
row is rejected for the first rule it breaks, in the order: missing required field, bad
enum, bad timestamp, bad number, negative number, conditionally required field, repeated key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.engine.duck import DuckEngine
from features.engine.timestamps_sql import TS_EXPECTED
from features.engine.validate_sql import ROW, validate_table
from features.errors import LinliInputError
from features.schema import CHINA_TZ, Col, ColumnSpec, TableSpec

__all__ = [
    "TS_EXPECTED",
    "SchemaError",
    "Validated",
    "blank_to_na",
    "parse_numbers",
    "parse_timestamps",
    "validate",
]


class SchemaError(LinliInputError):
    """A file or required column is missing or unreadable: the job cannot go on."""


@dataclass(frozen=True)
class Validated:
    """The outcome of validating one table."""

    clean: pd.DataFrame
    rejects: pd.DataFrame  # the original row (as read) plus a `reason` column

    @property
    def counts(self) -> dict[str, int]:
        """Rows read, kept and rejected, and rejects per reason kind."""
        kinds = (
            self.rejects[Col.REASON].str.split(":", n=1).str[0].value_counts().to_dict()
            if len(self.rejects)
            else {}
        )
        return {
            "read": len(self.clean) + len(self.rejects),
            "kept": len(self.clean),
            "rejected": len(self.rejects),
            **{f"rejected[{k}]": int(v) for k, v in sorted(kinds.items())},
        }


def blank_to_na(s: pd.Series) -> pd.Series:
    """Strip strings and turn empty ones into missing values."""
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        s = s.astype("string").str.strip()
        return s.mask(s == "")
    return s


def parse_timestamps(s: pd.Series) -> pd.Series:
    """Timestamps as tz-aware China time (NaT where unparseable), by the validation's SQL.

    Text is ISO-8601 (no offset: China time) or Unix epoch seconds / ms; a naive datetime
    Series is China wall time, a tz-aware one is converted.
    """
    return _parse_one(s, ColumnSpec("v", "timestamp"))


def parse_numbers(s: pd.Series) -> pd.Series:
    """Numbers as float64; anything unparseable or non-finite becomes NaN (the validation's SQL)."""
    return _parse_one(s, ColumnSpec("v", "number"))


def _parse_one(s: pd.Series, cs: ColumnSpec) -> pd.Series:
    values = pd.DataFrame({cs.name: s.reset_index(drop=True), _POS: np.arange(len(s))})
    checked = validate(values, TableSpec("values", (cs,)))
    parsed = checked.clean[cs.name]
    kept = pd.Series(parsed.to_numpy(), index=checked.clean[_POS].to_numpy())
    out = kept.reindex(range(len(s)))
    out.index = s.index
    return out.astype(parsed.dtype)


_POS = "__pos"


def validate(raw: pd.DataFrame, spec: TableSpec, source: str = "") -> Validated:
    """Split `raw` into typed clean rows and rejected rows with a reason each."""
    missing = [c for c in spec.required_columns if c not in raw.columns]
    if missing:
        raise SchemaError(
            f"table {spec.name!r}: required column(s) missing: {', '.join(missing)}",
            file=source or None,
            column=missing[0],
            hint="add the column (see SCHEMA.md)",
        )
    raw = raw.reset_index(drop=True)
    send, extras = _engine_frame(raw, spec)
    with DuckEngine() as engine:
        engine.put("raw", send)
        validate_table(engine, spec, "raw", "clean", "rejects")
        got = engine.fetch("SELECT * FROM clean ORDER BY _row")
        bad = engine.fetch("SELECT _row, reason FROM rejects ORDER BY _row")
    rows = got[ROW].to_numpy(np.int64)
    clean = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    for c in raw.columns:
        if c in spec.column_names:
            clean[c] = _typed(got, spec.column(c))
        elif c in extras:
            clean[c] = got[extras[c]].astype("string").to_numpy()
        else:  # not text: kept as read
            clean[c] = raw[c].to_numpy()[rows]
    for cs in spec.columns:
        if cs.name not in raw.columns:
            clean[cs.name] = _typed(got, cs)
    if Col.REASON in raw.columns:  # the reason replaces a column of that name
        raw = raw.drop(columns=[Col.REASON])
    rejects = raw.iloc[bad[ROW].to_numpy(np.int64)].copy()
    rejects[Col.REASON] = pd.Series(bad["reason"].to_numpy(), index=rejects.index).astype(str)
    return Validated(clean=clean, rejects=rejects.reset_index(drop=True))


def _engine_frame(raw: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame DuckDB validates: `_row`, the spec columns (text unless numbers or
    datetimes) and the text extra columns under safe names; returns (frame, extra -> name)."""
    out: dict[str, object] = {ROW: np.arange(len(raw), dtype=np.int64)}
    extras: dict[str, str] = {}
    for c in raw.columns:
        s = raw[c]
        typed = (
            pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        ) or pd.api.types.is_datetime64_any_dtype(s.dtype)
        if c in spec.column_names:
            out[c] = s if typed else s.astype("string")
        elif not typed and (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            extras[c] = f"_extra{len(extras)}"
            out[extras[c]] = s.astype("string")
    return pd.DataFrame(out), extras


def _typed(got: pd.DataFrame, cs: ColumnSpec) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Spec column `cs` of the engine's clean rows in today's pandas type."""
    if cs.kind == "timestamp":
        us = pd.Series(got[f"{cs.name}_us"], dtype="Int64")
        ts = pd.to_datetime(us, unit="us", utc=True).dt.tz_convert(CHINA_TZ)
        return ts.astype(pd.DatetimeTZDtype("ns", CHINA_TZ)).array
    if cs.kind == "number":
        return got[cs.name].to_numpy(np.float64, na_value=np.nan)
    return got[cs.name].astype("string").array
