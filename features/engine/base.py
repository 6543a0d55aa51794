"""The engine contract: register tables, materialise queries, fetch results; SQL transpiled per dialect.

Every transform is a SELECT written once in DuckDB's SQL dialect. An engine runs it
after :func:`render` has transpiled it (sqlglot) to its own dialect, so DuckDB and
Spark run the same definition.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from functools import lru_cache
from types import TracebackType

import pandas as pd
import sqlglot

SOURCE_DIALECT = "duckdb"
ENGINES = ("duckdb", "spark")


@lru_cache(maxsize=512)
def render(sql: str, dialect: str) -> str:
    """`sql` (DuckDB dialect) in the SQL dialect `dialect`."""
    if dialect == SOURCE_DIALECT:
        return sql
    return str(sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect, pretty=False)[0])


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
    def fetch(self, sql: str) -> pd.DataFrame:
        """The result of the SELECT `sql` (DuckDB dialect) as a pandas frame."""

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
