"""Load landing files into ``raw.*`` with a load ledger: each file once, whole or not at all.

The landing contract (docs/landing-contract.md) lets platforms drop CSV or Parquet files with
column names in any case and extra columns. This module turns each new file into rows of
``raw.<entity>`` where every contract column is text, exactly as landed, so that staging can
reject bad values with a reason instead of the loader failing on them. Lineage columns
(``_load_id``, ``_source_file``, ``_row_number``) say where every row came from.

File identity. A landing is identified by (entity folder, path relative to the landing root,
SHA-256 of the bytes), and every landing gets one ``raw.load_ledger`` row:

- The same bytes at the same path load once; any later run skips them (status ``skipped``,
  reported but not written to the ledger) while they are what that path last held. A path
  whose file changed and then changed back (A, B, then A again) lands A again: its upsert
  values become the latest once more.
- Different bytes at a path already loaded (a corrected or replaced file) load as a new
  landing.
- The same bytes at a new path: if an earlier landing of the same entity with those bytes
  (loaded, or itself recorded as renamed) was at a path that no longer exists in the landing
  folder, and none of them is still there, the file was renamed or moved (for example archived
  into a sub-folder): it is recorded with status ``renamed``, ``n_rows`` 0 and ``error``
  naming the earlier path, and no rows load. Otherwise (the earlier file is still there: a
  copy, or a reverted upsert such as d3.csv = d1.csv after d2.csv) it loads as a new landing:
  its upsert values become the latest, and its event rows are exact duplicates in staging.
  "Still there" means the path exists, whatever it holds now.
- Failed landings are keyed the same way: the same failing bytes at the same path are not
  retried (skipped, and still reported by ``unresolved_failures``), but moving the file to
  another folder or path, or changing its bytes, retries it. A file landed in the wrong entity
  folder therefore loads once moved, unchanged, to the right one.
- A file that cannot be read (any ``OSError`` while hashing or loading it, such as permission
  denied, or the file vanishing after discovery) is recorded as ``failed`` with an error naming
  the file and the OS error, and with ``content_hash`` ``'unreadable'`` (never a SHA-256, which
  is 64 hex digits, so it never matches a file). It does not stop the other files, leaves no
  transaction open, and is retried on every run (one ledger row per attempt) until it loads.

A file that lacks a required column, is empty, malformed or of an unsupported type is also
recorded as ``failed``, with an error naming the file and what is wrong; the other files still
load. A failed (entity, path) is unresolved while its latest ledger entry is ``failed``;
``unresolved_failures`` given the landing folder reports only paths still in it, so a failure
at a wrong-folder path stops being reported once the file has been moved away.

Load order is ledger order (``load_id``): entity folders in contract order, then paths. It is
what staging's "the most recently loaded file wins" and "the copy loaded first stays" use.

Pure library: takes a DuckDB connection, no Dagster import.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
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


# docs/landing-contract.md, in the contract's order. Lineage columns are added to each raw table.
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

# content_hash of a file that could not be read. Not 64 hex digits, so no file's SHA-256.
UNREADABLE = "unreadable"

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
    # loaded | failed | renamed (bytes already loaded from a path now gone; no rows) |
    # skipped (these bytes at this path already loaded, renamed or failed; not in the ledger)
    status: str
    n_rows: int = 0
    error: str | None = None  # failed: what is wrong; renamed: the earlier path
    load_id: int | None = None  # its raw.load_ledger row; None when skipped
    content_hash: str | None = None  # as recorded: SHA-256, or UNREADABLE


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

    @property
    def renamed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "renamed"]

    @property
    def skipped(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "skipped"]


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
) -> FileResult:
    """Write the ledger row of ``result``; return it with its load_id and hash."""
    con.execute(
        "insert into raw.load_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            result.file_path,
            result.entity,
            digest,
            fmt,
            result.n_rows if result.status in ("loaded", "renamed") else None,
            loaded_at,
            result.status,
            result.error,
        ],
    )
    return dataclasses.replace(result, load_id=load_id, content_hash=digest)


def unreadable_message(file_path: str, error: OSError) -> str:
    reason = error.strerror or str(error) or "unknown error"
    return f"{file_path}: cannot be read ({type(error).__name__}: {reason}); tried again next run"


def read_error(path: Path) -> OSError | None:
    """The OSError opening and reading ``path`` raises now, or None if it is readable."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        return error
    return None


