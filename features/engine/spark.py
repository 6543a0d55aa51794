"""Apache Spark as the feature job's engine: local mode by default, or a cluster by its master URL."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from functools import reduce
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.engine.base import (
    ROW,
    ROW_BITS,
    Engine,
    render,
    store_schema,
    to_store_times,
    vocab_tokens,
)
from features.errors import LinliInputError

log = logging.getLogger(__name__)

LOCAL_MASTER = "local[2]"
# what the executors' Python imports to run the job's jieba UDF (a pandas UDF over Arrow)
EXECUTOR_MODULES = ("pandas", "pyarrow", "jieba", "features.engine.base", "features.tags")
CODEGEN_LOGGER = "org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator"


def check_master(master: str | None) -> None:
    """Raise a one-line error unless `master` looks like a Spark master URL (None is local)."""
    if master is not None and not master.startswith(("local", "spark://", "yarn", "k8s://")):
        raise LinliInputError(
            f"--spark-master {master!r} is not a Spark master URL",
            hint="use local[N], spark://HOST:PORT, yarn or k8s://URL",
        )


def spark_session(master: str | None = None, shuffle_partitions: int = 4) -> object:
    """A SparkSession for the feature job (UI off, few shuffle partitions, Arrow transfers)."""
    # Python UDFs (jieba) run in worker processes: in local mode this interpreter, whose
    # packages the driver has; on a cluster the executors' python3 (with linli installed)
    local = master is None or master.startswith("local")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable if local else "python3")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master or LOCAL_MASTER)
        .appName("linli-features")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")  # see _nanosecond_columns
        .config("spark.driver.memory", os.environ.get("LINLI_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.ui.showConsoleProgress", "false")
        # the JVM's default JIT tiers: with the quick tier alone the code cache (48 MB then)
        # filled within one build of a small world and the JIT turned itself off for the rest
        # of the session, every later query interpreted (1M events: 157 s, now 110 s)
        .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC")
    )
    check_master(master)
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise LinliInputError(
            "--engine spark needs a Java runtime (17 or later) and none is on PATH",
            hint="install one (apt-get install openjdk-17-jre-headless) or use --engine duckdb",
        )
    with warnings.catch_warnings():  # PySpark's notice about pandas 3 (it works here)
        warnings.simplefilter("ignore", FutureWarning)
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _quiet_codegen_fallback(session)
    return session


def check_executors(session: object) -> None:
    """Raise a one-line error unless every executor's Python can run the job's UDF.

    Run first, in seconds: otherwise a worker without linli fails the job at the tags step,
    minutes in, with a Python traceback from another machine.
    """

    def missing(_: object) -> list[tuple[str, str]]:  # on an executor; pickled by value
        import importlib
        import sys

        gone = []
        for module in EXECUTOR_MODULES:
            try:
                importlib.import_module(module)
            except ImportError:
                gone.append((sys.executable, module))
        return gone

    sc = session.sparkContext  # type: ignore[attr-defined]
    n = max(int(sc.defaultParallelism), 1)
    hint = (
        "install linli and its dependencies into the workers' Python, or set PYSPARK_PYTHON "
        "to a Python that has them"
    )
    try:
        gone = sc.parallelize(range(n), n).flatMap(missing).distinct().collect()
    except Exception as exc:  # the executors could not start their Python at all
        raise LinliInputError(
            f"the Spark executors cannot run Python ({sc.pythonExec}): {_task_failure(exc)}",
            hint=hint,
        ) from exc
    if gone:
        by_python: dict[str, list[str]] = {}
        for python, module in gone:
            by_python.setdefault(python, []).append(module)
        lacks = "; ".join(
            f"{python} lacks {', '.join(sorted(mods))}"
            for python, mods in sorted(by_python.items())
        )
        raise LinliInputError(
            f"the Spark executors' Python cannot run the job's UDF: {lacks}", hint=hint
        )


def _task_failure(exc: Exception) -> str:
    """The cause of a failed Spark job in one line (py4j's message wraps a JVM stack trace)."""
    text = str(exc)
    cause = re.search(r"most recent failure: .*?\): (.+)", text)
    if cause:
        return cause.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _quiet_codegen_fallback(session: object) -> None:
    """Silence the code generator's report of a query it could not compile: Spark then runs
    that query interpreted (the job goes on, right), but the report is an ERROR with a stack
    trace of hundreds of lines, which reads as a failure of a job that succeeded."""
    jvm = session.sparkContext._jvm  # type: ignore[attr-defined]
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        CODEGEN_LOGGER, jvm.org.apache.logging.log4j.Level.OFF
    )


