"""Reading landing files into raw.*: each new file whole, in one transaction, or not at all."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.ingest.contract import (
    ENTITIES,
    LINEAGE_COLUMNS,
    STATEMENTS,
    EntitySpec,
    LandingFileError,
    discover_files,
    file_format,
    match_columns,
    quote_identifier,
    quote_literal,
)
from orchestration.ingest.ledger import (
    UNREADABLE,
    FileResult,
    IngestReport,
    LedgerIndex,
    ensure_raw_schema,
    next_load_id,
    record_landing,
    record_rename,
    record_unreadable,
    unreadable_message,
)
from orchestration.ingest.statements import load_statements_file


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def reader_sql(path: Path, fmt: str) -> str:
    """A DuckDB table function reading the file with every column as text.

    CSV is read as RFC 4180 with the dialect fixed (comma, double quotes, header row, strict):
    a sniffer free to guess another dialect would load a malformed file silently wrong
    instead of rejecting it. The sniffer only reads the header.
    """
    literal = quote_literal(str(path))
    if fmt == "csv":
        return (
            f"read_csv({literal}, header = true, delim = ',', quote = '\"', escape = '\"', "
            "all_varchar = true, strict_mode = true, "
            "null_padding = false, encoding = 'utf-8')"
        )
    return f"read_parquet({literal})"


def landed_columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [row[0] for row in con.execute(f"describe select * from {source}").fetchall()]


def insert_sql(
    spec: EntitySpec, source: str, mapping: dict[str, str], load_id: int, file_path: str
) -> str:
    """INSERT ... SELECT that copies the file into raw.<entity>, every value as text.

    Row numbers follow the file's order (DuckDB preserves insertion order for a plain scan).
    Parquet timestamps are rendered as ISO text with their offset by the VARCHAR cast.
    """
    selected = [
        f"cast({quote_identifier(mapping[c])} as varchar) as {c}"
        if c in mapping
        else f"cast(null as varchar) as {c}"
        for c in spec.columns
    ]
    columns = ", ".join(spec.columns + LINEAGE_COLUMNS)
    return (
        f"insert into raw.{spec.name} ({columns})\n"
        f"select {', '.join(selected)}, {load_id}, {quote_literal(file_path)}, "
        f"row_number() over ()\nfrom {source}"
    )


def read_error(path: Path) -> OSError | None:
    """The OSError opening and reading ``path`` raises now, or None if it is readable."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        return error
    return None


ACCEPTED = {
    **dict.fromkeys(ENTITIES, "land .csv (UTF-8, header row) or .parquet"),
    STATEMENTS: "land .json (a statement, an array or a Caliper envelope) or .jsonl / .ndjson "
    "(one statement per line), each optionally gzipped (.gz)",
}


def load_table_file(
    con: duckdb.DuckDBPyConnection, entity: str, path: Path, fmt: str, file_path: str, load_id: int
) -> int:
    """Insert the rows of one CSV or Parquet file (inside the caller's transaction)."""
    source = reader_sql(path, fmt)
    mapping = match_columns(ENTITIES[entity], landed_columns(con, source), file_path)
    con.execute(insert_sql(ENTITIES[entity], source, mapping, load_id, file_path))
    return con.execute(
        f"select count(*) from raw.{entity} where _load_id = ?", [load_id]
    ).fetchone()[0]


# Files loaded at once: each in its own transaction on its own cursor, committed in load
# order. Reading and parsing a file overlaps the commit of the one before it (a commit writes
# and compresses the file's rows). On this project's 2-core machine, statements one at a time,
# two and three at once: 182 files of 6k statements (S) 17.8, 7.7-8.9 and 7.2-7.4 s; 20 files
# of 100k (M) 13.9-14.4, 8.7-8.9 and 8.0-8.1 s (README, Measured). Tables gain nothing: DuckDB
# already reads a CSV file with both cores.
INGEST_WORKERS = 3


@dataclass
class PlannedFile:
    """What the ingest run does with one discovered file, decided before anything loads."""

    entity: str
    path: Path
    file_path: str
    # skip | unreadable | rename | load
    action: str
    digest: str | None = None
    error: OSError | None = None
    earlier: tuple[str, int] | None = None
    # The load's ledger row id, given in load order before any file loads.
    load_id: int | None = None


def plan_files(
    candidates: list[tuple[str, Path, str]], index: LedgerIndex, first_load_id: int
) -> list[PlannedFile]:
    """Hash every candidate and decide, in load order, what becomes of it.

    Every action but a skip writes one ledger row, so the load ids follow from the order. The
    index learns each decision as the sequential loop did, so that a later file with the same
    bytes is judged against it (a load counts as loaded: as a failure it would not change
    any later decision, since a file is only loaded when no gone path held its bytes).
    """
    present = {file_path for _, _, file_path in candidates}
    planned, next_id = [], first_load_id
    for entity, path, file_path in candidates:
        try:
            digest = content_hash(path)
        except OSError as error:
            planned.append(PlannedFile(entity, path, file_path, "unreadable", error=error))
            next_id += 1
            continue
        if index.latest.get((entity, file_path)) == digest:
            planned.append(PlannedFile(entity, path, file_path, "skip", digest))
            continue
        earlier = index.renamed_from(entity, digest, present)
        action = "rename" if earlier is not None else "load"
        planned.append(PlannedFile(entity, path, file_path, action, digest, None, earlier, next_id))
        index.add(next_id, entity, file_path, digest, "renamed" if earlier else "loaded")
        next_id += 1
    return planned


