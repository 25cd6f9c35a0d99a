"""Statements pulled from a Learning Record Store into ``raw.statements``, each exactly once.

A pull reads pages (:mod:`orchestration.ingest.lrs_client`) and commits them in batches of
about ``batch_statements``. One transaction per batch writes its new statements, a
``raw.load_ledger`` row (file_path = the LRS endpoint, file_format ``lrs``) and the cursor in
``raw.lrs_cursor``, so a pull stopped anywhere (the LRS down, the process killed) leaves
whole batches and a cursor that names the next page: the next pull resumes there.

Exactly once rests on the statement id, not on the cursor: a batch inserts only the ids this
LRS has not delivered before (``source = 'lrs'`` and the same endpoint), so an overlap, a page
read twice after a resume, or a statement stored at the very instant of the watermark are
harmless. The cursor makes the pull incremental:

- ``since`` paging: the watermark is the greatest ``stored`` of a finished pull; it moves only
  when the pull has read to its end (a page without ``more``), and the next pull asks for
  ``since`` = watermark less ``overlap_seconds``, which also catches statements that became
  visible after others stored later.
- ``search_after`` paging (Ralph): the id of the last statement read, in storage order.

An unfinished pull keeps the ``more`` link after its last committed batch (``resume_url``);
an LRS that no longer honours it (a 4xx) is read again from the watermark instead. Every pull
is logged in ``raw.lrs_pulls`` (status running, complete or failed, with the error), which the
refresh summary reads. Pure library: a DuckDB connection and a config, no Dagster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from orchestration.ingest.contract import STATEMENTS, quote_literal
from orchestration.ingest.ledger import (
    FileResult,
    ensure_raw_schema,
    next_load_id,
    record_landing,
)
from orchestration.ingest.lrs_client import (
    LrsClient,
    LrsConfig,
    LrsCredentialsError,
    LrsError,
    LrsUnavailableError,
    first_page_url,
    uses_search_after,
)
from orchestration.ingest.statements import insert_statements_sql

SOURCE = "lrs"
LRS_FORMAT = "lrs"

LRS_TABLES_DDL = (
    """
create table if not exists raw.lrs_cursor (
    lrs_url varchar primary key,
    paging varchar,
    watermark timestamptz,
    last_id varchar,
    resume_url varchar,
    pending_stored timestamptz,
    updated_at timestamp not null
)
""",
    """
create table if not exists raw.lrs_pulls (
    pull_id integer not null,
    lrs_url varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,
    paging varchar,
    pages integer not null,
    statements_read bigint not null,
    statements_new bigint not null,
    error varchar
)
""",
)


@dataclass
class Cursor:
    """Where the next pull of one LRS starts (a row of raw.lrs_cursor)."""

    paging: str | None = None  # since | search_after; None until the LRS has shown it
    watermark: datetime | None = None
    last_id: str | None = None
    resume_url: str | None = None
    pending_stored: datetime | None = None


@dataclass
class PullReport:
    """What one pull did."""

    lrs_url: str
    pull_id: int
    paging: str | None = None
    status: str = "running"  # complete | failed
    pages: int = 0
    batches: int = 0
    statements_read: int = 0
    statements_new: int = 0
    resumed: bool = False  # started from the `more` link of an unfinished pull
    error: str | None = None
    credentials_refused: bool = False
    started_at: datetime = field(default_factory=lambda: utc_now())
    seconds: float = 0.0


def ensure_lrs_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_raw_schema(con)
    for ddl in LRS_TABLES_DDL:
        con.execute(ddl)


def read_cursor(con: duckdb.DuckDBPyConnection, lrs_url: str) -> Cursor:
    row = con.execute(
        "select paging, watermark, last_id, resume_url, pending_stored from raw.lrs_cursor "
        "where lrs_url = ?",
        [lrs_url],
    ).fetchone()
    return Cursor(*row) if row else Cursor()


def write_cursor(con: duckdb.DuckDBPyConnection, lrs_url: str, cursor: Cursor) -> None:
    con.execute("delete from raw.lrs_cursor where lrs_url = ?", [lrs_url])
    con.execute(
        "insert into raw.lrs_cursor values (?, ?, ?, ?, ?, ?, ?)",
        [
            lrs_url,
            cursor.paging,
            cursor.watermark,
            cursor.last_id,
            cursor.resume_url,
            cursor.pending_stored,
            utc_now(),
        ],
    )


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def page_info(con: duckdb.DuckDBPyConnection, body: str, where: str) -> tuple[int, str | None]:
    """(statements on the page, its ``more`` link), read by DuckDB's JSON functions."""
    valid, kind, count, more = con.execute(
        "select json_valid(b), case when json_valid(b) then json_type(b, '$.statements') end, "
        "case when json_valid(b) then json_array_length(b, '$.statements') end, "
        "case when json_valid(b) then nullif(json_extract_string(b, '$.more'), '') end "
        "from (select ?::varchar as b)",
        [body],
    ).fetchone()
    if not valid or kind != "ARRAY":
        raise LrsError(f"{where}: the answer is not a StatementResult ({body[:200]!r})")
    return count, more


