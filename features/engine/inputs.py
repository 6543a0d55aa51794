"""The data directory's files as raw tables in the engine, one per SCHEMA.md table.

A table held only in Parquet files is read by the engine itself (lazily, column types as
stored). CSV and JSON Lines files, and rows from the ingestion store, are read as text in
Python (encoding detection, malformed lines kept as rejects; see :mod:`features.load`) and
handed to the engine. Either way the raw table `raw_<name>` has lower-case column names and
`_row`, the input order: file by file, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.engine.base import ROW, ROW_BITS, US_SUFFIX, Engine
from features.load import (
    check_columns,
    column_name,
    find_table,
    no_unreadable_lines,
    read_table_text,
    unreadable_file,
)
from features.schema import TableSpec

SQL_TYPES = {"timestamp": "BIGINT", "number": "DOUBLE"}  # every other kind is VARCHAR


@dataclass
class RawTable:
    """One table read into the engine: its engine name, source files and unreadable lines."""

    name: str
    sources: list[str]
    # _raw_line, reason: lines no reader could split into fields
    unreadable: pd.DataFrame = field(default_factory=no_unreadable_lines)
    encodings: dict[str, str] = field(default_factory=dict)


def raw_name(table: str) -> str:
    return f"raw_{table}"


def _parquet_columns(path: Path) -> list[str]:
    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # any reader failure: the file cannot be read at all
        raise unreadable_file(path, exc) from exc


def _read_parquet(engine: Engine, spec: TableSpec, paths: list[Path]) -> bool:
    """Let the engine read `paths` itself; False when a file has no columns (read as text)."""
    mapping: dict[str, str] = {}
    for p in paths:
        names = _parquet_columns(p)
        if not names:
            return False
        check_columns(pd.Index([column_name(c) for c in names]), spec, p)
        for c in names:
            mapping.setdefault(c, column_name(c))
    engine.read_parquet(raw_name(spec.name), paths, mapping)
    return True


def _read_text(
    engine: Engine, spec: TableSpec, paths: list[Path], extra: pd.DataFrame | None, raw: RawTable
) -> None:
    """Every file through the Python readers (as text), plus `extra` rows, into the engine."""
    files, raw.unreadable = read_table_text(spec, paths, raw.encodings)
    frames = [_numbered(rows, i) for i, rows in enumerate(files)]
    if extra is not None:  # rows from elsewhere (the ingestion store), validated with the files
        frames.append(_numbered(extra.rename(columns=column_name), len(paths)))
    text = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    engine.put(raw_name(spec.name), text)


def _numbered(rows: pd.DataFrame, file_index: int) -> pd.DataFrame:
    """`rows` as text with their input order in `_row`."""
    out = rows.astype("string")
    out.insert(0, ROW, (np.int64(file_index) << ROW_BITS) + np.arange(len(rows), dtype=np.int64))
    return out


def load_raw(
    engine: Engine,
    root: Path,
    spec: TableSpec,
    extra: pd.DataFrame | None = None,
    extra_source: str = "",
) -> RawTable | None:
    """Read every file of one table (plus `extra` rows) into `raw_<name>`; None when absent."""
    paths = find_table(root, spec, extra is not None)
    if paths is None:
        return None
    raw = RawTable(
        name=raw_name(spec.name),
        sources=[str(p) for p in paths]
        + ([extra_source or "extra rows"] if extra is not None else []),
    )
    only_parquet = extra is None and all(p.name.endswith(".parquet") for p in paths)
    if not (only_parquet and _read_parquet(engine, spec, paths)):
        _read_text(engine, spec, paths, extra, raw)
    return raw


def empty_clean_sql(spec: TableSpec) -> str:
    """A SELECT of no rows with the columns a validated table of `spec` has."""
    cols = [f"CAST(NULL AS BIGINT) AS {ROW}"]
    for c in spec.columns:
        name = c.name + US_SUFFIX if c.kind == "timestamp" else c.name
        cols.append(f"CAST(NULL AS {SQL_TYPES.get(c.kind, 'VARCHAR')}) AS {name}")
    return f"SELECT {', '.join(cols)} WHERE 1 = 0"
