"""``--format xapi``: the same world, its attempts and enrollments landed as xAPI statements.

Guards what the statement intake and its comparison with the truth rely on: the catalog, HR
tables and truth are byte-identical to a tables run of the seed; every landed attempts and
enrollments row, faulty ones included, becomes its statements exactly as landed (checked for
every row against a reference written here from the landed tables); ids are deterministic
UUIDs; the corrupt file stays the one unreadable file; ``--format tables`` (the default) writes
what it always wrote. Posting: batches, headers, and no statement an LRS would refuse.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import json
import math
import re
import threading
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from sample_data import generate
from sample_data.__main__ import main
from sample_data.statements import (
    ATTEMPT_EXTENSION,
    COMPLETED,
    COURSE,
    EVALUATED,
    HOME,
    INTERACTION,
    NAMESPACE,
    REGISTERED,
    LrsError,
    post_statements,
    read_statements,
    refusal,
)

# Big enough for every attempt fault, among them the corrupt Parquet file (day 4).
SIZE = {"companies": 10, "learners": 1500, "days": 12, "seed": 1, "start_date": "2026-03-01"}
SMALL = {"companies": 6, "learners": 150, "days": 5, "seed": 2, "start_date": "2026-03-01"}
ACTIVITY = ("attempts", "enrollments")
NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
WHOLE = re.compile(r"[+-]?[0-9]{1,15}(\.0*)?")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] not in skip
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> SimpleNamespace:
    """A tables run and two xapi runs of the same seed."""
    root = tmp_path_factory.mktemp("statements")

    def run(name: str, **kwargs) -> dict:
        return generate(root / name / "landing", root / name / "truth", **SIZE, **kwargs)

    return SimpleNamespace(
        root=root,
        tables=run("tables"),
        xapi=run("xapi", activity_format="xapi"),
        again=run("again", activity_format="xapi"),
    )


# ---------------------------------------------------------------------------------------------
# A reference: the statements of the landed rows, written independently of the converter


def _given(text: str | None) -> bool:
    return text is not None and text.strip() != ""


def _read(path: Path) -> list[dict[str, str | None]]:
    """The rows of a landed table file, text as landed (None when empty), lower-case names."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [name.strip().lower() for name in next(reader)]
            return [{h: v or None for h, v in zip(header, row, strict=True)} for row in reader]
    relation = duckdb.sql(f"select * from read_parquet('{path}')")
    cast = ", ".join(f'cast("{c}" as varchar) as "{c.lower()}"' for c in relation.columns)
    relation = duckdb.sql(f"select {cast} from read_parquet('{path}')")
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def _files(landing: Path, entity: str, corrupt: list[str]) -> list[Path]:
    paths = sorted((landing / entity).iterdir())
    return [p for p in paths if f"{entity}/{p.name}" not in corrupt]


def _corrupt(run: str, runs) -> list[str]:
    return json.loads((runs.root / run / "truth" / "faults.json").read_text())["corrupt_files"]


def _number(text: str) -> float | str:
    value = text.strip()
    if NUMBER.fullmatch(value) and math.isfinite(float(value)):
        return float(value)
    return text


def _id(*key: str | None) -> str:
    text = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False)
    return str(uuid.uuid5(NAMESPACE, text))


def _actor(learner_id: str | None) -> dict:
    if not _given(learner_id):
        return {}
    return {"actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": learner_id}}}


def _course(course_id: str) -> dict:
    return {
        "objectType": "Activity",
        "id": f"{HOME}/courses/{course_id}",
        "definition": {"type": COURSE},
    }


def _items(landing: Path) -> dict[str, tuple[float, str | None]]:
    """item_id -> (max_score, course_id) of its latest landed row with a max_score > 0."""
    items: dict[str, tuple[float, str | None]] = {}
    for path in sorted((landing / "items").iterdir()):
        for row in _read(path):
            max_score = _number(row["max_score"] or "")
            if _given(row["item_id"]) and isinstance(max_score, float) and max_score > 0:
                items[row["item_id"].strip()] = (max_score, row["course_id"])
    return items