def insert_file(cursor: duckdb.DuckDBPyConnection, planned: PlannedFile) -> int | BaseException:
    """Open a transaction on ``cursor`` (a cursor of its own) and insert the file's rows in
    it, uncommitted: the row count, or what went wrong."""
    cursor.execute("begin transaction")
    try:
        fmt = file_format(planned.path, planned.entity)
        if fmt is None:
            raise LandingFileError(
                f"{planned.file_path}: unsupported file type; {ACCEPTED[planned.entity]}"
            )
        if planned.path.stat().st_size == 0:
            raise LandingFileError(
                f"{planned.file_path}: the file is empty (not even a header row)"
            )
        if planned.entity == STATEMENTS:
            n_rows = load_statements_file(
                cursor, planned.path, fmt, planned.file_path, planned.load_id
            )
        else:
            n_rows = load_table_file(
                cursor, planned.entity, planned.path, fmt, planned.file_path, planned.load_id
            )
        return n_rows
    except BaseException as error:  # noqa: BLE001 - handed to the loading thread, in order
        return error


def finish_file(
    con: duckdb.DuckDBPyConnection,
    planned: PlannedFile,
    cursor: duckdb.DuckDBPyConnection,
    inserted: int | BaseException,
    loaded_at: datetime,
) -> FileResult:
    """Commit the file inserted on ``cursor`` (``inserted``: :func:`insert_file`'s outcome)
    with its ledger row, or roll it back and record why it failed; the cursor is closed.

    A file that cannot be read (an OSError, or a DuckDB error while the file cannot be opened
    by Python either) is recorded with the ``UNREADABLE`` hash so that it is retried.
    """
    error = inserted
    fmt = file_format(planned.path, planned.entity)
    try:
        if not isinstance(error, BaseException):
            result = FileResult(planned.file_path, planned.entity, "loaded", n_rows=error)
            result = record_landing(cursor, planned.load_id, result, planned.digest, fmt, loaded_at)
            cursor.execute("commit")
            return result
    except (LandingFileError, duckdb.Error, OSError) as failed:
        error = failed
    finally:
        if isinstance(error, BaseException):
            # A failed commit has already ended the transaction.
            with contextlib.suppress(duckdb.TransactionException):
                cursor.execute("rollback")
        cursor.close()
    if not isinstance(error, (LandingFileError, duckdb.Error, OSError)):
        raise error
    digest = planned.digest
    os_error = error if isinstance(error, OSError) else None
    if isinstance(error, duckdb.Error):
        os_error = read_error(planned.path)
    if os_error is not None:
        message, digest = unreadable_message(planned.file_path, os_error), UNREADABLE
    elif isinstance(error, LandingFileError):
        message = str(error)
    else:
        message = f"{planned.file_path}: cannot be read as {fmt}: {str(error).splitlines()[0]}"
    result = FileResult(planned.file_path, planned.entity, "failed", error=message)
    return record_landing(con, planned.load_id, result, digest, fmt, loaded_at)


def ingest_landing(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = INGEST_WORKERS,
) -> IngestReport:
    """Load every new landing in load order and report each file's outcome.

    See the module docstring for what a new landing is: (entity, path, bytes) not seen before,
    except the same bytes moved from a path now gone (``renamed``, no rows). Every failure,
    unreadable files included, is recorded and reported; none stops the other files.
    ``progress(done, total)`` is called before the first file and after each one.

    Up to ``workers`` files are read at once, each into its own open transaction; this thread
    commits them one by one in load order. A refresh killed half-way has therefore committed
    exactly the first files of the order, as one file at a time would have.
    """
    ensure_raw_schema(con)
    loaded_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    candidates = [
        (entity, path, path.relative_to(landing_dir).as_posix())
        for entity, path in discover_files(landing_dir)
    ]
    progress = progress or (lambda done, total: None)
    progress(0, len(candidates))
    planned = plan_files(candidates, LedgerIndex.read(con), next_load_id(con))
    loads = [k for k, file in enumerate(planned) if file.action == "load"]
    report = IngestReport()
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="ingest") as pool:
        # Load position -> (its cursor, its read under way or done).
        inserting: dict[int, tuple[duckdb.DuckDBPyConnection, Future]] = {}
        try:
            for done, file in enumerate(planned, 1):
                # Keep the next loads reading while this thread commits.
                for k in loads[: max(1, workers)]:
                    if k not in inserting:
                        cursor = con.cursor()
                        inserting[k] = cursor, pool.submit(insert_file, cursor, planned[k])
                if file.action == "skip":
                    result = FileResult(file.file_path, file.entity, "skipped")
                elif file.action == "unreadable":
                    result = record_unreadable(
                        con, file.entity, file.path, file.file_path, file.error, loaded_at
                    )
                elif file.action == "rename":
                    result = record_rename(
                        con, file.entity, file.path, file.file_path, file.digest, file.earlier,
                        loaded_at,
                    )  # fmt: skip
                else:
                    loads.pop(0)
                    # Left in ``inserting`` until finished: a stop before the commit rolls
                    # it back below.
                    cursor, reading = inserting[done - 1]
                    result = finish_file(con, file, cursor, reading.result(), loaded_at)
                    del inserting[done - 1]
                report.files.append(result)
                progress(done, len(candidates))
        finally:
            # Stopped half-way: the files read but not committed are rolled back (closing a
            # cursor ends its transaction), once their reads are cancelled or over.
            for _, reading in inserting.values():
                reading.cancel()
            for cursor, reading in inserting.values():
                if not reading.cancelled():
                    reading.result()
                cursor.close()
    return report
