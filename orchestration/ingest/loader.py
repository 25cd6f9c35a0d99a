"""Reading landing files into raw.*: each new file whole, in one transaction, or not at all."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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


def load_file(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    path: Path,
    file_path: str,
    digest: str,
    loaded_at: datetime,
) -> FileResult:
    """Load one file in one transaction and record it in the ledger, whatever the outcome.

    A file that cannot be read (an OSError, or a DuckDB error while the file cannot be opened
    by Python either) is recorded with the ``UNREADABLE`` hash so that it is retried.
    """
    fmt = file_format(path, entity)
    load_id = next_load_id(con)
    con.execute("begin transaction")
    try:
        if fmt is None:
            raise LandingFileError(f"{file_path}: unsupported file type; {ACCEPTED[entity]}")
        if path.stat().st_size == 0:
            raise LandingFileError(f"{file_path}: the file is empty (not even a header row)")
        if entity == STATEMENTS:
            n_rows = load_statements_file(con, path, fmt, file_path, load_id)
        else:
            n_rows = load_table_file(con, entity, path, fmt, file_path, load_id)
        result = FileResult(file_path, entity, "loaded", n_rows=n_rows)
        result = record_landing(con, load_id, result, digest, fmt, loaded_at)
        con.execute("commit")
        return result
    except (LandingFileError, duckdb.Error, OSError) as error:
        con.execute("rollback")
        os_error = error if isinstance(error, OSError) else None
        if isinstance(error, duckdb.Error):
            os_error = read_error(path)
        if os_error is not None:
            message, digest = unreadable_message(file_path, os_error), UNREADABLE
        elif isinstance(error, LandingFileError):
            message = str(error)
        else:
            message = f"{file_path}: cannot be read as {fmt}: {str(error).splitlines()[0]}"
        result = FileResult(file_path, entity, "failed", error=message)
        return record_landing(con, load_id, result, digest, fmt, loaded_at)
    except BaseException:
        con.execute("rollback")
        raise


def ingest_landing(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Load every new landing in load order and report each file's outcome.

    See the module docstring for what a new landing is: (entity, path, bytes) not seen before,
    except the same bytes moved from a path now gone (``renamed``, no rows). Every failure,
    unreadable files included, is recorded and reported; none stops the other files.
    ``progress(done, total)`` is called before the first file and after each one.
    """
    ensure_raw_schema(con)
    loaded_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    index = LedgerIndex.read(con)
    candidates = [
        (entity, path, path.relative_to(landing_dir).as_posix())
        for entity, path in discover_files(landing_dir)
    ]
    present = {file_path for _, _, file_path in candidates}
    report = IngestReport()
    progress = progress or (lambda done, total: None)
    for done, (entity, path, file_path) in enumerate(candidates):
        progress(done, len(candidates))
        try:
            digest = content_hash(path)
        except OSError as error:
            report.files.append(record_unreadable(con, entity, path, file_path, error, loaded_at))
            continue
        if index.latest.get((entity, file_path)) == digest:
            report.files.append(FileResult(file_path, entity, "skipped"))
            continue
        earlier = index.renamed_from(entity, digest, present)
        if earlier is not None:
            result = record_rename(con, entity, path, file_path, digest, earlier, loaded_at)
        else:
            result = load_file(con, entity, path, file_path, digest, loaded_at)
        index.add(result.load_id, entity, file_path, result.content_hash, result.status)
        report.files.append(result)
    progress(len(report.files), len(candidates))
    return report