def _attempt(row: dict[str, str | None], items: dict) -> dict:
    attempt_id, item_id, number = row["attempt_id"], row["item_id"], row.get("attempt_number")
    statement = {"id": _id("attempt", attempt_id) if _given(attempt_id) else ""}
    statement |= _actor(row["learner_id"])
    statement["verb"] = {"id": EVALUATED, "display": {"en": "evaluated"}}
    if _given(item_id):
        definition: dict = {"type": INTERACTION}
        if _given(number):
            whole = int(float(number)) if WHOLE.fullmatch(number.strip()) else number
            definition["extensions"] = {ATTEMPT_EXTENSION: whole}
        object_id = f"{HOME}/items/{item_id}"
        statement["object"] = {"objectType": "Activity", "id": object_id, "definition": definition}
    max_score, course_id = items.get((item_id or "").strip(), (1, None))
    score = {"raw": _number(row["score"])} if _given(row["score"]) else {}
    statement["result"] = {"score": score | {"min": 0, "max": max_score}}
    if _given(course_id):
        statement["context"] = {"contextActivities": {"parent": [_course(course_id)]}}
    if _given(row["submitted_at"]):
        statement["timestamp"] = row["submitted_at"]
    return statement


def _enrollment(row: dict[str, str | None]) -> Iterator[dict]:
    learner_id, course_id = row["learner_id"], row["course_id"]
    course = {"object": _course(course_id)} if _given(course_id) else {}
    enrolled_at, completed_at, grade = row["enrolled_at"], row["completed_at"], row["grade"]
    registered = {"id": _id("registered", learner_id, course_id, enrolled_at)}
    registered |= _actor(learner_id) | {"verb": {"id": REGISTERED}} | course
    yield registered | ({"timestamp": enrolled_at} if _given(enrolled_at) else {})
    if _given(completed_at):
        completed = {"id": _id("completed", learner_id, course_id, completed_at, grade)}
        completed |= _actor(learner_id) | {"verb": {"id": COMPLETED}} | course
        result: dict = {"completion": True}
        if _given(grade):
            value = _number(grade)
            result["score"] = {"raw": value, "min": 0, "max": 1, "scaled": value}
        yield completed | {"timestamp": completed_at, "result": result}