def detect_paging(client: LrsClient, con: duckdb.DuckDBPyConnection) -> str | None:
    """Ralph's id cursor or the standard, from the ``more`` link of a one-statement page;
    None while the LRS holds no statement (nothing to tell by)."""
    url = f"{client.config.endpoint}?limit=1"
    _, more = page_info(con, client.get(url), f"LRS {client.config.url}: GET {url}")
    if more is None:
        return None
    return "search_after" if uses_search_after(more) else "since"


# The statements of the pages in lrs_pages: position, id and stored of each.
READ_SQL = """
create or replace temp table lrs_read as
select page, pos, text,
    json_extract_string(text, '$.id') as id,
    try_cast(json_extract_string(text, '$.stored') as timestamptz) as stored
from (
    select page,
        unnest(json_extract(body, '$.statements[*]'))::varchar as text,
        unnest(range(1, json_array_length(body, '$.statements')::bigint + 1)) as pos
    from lrs_pages
)
"""

# The statements of lrs_read this LRS has not delivered before, once each, in page order.
NEW_TEXTS_SQL = """
select text, row_number() over (order by page, pos) as n
from lrs_read as r
where not exists (
    select 1 from raw.statements as s
    where s.source = 'lrs' and s._source_file = {url} and s.statement_id = r.id
)
qualify row_number() over (partition by coalesce(id, text) order by page, pos) = 1
"""


def commit_batch(
    con: duckdb.DuckDBPyConnection,
    report: PullReport,
    cursor: Cursor,
    pages: list[str],
    next_link: str | None,
) -> None:
    """Write one batch, its ledger row, the cursor and the pull's progress, in one transaction.

    ``next_link`` is the ``more`` link after these pages; None when the pull has reached the
    end, which is when the watermark moves.
    """
    con.execute("begin transaction")
    try:
        con.execute("create or replace temp table lrs_pages (page integer, body json)")
        con.executemany("insert into lrs_pages values (?, ?)", list(enumerate(pages, 1)))
        con.execute(READ_SQL)
        n_read, last_id, greatest = con.execute(
            "select count(*), arg_max(id, page * 1000000 + pos), max(stored) from lrs_read"
        ).fetchone()
        load_id = next_load_id(con)
        texts = NEW_TEXTS_SQL.format(url=quote_literal(report.lrs_url))
        con.execute(insert_statements_sql(texts, load_id, report.lrs_url, SOURCE))
        (n_new,) = con.execute(
            "select count(*) from raw.statements where _load_id = ?", [load_id]
        ).fetchone()
        if n_new:
            result = FileResult(report.lrs_url, STATEMENTS, "loaded", n_rows=n_new)
            digest = f"lrs pull {report.pull_id} batch {report.batches + 1}"
            record_landing(con, load_id, result, digest, LRS_FORMAT, utc_now())
        cursor.last_id = last_id or cursor.last_id
        cursor.pending_stored = max(
            (t for t in (cursor.pending_stored, greatest) if t is not None), default=None
        )
        cursor.resume_url = next_link
        if next_link is None:
            cursor.watermark = max(
                (t for t in (cursor.watermark, cursor.pending_stored) if t is not None),
                default=None,
            )
            cursor.pending_stored = None
        write_cursor(con, report.lrs_url, cursor)
        report.batches += 1
        report.statements_read += n_read
        report.statements_new += n_new
        log_pull(con, report)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def log_pull(con: duckdb.DuckDBPyConnection, report: PullReport) -> None:
    """The pull's row of raw.lrs_pulls, as it stands."""
    con.execute("delete from raw.lrs_pulls where pull_id = ?", [report.pull_id])
    finished = utc_now() if report.status != "running" else None
    con.execute(
        "insert into raw.lrs_pulls values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.pull_id,
            report.lrs_url,
            report.started_at,
            finished,
            report.status,
            report.paging,
            report.pages,
            report.statements_read,
            report.statements_new,
            report.error,
        ],
    )


