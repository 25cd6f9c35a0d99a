"""A JSON-lines statements file of any size loads in bounded memory, and no line is lost.

Guards orchestration/ingest/statements.py: the line reader's buffer is twice the longest
line, not DuckDB's default of sixteen times it (which asked a 1 GB memory limit for a 4 GiB
block); a line over the limit fails its file, named with its line number; and a last line
longer than the buffer is read, not silently dropped as DuckDB's parallel reader does.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import orchestration.ingest.statements as statements
from orchestration.ingest import ingest_landing

MIB = 1024 * 1024


def statement(n: int) -> str:
    return json.dumps(
        {
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "actor": {"account": {"homePage": "https://lms.example", "name": f"L{n % 50}"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
            "object": {"id": f"https://lms.example/items/q{n % 20}"},
            "result": {"score": {"raw": n % 2, "min": 0, "max": 1}},
            "timestamp": "2026-06-01T10:00:00+02:00",
        }
    )


@pytest.fixture
def small_lines(monkeypatch):
    """Lines of at most 1 MiB and a 2 MiB buffer, so that the test files stay small."""
    monkeypatch.setattr(statements, "MAX_LINE_BYTES", MIB)
    monkeypatch.setattr(statements, "LINE_BUFFER_BYTES", 2 * MIB)


def land(tmp_path: Path, name: str, text: str) -> Path:
    landing = tmp_path / "landing"
    path = landing / "statements" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return landing


def loaded_rows(con) -> list[tuple]:
    return con.execute(
        "select _row_number, length(statement) from raw.statements order by _row_number"
    ).fetchall()


@pytest.mark.slow
def test_a_file_larger_than_the_memory_limit_loads(tmp_path):
    # 150 MB of statements under a 128 MB limit (about 5 s): the reader asked for a block of
    # the file's size, up to 1 GiB, before.
    line = statement(0)
    text = "".join(line.replace("000000000000", f"{n:012d}") + "\n" for n in range(500_000))
    landing = land(tmp_path, "big.jsonl", text)
    assert (landing / "statements" / "big.jsonl").stat().st_size > 150_000_000
    con = duckdb.connect(":memory:")
    con.execute("set memory_limit = '128MB'")
    report = ingest_landing(con, landing)
    assert [r.error for r in report.failed] == []
    assert con.execute("select count(distinct statement_id) from raw.statements").fetchone() == (
        500_000,
    )


def test_a_line_over_the_limit_fails_its_file_named_with_the_line(tmp_path, small_lines):
    text = statement(1) + "\n" + statement(2) + "\n" + "x" * (MIB + 10) + "\n" + statement(3) + "\n"
    landing = land(tmp_path, "day.jsonl", text)
    con = duckdb.connect(":memory:")
    report = ingest_landing(con, landing)
    assert len(report.failed) == 1
    assert report.failed[0].error == (
        f"statements/day.jsonl: line 3 is {MIB + 10:,} bytes, longer than the 1 MiB a statement "
        "line may hold; no statement of this file was loaded"
    )
    assert loaded_rows(con) == []


def test_a_last_line_longer_than_the_buffer_is_read_not_dropped(tmp_path, small_lines):
    # No final newline: DuckDB's parallel reader returned the first two lines only.
    text = statement(1) + "\n" + statement(2) + "\n" + "{" + "x" * (3 * MIB)
    landing = land(tmp_path, "day.jsonl", text)
    con = duckdb.connect(":memory:")
    report = ingest_landing(con, landing)
    assert report.failed == []
    rows = loaded_rows(con)
    assert [n for n, _ in rows] == [1, 2, 3]
    assert rows[2][1] == 3 * MIB + 1  # kept whole; staging rejects it as invalid_json
