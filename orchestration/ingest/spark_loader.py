"""Landing files into ``raw.*`` on Spark: the DuckDB loader's contract, read by Spark.

Same file identity, ledger, per-file errors and row accounting as :mod:`orchestration.ingest
.loader` (the decisions are the same :class:`LedgerIndex` code); what differs is the reading:
Spark reads each file (CSV as RFC 4180 with a header, failing on a malformed record; Parquet),
every contract column cast to text, with ``_row_number`` in file order; statements files into
``raw.statements`` as DuckDB's loader writes them (:mod:`orchestration.ingest
.spark_statements`). The landing may be a
local folder or a URI on any Hadoop file system Spark reads (``s3a://`` on a cluster): then
listing and content hashes go through Hadoop too (:mod:`orchestration.ingest.spark_landing`).

Whole or not at all: each file is read and materialised (``localCheckpoint``) on its own, so
one that cannot be parsed is recorded as failed and adds no rows; the rows of the files that
loaded are then written with one insert per entity, followed by that entity's ledger rows.
Parquet tables have no transactions, so a run that stops between the two leaves rows without
a ledger row. Each ``raw.<entity>`` is partitioned by ``_load_id`` and load_ids only grow, so
the next ingest first drops the partitions above the ledger's last load_id: the result is
as if the stopped run had not happened (:func:`drop_unledgered_rows`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from orchestration.ingest.contract import (
    ENTITIES,
    LANDING_FOLDERS,
    STATEMENTS,
    LandingFileError,
    file_format,
    match_columns,
)
from orchestration.ingest.ledger import (
    UNREADABLE,
    UNRESOLVED_FAILURES_SQL,
    FileResult,
    IngestReport,
    LedgerIndex,
    still_landed,
    unreadable_message,
)
from orchestration.ingest.loader import ACCEPTED
from orchestration.ingest.spark_landing import (
    LandingFile,
    discover_landing,
    java_message,
    still_landed_uri,
)
from orchestration.ingest.spark_statements import read_statements
from orchestration.settings import is_uri

LEDGER_COLUMNS = (
    ("load_id", "int"),
    ("file_path", "string"),
    ("entity", "string"),
    ("content_hash", "string"),
    ("file_format", "string"),
    ("n_rows", "bigint"),
    ("loaded_at", "timestamp"),
    ("status", "string"),
    ("error", "string"),
)


def ensure_raw_schema(spark) -> None:
    """The raw database, the ledger and one all-text Parquet table per entity, if missing."""
    spark.sql("create database if not exists raw")
    columns = ", ".join(f"{name} {kind}" for name, kind in LEDGER_COLUMNS)
    spark.sql(f"create table if not exists raw.load_ledger ({columns}) using parquet")
    for spec in ENTITIES.values():
        text = ", ".join(f"{c} string" for c in spec.columns)
        spark.sql(
            f"create table if not exists raw.{spec.name} ({text}, _source_file string, "
            "_row_number bigint, _load_id int) using parquet partitioned by (_load_id)"
        )
    spark.sql(
        "create table if not exists raw.statements (statement_id string, stored string, "
        "statement string, source string, _source_file string, _row_number bigint, "
        "_load_id int) using parquet partitioned by (_load_id)"
    )


def drop_unledgered_rows(spark) -> dict[str, list[int]]:
    """Drop the raw rows of loads that have no ledger row (a run stopped between an entity's
    rows and its ledger rows); return the load_ids dropped per entity.

    Load ids only grow and an entity's ledger rows are written right after its rows, so the
    rows to drop are exactly those above the ledger's last load_id: whole ``_load_id``
    partitions, found in the metastore without reading data. A raw table made before it was
    partitioned is rewritten without those rows instead.
    """
    last = spark.sql("select coalesce(max(load_id), 0) from raw.load_ledger").first()[0]
    dropped = {}
    for entity in LANDING_FOLDERS:
        table = f"raw.{entity}"
        if "_load_id" not in {c.name for c in spark.catalog.listColumns(table) if c.isPartition}:
            dropped[entity] = rewrite_without_loads_after(spark, table, last)
            continue
        loads = [
            int(row[0].split("=", 1)[1]) for row in spark.sql(f"show partitions {table}").collect()
        ]
        dropped[entity] = sorted(load for load in loads if load > last)
        for load in dropped[entity]:
            spark.sql(f"alter table {table} drop if exists partition (_load_id = {load})")
    return {entity: loads for entity, loads in dropped.items() if loads}


def rewrite_without_loads_after(spark, table: str, last: int) -> list[int]:
    """``drop_unledgered_rows`` on an unpartitioned raw table: rewrite it through a copy."""
    loads = [
        row[0]
        for row in spark.sql(
            f"select distinct _load_id from {table} where _load_id > {last} order by 1"
        ).collect()
    ]
    if loads:
        kept = f"{table}__kept"
        spark.sql(f"drop table if exists {kept}")
        spark.sql(f"create table {kept} using parquet as select * from {table} "
                  f"where _load_id <= {last}")  # fmt: skip
        spark.sql(f"insert overwrite table {table} select * from {kept}")
        spark.sql(f"drop table {kept}")
    return loads


def read_index(spark) -> tuple[LedgerIndex, int]:
    """The ledger's index and the next load_id."""
    index = LedgerIndex()
    rows = spark.sql(
        "select load_id, entity, file_path, content_hash, status from raw.load_ledger "
        "order by load_id"
    ).collect()
    for load_id, entity, file_path, digest, status in rows:
        index.add(load_id, entity, file_path, digest, status)
    return index, max((row[0] for row in rows), default=0) + 1