def _statements(path: Path) -> list[dict]:
    if path.name.endswith(".jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# The landing


def test_the_catalog_hr_tables_and_truth_are_those_of_the_tables_run(runs):
    tables, xapi = runs.root / "tables", runs.root / "xapi"
    assert _digest(xapi / "landing", skip=("statements",)) == _digest(
        tables / "landing", skip=ACTIVITY
    )
    assert _digest(xapi / "truth") == _digest(tables / "truth")
    assert sorted(p.name for p in (xapi / "landing").iterdir()) == [
        "companies",
        "course_skills",
        "courses",
        "items",
        "learners",
        "statements",
    ]


def test_every_landed_row_is_its_statements_exactly_as_landed(runs):
    landing, statements = runs.root / "tables" / "landing", runs.root / "xapi" / "landing"
    items, corrupt = _items(landing), _corrupt("tables", runs)
    n_rows = {entity: 0 for entity in ACTIVITY}
    for entity in ACTIVITY:
        for path in _files(landing, entity, corrupt):
            rows = _read(path)
            n_rows[entity] += len(rows)
            if entity == "attempts":
                expected = [_attempt(row, items) for row in rows]
                written = statements / "statements" / f"{path.stem}.jsonl.gz"
            else:
                expected = [statement for row in rows for statement in _enrollment(row)]
                written = statements / "statements" / f"{path.stem}.json"
            assert _statements(written) == expected, written.name
    # every landed row, the faulty ones included, as the generator's ledger counts them
    assert n_rows == {entity: runs.tables["landed_rows"][entity] for entity in ACTIVITY}
    conversion = runs.xapi["statements"]
    assert conversion.statements["attempts"] == runs.xapi["landed_rows"]["attempts"]
    assert conversion.statements["enrollments"] >= runs.xapi["landed_rows"]["enrollments"]


def test_the_faulty_rows_are_there(runs):
    """Missing ids and values, text scores and bad timestamps land as such, not cleaned up."""
    attempts = [
        statement
        for path in sorted((runs.root / "xapi" / "landing" / "statements").glob("attempts*"))
        if path.name not in [Path(f).name for f in runs.xapi["statements"].unreadable]
        for statement in _statements(path)
    ]
    reasons = {refusal(statement) for statement in attempts}
    assert reasons == {
        None,
        "invalid_id",
        "no_actor",
        "no_object",
        "score_not_a_number",
        "score_out_of_range",
        "bad_timestamp",
    }
    assert any("raw" not in s["result"]["score"] for s in attempts)
    assert any("timestamp" not in s for s in attempts)


def test_the_corrupt_file_is_the_one_unreadable_file(runs):
    (corrupt,) = _corrupt("xapi", runs)
    stem = Path(corrupt).name.removesuffix(".parquet")
    assert runs.xapi["statements"].unreadable == [f"statements/{stem}.jsonl.gz"]
    path = runs.root / "xapi" / "landing" / "statements" / f"{stem}.jsonl.gz"
    with pytest.raises((EOFError, gzip.BadGzipFile, zlib.error)):
        gzip.decompress(path.read_bytes())
    with pytest.raises(duckdb.Error):
        duckdb.sql(
            f"select * from read_csv('{path}', header = false, all_varchar = true)"
        ).fetchall()
    readable = [
        path
        for path in sorted((runs.root / "xapi" / "landing" / "statements").iterdir())
        if path.name != f"{stem}.jsonl.gz"
    ]
    assert [f"statements/{p.name}" for p in readable] == sorted(runs.xapi["statements"].files)
    for path in readable:
        assert isinstance(_statements(path), list)


def test_ids_are_deterministic_uuids(runs):
    first, again = runs.root / "xapi" / "landing", runs.root / "again" / "landing"
    assert _digest(first) == _digest(again)
    ids = [
        json.loads(text)["id"]
        for name in runs.xapi["statements"].files
        for text in read_statements(first / name)
    ]
    assert all(UUID.fullmatch(statement_id) for statement_id in ids if statement_id)
    assert len(set(ids)) > 0.95 * len(ids)  # repeats are the rows landed twice


def test_the_default_format_writes_what_it_always_wrote(tmp_path):
    generate(tmp_path / "default" / "landing", tmp_path / "default" / "truth", **SMALL)
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in SMALL.items()]
    main([*flags, "--format", "tables", "--out", str(tmp_path / "tables" / "landing")])
    assert _digest(tmp_path / "tables") == _digest(tmp_path / "default")
    assert not (tmp_path / "default" / "landing" / "statements").exists()
    # a tables run over an xapi landing leaves the tables landing, no statements
    again = tmp_path / "again"
    generate(again / "landing", again / "truth", **SMALL, activity_format="xapi")
    generate(again / "landing", again / "truth", **SMALL)
    assert _digest(again) == _digest(tmp_path / "default")


# ---------------------------------------------------------------------------------------------
# Posting to an LRS


@pytest.fixture
def lrs() -> Iterator[SimpleNamespace]:
    """A stand-in LRS on a free port: it records each POST and stores everything."""
    state = SimpleNamespace(posts=[], refuse=False)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.posts.append((self.path, headers, body))
            status, reply = (409, b"conflict") if state.refuse else (200, json.dumps([]).encode())
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/xAPI/"
    yield state
    server.shutdown()
    server.server_close()


