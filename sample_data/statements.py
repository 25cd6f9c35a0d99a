"""The sample's learning activity as xAPI statements (``python -m sample_data --format xapi``).

Many platforms send activity to a Learning Record Store (LRS) as xAPI statements, not as tables.
``convert_activity`` runs after a normal run and rewrites each landed attempts and enrollments
file as statements in ``statements/``: same world and truth, every row exactly as landed, faulty
ones included, so the statement intake can be checked against the truth. An attempts row is an
``evaluated`` statement, line N of ``<stem>.jsonl.gz`` for row N; an enrollments row is a
``registered`` statement, plus ``completed`` when completed_at is given, in ``<stem>.json`` (one
JSON array, a statement per line). An empty value leaves its property out (an empty attempt_id
gives ``"id": ""``). A file DuckDB cannot read (the corrupt Parquet file) becomes
``<stem>.jsonl.gz`` holding half a gzip file: still one unreadable file.

Ids are ``uuid.uuid5(NAMESPACE, key)``, ``key`` the compact JSON text (UTF-8, not escaped) of
``["attempt", attempt_id]``, ``["registered", learner_id, course_id, enrolled_at]`` or
``["completed", learner_id, course_id, completed_at, grade]`` (null when empty), computed in
SQL with sha1: deterministic, and a repeated row repeats its id. Files are read as the loader
reads them (strict CSV, text values, column names in any case) and written by DuckDB's COPY, so
millions of rows stream through with no Python loop. ``post_statements`` sends them to an LRS.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.ingest import contract
from orchestration.ingest.loader import quote_identifier, quote_literal, reader_sql

HOME = "https://lms.sample.skillgap.example"
# uuid.uuid5(uuid.NAMESPACE_URL, HOME): the namespace of every statement id of the sample.
NAMESPACE = uuid.UUID("431b9ce2-9fdd-5c98-966d-a5fba035059a")
EVALUATED = "https://w3id.org/xapi/acrossx/verbs/evaluated"
REGISTERED = "http://adlnet.gov/expapi/verbs/registered"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction"
COURSE = "http://adlnet.gov/expapi/activities/course"
ATTEMPT_EXTENSION = "http://id.tincanapi.com/extension/attempt-id"
STATEMENTS_FOLDER, ACTIVITY_ENTITIES = "statements", ("attempts", "enrollments")
LANDED_NAME = r"{entity}_\d{{4}}-\d{{2}}-\d{{2}}.*\.(csv|parquet)"
WRITTEN_NAME = re.compile(r"(attempts|enrollments)_\d{4}-\d{2}-\d{2}.*\.(jsonl\.gz|json)")
# A number by the contract (decimal point, optional exponent), and the subset JSON spells alike.
NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
JSON_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
LRS_BATCH, XAPI_VERSION = 500, "1.0.3"  # statements per POST, the xAPI version spoken
# What the loader cannot load: an unreadable file, or one without a required column.
UNLOADABLE = (duckdb.InvalidInputException, duckdb.IOException, contract.LandingFileError)
# JSON text around values: an Agent's account (its name follows), a course Activity's end
ACTOR_PREFIX = '{"objectType":"Agent","account":{"homePage":' + json.dumps(HOME) + ',"name":'
COURSE_TYPE = ',"definition":{"type":' + json.dumps(COURSE) + "}}"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# Settings (a large file's sort back into file order spills to disk beyond 2 GB), then SQL helpers
# returning JSON text, NULL for an empty value (so ``coalesce(',"key":' || value, '')`` leaves the
# property out): numbers, strings, the uuid5 of a key, an actor, a course.
SETUP = (
    "set preserve_insertion_order = true; set enable_progress_bar = false",
    "set memory_limit = '2GB'",
    "create macro given(t) as nullif(trim(t), '') is not null",
    "create macro opt(t) as case when given(t) then t end",
    "create macro str_json(t) as to_json(opt(t))::varchar",
    # a number by the contract: the landed text when JSON spells it alike, else the double
    f"create macro num_json(t) as case when regexp_full_match(trim(t), '{NUMBER}') "
    "and isfinite(try_cast(trim(t) as double)) then case when regexp_full_match(trim(t), "
    f"'{JSON_NUMBER}') then trim(t) else to_json(try_cast(trim(t) as double))::varchar "
    "end end",
    # a number when the text is one, else the text as landed
    "create macro value_json(t) as case when given(t) then "
    "coalesce(num_json(t), to_json(t)::varchar) end",
    # a whole number (``2``, ``2.0``) as an integer, else the text as landed
    "create macro int_json(t) as case when regexp_full_match(trim(t), '[+-]?[0-9]{1,15}"
    "(\\.0*)?') then cast(cast(trim(t) as double) as bigint)::varchar else str_json(t) end",
    f"create macro key_hash(k) as sha1(unhex('{NAMESPACE.hex}') || encode(to_json(k)))",
    # RFC 4122 text of a SHA-1 hex digest: version 5, variant bits 10 (uuid.uuid5)
    "create macro uuid_text(h) as substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-5' "
    "|| substr(h, 14, 3) || '-' || translate(substr(h, 17, 1), '0123456789abcdef', "
    "'89ab89ab89ab89ab') || substr(h, 18, 3) || '-' || substr(h, 21, 12)",
    f"create macro actor(learner) as {quote_literal(ACTOR_PREFIX)} || str_json(learner) || '}}}}'",
    'create macro course_activity(course) as \'{"objectType":"Activity","id":\' || to_json('
    f"{quote_literal(HOME + '/courses/')} || opt(course)) || {quote_literal(COURSE_TYPE)}",
)


def _json(value: object) -> str:
    """A SQL literal of the compact JSON text of ``value``."""
    return quote_literal(json.dumps(value, separators=(",", ":")))


@dataclass
class Conversion:
    """What ``convert_activity`` wrote: statements per entity, files, bytes, time."""

    statements: Counter = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)  # readable statements files, landing-relative
    unreadable: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0


def clear_statements(out_dir: Path) -> None:
    """Remove statements files a run wrote before; the folder too when that empties it."""
    folder = Path(out_dir) / STATEMENTS_FOLDER
    for path in folder.glob("*"):
        if path.is_file() and WRITTEN_NAME.fullmatch(path.name):
            path.unlink()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def convert_activity(out_dir: Path) -> Conversion:
    """Rewrite the generator's attempts and enrollments files of ``out_dir`` as statements.

    Only files named like the generator's (``attempts_YYYY-MM-DD*.csv|parquet``) are
    converted and deleted, so nothing a user put there is lost; an emptied folder is removed.
    Files are converted in parallel, each by a cursor of its own.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    (out_dir / STATEMENTS_FOLDER).mkdir(exist_ok=True)
    con = duckdb.connect()
    spill = f"{tempfile.gettempdir()}/skillgap-statements-{os.getpid()}"  # DuckDB removes it
    con.execute(";\n".join(SETUP) + f"; set temp_directory = {quote_literal(spill)}")
    _item_lookup(con, out_dir)
    jobs = [
        (entity, path)
        for entity in ACTIVITY_ENTITIES
        for path in sorted((out_dir / entity).glob("*"))
        if re.fullmatch(LANDED_NAME.format(entity=entity), path.name)
    ]
    cursors = [con.cursor() for _ in jobs]
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        written = list(pool.map(lambda cursor, job: _convert(cursor, *job), cursors, jobs))
    con.close()
    done = Conversion()
    for (entity, path), (target, count) in zip(jobs, written, strict=True):
        relative = f"{STATEMENTS_FOLDER}/{target.name}"
        (done.files if count is not None else done.unreadable).append(relative)
        done.statements[entity] += count or 0
        done.bytes += target.stat().st_size
        path.unlink()
    for folder in (out_dir / entity for entity in ACTIVITY_ENTITIES):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    done.seconds = time.perf_counter() - started
    return done


