"""xAPI statements and Caliper events into ``raw.statements``: one row per statement, whole.

A statements file is parsed by DuckDB's own readers, never statement by statement in Python:
JSON lines (``.jsonl``, ``.ndjson``, gzipped too) are read as lines of text, so a 5 GB file
streams through in bounded memory (the reader's buffer is twice the longest line, whatever the
file's size) and a line that is not JSON keeps its text and line number (staging rejects it as
``invalid_json``, the other lines load). A line longer than ``MAX_LINE_BYTES`` fails its file,
named with its line number. A ``.json`` file is one document:
a statement, an array of statements, or a Caliper envelope whose ``data`` holds the events; a
document that cannot be parsed fails the whole file, named, like a malformed CSV.

Each row keeps the statement's minified JSON text, so every rule of staging (which verb makes
an attempt, how an activity IRI names an item) can change with a rebuild, not a re-pull. The
statement id is the statement's own ``id``; a statement without one (Moodle sends none) gets a
UUID-shaped MD5 of its minified JSON, so byte-identical copies share an id and count as
duplicates. ``_row_number`` is the line number (JSON lines) or the position in the document.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from orchestration.ingest.contract import LandingFileError, quote_literal

# JSON forbids raw control characters outside strings and inside them, so no JSON line holds
# this four-byte delimiter: each line is one column, whatever it contains.
LINE_DELIMITER = "\\x1e\\x1f\\x1d\\x1c"
# The longest line of a JSON-lines file: one statement. 16 MiB is MongoDB's document limit, so
# an LRS on MongoDB (Learning Locker) cannot hold a longer statement. The reader's buffer is
# twice this, which bounds the memory a file of any size needs (DuckDB's default buffer, 16
# times the longest line, made a 1 GB memory limit fail on a 4 GiB block).
MAX_LINE_BYTES = 16 * 1024 * 1024
LINE_BUFFER_BYTES = 2 * MAX_LINE_BYTES
# A .json file is one document, which may hold many statements (an array, an envelope).
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


def statement_texts_sql(path: Path, fmt: str) -> str:
    """A SELECT of (text, n): every statement of the file as JSON text with its position.

    Blank lines are not statements. ``n`` counts every line, so it is the line number.
    """
    literal = quote_literal(str(path))
    if fmt == "jsonl":
        delimiter = LINE_DELIMITER.encode().decode("unicode_escape")
        return (
            "select text, n from ("
            "select line as text, row_number() over () as n "
            f"from read_csv({literal}, columns = {{'line': 'VARCHAR'}}, header = false, "
            f"delim = {quote_literal(delimiter)}, quote = '', escape = '', "
            "auto_detect = false, strict_mode = false, null_padding = false, "
            f"max_line_size = {MAX_LINE_BYTES}, buffer_size = {LINE_BUFFER_BYTES}, "
            # DuckDB's parallel reader silently drops a last line longer than its buffer (and
            # a file that is one such line); one thread reads every line or names the long
            # one. On gzipped files, one thread reads them anyway; plain ones lose ~20%.
            "parallel = false, encoding = 'utf-8')"
            # trim (Unicode blanks) costs more than parsing the line: a '{' first skips it.
            ") where starts_with(text, '{') or nullif(trim(text), '') is not null"
        )
    return (
        "select unnest(statements) as text, unnest(range(1, len(statements) + 1)) as n from ("
        "select case"
        " when json_type(json) = 'ARRAY' then json_extract(json, '$[*]')"
        # A Caliper envelope (sensor, sendTime, dataVersion, data): its events.
        " when json_type(json, '$.data') = 'ARRAY' and json_type(json, '$.actor') is null"
        " then json_extract(json, '$.data[*]')"
        " else [json] end as statements "
        f"from read_json_objects({literal}, format = 'unstructured', "
        f"maximum_object_size = {MAX_DOCUMENT_BYTES}))"
    )


# A UUID-shaped text from the MD5 of a statement's minified JSON.
HASH_ID_SQL = (
    "regexp_replace(md5({text}), '^(.{{8}})(.{{4}})(.{{4}})(.{{4}})(.{{12}})$', "
    "'\\1-\\2-\\3-\\4-\\5')"
)


def insert_statements_sql(texts_sql: str, load_id: int, file_path: str, source: str) -> str:
    """INSERT ... SELECT of the statements of ``texts_sql`` (text, n) into raw.statements.

    Each text is parsed twice: ``json(text)``, its minified text (NULL where it is not valid
    JSON, as ``json_valid`` says), and both members ``id`` and ``stored`` of that in one
    ``json_extract``. A member absent is NULL there, a member ``null`` the JSON ``null``
    (whose text ``->> '$'`` is NULL): a statement ``{"id": null, ...}`` has no statement_id,
    one without ``id`` (or a JSON value that is not an object) takes the hash.
    """
    return f"""
insert into raw.statements
select
    case
        when minified is null then null
        when is_object and members[1] is not null then members[1] ->> '$'
        else {HASH_ID_SQL.format(text="minified")}
    end as statement_id,
    case when is_object then members[2] ->> '$' end as stored,
    coalesce(minified, text) as statement,
    {quote_literal(source)} as source,
    {load_id} as _load_id,
    {quote_literal(file_path)} as _source_file,
    n as _row_number
from (
    select
        text,
        n,
        minified,
        starts_with(minified, '{{') as is_object,
        case when starts_with(minified, '{{')
            then json_extract(minified, ['$.id', '$.stored']) end as members
    from (
        select text, n, try(json(text))::varchar as minified
        from ({texts_sql})
    )
)
"""


def load_statements_file(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, file_path: str, load_id: int
) -> int:
    """Insert the statements of one file (inside the caller's transaction); their count."""
    try:
        con.execute(
            insert_statements_sql(statement_texts_sql(path, fmt), load_id, file_path, "file")
        )
    except duckdb.InvalidInputException as error:
        message = line_too_long_message(str(error), file_path)
        if message is None:
            raise
        raise LandingFileError(message) from error
    return con.execute(
        "select count(*) from raw.statements where _load_id = ?", [load_id]
    ).fetchone()[0]


def line_too_long_message(error: str, file_path: str) -> str | None:
    """What to say when DuckDB's line reader stopped at a line over ``MAX_LINE_BYTES``; None
    for any other error."""
    found = re.search(
        r"CSV Error on Line: (\d+).*Maximum line size.*Actual Size:\s*(\d+) bytes", error, re.S
    )
    if found is None:
        return None
    line, size = int(found.group(1)), int(found.group(2))
    return (
        f"{file_path}: line {line:,} is {size:,} bytes, longer than the "
        f"{MAX_LINE_BYTES // (1024 * 1024)} MiB a statement line may hold; no statement of this "
        "file was loaded"
    )
