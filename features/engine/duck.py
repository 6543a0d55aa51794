"""The embedded engine: DuckDB in this process, spilling to disk past its memory limit."""

from __future__ import annotations

import contextlib
import tempfile

import duckdb
import pandas as pd
import pyarrow as pa
from duckdb.func import PythonUDFType

from features.engine.base import Engine, vocab_tokens

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
