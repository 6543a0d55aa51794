"""Writing a world: DIR/data (SCHEMA tables) and DIR/truth, as parquet, csv or jsonl."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.synth.config import (
    World,
)
from features.synth.constants import (
    SUFFIX,
    Format,
)

WRITE_ROWS = 2_000_000


def _file_slices(df: pd.DataFrame) -> Iterator[pa.Table]:
    """Arrow slices of a frame as written to files: categoricals become plain strings."""
    for lo in range(0, max(len(df), 1), WRITE_ROWS):
        table = pa.Table.from_pandas(df.iloc[lo : lo + WRITE_ROWS], preserve_index=False)
        yield _decode_dictionaries(table)


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    """Dictionary / large strings -> plain strings; pandas metadata says `str` (not category)."""
    meta = table.schema.pandas_metadata
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type) or pa.types.is_large_string(f.type):
            table = table.set_column(i, f.name, pc.cast(table.column(i), pa.string()))
    if meta is None:
        return table
    for col in meta["columns"]:
        if col["pandas_type"] == "categorical":
            col.update(pandas_type="object", numpy_type="str", metadata=None)
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode("utf-8")})


def _write_table(df: pd.DataFrame, path: Path, fmt: Format) -> None:
    """One table to one file (written in row slices to bound memory)."""
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for lo in range(0, len(df), WRITE_ROWS // 4):
                chunk = df.iloc[lo : lo + WRITE_ROWS // 4]
                text = chunk.to_json(orient="records", lines=True, force_ascii=False)
                fh.write(text if text.endswith("\n") or not text else text + "\n")
        return
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        for table in _file_slices(df):
            if writer is None:
                if fmt == "parquet":
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
                else:
                    options = pacsv.WriteOptions(quoting_style="needed")
                    writer = pacsv.CSVWriter(path, table.schema, write_options=options)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def write_world(world: World, out: Path | str, fmt: Format = "parquet") -> dict[str, Path]:
    """Write `out/data/<table>.<fmt>` and `out/truth/*`; return the paths written."""
    if fmt not in SUFFIX:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(SUFFIX)}")
    out = Path(out)
    data_dir, truth_dir = out / "data", out / "truth"
    data_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, df in world.tables.items():
        for other in SUFFIX.values():  # a stale file in another format would shadow this one
            stale = data_dir / f"{name}{other}"
            if other != SUFFIX[fmt] and stale.exists():
                stale.unlink()
        path = data_dir / f"{name}{SUFFIX[fmt]}"
        _write_table(df, path, fmt)
        written[name] = path
    for name, df in world.truth.items():
        path = truth_dir / f"{name}.parquet"
        _write_table(df, path, "parquet")
        written[f"truth/{name}"] = path
    for name, doc in (
        ("personas", world.personas),
        ("summary", world.summary),
        ("config", world.config.logged()),
    ):
        path = truth_dir / f"{name}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written[f"truth/{name}"] = path
    return written


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
