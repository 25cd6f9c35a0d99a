"""Publish the marts to the serving file that BI tools open read-only.

The marts are copied into a new DuckDB file beside the serving file, which then replaces it with
an atomic rename. A BI connection holding the old file keeps reading its snapshot (the old inode
stays alive until it disconnects) and sees the new data after reconnecting; a failed refresh
never reaches this step, so the previous serving file stays untouched.

The file is written with ``storage_compatibility_version`` set when the connection opens (a SET
afterwards is too late), so DuckDB 1.x clients such as Metabase's DuckDB driver can open it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

# Readable by every DuckDB from 1.0 on (Metabase's driver bundles 1.5; duckdb-engine any).
STORAGE_COMPATIBILITY_VERSION = "v1.0.0"
SERVED_SCHEMA = "marts"


@dataclass(frozen=True)
class PublishResult:
    path: Path
    tables: dict[str, int]
    bytes: int


def publish_marts(
    warehouse: Path | None,
    serving: Path,
    run_id: str,
    published_at: datetime,
    schema: str = SERVED_SCHEMA,
    sources: dict[str, str] | None = None,
) -> PublishResult:
    """Copy every table of ``schema`` from the warehouse into a fresh serving file, atomically.

    ``sources`` (the spark engine) maps each table to a DuckDB table function reading it, such as
    ``read_parquet(...)`` of a Spark table's files, instead of the DuckDB ``warehouse``.
    Also writes ``main.refresh_info`` (one row per mart: rows, run id, publish time) so that BI
    users can see how fresh the data is.
    """
    serving.parent.mkdir(parents=True, exist_ok=True)
    staging_file = serving.with_name(f".{serving.name}.{os.getpid()}.tmp")
    for leftover in (staging_file, staging_file.with_name(staging_file.name + ".wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(
        str(staging_file),
        config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION},
    )
    try:
        attached = sources is None
        if attached:
            con.execute(f"attach '{warehouse}' as warehouse (read_only)")
            tables = [
                row[0]
                for row in con.execute(
                    "select table_name from duckdb_tables() where database_name = 'warehouse' "
                    "and schema_name = ? order by table_name",
                    [schema],
                ).fetchall()
            ]
            sources = {t: f'warehouse.{schema}."{t}"' for t in tables}
        tables = list(sources)
        if not tables:
            raise RuntimeError(f"{warehouse}: no tables in schema {schema!r} to publish")
        con.execute(f"create schema {schema}")
        counts = {}
        for table in tables:
            con.execute(f'create table {schema}."{table}" as select * from {sources[table]}')
            counts[table] = con.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
        con.execute(
            "create table main.refresh_info (mart varchar, n_rows bigint, run_id varchar, "
            "published_at timestamp)"
        )
        con.executemany(
            "insert into main.refresh_info values (?, ?, ?, ?)",
            [(f"{schema}.{t}", n, run_id, published_at) for t, n in counts.items()],
        )
        if attached:
            con.execute("detach warehouse")
        con.execute("checkpoint")
    except BaseException:
        con.close()
        staging_file.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(staging_file, serving)
    return PublishResult(serving, counts, serving.stat().st_size)
