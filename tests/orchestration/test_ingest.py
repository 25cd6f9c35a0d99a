"""The ingest loads each landing file once, whole or not at all, and names what is wrong.

Guards CONTRACT.md section 1 at the file level: CSV and Parquet, column names in any case,
extra columns ignored, a missing required column or an unreadable file recorded in the ledger
with the file and column named, no half-loaded file, the same bytes never loaded twice, and a
fixed file loading on the next run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.ingest import ENTITIES, ingest_landing, unresolved_failures


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


def test_csv_with_mixed_case_and_extra_columns_loads_as_text(tmp_path, con):
    write(
        tmp_path / "learners" / "day1.csv",
        'LEARNER_ID,Company_Id,job_role,source_system\nL1,C1,"analyst, senior",x\nL2,C1,,y\n',
    )
    report = ingest_landing(con, tmp_path)
    assert [f.status for f in report.files] == ["loaded"]
    rows = con.execute(
        "select learner_id, company_id, job_role, display_name, _source_file, _row_number "
        "from raw.learners order by _row_number"
    ).fetchall()
    assert rows == [
        ("L1", "C1", "analyst, senior", None, "learners/day1.csv", 1),
        ("L2", "C1", None, None, "learners/day1.csv", 2),
    ]


def test_parquet_values_including_offset_timestamps_land_as_text(tmp_path, con):
    target = tmp_path / "attempts" / "a.parquet"
    target.parent.mkdir(parents=True)
    con.execute(
        f"""copy (select 'A1' as Attempt_ID, 'L1' as learner_id, 'I1' as item_id,
                  timestamptz '2026-06-01 10:00:00+02:00' as submitted_at, 1.0 as score,
                  1 as attempt_number) to '{target}' (format parquet)"""
    )
    ingest_landing(con, tmp_path)
    attempt_id, submitted_at, score = con.execute(
        "select attempt_id, submitted_at, score from raw.attempts"
    ).fetchone()
    assert attempt_id == "A1"
    assert score in {"1.0", "1.00", "1"}
    parsed = con.execute("select cast(? as timestamptz) at time zone 'UTC'", [submitted_at])
    assert str(parsed.fetchone()[0]) == "2026-06-01 08:00:00"


def test_missing_required_column_fails_the_file_naming_file_and_column(tmp_path, con):
    write(tmp_path / "companies" / "c.csv", "company_id,industry,employee_count\nC1,tech,10\n")
    write(tmp_path / "learners" / "l.csv", "learner_id,company_id\nL1,C1\n")
    report = ingest_landing(con, tmp_path)
    failed = report.failed
    assert len(failed) == 1
    assert failed[0].file_path == "companies/c.csv"
    assert "companies/c.csv" in failed[0].error and "'country'" in failed[0].error
    assert report.rows_loaded("learners") == 1
    assert con.execute("select count(*) from raw.companies").fetchone()[0] == 0
    assert unresolved_failures(con) == [("companies/c.csv", failed[0].error)]


def test_corrupt_parquet_is_recorded_and_the_other_files_load(tmp_path, con):
    (tmp_path / "attempts").mkdir()
    (tmp_path / "attempts" / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    write(tmp_path / "courses" / "c.csv", "course_id\nK1\n")
    report = ingest_landing(con, tmp_path)
    assert {f.file_path: f.status for f in report.files} == {
        "attempts/broken.parquet": "failed",
        "courses/c.csv": "loaded",
    }
    assert "attempts/broken.parquet" in report.failed[0].error
    status, error = con.execute(
        "select status, error from raw.load_ledger where entity = 'attempts'"
    ).fetchone()
    assert status == "failed" and "cannot be read as parquet" in error


def test_a_file_failing_midway_leaves_no_rows(tmp_path, con):
    good_rows = "".join(f"K{i},t{i}\n" for i in range(5000))
    write(tmp_path / "courses" / "ragged.csv", "course_id,title\n" + good_rows + "K9,a,b,c\n")
    report = ingest_landing(con, tmp_path)
    assert report.failed and report.failed[0].file_path == "courses/ragged.csv"
    assert con.execute("select count(*) from raw.courses").fetchone()[0] == 0


def test_same_bytes_load_once_even_under_another_name(tmp_path, con):
    write(tmp_path / "courses" / "c1.csv", "course_id\nK1\nK2\n")
    ingest_landing(con, tmp_path)
    write(tmp_path / "courses" / "c1_copy.csv", "course_id\nK1\nK2\n")
    second = ingest_landing(con, tmp_path)
    assert [f.status for f in second.files] == ["skipped", "skipped"]
    assert con.execute("select count(*) from raw.courses").fetchone()[0] == 2
    assert con.execute("select count(*) from raw.load_ledger").fetchone()[0] == 1


def test_a_fixed_file_loads_on_the_next_run_and_clears_the_failure(tmp_path, con):
    bad = write(tmp_path / "learners" / "l.csv", "learner_id\nL1\n")
    ingest_landing(con, tmp_path)
    assert unresolved_failures(con)
    write(bad, "learner_id,company_id\nL1,C1\n")
    report = ingest_landing(con, tmp_path)
    assert [f.status for f in report.files] == ["loaded"]
    assert unresolved_failures(con) == []
    assert con.execute("select _load_id from raw.learners").fetchone()[0] == 2


def test_unsupported_file_type_is_reported_and_hidden_files_are_ignored(tmp_path, con):
    write(tmp_path / "items" / "notes.txt", "hello")
    write(tmp_path / "items" / ".DS_Store", "junk")
    report = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status) for f in report.files] == [("items/notes.txt", "failed")]
    assert "unsupported file type" in report.failed[0].error


def test_every_entity_gets_a_raw_table_with_lineage_columns(tmp_path, con):
    ingest_landing(con, tmp_path)
    for name, spec in ENTITIES.items():
        columns = [r[0] for r in con.execute(f"describe raw.{name}").fetchall()]
        assert columns == [*spec.columns, "_load_id", "_source_file", "_row_number"]
