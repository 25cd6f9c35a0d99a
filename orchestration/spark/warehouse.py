"""The spark engine's warehouse as the rest of skillgap sees it.

- The IRT stage keeps its own tables (``irt.*``, with their history) in a DuckDB workspace
  beside the metastore (``$SKILLGAP_SPARK_HOME/irt_workspace.duckdb``) and reads the Spark
  tables it needs in place: they are DuckDB views of their Parquet files, so no response is
  copied and DuckDB streams what each query needs. The fitting runs on the executors
  (orchestration/spark/irt_stage.py). ``irt.*`` is copied to Spark after the stage, so the
  marts read it from Spark.
- The serving file stays a DuckDB file, built from the Parquet files of the Spark marts.
- The refresh summary counts the layers through Spark.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.settings import file_uri_path, load_settings

# What the IRT assets read from the warehouse besides their own irt.* tables.
IRT_INPUTS = (
    "intermediate.int_irt_responses",
    "intermediate.int_item_candidate_skills",
    "staging.stg_companies",
)
IRT_SCHEMA = "irt"
# The table property holding the content fingerprint of what push_schema last wrote
FINGERPRINT = "skillgap.content_fingerprint"
# Temporary views of the IRT stage start with this (orchestration/spark/irt_stage.py).
TEMPORARY_PREFIX = "skillgap_"


def attach_tables(spark, con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """Make each Spark table ``schema.table`` of ``names`` a DuckDB view of its Parquet files:
    nothing is copied, DuckDB reads what each query needs when it runs."""
    for name in names:
        schema = name.split(".")[0]
        con.execute(f"create schema if not exists {schema}")
        kind = con.execute(
            "select table_type from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            name.split("."),
        ).fetchone()
        if kind and kind[0] == "BASE TABLE":  # a copy made by an earlier version
            con.execute(f"drop table {name}")
        con.execute(f"create or replace view {name} as select * from {parquet_source(spark, name)}")


def arrow_frame(spark, arrow):
    """A Spark DataFrame of an Arrow table; an empty one keeps its schema (Spark cannot build
    a frame from an Arrow table without chunks)."""
    if arrow.num_rows == 0:
        from pyspark.sql.pandas.types import from_arrow_schema

        return spark.createDataFrame([], from_arrow_schema(arrow.schema))
    return spark.createDataFrame(arrow)


def push_schema(spark, con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """Overwrite Spark's ``schema.*`` with every table of ``schema`` in DuckDB.

    DuckDB streams each table into Parquet files in Spark's warehouse folder, and the Spark
    table is pointed at them: no table passes through the driver's memory (the abilities
    are one row per learner and skill). A warehouse DuckDB cannot write (object storage)
    takes the Arrow path through the driver's memory instead (docs/scale-out.md). A table
    whose content fingerprint equals the one stored on the Spark table is not written again.
    """
    spark.sql(f"create database if not exists {schema}")
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() where schema_name = ? order by 1", [schema]
        ).fetchall()
    ]
    folder = local_folder(spark.conf.get("spark.sql.warehouse.dir"))
    for table in tables:
        name = f"{schema}.{table}"
        query = f"select {spark_columns(con, name)} from {name}"
        fingerprint = content_fingerprint(con, query)
        if pushed_fingerprint(spark, name) == fingerprint:
            continue  # unchanged since the last push (calibration leaves the abilities alone)
        if folder is None:
            frame = arrow_frame(spark, con.sql(query).to_arrow_table())
            frame.write.mode("overwrite").format("parquet").saveAsTable(name)
        else:
            copy_to_spark(spark, con, query, name, folder / "duckdb" / schema / table)
        spark.sql(f"alter table {name} set tblproperties ('{FINGERPRINT}' = '{fingerprint}')")
    return tables


def content_fingerprint(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """A digest of the columns and rows of ``query``, whatever their order: one scan, much
    cheaper than writing the table again."""
    columns = con.execute(f"describe {query}").fetchall()
    [(rows, total)] = con.execute(f"select count(*), sum(hash(q)) from ({query}) q").fetchall()
    return hashlib.sha256(f"{columns}|{rows}|{total}".encode()).hexdigest()


def pushed_fingerprint(spark, name: str) -> str | None:
    """The fingerprint the last push stored on Spark's table ``name``, if any."""
    if not spark.catalog.tableExists(name):
        return None
    properties = dict(tuple(row) for row in spark.sql(f"show tblproperties {name}").collect())
    return properties.get(FINGERPRINT)


