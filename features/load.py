"""Read a data directory (CSV, CSV.gz, Parquet or JSON Lines per table) and validate every table.

Unreadable rows (a CSV line with the wrong number of fields, a JSON line that
does not parse) become rejects like any other bad row; an unreadable file, a
missing required table or column stops the job with a message naming it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.schema import FILE_SUFFIXES, TABLES, Col, TableSpec
from features.validate import SchemaError, Validated, validate

log = logging.getLogger(__name__)

_RAW_LINE = "_raw_line"


@dataclass
class DataDir:
    """The validated tables of one data directory, with their rejects and counts."""

    root: Path
    tables: dict[str, Validated] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)

    def clean(self, name: str) -> pd.DataFrame | None:
        """The clean rows of a table, or None when the table is absent."""
        v = self.tables.get(name)
        return None if v is None else v.clean

    def has(self, name: str) -> bool:
        return name in self.tables


def table_files(root: Path, name: str) -> list[Path]:
    """Files holding one table: `name.<ext>` and/or parts inside a `name/` folder."""
    found = [root / f"{name}{ext}" for ext in FILE_SUFFIXES if (root / f"{name}{ext}").is_file()]
    part_dir = root / name
    if part_dir.is_dir():
        found += sorted(
            p for p in part_dir.iterdir() if p.is_file() and p.name.endswith(FILE_SUFFIXES)
        )
    return found


def read_file(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one table file as strings; returns (rows, unparseable rows with a reason)."""
    name = path.name
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path), _no_bad()
        if name.endswith(".jsonl"):
            return _read_jsonl(path)
        if name.endswith((".csv", ".csv.gz")):
            return _read_csv(path)
    except SchemaError:
        raise
    except Exception as exc:  # any reader failure: the file cannot be read at all
        raise SchemaError(f"cannot read {path}: {exc}") from exc
    raise SchemaError(f"{path}: unknown file type (expected one of {', '.join(FILE_SUFFIXES)})")


def _no_bad() -> pd.DataFrame:
    return pd.DataFrame(
        {_RAW_LINE: pd.Series(dtype="string"), Col.REASON: pd.Series(dtype="string")}
    )


def _read_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    opts = dict(dtype=str, keep_default_na=False, encoding="utf-8")
    try:
        return pd.read_csv(path, **opts), _no_bad()  # type: ignore[call-overload]
    except pd.errors.ParserError:
        pass
    bad: list[list[str]] = []

    def keep_bad(line: list[str]) -> None:
        bad.append(line)
        return None

    df = pd.read_csv(path, engine="python", on_bad_lines=keep_bad, **opts)  # type: ignore[call-overload]
    rejects = pd.DataFrame(
        {
            _RAW_LINE: [",".join(b) for b in bad],
            Col.REASON: [
                f"malformed CSV line: {len(b)} fields, header has {len(df.columns)}" for b in bad
            ],
        }
    )
    return df, rejects


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        return pd.read_json(path, lines=True, dtype=False), _no_bad()
    except ValueError:
        pass
    rows, bad = [], []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append((line.rstrip("\n"), f"malformed JSON line: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                bad.append((line.rstrip("\n"), "malformed JSON line: not an object"))
                continue
            rows.append(obj)
    rejects = pd.DataFrame(bad, columns=[_RAW_LINE, Col.REASON])
    return pd.DataFrame(rows).astype("string"), rejects


def load_table(
    root: Path, spec: TableSpec, extra: pd.DataFrame | None = None, extra_source: str = ""
) -> tuple[Validated, list[str]] | None:
    """Read and validate every file of one table (plus `extra` rows); None when it is absent."""
    paths = table_files(root, spec.name)
    if not paths and extra is None:
        if spec.required:
            raise SchemaError(
                f"required table {spec.name!r} not found in {root} "
                f"(expected {spec.name}{{{','.join(FILE_SUFFIXES)}}})"
            )
        return None
    frames, unreadable = [], [_no_bad()]
    sources = [str(p) for p in paths]
    for p in paths:
        rows, bad = read_file(p)
        rows.columns = [str(c).strip().lower() for c in rows.columns]
        missing = [c for c in spec.required_columns if c not in rows.columns]
        if missing:
            raise SchemaError(f"{p}: required column(s) missing: {', '.join(missing)}")
        frames.append(rows)
        unreadable.append(bad)
    if extra is not None:  # rows from elsewhere (the ingestion store), validated with the files
        frames.append(extra)
        sources.append(extra_source or "extra rows")
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    result = validate(raw, spec, source=sources[0])
    bad_lines = pd.concat(unreadable, ignore_index=True)
    if len(bad_lines):
        result = Validated(
            clean=result.clean,
            rejects=pd.concat([result.rejects, bad_lines], ignore_index=True),
        )
    return result, sources


def load_data_dir(
    root: Path | str,
    tables: list[str] | None = None,
    extra: dict[str, pd.DataFrame] | None = None,
    extra_source: str = "",
) -> DataDir:
    """Load and validate the tables of a data directory (all of SCHEMA.md by default).

    `extra` adds raw rows per table (e.g. the ingestion store's, as strings) that are
    validated together with the files, so a repeated event_id across both is kept once.
    """
    root = Path(root)
    if not root.is_dir():
        raise SchemaError(f"data directory not found: {root}")
    out = DataDir(root=root)
    for name in tables or list(TABLES):
        loaded = load_table(root, TABLES[name], (extra or {}).get(name), extra_source)
        if loaded is None:
            log.info("table %s: absent (optional)", name)
            continue
        out.tables[name], out.files[name] = loaded
        log.info("table %s: %s", name, out.tables[name].counts)
    return out