def _convert(con: duckdb.DuckDBPyConnection, entity: str, path: Path) -> tuple[Path, int | None]:
    """Write the statements of one landed file to ``statements/``: (the file written, its
    statements), or (half a gzip file, None) for a file the loader cannot load."""
    stem = path.parent.parent / STATEMENTS_FOLDER / path.name.removesuffix(path.suffix)
    lines, array = Path(f"{stem}.jsonl.gz"), Path(f"{stem}.json")
    with con:
        try:
            landed = _landed_sql(con, entity, path, f"{entity}/{path.name}")
            query = _attempts_sql(landed) if entity == "attempts" else _enrollments_sql(landed)
            target = lines if entity == "attempts" else array
            written = con.execute(
                f"copy ({query}) to {quote_literal(str(target))} (format csv, header false, "
                "quote '', escape '', delimiter '\x1e', compression 'auto')"
            ).fetchone()[0]
            return target, written - (2 if target == array else 0)  # without [ and ]
        except UNLOADABLE:
            array.unlink(missing_ok=True)
            whole = gzip.compress(path.read_bytes(), mtime=0)
            lines.write_bytes(whole[: len(whole) // 2])  # no gzip reader gets to its end
            return lines, None


def _landed_sql(con: duckdb.DuckDBPyConnection, entity: str, path: Path, relative: str) -> str:
    """A SELECT of the file's contract columns as text, as landed, with row number ``n``."""
    source = reader_sql(path, contract.file_format(path))
    landed = [row[0] for row in con.execute(f"describe select * from {source}").fetchall()]
    spec = contract.ENTITIES[entity]
    mapping = contract.match_columns(spec, landed, relative)
    names = {c: quote_identifier(mapping[c]) if c in mapping else "null" for c in spec.columns}
    columns = [f"cast({names[c]} as varchar) as {c}" for c in spec.columns]
    return f"select {', '.join(columns)}, row_number() over () as n from {source}"


def _item_lookup(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    """Table item_lookup: per item_id its latest landed max_score > 0 (JSON) and course_id."""
    con.execute(
        "create table landed_items (item_key varchar, max_json varchar, "
        "course_id varchar, f integer, n bigint)"
    )
    folder = out_dir / "items"
    paths = sorted(folder.rglob("*")) if folder.is_dir() else []
    visible = (p for p in paths if not contract.is_hidden(p.relative_to(folder).parts))
    for f, path in enumerate(p for p in visible if contract.file_format(p) in ("csv", "parquet")):
        try:
            landed = _landed_sql(con, "items", path, f"items/{path.name}")
            con.execute(
                "insert into landed_items select trim(item_id), num_json(max_score), "
                f"course_id, {f}, n from ({landed}) "
                "where given(item_id) and try_cast(num_json(max_score) as double) > 0"
            )
        except UNLOADABLE:
            continue  # an unreadable items file lands nothing
    con.execute(
        "create table item_lookup as select item_key, max_json, course_id "
        "from landed_items qualify row_number() over "
        "(partition by item_key order by f desc, n desc) = 1"
    )


def _attempts_sql(landed: str) -> str:
    """One ``evaluated`` statement per landed attempts row, in file order."""
    verb = {"id": EVALUATED, "display": {"en": "evaluated"}}
    return f"""
with keyed as (
    select landed.*, lookup.max_json, lookup.course_id as item_course,
        case when given(attempt_id) then key_hash(['attempt', attempt_id]) end as h
    from ({landed}) landed left join item_lookup lookup on lookup.item_key = trim(item_id)
    order by n  -- a join keeps no order: sort the row, not its statement, back into file order
)
select '{{"id":' || coalesce('"' || uuid_text(h) || '"', '""')
    || coalesce(',"actor":' || actor(learner_id), '')
    || ',"verb":' || {_json(verb)}
    || coalesce(',"object":{{"objectType":"Activity","id":'
        || to_json({quote_literal(HOME + "/items/")} || opt(item_id))
        || ',"definition":{{"type":' || {_json(INTERACTION)}
        || coalesce(',"extensions":{{' || {_json(ATTEMPT_EXTENSION)} || ':'
            || int_json(attempt_number) || '}}', '')
        || '}}}}', '')
    || ',"result":{{"score":{{' || coalesce('"raw":' || value_json(score) || ',', '')
    || '"min":0,"max":' || coalesce(max_json, '1') || '}}}}'
    || coalesce(',"context":{{"contextActivities":{{"parent":['
        || course_activity(item_course) || ']}}}}', '')
    || coalesce(',"timestamp":' || str_json(submitted_at), '')
    || '}}' as statement
from keyed
"""


def _enrollments_sql(landed: str) -> str:
    """The lines of one JSON array holding, per landed enrollments row, a ``registered`` and,
    when completed, a ``completed`` statement: ``[``, a statement per line, ``]``."""
    return _array_sql(f"""
with landed as ({landed}), events as (
    select n, 1 as k, learner_id, course_id, enrolled_at as happened, null as grade,
        {_json({"id": REGISTERED})} as verb,
        key_hash(['registered', learner_id, course_id, enrolled_at]) as h
    from landed
    union all
    select n, 2, learner_id, course_id, completed_at, grade, {_json({"id": COMPLETED})},
        key_hash(['completed', learner_id, course_id, completed_at, grade])
    from landed where given(completed_at)
)
select '{{"id":"' || uuid_text(h) || '"'
    || coalesce(',"actor":' || actor(learner_id), '')
    || ',"verb":' || verb
    || coalesce(',"object":' || course_activity(course_id), '')
    || coalesce(',"timestamp":' || str_json(happened), '')
    || case when k = 2 then ',"result":{{"completion":true' || coalesce(',"score":{{"raw":'
        || value_json(grade) || ',"min":0,"max":1,"scaled":' || value_json(grade) || '}}', '')
        || '}}' else '' end
    || '}}' as statement, n, k
from events
""")


def _array_sql(statements: str) -> str:
    """The lines of a JSON array of ``statements`` (statement, n, k) in order of (n, k)."""
    return f"""
select line from (
    select 0 as n, 0 as k, '[' as line
    union all
    select n, k, statement || case when row_number() over (order by n, k) < count(*) over ()
        then ',' else '' end
    from ({statements})
    union all
    select 9223372036854775807, 0, ']'
) order by n, k
"""


class LrsError(RuntimeError):
    """The LRS refused a batch or could not be reached; the message says which and why."""


@dataclass
class Posting:
    """What ``post_statements`` sent: statements, batches, and the ones skipped by reason."""

    endpoint: str
    posted: int = 0
    batches: int = 0
    skipped: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def read_statements(path: Path) -> Iterator[str]:
    """The statements of a file ``convert_activity`` wrote, as JSON text, one at a time: both
    layouts hold one statement per line, so a file streams through in bounded memory."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            text = line.rstrip("\n")
            if text not in ("[", "]", ""):
                yield text.removesuffix(",")


def refusal(statement: dict) -> str | None:
    """Why an xAPI 1.0.3 LRS must refuse ``statement`` (and with it its batch), or None: an id
    that is not a UUID, no actor, verb or object, a score that is not a number or not within
    [min, max] (scaled within [-1, 1]), a timestamp that is not ISO 8601."""
    if not UUID_TEXT.fullmatch(str(statement.get("id"))):
        return "invalid_id"
    account = (statement.get("actor") or {}).get("account") or {}
    if not (account.get("homePage") and account.get("name")):
        return "no_actor"
    for part in ("verb", "object"):
        if not (statement.get(part) or {}).get("id"):
            return f"no_{part}"
    score = (statement.get("result") or {}).get("score") or {}
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in score.values()):
        return "score_not_a_number"
    raw = score.get("raw", 0)
    if not score.get("min", raw) <= raw <= score.get("max", raw) or abs(score.get("scaled", 0)) > 1:
        return "score_out_of_range"
    if "timestamp" in statement:
        try:
            datetime.fromisoformat(statement["timestamp"])
        except (TypeError, ValueError):
            return "bad_timestamp"
    return None


def post_statements(
    out_dir: Path, files: list[str], url: str, user: str, password: str, batch: int = LRS_BATCH
) -> Posting:
    """POST the statements of ``files`` (landing-relative) to the LRS at ``url``, ``batch`` at
    a time, with basic auth; statements an LRS refuses are skipped and counted by reason.

    ``url`` is the xAPI base (``http://127.0.0.1:8100/xAPI/``). Skipped too: an id already sent
    (a batch may not repeat an id; the LRS keeps an id's first statement, and answers 409 to
    one with other content), and a statement without timestamp, which the LRS would stamp with
    the time it stores it: a row the contract rejects (no submitted_at) would become an attempt.
    """
    started = time.perf_counter()
    endpoint = urllib.parse.urljoin(url if url.endswith("/") else url + "/", "statements")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {token}", "X-Experience-API-Version": XAPI_VERSION}
    headers["Content-Type"] = "application/json"
    posting = Posting(endpoint)
    sent: dict[str, int] = {}  # id -> hash of the text sent with it
    pending: list[str] = []
    for relative in files:
        for text in read_statements(Path(out_dir) / relative):
            statement = json.loads(text)
            reason = refusal(statement) or (None if "timestamp" in statement else "no_timestamp")
            if reason is None and statement["id"] in sent:
                same = sent[statement["id"]] == hash(text)
                reason = "repeated_id" if same else "conflicting_id"
            if reason is not None:
                posting.skipped[reason] += 1
                continue
            sent[statement["id"]] = hash(text)
            pending.append(text)
            if len(pending) == batch:
                _send(endpoint, headers, pending, posting)
                pending = []
    if pending:
        _send(endpoint, headers, pending, posting)
    posting.seconds = time.perf_counter() - started
    return posting


def _send(endpoint: str, headers: dict[str, str], texts: list[str], posting: Posting) -> None:
    """POST one batch as a JSON array; raise LrsError unless the LRS stored it."""
    request = urllib.request.Request(endpoint, ("[" + ",".join(texts) + "]").encode(), headers)
    where = f"POST {endpoint} (batch {posting.batches + 1}, {len(texts)} statements)"
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:1000]
        raise LrsError(f"{where}: HTTP {error.code} {detail}") from None
    except urllib.error.URLError as error:
        raise LrsError(f"{where}: {error.reason}") from None
    posting.posted += len(texts)
    posting.batches += 1