class SparkEngine(Engine):
    """Spark SQL over temporary views: a table asked to be kept is checkpointed (computed now,
    no growing lineage); any other created table is cached where first read."""

    name = "spark"
    dialect = "spark"

    def __init__(self, master: str | None = None, session: object | None = None) -> None:
        self.spark = session if session is not None else spark_session(master)
        check_executors(self.spark)
        self._views: list[str] = []

    def put(self, name: str, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        sdf = self.spark.createDataFrame(table)  # type: ignore[attr-defined]
        sdf.createOrReplaceTempView(name)
        self._views.append(name)

    def create(self, name: str, sql: str, keep: bool = False) -> None:
        sdf = self.spark.sql(render(sql, self.dialect))  # type: ignore[attr-defined]
        # kept: computed now, lineage cut (iterations do not grow the plan); else computed
        # where first read, then held (memory, spilling to disk) for the other readers
        sdf = sdf.localCheckpoint(eager=True) if keep else sdf.cache()
        sdf.createOrReplaceTempView(name)
        self._views.append(name)

    def view(self, name: str, sql: str) -> None:
        """A cached table: Spark recomputes a view's whole lineage wherever it is read."""
        self.create(name, sql)

    def fetch(self, sql: str) -> pd.DataFrame:
        with warnings.catch_warnings():  # PySpark's own pandas-3 deprecation notices
            warnings.filterwarnings("ignore", module="pyspark")
            warnings.simplefilter("ignore", FutureWarning)
            out: pd.DataFrame = self.spark.sql(render(sql, self.dialect)).toPandas()  # type: ignore[attr-defined]
        return out

    def read_parquet(self, name: str, paths: Sequence[Path], columns: dict[str, str]) -> None:
        from pyspark.sql import functions as F

        parts = []
        for i, path in enumerate(paths):
            df = self.spark.read.parquet(str(path))  # type: ignore[attr-defined]
            for c, utc in _nanosecond_columns(path).items():  # read as nanoseconds since epoch
                # to the nearest microsecond, halves away from zero (DuckDB's cast), in decimals:
                # a DOUBLE holds 53 bits and would miss some microseconds by one
                ns = F.col(f"`{c}`").cast("decimal(20,0)")
                us = F.timestamp_micros(F.round(ns / F.lit(1000)).cast("bigint"))
                df = df.withColumn(c, us if utc else us.cast("timestamp_ntz"))
            row = (F.lit(i).cast("bigint") * F.lit(1 << ROW_BITS)) + F.col("_metadata.row_index")
            keep = [F.col(f"`{c}`").alias(columns[c]) for c in df.columns if c in columns]
            parts.append(df.select(row.alias(ROW), *keep))
        sdf = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
        sdf.createOrReplaceTempView(name)
        self._views.append(name)

    def write_parquet(self, sql: str, path: Path) -> int:
        """Spark writes its part files (in the query's order); they are joined into `path`.

        The parts are streamed batch by batch into one file with China-time timestamps, so
        the driver holds one batch at a time whatever the table's size.
        """
        parts = path.with_name(path.name + ".parts")
        shutil.rmtree(parts, ignore_errors=True)
        sdf = self.spark.sql(render(sql, self.dialect))  # type: ignore[attr-defined]
        sdf.write.mode("overwrite").parquet(str(parts))
        files = sorted(parts.glob("part-*.parquet"))
        schema = store_schema(pq.read_schema(files[0])) if files else None
        n = 0
        if schema is None:  # no part written: an empty table with the query's columns
            table = to_store_times(sdf.limit(0).toArrow())
            pq.write_table(table, path)
        else:
            with pq.ParquetWriter(path, schema) as writer:
                for f in files:
                    for batch in pq.ParquetFile(f).iter_batches():
                        table = to_store_times(pa.Table.from_batches([batch]))
                        writer.write_table(table.cast(schema))
                        n += table.num_rows
        shutil.rmtree(parts, ignore_errors=True)
        return n

    def column_types(self, name: str) -> dict[str, str]:
        dtypes = self.spark.table(name).dtypes  # type: ignore[attr-defined]
        return {str(c): spark_kind(str(t)) for c, t in dtypes}

    def register_tokens(self, fn_name: str, vocab: dict[str, str]) -> None:
        from pyspark.sql.functions import pandas_udf
        from pyspark.sql.types import ArrayType, StringType

        words = dict(vocab)

        def tokens(texts: pd.Series) -> pd.Series:  # one call per Arrow batch of texts
            return pd.Series(vocab_tokens(texts.tolist(), words), dtype=object)

        with warnings.catch_warnings():  # PySpark's notice about pandas 3 (it works here)
            warnings.simplefilter("ignore", FutureWarning)
            udf = pandas_udf(tokens, ArrayType(StringType()))  # type: ignore[call-overload]
        self.spark.udf.register(fn_name, udf)  # type: ignore[attr-defined]

    def close(self) -> None:
        catalog = self.spark.catalog  # type: ignore[attr-defined]
        for v in set(self._views):
            catalog.dropTempView(v)
        self._views.clear()
        catalog.clearCache()


def _nanosecond_columns(path: Path) -> dict[str, bool]:
    """Columns of a Parquet file holding nanosecond timestamps (pandas' default), each with
    whether it is an instant: Spark reads them only as numbers (`nanosAsLong`)."""
    schema = pq.read_schema(path)
    return {
        f.name: f.type.tz is not None
        for f in schema
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns"
    }


_NUMBER_TYPES = ("tinyint", "smallint", "int", "bigint", "float", "double")


def spark_kind(type_name: str) -> str:
    """A Spark type name (DataFrame.dtypes) as one of :data:`features.engine.base.COLUMN_KINDS`."""
    t = type_name.lower()
    if t == "string" or t.startswith(("varchar", "char")):
        return "string"
    if t in _NUMBER_TYPES or t.startswith("decimal"):
        return "number"
    if t == "timestamp":  # Spark's TIMESTAMP is an instant (shown in the session time zone)
        return "timestamptz"
    if t == "timestamp_ntz":
        return "timestamp"
    return "other"
