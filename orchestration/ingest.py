"""Load landing files into ``raw.*`` with a load ledger: each file once, whole or not at all.

The landing contract (CONTRACT.md section 1) lets platforms drop CSV or Parquet files with
column names in any case and extra columns. This module turns each new file into rows of
``raw.<entity>`` where every contract column is text, exactly as landed, so that staging can
reject bad values with a reason instead of the loader failing on them. Lineage columns
(``_load_id``, ``_source_file``, ``_row_number``) say where every row came from.

A file is identified by the SHA-256 of its bytes: the same bytes landed again (under any name)
load nothing. A file that cannot be read, or lacks a required column, is recorded in
``raw.load_ledger`` with status ``failed`` and an error naming the file and the column; the
other files still load, and the file loads once it is fixed (new bytes, new hash).

Pure library: takes a DuckDB connection, no Dagster import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class EntitySpec:
    """The contract columns of one landing folder."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


# CONTRACT.md section 1, in the contract's order. Lineage columns are added to each raw table.
ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec("skills", ("skill_id", "skill_name"), ("domain", "parent_skill_id")),
        EntitySpec(
            "companies",
            ("company_id", "industry", "country", "employee_count"),
            ("company_name", "updated_at"),
        ),
        EntitySpec(
            "learners", ("learner_id", "company_id"), ("job_role", "display_name", "updated_at")
        ),
        EntitySpec("courses", ("course_id",), ("title", "level")),
        EntitySpec("course_skills", ("course_id", "skill_id"), ("weight",)),
        EntitySpec("items", ("item_id", "course_id", "max_score"), ("item_type", "skill_id")),
        EntitySpec(
            "attempts",
            ("attempt_id", "learner_id", "item_id", "submitted_at", "score"),
            ("attempt_number",),
        ),
        EntitySpec(
            "enrollments", ("learner_id", "course_id", "enrolled_at"), ("completed_at", "grade")
        ),
    )
}

LINEAGE_COLUMNS = ("_load_id", "_source_file", "_row_number")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

LEDGER_DDL = """
create table if not exists raw.load_ledger (
    load_id integer primary key,
    file_path varchar not null,
    entity varchar not null,
    content_hash varchar not null,
    file_format varchar,
    n_rows bigint,
    loaded_at timestamp not null,
    status varchar not null,
    error varchar
)
"""


class LandingFileError(Exception):
    """A landing file that cannot be loaded; the message names the file and what is wrong."""


@dataclass(frozen=True)
class FileResult:
    """What happened to one landing file in one ingest run."""

    file_path: str
    entity: str
    status: str  # loaded | failed | skipped (bytes already loaded, or already failed as-is)
    n_rows: int = 0
    error: str | None = None


@dataclass
class IngestReport:
    """Per-file outcomes of one ingest run."""

    files: list[FileResult] = field(default_factory=list)

    def rows_loaded(self, entity: str | None = None) -> int:
        return sum(
            f.n_rows
            for f in self.files
            if f.status == "loaded" and (entity is None or f.entity == entity)
        )

    @property
    def loaded(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "loaded"]

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]


