"""Relational engines that run the feature job's transforms: DuckDB (embedded default) and Spark.

The transforms are SQL written once in DuckDB's dialect (the `*_sql` modules);
:func:`features.engine.base.render` transpiles each query with sqlglot for the engine that
runs it. :func:`features.engine.factory.open_engine` opens one by name.
"""
