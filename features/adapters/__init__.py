"""Adapters that turn each public dataset into a SCHEMA.md data directory.

``python -m features.adapters NAME --src DIR --out DIR [--format parquet]`` (also
``linli adapt ...``) with NAME one of :data:`DATASETS`. Each ``features.adapters.<NAME>``
module has a pure ``to_schema(src) -> {table: DataFrame}`` and ``convert(src)`` which adds
data-quality notes; :func:`write_tables` writes any of them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from types import ModuleType

from features.adapters.common import FORMATS, Converted, write_tables
from features.cli_parser import LinliParser, existing_dir

__all__ = ["DATASETS", "Converted", "adapter", "main", "write_tables"]

DATASETS: tuple[str, ...] = ("instacart", "tafeng", "taobao", "groceries")


def adapter(name: str) -> ModuleType:
    """The adapter module for one dataset name (imported on first use)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASETS)}")
    return importlib.import_module(f"{__name__}.{name}")


def _parser() -> argparse.ArgumentParser:
    parser = LinliParser(
        prog="linli adapt",
        description="Convert a public dataset into a SCHEMA.md data directory.",
    )
    parser.add_argument("name", choices=DATASETS, help="which dataset")
    parser.add_argument(
        "--src", type=existing_dir, required=True, help="folder of the original files"
    )
    parser.add_argument("--out", type=Path, required=True, help="data directory to write")
    parser.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="parquet",
        help="file format of the tables (default: parquet)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one adapter from the command line; 0 on success, 2 when the source cannot be read."""
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        result = adapter(args.name).convert(args.src)
    except FileNotFoundError as exc:
        print(f"linli adapt: error: cannot read {exc.filename or exc}", file=sys.stderr)
        return 2
    converted = time.perf_counter()
    paths = write_tables(result.tables, args.out, args.format)
    done = time.perf_counter()

    print(f"adapt {args.name}: {args.src} -> {args.out} ({args.format})")
    for note in result.notes:
        print(f"  note: {note}")
    for table, frame in result.tables.items():
        print(f"  {table}: {len(frame):,} rows -> {paths[table]}")
    print(f"  time: convert {converted - start:.2f}s, write {done - converted:.2f}s")
    return 0