def record_unreadable(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    path: Path,
    file_path: str,
    error: OSError,
    loaded_at: datetime,
) -> FileResult:
    """Record a file that cannot be read as failed, with the placeholder hash (retried)."""
    result = FileResult(file_path, entity, "failed", error=unreadable_message(file_path, error))
    return _record(con, _next_load_id(con), result, UNREADABLE, file_format(path), loaded_at)


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
        result = _record(con, load_id, result, digest, fmt, loaded_at)
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
        return _record(con, load_id, result, digest, fmt, loaded_at)
    except BaseException:
        con.execute("rollback")
        raise


@dataclass
class LedgerIndex:
    """What the ledger says about landings, to decide what a discovered file is."""

    # (entity, file_path) -> content_hash of its latest loaded, renamed or failed landing
    latest: dict[tuple[str, str], str] = field(default_factory=dict)
    # (entity, content_hash) -> [(load_id, file_path, status)] of loaded or renamed landings
    holders: dict[tuple[str, str], list[tuple[int, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> LedgerIndex:
        index = cls()
        rows = con.execute(
            "select load_id, entity, file_path, content_hash, status from raw.load_ledger "
            "where content_hash <> ? order by load_id",
            [UNREADABLE],
        ).fetchall()
        for load_id, entity, file_path, digest, status in rows:
            index.add(load_id, entity, file_path, digest, status)
        return index

    def add(self, load_id: int, entity: str, file_path: str, digest: str, status: str) -> None:
        if digest == UNREADABLE:
            return
        self.latest[(entity, file_path)] = digest
        if status in ("loaded", "renamed"):
            self.holders[(entity, digest)].append((load_id, file_path, status))

    def renamed_from(self, entity: str, digest: str, present: set[str]) -> tuple[str, int] | None:
        """(earlier path, load_id of its rows) if these bytes moved here from a path now gone.

        None when no earlier landing of the entity has these bytes, or one of them is still in
        the landing folder (then the file is a copy and loads as a new landing).
        """
        earlier = self.holders.get((entity, digest))
        if not earlier or any(path in present for _, path, _ in earlier):
            return None
        loads = [load_id for load_id, _, status in earlier if status == "loaded"]
        return earlier[-1][1], loads[-1] if loads else earlier[-1][0]


def record_rename(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    path: Path,
    file_path: str,
    digest: str,
    earlier: tuple[str, int],
    loaded_at: datetime,
) -> FileResult:
    earlier_path, rows_load_id = earlier
    note = (
        f"{file_path}: renamed from {earlier_path} (same bytes; that path is no longer in the "
        f"landing folder); its rows were loaded by load {rows_load_id}, none loaded again"
    )
    result = FileResult(file_path, entity, "renamed", n_rows=0, error=note)
    return _record(con, _next_load_id(con), result, digest, file_format(path), loaded_at)


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


def unresolved_failures(
    con: duckdb.DuckDBPyConnection, landing_dir: Path | None = None
) -> list[tuple[str, str]]:
    """(file_path, error) of every (entity, path) whose latest ledger entry is ``failed``.

    A later landing at the same path (loaded, or renamed to bytes already loaded) resolves the
    failure. With ``landing_dir``, only paths still in the landing folder are reported: a file
    moved away (say from the wrong entity folder to the right one) is no longer unresolved
    where it was.
    """
    ensure_raw_schema(con)
    failures = con.execute(
        """
        select file_path, error
        from (
            select file_path, error, status, row_number() over (
                partition by entity, file_path order by load_id desc
            ) as recency
            from raw.load_ledger
        )
        where recency = 1 and status = 'failed'
        order by file_path
        """
    ).fetchall()
    if landing_dir is None:
        return failures
    return [(path, error) for path, error in failures if (landing_dir / path).is_file()]
