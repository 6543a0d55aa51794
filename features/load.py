"""Read a data directory (CSV, CSV.gz, Parquet or JSON Lines per table) and validate every table.

Unreadable rows (a CSV line with the wrong number of fields, a JSON line that
does not parse) become rejects like any other bad row; an unreadable file, a
missing required table or column stops the job with a message naming it.
"""

from __future__ import annotations

import codecs
import gzip
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.errors import did_you_mean
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
    encodings: dict[str, str] = field(default_factory=dict)  # text file -> encoding it was read in

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
    rows, bad, _ = read_file_encoded(path)
    return rows, bad


def read_file_encoded(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """:func:`read_file` plus the text encoding the file was read in (None for Parquet)."""
    name = path.name
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path), no_unreadable_lines(), None
        if name.endswith(".jsonl"):
            enc = detect_encoding(path)
            return (*_read_jsonl(path, enc), enc)
        if name.endswith((".csv", ".csv.gz")):
            enc = detect_encoding(path)
            return (*_read_csv(path, enc), enc)
    except SchemaError:
        raise
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"cannot read: not valid text at byte {exc.start}",
            file=path,
            hint="save the file as UTF-8 (or GBK / GB18030) and run again",
        ) from exc
    except Exception as exc:  # any reader failure: the file cannot be read at all
        raise unreadable_file(path, exc) from exc
    raise SchemaError(
        "unknown file type",
        file=path,
        hint=f"name it with one of {', '.join(FILE_SUFFIXES)}",
    )


def unreadable_file(path: Path, exc: Exception) -> SchemaError:
    """The one-line error for a file no reader can open (truncated, or a wrong extension)."""
    return SchemaError(
        f"cannot read: {type(exc).__name__}: {exc}",
        file=path,
        hint="check that the file is complete and its extension matches its format",
    )


_SAMPLE_BYTES = 1 << 20


def _head(path: Path) -> bytes:
    """The first MiB of a (possibly gzipped) file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return bytes(fh.read(_SAMPLE_BYTES))


def detect_encoding(path: Path) -> str:
    """`utf-8`, `utf-8-sig` (UTF-8 with a byte-order mark) or `gb18030` (GBK and its superset).

    Decided on the first MiB; a file that is neither raises a one-line error.
    """
    head = _head(path)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SchemaError(
            "the file is UTF-16", file=path, hint="save it as UTF-8 (CSV UTF-8 in Excel)"
        )
    for enc in ("utf-8", "gb18030"):
        try:  # incremental: a character cut at the sample's end is not an error
            codecs.getincrementaldecoder(enc)().decode(head, final=len(head) < _SAMPLE_BYTES)
            return enc
        except UnicodeDecodeError:
            continue
    raise SchemaError(
        "cannot read: the text is neither UTF-8 nor GBK / GB18030",
        file=path,
        hint="save the file as UTF-8 and run again",
    )


def no_unreadable_lines() -> pd.DataFrame:
    """An empty table of unreadable lines (_raw_line, reason)."""
    return pd.DataFrame(
        {_RAW_LINE: pd.Series(dtype="string"), Col.REASON: pd.Series(dtype="string")}
    )


def _read_csv(path: Path, encoding: str = "utf-8") -> tuple[pd.DataFrame, pd.DataFrame]:
    opts = dict(dtype=str, keep_default_na=False, encoding=encoding)
    try:
        return pd.read_csv(path, **opts), no_unreadable_lines()  # type: ignore[call-overload]
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


def _read_jsonl(path: Path, encoding: str = "utf-8") -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        return pd.read_json(path, lines=True, dtype=False, encoding=encoding), no_unreadable_lines()
    except ValueError:
        pass
    rows, bad = [], []
    with path.open(encoding=encoding) as fh:
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


def check_columns(columns: pd.Index, spec: TableSpec, path: Path) -> None:
    """Raise a one-line error naming each missing required column, with a "did you mean"."""
    missing = [c for c in spec.required_columns if c not in columns]
    if not missing:
        return
    unknown = [str(c) for c in columns if c not in spec.column_names]
    hints = []
    for c in missing:
        near = did_you_mean(c, unknown)
        hints.append(f"did you mean {near!r}? rename it to {c!r}" if near else f"add {c!r}")
    found = ", ".join(str(c) for c in columns) or "none"
    raise SchemaError(
        f"required column(s) missing: {', '.join(missing)} (columns found: {found})",
        file=path,
        column=missing[0],
        hint="; ".join(hints) + " (see SCHEMA.md)",
    )


def column_name(raw: object) -> str:
    """A file's column name as the tables know it (SCHEMA.md names are lower case)."""
    return str(raw).strip().lower()


def find_table(root: Path, spec: TableSpec, has_extra: bool = False) -> list[Path] | None:
    """The files of one table; None when it is absent (an error when it is required)."""
    paths = table_files(root, spec.name)
    if not paths and not has_extra:
        if spec.required:
            raise SchemaError(
                f"required table {spec.name!r} not found",
                file=root,
                hint=f"add {spec.name}{{{','.join(FILE_SUFFIXES)}}} (see SCHEMA.md)",
            )
        return None
    return paths


def read_table_text(
    spec: TableSpec, paths: list[Path], encodings: dict[str, str]
) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """Each file of a table as rows (lower-case columns, checked), and its unreadable lines.

    `encodings` receives the text encoding of every text file read.
    """
    frames, unreadable = [], [no_unreadable_lines()]
    for p in paths:
        rows, bad, enc = read_file_encoded(p)
        if enc is not None:
            encodings[str(p)] = enc
        if rows.empty and len(rows.columns) == 0:  # an empty JSON Lines / Parquet file: no rows
            rows = pd.DataFrame({c: pd.Series([], dtype="string") for c in spec.column_names})
        rows.columns = [column_name(c) for c in rows.columns]
        check_columns(rows.columns, spec, p)
        frames.append(rows)
        unreadable.append(bad)
    return frames, pd.concat(unreadable, ignore_index=True)


def load_table(
    root: Path,
    spec: TableSpec,
    extra: pd.DataFrame | None = None,
    extra_source: str = "",
    encodings: dict[str, str] | None = None,
) -> tuple[Validated, list[str]] | None:
    """Read and validate every file of one table (plus `extra` rows); None when it is absent.

    `encodings` (when given) receives the text encoding of every file read.
    """
    paths = find_table(root, spec, extra is not None)
    if paths is None:
        return None
    frames, bad_lines = read_table_text(spec, paths, {} if encodings is None else encodings)
    sources = [str(p) for p in paths]
    if extra is not None:  # rows from elsewhere (the ingestion store), validated with the files
        frames.append(extra)
        sources.append(extra_source or "extra rows")
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    result = validate(raw, spec, source=sources[0])
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
        raise SchemaError(
            "data directory not found", file=root, hint="pass the folder holding events.csv etc."
        )
    out = DataDir(root=root)
    for name in tables or list(TABLES):
        loaded = load_table(
            root, TABLES[name], (extra or {}).get(name), extra_source, out.encodings
        )
        if loaded is None:
            log.info("table %s: absent (optional)", name)
            continue
        out.tables[name], out.files[name] = loaded
        log.info("table %s: %s", name, out.tables[name].counts)
    return out