def quote_identifier(name: str) -> str:
    """A DuckDB identifier in double quotes, safe for any landed column name."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def file_format(path: Path) -> str | None:
    """``csv``, ``parquet`` or None for a file this loader does not read."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def discover_files(landing_dir: Path) -> Iterator[tuple[str, Path]]:
    """(entity, path) of every candidate file, in load order: entity folder, then path.

    Hidden files (``.DS_Store``, editors' temporary files) are not data and are skipped.
    Files of other types are returned too, so that they are reported rather than ignored.
    """
    for entity in ENTITIES:
        folder = landing_dir / entity
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(
                p.startswith(".") for p in path.relative_to(folder).parts
            ):
                yield entity, path


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, the ledger and one all-text table per entity if missing."""
    con.execute("create schema if not exists raw")
    con.execute(LEDGER_DDL)
    for spec in ENTITIES.values():
        columns = ",\n    ".join(f"{c} varchar" for c in spec.columns)
        con.execute(
            f"create table if not exists raw.{spec.name} (\n    {columns},\n"
            "    _load_id integer not null,\n    _source_file varchar not null,\n"
            "    _row_number bigint not null\n)"
        )


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


def match_columns(spec: EntitySpec, landed: Iterable[str], file_path: str) -> dict[str, str]:
    """Map each contract column to the landed column of the same name, ignoring case.

    Raises LandingFileError naming the file and the first missing required column.
    """
    by_lower: dict[str, str] = {}
    for name in landed:
        key = name.strip().lower()
        if key in by_lower:
            raise LandingFileError(
                f"{file_path}: column {key!r} appears twice (as {by_lower[key]!r} and {name!r})"
            )
        by_lower[key] = name
    missing = [c for c in spec.required if c not in by_lower]
    if missing:
        raise LandingFileError(
            f"{file_path}: missing required column {missing[0]!r}"
            + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + f"; the file has: {', '.join(sorted(by_lower)) or 'no columns'}"
        )
    return {c: by_lower[c] for c in spec.columns if c in by_lower}


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


def _next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select coalesce(max(load_id), 0) + 1 from raw.load_ledger").fetchone()[0]


def _record(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    result: FileResult,
    digest: str,
    fmt: str | None,
    loaded_at: datetime,
) -> None:
    con.execute(
        "insert into raw.load_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            result.file_path,
            result.entity,
            digest,
            fmt,
            result.n_rows if result.status == "loaded" else None,
            loaded_at,
            result.status,
            result.error,
        ],
    )


def load_file(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    path: Path,
    file_path: str,
    digest: str,
    loaded_at: datetime,
) -> FileResult:
    """Load one file in one transaction and record it in the ledger, whatever the outcome."""
    spec = ENTITIES[entity]
    fmt = file_format(path)
    load_id = _next_load_id(con)
    con.execute("begin transaction")
    try:
        if fmt is None:
            raise LandingFileError(
                f"{file_path}: unsupported file type; land .csv (UTF-8, header row) or .parquet"
            )
        if path.stat().st_size == 0:
            raise LandingFileError(f"{file_path}: the file is empty (not even a header row)")
        source = reader_sql(path, fmt)
        mapping = match_columns(spec, landed_columns(con, source), file_path)
        con.execute(insert_sql(spec, source, mapping, load_id, file_path))
        n_rows = con.execute(
            f"select count(*) from raw.{entity} where _load_id = ?", [load_id]
        ).fetchone()[0]
        result = FileResult(file_path, entity, "loaded", n_rows=n_rows)
        _record(con, load_id, result, digest, fmt, loaded_at)
        con.execute("commit")
        return result
    except (LandingFileError, duckdb.Error) as error:
        con.execute("rollback")
        message = (
            str(error)
            if isinstance(error, LandingFileError)
            else (f"{file_path}: cannot be read as {fmt}: {str(error).splitlines()[0]}")
        )
        result = FileResult(file_path, entity, "failed", error=message)
        _record(con, load_id, result, digest, fmt, loaded_at)
        return result


def ingest_landing(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, now: datetime | None = None
) -> IngestReport:
    """Load every landing file whose bytes were not loaded before; report each file's outcome.

    Bytes already loaded are skipped; bytes that failed before are skipped too (they would fail
    the same way) and stay reported as failed by the ledger until fixed bytes land.
    """
    ensure_raw_schema(con)
    loaded_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    seen = dict(
        con.execute(
            "select content_hash, status from raw.load_ledger qualify row_number() "
            "over (partition by content_hash order by status = 'loaded' desc) = 1"
        ).fetchall()
    )
    report = IngestReport()
    for entity, path in discover_files(landing_dir):
        file_path = path.relative_to(landing_dir).as_posix()
        digest = content_hash(path)
        if digest in seen:
            report.files.append(FileResult(file_path, entity, "skipped"))
            continue
        result = load_file(con, entity, path, file_path, digest, loaded_at)
        seen[digest] = result.status
        report.files.append(result)
    return report


def unresolved_failures(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(file_path, error) of failed files not since replaced by a loaded file at the same path."""
    ensure_raw_schema(con)
    return con.execute(
        """
        select failed.file_path, failed.error
        from raw.load_ledger as failed
        where failed.status = 'failed'
          and not exists (
              select 1 from raw.load_ledger as later
              where later.file_path = failed.file_path
                and later.status = 'loaded'
                and later.load_id > failed.load_id
          )
          and failed.load_id = (
              select max(latest.load_id) from raw.load_ledger as latest
              where latest.file_path = failed.file_path
          )
        order by failed.file_path
        """
    ).fetchall()