def spark_columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The select list that gives a DuckDB table Spark's types in Parquet."""
    selected = []
    for name, kind, *_ in con.execute(f"describe {table}").fetchall():
        if kind == "HUGEINT":  # response signatures: no Spark type; decimal(38, 0) holds it
            selected.append(f'cast("{name}" as decimal(38, 0)) as "{name}"')
        elif kind == "TIMESTAMP":  # UTC wall clocks; as instants Spark reads them as timestamp
            selected.append(f'timezone(\'UTC\', "{name}") as "{name}"')
        else:
            selected.append(f'"{name}"')
    return ", ".join(selected)


def local_folder(location: str) -> Path | None:
    """The local folder of a ``file:`` (or scheme-less) location; None for any other scheme."""
    if location.startswith("file:"):
        return file_uri_path(location)
    return None if "://" in location else Path(location)


def copy_to_spark(spark, con: duckdb.DuckDBPyConnection, query: str, name: str, home: Path):
    """Write ``query`` as Parquet in a new folder under ``home`` and make ``name`` read it.

    Each push writes a new version folder and re-points the table, then removes the older
    versions, so a push stopped half way leaves the previous table intact.
    """
    version = home / f"v{time.time_ns()}"
    version.mkdir(parents=True)
    target = str(version / "data.parquet").replace("'", "''")
    con.execute(f"copy ({query}) to '{target}' (format parquet)")
    # An external table: dropping it later keeps the files; a managed table of an older
    # version of skillgap is dropped with its files.
    spark.sql(f"drop table if exists {name}")
    spark.sql(f"create table {name} using parquet location '{version.as_uri()}'")
    for old in home.iterdir():
        if old != version:
            shutil.rmtree(old)


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
        attach_tables(spark, con, IRT_INPUTS)
        yield con
        push_schema(spark, con, IRT_SCHEMA)
    finally:
        con.close()
        # the temporary views the executor IRT made of the workspace's tables
        for table in spark.catalog.listTables():
            if table.isTemporary and table.name.startswith(TEMPORARY_PREFIX):
                spark.catalog.dropTempView(table.name)


def table_location(spark, name: str) -> str:
    """The folder of a Spark table's files (file:, s3a: ... as the catalog says)."""
    rows = spark.sql(f"describe table extended {name}").collect()
    return next(row[1] for row in rows if row[0] == "Location")


def table_names(spark, schema: str) -> list[str]:
    """The tables of ``schema`` (SHOW TABLES also lists every temporary view)."""
    rows = spark.sql(f"show tables in {schema}").collect()
    return [row.tableName for row in rows if not row.isTemporary]


def parquet_source(spark, name: str) -> str:
    """A DuckDB ``read_parquet()`` of the files of Spark's table ``name``."""
    # dbt rewrites tables through its own Thrift session; this session may cache the old files.
    spark.catalog.refreshTable(name)
    location = table_location(spark, name)
    folder = str(local_folder(location) or location)
    literal = (folder.rstrip("/") + "/*.parquet").replace("'", "''")
    # Spark's timestamps are instants (TIMESTAMPTZ to DuckDB); the warehouse's are UTC wall
    # clocks (TIMESTAMP), as on the DuckDB engine.
    instants = [
        f.name for f in spark.table(name).schema.fields if f.dataType.typeName() == "timestamp"
    ]
    replaced = ", ".join(f'timezone(\'UTC\', "{c}") as "{c}"' for c in instants)
    reader = f"read_parquet('{literal}')"
    return f"(select * replace ({replaced}) from {reader})" if instants else reader


def parquet_sources(spark, schema: str) -> dict[str, str]:
    """table -> ``parquet_source`` of it, for every table of ``schema``."""
    tables = sorted(table_names(spark, schema))
    return {table: parquet_source(spark, f"{schema}.{table}") for table in tables}


def layer_summary(spark, layers: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """(schema, tables, rows) for each layer, as refresh.layer_summary on DuckDB."""
    databases = {row[0] for row in spark.sql("show databases").collect()}
    summary = []
    for layer in layers:
        names = table_names(spark, layer) if layer in databases else []
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
