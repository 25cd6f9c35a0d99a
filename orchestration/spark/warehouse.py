"""The spark engine's warehouse as the rest of skillgap sees it.

- The IRT stage reads its inputs and keeps its own tables (``irt.*``, with their history) in a
  DuckDB workspace beside the metastore (``$SKILLGAP_SPARK_HOME/irt_workspace.duckdb``): its
  inputs are copied in from Spark before and its tables copied back to Spark after, so the
  marts read ``irt.*`` from Spark. This is the bridge until the IRT runs on the executors
  (orchestration/spark/irt.py); it holds the responses in the driver's memory.
- The serving file stays a DuckDB file, built from the Parquet files of the Spark marts.
- The refresh summary counts the layers through Spark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.settings import load_settings

# What the IRT assets read from the warehouse besides their own irt.* tables.
IRT_INPUTS = (
    "intermediate.int_irt_responses",
    "intermediate.int_item_candidate_skills",
    "staging.stg_companies",
)
IRT_SCHEMA = "irt"


def pull_tables(spark, con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """Replace each ``schema.table`` of ``names`` in DuckDB with Spark's rows (via Arrow)."""
    for name in names:
        schema = name.split(".")[0]
        frame = spark.table(name)
        # Spark's timestamps are instants (Arrow with a zone); the warehouse's are UTC wall
        # clocks (DuckDB TIMESTAMP): timestamp_ntz in the session's UTC is exactly that.
        frame = frame.select(
            *(
                frame[f.name].cast("timestamp_ntz").alias(f.name)
                if f.dataType.typeName() == "timestamp"
                else frame[f.name]
                for f in frame.schema.fields
            )
        )
        pulled = frame.toArrow()  # noqa: F841 - read by DuckDB's replacement scan
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create or replace table {name} as select * from pulled")


def push_schema(spark, con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """Overwrite Spark's ``schema.*`` with every table of ``schema`` in DuckDB."""
    spark.sql(f"create database if not exists {schema}")
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() where schema_name = ? order by 1", [schema]
        ).fetchall()
    ]
    for table in tables:
        # HUGEINT (response signatures) has no Spark type: decimal(38, 0) holds it exactly.
        columns = con.execute(f"describe {schema}.{table}").fetchall()
        selected = ", ".join(
            f'cast("{c[0]}" as decimal(38, 0)) as "{c[0]}"' if c[1] == "HUGEINT" else f'"{c[0]}"'
            for c in columns
        )
        arrow = con.sql(f"select {selected} from {schema}.{table}").to_arrow_table()
        frame = spark.createDataFrame(arrow)
        frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.{table}")
    return tables


def irt_workspace_path() -> Path:
    return load_settings().spark_home / "irt_workspace.duckdb"


@contextmanager
def irt_workspace(spark) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection holding the IRT inputs from Spark; irt.* goes back on success."""
    path = irt_workspace_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        pull_tables(spark, con, IRT_INPUTS)
        yield con
        push_schema(spark, con, IRT_SCHEMA)
    finally:
        con.close()


def table_location(spark, name: str) -> str:
    """The folder of a Spark table's files (file:, s3a: ... as the catalog says)."""
    rows = spark.sql(f"describe table extended {name}").collect()
    return next(row[1] for row in rows if row[0] == "Location")


def parquet_sources(spark, schema: str) -> dict[str, str]:
    """table -> a DuckDB read_parquet() of its files, for every table of ``schema``."""
    tables = sorted(row.tableName for row in spark.sql(f"show tables in {schema}").collect())
    sources = {}
    for table in tables:
        folder = table_location(spark, f"{schema}.{table}").removeprefix("file:")
        literal = (folder.rstrip("/") + "/*.parquet").replace("'", "''")
        # Spark's timestamps are instants (TIMESTAMPTZ to DuckDB); the marts' are UTC wall
        # clocks (TIMESTAMP), as on the DuckDB engine.
        instants = [
            f.name
            for f in spark.table(f"{schema}.{table}").schema.fields
            if f.dataType.typeName() == "timestamp"
        ]
        replaced = ", ".join(f'timezone(\'UTC\', "{c}") as "{c}"' for c in instants)
        reader = f"read_parquet('{literal}')"
        sources[table] = f"(select * replace ({replaced}) from {reader})" if instants else reader
    return sources


def layer_summary(spark, layers: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """(schema, tables, rows) for each layer, as refresh.layer_summary on DuckDB."""
    databases = {row[0] for row in spark.sql("show databases").collect()}
    summary = []
    for layer in layers:
        names = (
            [row.tableName for row in spark.sql(f"show tables in {layer}").collect()]
            if layer in databases
            else []
        )
        rows = sum(spark.table(f"{layer}.{name}").count() for name in names)
        summary.append((layer, len(names), rows))
    return summary


def accounting(spark) -> list[tuple]:
    try:
        rows = spark.sql(
            "select entity, n_landed, n_cleaned, n_superseded, n_rejected, n_exact_duplicates "
            "from staging.stg_row_accounting order by entity"
        ).collect()
    except Exception:  # noqa: BLE001 - no staging yet: nothing to account
        return []
    return [tuple(row) for row in rows]
