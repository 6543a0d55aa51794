"""The embedded engine: DuckDB in this process, spilling to disk past its memory limit."""

from __future__ import annotations

import base64
import contextlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from duckdb.func import PythonUDFType

from features.engine.base import ROW, ROW_BITS, Engine, store_schema, store_time_name, vocab_tokens
from features.engine.sql_text import lit, quote

_WORDS = pa.list_(pa.string())


class DuckEngine(Engine):
    """DuckDB with an in-memory database and a temporary spill directory."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, memory_limit: str | None = None, threads: int | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="linli-duckdb-")
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"SET temp_directory = '{self._tmp.name}'")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET TimeZone = 'UTC'")  # as Spark's session: instants show as UTC
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def put(self, name: str, df: pd.DataFrame) -> None:
        self.con.register(f"_src_{name}", df)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _src_{name}")
        self.con.unregister(f"_src_{name}")

    def create(self, name: str, sql: str, keep: bool = False) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def view(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def fetch(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def read_parquet(self, name: str, paths: Sequence[Path], columns: dict[str, str]) -> None:
        files = ", ".join(lit(str(p)) for p in paths)
        index = " ".join(f"WHEN {lit(str(p))} THEN {i}" for i, p in enumerate(paths))
        select = ", ".join(f"{quote(src)} AS {quote(dst)}" for src, dst in columns.items())
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP VIEW {name} AS
            SELECT (CAST(CASE filename {index} END AS BIGINT) << {ROW_BITS}) + file_row_number
                       AS {ROW}, {select}
            FROM read_parquet([{files}], union_by_name = true, filename = true,
                              file_row_number = true)
            """
        )

    def write_parquet(self, sql: str, path: Path) -> int:
        """COPY in parallel; the Arrow schema in the file's metadata gives readers China time."""
        rel = self.con.sql(sql)
        target = store_schema(rel.limit(0).to_arrow_table().schema)
        select = ", ".join(
            f"make_timestamptz({quote(c)}) AS {quote(t)}"
            if (t := store_time_name(c)) and t in target.names
            else quote(c)
            for c in rel.columns
        )
        meta = base64.b64encode(target.serialize().to_pybytes()).decode()
        self.con.execute("SET preserve_insertion_order = true")  # an ORDER BY holds in the file
        try:
            n = self.con.execute(
                f"COPY (SELECT {select} FROM ({sql})) TO {lit(str(path))} "
                f"(FORMAT parquet, KV_METADATA {{'ARROW:schema': {lit(meta)}}})"
            ).fetchone()
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        return int(n[0]) if n else 0

    def column_types(self, name: str) -> dict[str, str]:
        described = self.con.execute(f"DESCRIBE {name}").fetchall()
        return {str(row[0]): duck_kind(str(row[1])) for row in described}

    def register_tokens(self, fn_name: str, vocab: dict[str, str]) -> None:
        words = dict(vocab)

        def tokens(texts: pa.Array) -> pa.Array:  # one call per vector of texts
            return pa.array(vocab_tokens(texts.to_pylist(), words), type=_WORDS)

        with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
            self.con.remove_function(fn_name)  # registered by an earlier run
        self.con.create_function(
            fn_name,
            tokens,
            [duckdb.sqltype("VARCHAR")],
            duckdb.list_type(duckdb.sqltype("VARCHAR")),
            type=PythonUDFType.ARROW,
            side_effects=False,
        )

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()


_NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE")


def duck_kind(type_name: str) -> str:
    """A DuckDB type name as one of :data:`features.engine.base.COLUMN_KINDS`."""
    t = type_name.upper()
    if t == "VARCHAR":
        return "string"
    if t.lstrip("U") in _NUMBER_TYPES or t.startswith("DECIMAL"):
        return "number"
    if "WITH TIME ZONE" in t or t.startswith("TIMESTAMPTZ"):  # TIMESTAMPTZ, TIMESTAMPTZ_NS
        return "timestamptz"
    if t.startswith("TIMESTAMP"):  # TIMESTAMP, TIMESTAMP_NS / _MS / _S
        return "timestamp"
    return "other"
