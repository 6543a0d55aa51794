"""The embedded engine: DuckDB in this process, spilling to disk past its memory limit."""

from __future__ import annotations

import tempfile

import duckdb
import pandas as pd

from features.engine.base import Engine


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

    def fetch(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def column_types(self, name: str) -> dict[str, str]:
        described = self.con.execute(f"DESCRIBE {name}").fetchall()
        return {str(row[0]): duck_kind(str(row[1])) for row in described}

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
    if t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return "timestamptz"
    if t.startswith("TIMESTAMP"):  # TIMESTAMP, TIMESTAMP_NS / _MS / _S
        return "timestamp"
    return "other"