def read_file(spark, entity: str, file: LandingFile, file_path: str, load_id: int):
    """The file as raw.<entity> rows (every value text), materialised; raises on a bad file."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    fmt = file_format(file.name, entity)
    if fmt is None:
        raise LandingFileError(f"{file_path}: unsupported file type; {ACCEPTED[entity]}")
    if file.size() == 0:
        raise LandingFileError(f"{file_path}: the file is empty (not even a header row)")
    if entity == STATEMENTS:
        return read_statements(spark, file.location, fmt, file_path, load_id)
    spec = ENTITIES[entity]
    if fmt == "csv":
        frame = spark.read.csv(
            file.location, header=True, sep=",", quote='"', escape='"', mode="FAILFAST",
            inferSchema=False, encoding="UTF-8", multiLine=True, enforceSchema=False,
        )  # fmt: skip
    else:
        frame = spark.read.parquet(file.location)
    mapping = match_columns(spec, frame.columns, file_path)
    order = Window.orderBy("_position")
    frame = frame.withColumn("_position", sf.monotonically_increasing_id())
    selected = [
        sf.col(f"`{mapping[c]}`").cast("string").alias(c)
        if c in mapping
        else sf.lit(None).cast("string").alias(c)
        for c in spec.columns
    ]
    return frame.select(
        *selected,
        sf.lit(load_id).cast("int").alias("_load_id"),
        sf.lit(file_path).alias("_source_file"),
        sf.row_number().over(order).cast("bigint").alias("_row_number"),
    ).localCheckpoint(eager=True)


def failure_message(
    error: Exception, entity: str, file: LandingFile, file_path: str
) -> tuple[str, bool]:
    """(message, unreadable) of a file that did not load."""
    os_error = error if isinstance(error, OSError) else None
    if not isinstance(error, LandingFileError | OSError):
        os_error = file.read_error()
    if os_error is not None:
        return unreadable_message(file_path, os_error), True
    if isinstance(error, LandingFileError):
        return str(error), False
    # A Py4J error's own text only names the JVM call; the Java exception says what is wrong.
    text = java_message(error)
    first = next((line for line in text.splitlines() if line.strip()), type(error).__name__)
    return f"{file_path}: cannot be read as {file_format(file.name, entity)}: {first}", False


class SparkIngest:
    """One ingest run: decisions per file, then the rows and ledger rows per entity."""

    def __init__(self, spark, landing_dir: Path, loaded_at: datetime):
        self.spark, self.landing_dir, self.loaded_at = spark, landing_dir, loaded_at
        self.index, self.next_id = read_index(spark)
        self.frames: list = []
        self.ledger: list[tuple] = []

    def record(self, result: FileResult, digest: str, file: LandingFile) -> FileResult:
        load_id, self.next_id = self.next_id, self.next_id + 1
        n_rows = result.n_rows if result.status in ("loaded", "renamed") else None
        fmt = file_format(file.name, result.entity)
        self.ledger.append(
            (load_id, result.file_path, result.entity, digest, fmt, n_rows, self.loaded_at,
             result.status, result.error)
        )  # fmt: skip
        return dataclasses.replace(result, load_id=load_id, content_hash=digest)

    def load(self, entity: str, file: LandingFile, file_path: str, digest: str) -> FileResult:
        try:
            frame = read_file(self.spark, entity, file, file_path, self.next_id)
            n_rows = frame.count()
        except Exception as error:  # noqa: BLE001 - every reading error is the file's
            message, unreadable = failure_message(error, entity, file, file_path)
            result = FileResult(file_path, entity, "failed", error=message)
            return self.record(result, UNREADABLE if unreadable else digest, file)
        self.frames.append(frame)
        return self.record(FileResult(file_path, entity, "loaded", n_rows=n_rows), digest, file)

    def decide(self, entity: str, file: LandingFile, present: set[str]) -> FileResult:
        file_path = file.file_path
        try:
            digest = file.digest()
        except OSError as error:
            message = unreadable_message(file_path, error)
            return self.record(
                FileResult(file_path, entity, "failed", error=message), UNREADABLE, file
            )
        if self.index.latest.get((entity, file_path)) == digest:
            return FileResult(file_path, entity, "skipped")
        earlier = self.index.renamed_from(entity, digest, present)
        if earlier is None:
            result = self.load(entity, file, file_path, digest)
        else:
            note = (
                f"{file_path}: renamed from {earlier[0]} (same bytes; that path is no longer in "
                f"the landing folder); its rows were loaded by load {earlier[1]}, none loaded again"
            )
            result = FileResult(file_path, entity, "renamed", n_rows=0, error=note)
            result = self.record(result, digest, file)
        self.index.add(result.load_id, entity, file_path, result.content_hash, result.status)
        return result

    def flush(self, entity: str) -> None:
        """Write the loaded rows of ``entity``, then the ledger rows so far."""
        self.write_rows(entity)
        self.write_ledger()
        self.frames, self.ledger = [], []

    def write_rows(self, entity: str) -> None:
        if self.frames:
            union = self.frames[0]
            for frame in self.frames[1:]:
                union = union.unionByName(frame)
            # insertInto is by position: the table's order (the partition column last).
            table = f"raw.{entity}"
            union.select(*self.spark.table(table).columns).write.insertInto(table)

    def write_ledger(self) -> None:
        if self.ledger:
            schema = ", ".join(f"{name} {kind}" for name, kind in LEDGER_COLUMNS)
            self.spark.createDataFrame(self.ledger, schema).write.insertInto("raw.load_ledger")


def ingest_landing_spark(
    spark,
    landing_dir: Path | str,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Load every new landing in load order; the Spark twin of ``ingest_landing``.

    ``landing_dir``: a local folder, or a ``scheme://`` URI read through Hadoop."""
    ensure_raw_schema(spark)
    drop_unledgered_rows(spark)
    run = SparkIngest(spark, landing_dir, (now or datetime.now(UTC)).replace(tzinfo=None))
    candidates = discover_landing(spark, landing_dir)
    present = {file.file_path for _, file in candidates}
    report = IngestReport()
    progress = progress or (lambda done, total: None)
    for done, (entity, file) in enumerate(candidates):
        progress(done, len(candidates))
        report.files.append(run.decide(entity, file, present))
        if done + 1 == len(candidates) or candidates[done + 1][0] != entity:
            run.flush(entity)
    progress(len(report.files), len(candidates))
    return report


def unresolved_failures_spark(
    spark, landing_dir: Path | str | None = None
) -> list[tuple[str, str]]:
    """``unresolved_failures`` on the Spark ledger."""
    ensure_raw_schema(spark)
    failures = [(row[0], row[1]) for row in spark.sql(UNRESOLVED_FAILURES_SQL).collect()]
    if is_uri(landing_dir):
        return still_landed_uri(spark, landing_dir, failures)
    return still_landed(failures, landing_dir)
