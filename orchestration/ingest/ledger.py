"""The raw tables and the load ledger: what landed, when, and what became of each file.

See the package docstring (orchestration.ingest) for how a landing is identified.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.ingest.contract import ENTITIES, file_format

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


# Every landed statement whole (docs/interfaces.md, raw): a rule change is a rebuild of
# staging, never a re-pull. statement_id is the statement's own id, a UUID-shaped MD5 of its
# minified JSON when it has none, NULL when the text is not JSON. The statement text is
# stored zstd-compressed: DuckDB's default choice (FSST or dictionary, analysed segment by
# segment at every checkpoint) kept it 3.7 times larger and made each file's commit slower
# (docs: README, Measured).
STATEMENTS_DDL = """
create table if not exists raw.statements (
    statement_id varchar,
    stored varchar,
    statement varchar using compression zstd,
    source varchar not null,
    _load_id integer not null,
    _source_file varchar not null,
    _row_number bigint not null
)
"""


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, the ledger and one all-text table per entity if missing."""
    con.execute("create schema if not exists raw")
    con.execute(LEDGER_DDL)
    con.execute(STATEMENTS_DDL)
    for spec in ENTITIES.values():
        columns = ",\n    ".join(f"{c} varchar" for c in spec.columns)
        con.execute(
            f"create table if not exists raw.{spec.name} (\n    {columns},\n"
            "    _load_id integer not null,\n    _source_file varchar not null,\n"
            "    _row_number bigint not null\n)"
        )


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


def next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select coalesce(max(load_id), 0) + 1 from raw.load_ledger").fetchone()[0]


def record_landing(
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
    return record_landing(
        con, next_load_id(con), result, UNREADABLE, file_format(path, entity), loaded_at
    )


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
    return record_landing(
        con, next_load_id(con), result, digest, file_format(path, entity), loaded_at
    )


# (file_path, error) of every (entity, path) whose latest ledger entry is ``failed``; plain SQL
# that DuckDB and Spark both run on their own raw.load_ledger.
UNRESOLVED_FAILURES_SQL = """
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


def still_landed(
    failures: list[tuple[str, str]], landing_dir: Path | None
) -> list[tuple[str, str]]:
    """The failures whose path is still in the landing folder (all of them without one)."""
    if landing_dir is None:
        return failures
    return [(path, error) for path, error in failures if (landing_dir / path).is_file()]


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
    return still_landed(con.execute(UNRESOLVED_FAILURES_SQL).fetchall(), landing_dir)
