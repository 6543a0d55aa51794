"""Relational engines that run the feature job's transforms: DuckDB (embedded default) and Spark.

The transforms are SQL written once in DuckDB's dialect (:mod:`features.engine.identity_sql`,
:mod:`features.engine.triples_sql`); :mod:`features.engine.base` transpiles each query with
sqlglot for the engine that runs it.
"""

from __future__ import annotations

from features.engine.base import ENGINES, Engine, open_engine

__all__ = ["ENGINES", "Engine", "open_engine"]