def test_posting_sends_every_statement_an_lrs_accepts_once_in_batches(runs, lrs):
    landing, conversion = runs.root / "xapi" / "landing", runs.xapi["statements"]
    posting = post_statements(landing, conversion.files, lrs.url, "loader", "s3cret", batch=100)
    token = base64.b64encode(b"loader:s3cret").decode()
    for path, headers, body in lrs.posts:
        assert path == "/xAPI/statements"
        assert headers["authorization"] == f"Basic {token}"
        assert headers["x-experience-api-version"] == "1.0.3"
        assert headers["content-type"] == "application/json"
        assert 0 < len(body) <= 100
    sent = [statement for _, _, body in lrs.posts for statement in body]
    expected, seen = [], set()
    for name in conversion.files:
        for statement in map(json.loads, read_statements(landing / name)):
            valid = refusal(statement) is None and "timestamp" in statement
            if valid and statement["id"] not in seen:
                seen.add(statement["id"])
                expected.append(statement)
    assert sent == expected
    assert (posting.posted, posting.batches) == (len(sent), len(lrs.posts))
    total = sum(conversion.statements.values())
    assert posting.posted + posting.skipped.total() == total
    for reason in ("invalid_id", "no_timestamp", "repeated_id", "conflicting_id"):
        assert posting.skipped[reason], reason


def test_a_batch_the_lrs_refuses_stops_the_posting(runs, lrs):
    lrs.refuse = True
    landing, conversion = runs.root / "xapi" / "landing", runs.xapi["statements"]
    with pytest.raises(LrsError, match="HTTP 409 conflict"):
        post_statements(landing, conversion.files, lrs.url, "loader", "s3cret")
    assert len(lrs.posts) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, None),
        ({"timestamp": "2026-06-02 06:03:57"}, None),
        ({"id": ""}, "invalid_id"),
        ({"actor": None}, "no_actor"),
        ({"object": None}, "no_object"),
        ({"result": {"score": {"raw": "abc", "min": 0, "max": 1}}}, "score_not_a_number"),
        ({"result": {"score": {"raw": 2, "min": 0, "max": 1}}}, "score_out_of_range"),
        ({"result": {"score": {"raw": -1.0, "min": 0, "max": 1}}}, "score_out_of_range"),
        ({"timestamp": "2026-02-30T10:00:00"}, "bad_timestamp"),
        ({"timestamp": "31/06/2026 10:00"}, "bad_timestamp"),
    ],
)
def test_refusal_names_what_an_lrs_refuses(change, reason):
    statement = {
        "id": _id("attempt", "A0000000001"),
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": "L0000001"}},
        "verb": {"id": EVALUATED},
        "object": {"objectType": "Activity", "id": f"{HOME}/items/ITM000001"},
        "result": {"score": {"raw": 1, "min": 0, "max": 1}},
        "timestamp": "2026-06-01T09:12:00+02:00",
    }
    statement = {k: v for k, v in (statement | change).items() if v is not None}
    assert refusal(statement) == reason


def test_lrs_only_leaves_the_catalog_tables_alone_in_the_landing(
    tmp_path, lrs, monkeypatch, capsys
):
    monkeypatch.setenv("SKILLGAP_LRS_USER", "loader")
    monkeypatch.setenv("SKILLGAP_LRS_PASSWORD", "s3cret")
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in SMALL.items()]
    landing = tmp_path / "landing"
    main([*flags, "--out", str(landing), "--format", "xapi", "--lrs", lrs.url, "--lrs-only"])
    names = sorted(p.name for p in landing.iterdir())
    assert names == ["companies", "course_skills", "courses", "items", "learners"]
    sent = sum(len(body) for _, _, body in lrs.posts)
    assert sent > 0
    assert f"LRS: posted {sent:,} statements" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--lrs", "http://lrs/xAPI/"], True, "--lrs needs --format xapi"),
        (["--format", "xapi", "--lrs-only"], True, "--lrs-only needs --lrs"),
        (["--format", "xapi", "--lrs", "http://lrs/xAPI/"], False, "SKILLGAP_LRS_USER"),
    ],
)
def test_the_lrs_flags_are_checked_before_anything_is_written(
    tmp_path, monkeypatch, capsys, flags, env, message
):
    for name in ("SKILLGAP_LRS_USER", "SKILLGAP_LRS_PASSWORD"):
        if env:
            monkeypatch.setenv(name, "x")
        else:
            monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit):
        main([*flags, "--out", str(tmp_path / "landing")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "landing").exists()
