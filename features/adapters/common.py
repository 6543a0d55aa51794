"""What every dataset adapter shares: the time anchor, column ordering and the table writer.

Frames handed around in memory keep timestamps as tz-aware ``datetime64`` in China time
(:data:`features.schema.CHINA_TZ`). Parquet stores them as such; CSV and JSON Lines get
ISO-8601 strings with an explicit offset (``2017-01-01T08:00:00+08:00``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from features.schema import CHINA_TZ, FILE_SUFFIXES, TABLES

# The fixed day 0 for datasets that carry only relative time (instacart, groceries).
ANCHOR = pd.Timestamp("2017-01-01T00:00:00", tz=CHINA_TZ)

# --format value -> file suffix (one of SCHEMA.md's).
FORMATS: dict[str, str] = {
    "parquet": ".parquet",
    "csv": ".csv",
    "csv.gz": ".csv.gz",
    "jsonl": ".jsonl",
}


class Converted(NamedTuple):
    """An adapter's result: SCHEMA tables by name and human-readable data-quality notes."""

    tables: dict[str, pd.DataFrame]
    notes: list[str]


def order_columns(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Put the table's SCHEMA columns first (in spec order), extra columns after, index reset."""
    spec = TABLES[table].column_names
    known = [c for c in spec if c in frame.columns]
    extra = [c for c in frame.columns if c not in spec]
    return frame[known + extra].reset_index(drop=True)


def as_id(values: pd.Series) -> pd.Series:
    """Identifiers as strings (missing stays missing), e.g. ints ``12`` -> ``"12"``."""
    return values.astype("string").astype(str)


def offsets(
    days: pd.Series | int = 0, hours: pd.Series | int = 0, minutes: pd.Series | int = 0
) -> pd.Series:
    """A timedelta Series of days + hours + minutes (vectorised; pass at least one Series)."""
    total = (
        pd.to_timedelta(days, unit="D")
        + pd.to_timedelta(hours, unit="h")
        + pd.to_timedelta(minutes, unit="min")
    )
    if not isinstance(total, pd.Series):
        raise TypeError("offsets() needs at least one Series argument")
    return total


def iso_strings(ts: pd.Series) -> pd.Series:
    """ISO-8601 text with a ``+08:00``-style offset for a tz-aware datetime Series (NaT stays NA)."""
    text = ts.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    return text.str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)


def _textual(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = iso_strings(col)
        elif pd.api.types.is_datetime64_dtype(col.dtype):
            out[name] = iso_strings(col.dt.tz_localize(CHINA_TZ))
    return out


def write_tables(
    tables: dict[str, pd.DataFrame], out: Path, fmt: str = "parquet"
) -> dict[str, Path]:
    """Write each table to ``out/<table><suffix>`` (atomically) and return the paths written.

    A file of the same table in another format is removed, so the directory never holds two
    candidates for one table.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"not SCHEMA tables: {unknown}")
    out.mkdir(parents=True, exist_ok=True)
    suffix = FORMATS[fmt]
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        path = out / f"{name}{suffix}"
        tmp = out / f".{name}{suffix}.tmp"
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        elif fmt == "jsonl":
            _textual(frame).to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            _textual(frame).to_csv(
                tmp, index=False, compression="gzip" if fmt == "csv.gz" else None
            )
        os.replace(tmp, path)
        for other in FILE_SUFFIXES:
            stale = out / f"{name}{other}"
            if other != suffix and stale.exists():
                stale.unlink()
        written[name] = path
    return written
