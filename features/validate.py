"""Row-level validation against SCHEMA.md: split a raw table into clean rows and rejects with reasons.

The rules live in one place, the SQL of :mod:`features.engine.validate_sql`; here they run on
an in-process DuckDB over a pandas frame and come back with the pandas types the rest of
Linli reads (timestamps tz-aware China time, numbers float64, text as pandas "string"). A
row is rejected for the first rule it breaks, in the order: missing required field, bad
enum, bad timestamp, bad number, negative number, conditionally required field, repeated key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.engine.base import ROW
from features.engine.duck import DuckEngine
from features.engine.timestamps_sql import TS_EXPECTED
from features.engine.validate_sql import validate_table
from features.errors import LinliInputError
from features.schema import CHINA_TZ, Col, ColumnSpec, TableSpec

__all__ = [
    "TS_EXPECTED",
    "SchemaError",
    "Validated",
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
    engine = DuckEngine()
    try:
        engine.put("raw", send)
        validate_table(engine, spec, "raw", "clean", "rejects")
        got = _fetch(engine, "SELECT * FROM clean")
        bad = _fetch(engine, "SELECT _row, reason FROM rejects")
    finally:
        engine.close()
    rows = got[ROW].to_numpy(np.int64)
    clean = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    for c in raw.columns:
        if c in spec.column_names:
            clean[c] = _typed(got, spec.column(c), raw[c].dtype)
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


_ARROW_TO_PANDAS = {
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.string_view(): pd.StringDtype(),
    pa.int64(): pd.Int64Dtype(),
}


def _fetch(engine: DuckEngine, sql: str) -> pd.DataFrame:
    """A query's rows in `_row` order, through Arrow: text straight into pandas "string"."""
    table = engine.con.sql(sql).to_arrow_table()
    order = np.argsort(table.column(ROW).to_numpy(), kind="stable")
    return table.take(order).to_pandas(types_mapper=_ARROW_TO_PANDAS.get)


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


def _typed(
    got: pd.DataFrame, cs: ColumnSpec, raw_dtype: object = None
) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Spec column `cs` of the engine's clean rows in today's pandas type (a datetime column
    read typed keeps its unit, text becomes nanoseconds)."""
    if cs.kind == "timestamp":
        us = pd.Series(got[f"{cs.name}_us"], dtype="Int64")
        ts = pd.to_datetime(us, unit="us", utc=True).dt.tz_convert(CHINA_TZ)
        unit: Any = "ns"
        if isinstance(raw_dtype, pd.DatetimeTZDtype):
            unit = raw_dtype.unit
        elif isinstance(raw_dtype, np.dtype) and raw_dtype.kind == "M":
            unit = np.datetime_data(raw_dtype)[0]
        return ts.astype(pd.DatetimeTZDtype(unit, CHINA_TZ)).array
    if cs.kind == "number":
        return got[cs.name].to_numpy(np.float64, na_value=np.nan)
    return got[cs.name].astype("string").array