def start_pull(con: duckdb.DuckDBPyConnection, lrs_url: str) -> PullReport:
    (pull_id,) = con.execute("select coalesce(max(pull_id), 0) + 1 from raw.lrs_pulls").fetchone()
    report = PullReport(lrs_url, pull_id)
    log_pull(con, report)
    return report


def pull_statements(
    con: duckdb.DuckDBPyConnection,
    config: LrsConfig,
    client: LrsClient | None = None,
    on_page: Callable[[PullReport], None] | None = None,
) -> PullReport:
    """Read what the LRS holds beyond the cursor into raw.statements; never raises an
    :class:`LrsError` (the report says what failed, and the batches before it stay).

    ``on_page(report)`` is called after each page is read (progress, and tests that stop the
    LRS in the middle of a pull).
    """
    started = time.perf_counter()
    ensure_lrs_tables(con)
    client = client or LrsClient(config)
    report = start_pull(con, config.url)
    try:
        read_pages(con, client, report, on_page or (lambda _: None))
        report.status = "complete"
    except LrsError as error:
        report.status, report.error = "failed", str(error)
        report.credentials_refused = isinstance(error, LrsCredentialsError)
    report.seconds = time.perf_counter() - started
    log_pull(con, report)
    return report


def read_pages(
    con: duckdb.DuckDBPyConnection,
    client: LrsClient,
    report: PullReport,
    on_page: Callable[[PullReport], None],
) -> None:
    """Follow ``more`` from the cursor to the end, committing a batch every
    ``batch_statements`` statements and at the end."""
    config = client.config
    cursor = read_cursor(con, report.lrs_url)
    if cursor.paging is None:
        cursor.paging = detect_paging(client, con) if config.paging == "auto" else config.paging
    report.paging = cursor.paging
    url, body = first_page(con, client, cursor, report)
    pages: list[str] = []
    in_batch = 0
    seen: set[str] = set()
    while True:
        count, more = page_info(con, body, f"LRS {config.url}: GET {url}")
        report.pages += 1
        on_page(report)
        pages.append(body)
        in_batch += count
        seen.add(url)
        following = client.resolve(more) if more and count else None
        if following in seen:
            raise LrsError(f"LRS {config.url}: its `more` link leads back to {url}")
        if following is None or in_batch >= config.batch_statements:
            commit_batch(con, report, cursor, pages, following)
            pages, in_batch = [], 0
        if following is None:
            return
        url, body = following, client.get(following)


def first_page(
    con: duckdb.DuckDBPyConnection, client: LrsClient, cursor: Cursor, report: PullReport
) -> tuple[str, str]:
    """(url, body) where this pull starts: the resume link of an unfinished pull if the LRS
    still honours it, else the cursor's watermark or last id."""
    config = client.config
    if cursor.resume_url:
        try:
            url = client.resolve(cursor.resume_url)
            report.resumed = True
            return url, client.get(url)
        except (LrsCredentialsError, LrsUnavailableError):
            raise
        except LrsError:
            report.resumed = False  # an expired link: read again from the watermark
            cursor.resume_url = None
    # Auto paging not known yet (an empty LRS): the LRS's own order, everything.
    paging = cursor.paging or "search_after"
    url = first_page_url(config, paging, cursor.watermark, cursor.last_id)
    return url, client.get(url)
