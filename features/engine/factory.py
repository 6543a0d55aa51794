"""Open an engine by name: the feature job's `--engine duckdb|spark`."""

from __future__ import annotations

from features.engine.base import Engine

ENGINES = ("duckdb", "spark")


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
