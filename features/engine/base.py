"""The engine contract: register tables, materialise queries, fetch results; SQL transpiled per dialect.

Every transform is a SELECT written once in DuckDB's SQL dialect. An engine runs it
after :func:`render` has transpiled it (sqlglot) to its own dialect, so DuckDB and
Spark run the same definition.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import sqlglot
from sqlglot import exp

SOURCE_DIALECT = "duckdb"
ROW = "_row"  # input order of a raw table's rows, unique
ROW_BITS = 40  # file i's rows are numbered from i << ROW_BITS: _row orders files, then rows
US_SUFFIX = "_us"  # a timestamp held as BIGINT microseconds since the epoch (UTC)
STORE_TZ = "Asia/Shanghai"  # timestamps in the files the job writes are China time
# what :meth:`Engine.column_types` calls each column type
COLUMN_KINDS = ("string", "number", "timestamp", "timestamptz", "other")


@lru_cache(maxsize=512)
def render(sql: str, dialect: str) -> str:
    """`sql` (DuckDB dialect) in the SQL dialect `dialect`."""
    if dialect == SOURCE_DIALECT:
        return sql
    tree = sqlglot.parse_one(sql, read=SOURCE_DIALECT).transform(_known_functions)
    return str(tree.sql(dialect=dialect, pretty=False))


def _known_functions(node: exp.Expression) -> exp.Expression:
    """DuckDB functions sqlglot's DuckDB reader leaves anonymous, as sqlglot's own expressions."""
    if isinstance(node, exp.Anonymous) and str(node.name).lower() == "epoch_us":
        return exp.UnixMicros(this=node.expressions[0])
    return node


def vocab_tokens(texts: Iterable[str | None], vocab: dict[str, str]) -> list[list[str] | None]:
    """For each text, the tokens jieba cuts from it that are words of `vocab`, in order."""
    from features.tags import _tokenizer

    tk = _tokenizer(tuple(sorted(vocab)))
    return [None if t is None else [w for w in tk.lcut(str(t)) if w in vocab] for t in texts]


class Engine(ABC):
    """A relational engine holding named tables for one feature-job run."""

    name: str = ""
    dialect: str = SOURCE_DIALECT

    @abstractmethod
    def put(self, name: str, df: pd.DataFrame) -> None:
        """Make `df` a table called `name`."""

    @abstractmethod
    def create(self, name: str, sql: str, keep: bool = False) -> None:
        """Name the result of the SELECT `sql` (DuckDB dialect) `name`.

        `keep` asks for the result to be computed now and held (a table read many times, or
        one step of an iteration); otherwise an engine may keep it as a lazy view.
        """

    @abstractmethod
    def view(self, name: str, sql: str) -> None:
        """Name the SELECT `sql` (DuckDB dialect) `name`, computed where it is read, not now.

        An engine holding tables in memory keeps it a view (DuckDB: no copy of a wide table);
        one whose views recompute their whole lineage may hold it once first read (Spark).
        """

    @abstractmethod
    def fetch(self, sql: str) -> pd.DataFrame:
        """The result of the SELECT `sql` (DuckDB dialect) as a pandas frame."""

    @abstractmethod
    def read_parquet(self, name: str, paths: Sequence[Path], columns: dict[str, str]) -> None:
        """Make the Parquet files `paths` a lazily read table `name` plus :data:`ROW`.

        `columns` maps each column name as stored to the name the table gives it (the
        files' names lower-cased and stripped); the files may hold different subsets.
        """

    @abstractmethod
    def write_parquet(self, sql: str, path: Path) -> int:
        """Write the result of `sql` to the Parquet file `path`; returns the rows written.

        Every BIGINT column named `<x>_us` is written as the timestamp column `<x>` in China
        time (:func:`store_schema`, the files' format for every reader of the store).
        """

    @abstractmethod
    def column_types(self, name: str) -> dict[str, str]:
        """Each column of table `name` -> one of :data:`COLUMN_KINDS`: 'string', 'number',
        'timestamp' (naive), 'timestamptz' (an instant) or 'other'."""

    @abstractmethod
    def register_tokens(self, fn_name: str, vocab: dict[str, str]) -> None:
        """Make `fn_name(text)` a SQL function: the words of `vocab` that jieba finds in `text`.

        The list keeps jieba's token order and repeats (a NULL text gives NULL). Segmentation
        is :func:`vocab_tokens`, the one :func:`features.tags.keyword_hits` uses; it runs
        vectorised, a batch of texts per Python call.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the engine (temporary tables, sessions)."""

    def scalar(self, sql: str) -> object:
        """The single value of a one-row, one-column SELECT."""
        df = self.fetch(sql)
        return df.iat[0, 0] if len(df) else None

    def columns(self, name: str) -> list[str]:
        """The column names of table `name`, in order."""
        return [str(c) for c in self.fetch(f"SELECT * FROM {name} LIMIT 0").columns]

    def count(self, name: str) -> int:
        """Rows in table `name`."""
        n = self.scalar(f"SELECT count(*) AS n FROM {name}")
        return int(n) if n is not None else 0  # type: ignore[call-overload]

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def store_time_name(column: str) -> str | None:
    """`ts` for `ts_us`: the name a microsecond column has in the store (None if not one)."""
    return column[: -len(US_SUFFIX)] if column.endswith(US_SUFFIX) else None


def store_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with each `<x>_us` integer column as the China-time timestamp column `<x>`."""
    fields = []
    for f in schema:
        name = store_time_name(f.name)
        if name and pa.types.is_integer(f.type):
            fields.append(pa.field(name, pa.timestamp("us", tz=STORE_TZ)))
        else:
            fields.append(f)
    return pa.schema(fields)


def to_store_times(table: pa.Table) -> pa.Table:
    """`table` with each `<x>_us` column cast to the China-time timestamp `<x>`."""
    target = store_schema(table.schema)
    cols = [
        c.cast(pa.timestamp("us", tz="UTC")).cast(f.type) if f.name != s.name else c
        for c, f, s in zip(table.columns, target, table.schema, strict=True)
    ]
    return pa.Table.from_arrays(cols, schema=target)
