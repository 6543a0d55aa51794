"""The engine contract: register tables, materialise queries, fetch results; SQL transpiled per dialect.

Every transform is a SELECT written once in DuckDB's SQL dialect. An engine runs it
after :func:`render` has transpiled it (sqlglot) to its own dialect, so DuckDB and
Spark run the same definition.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from types import TracebackType

import pandas as pd
import sqlglot
from sqlglot import exp

SOURCE_DIALECT = "duckdb"
ENGINES = ("duckdb", "spark")
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
    def fetch(self, sql: str) -> pd.DataFrame:
        """The result of the SELECT `sql` (DuckDB dialect) as a pandas frame."""

    @abstractmethod
    def column_types(self, name: str) -> dict[str, str]:
        """Each column of table `name` -> one of :data:`COLUMN_KINDS`: 'string', 'number',
        'timestamp' (naive), 'timestamptz' (an instant) or 'other'."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine (temporary tables, sessions)."""

    def scalar(self, sql: str) -> object:
        """The single value of a one-row, one-column SELECT."""
        df = self.fetch(sql)
        return df.iat[0, 0] if len(df) else None

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


def open_engine(
    name: str, spark_master: str | None = None, memory_limit: str | None = None
) -> Engine:
    """An engine by name: `duckdb` (in-process) or `spark` (local mode or `spark_master`)."""
    if name == "duckdb":
        from features.engine.duck import DuckEngine

        return DuckEngine(memory_limit=memory_limit)
    if name == "spark":
        from features.engine.spark import SparkEngine

        return SparkEngine(master=spark_master)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
