"""The ingest loads each landing file once, whole or not at all, and names what is wrong.

Guards docs/landing-contract.md at the file level: CSV and Parquet, column names in any case,
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


ATTEMPTS = (
    "attempt_id,learner_id,item_id,submitted_at,score\n"
    "A1,L1,I1,2026-06-01T10:00:00Z,1\n"
    "A2,L1,I2,2026-06-01T10:05:00Z,0\n"
)


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


def move(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return source.rename(target)


def ledger(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "select load_id, file_path, status, n_rows from raw.load_ledger order by load_id"
    ).fetchall()


def not_in_a_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """True when no transaction is open: a nested BEGIN would fail."""
    con.execute("begin transaction")
    con.execute("rollback")
    return True


@pytest.fixture
def unreadable(monkeypatch):
    """Make Path.open raise PermissionError for the paths added to the returned set.

    The tests run as root, which reads any file whatever its permission bits, so chmod 000
    would not make a file unreadable; this raises what an unreadable file raises.
    """
    blocked: set[Path] = set()
    real_open = Path.open

    def guarded_open(self, *args, **kwargs):
        if self in blocked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)
    return blocked


def test_same_bytes_same_path_load_once(tmp_path, con):
    write(tmp_path / "courses" / "c.csv", "course_id\nK1\nK2\n")
    bad = write(tmp_path / "learners" / "l.csv", "learner_id\nL1\n")
    ingest_landing(con, tmp_path)
    second = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status) for f in second.files] == [
        ("learners/l.csv", "skipped"),
        ("courses/c.csv", "skipped"),
    ]
    assert con.execute("select count(*) from raw.courses").fetchone()[0] == 2
    assert [row[1:3] for row in ledger(con)] == [
        ("learners/l.csv", "failed"),
        ("courses/c.csv", "loaded"),
    ]
    # The failure skipped as-is is still reported, at its path, while the file is there.
    assert [path for path, _ in unresolved_failures(con, tmp_path)] == ["learners/l.csv"]
    bad.unlink()
    assert unresolved_failures(con, tmp_path) == []


def test_a_copy_at_a_new_path_loads_while_the_original_is_still_there(tmp_path, con):
    write(tmp_path / "attempts" / "a1.csv", ATTEMPTS)
    ingest_landing(con, tmp_path)
    write(tmp_path / "attempts" / "a1_copy.csv", ATTEMPTS)
    second = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status) for f in second.files] == [
        ("attempts/a1.csv", "skipped"),
        ("attempts/a1_copy.csv", "loaded"),
    ]
    # Staging counts the copy's rows as exact duplicates; the copy loaded first stays.
    assert con.execute("select count(*) from raw.attempts").fetchone()[0] == 4


def test_file_moved_from_wrong_folder_loads_once_fixed(tmp_path, con):
    misplaced = write(tmp_path / "companies" / "l.csv", "learner_id,company_id\nL1,C1\n")
    first = ingest_landing(con, tmp_path)
    assert [f.status for f in first.failed] == ["failed"]
    assert [path for path, _ in unresolved_failures(con)] == ["companies/l.csv"]
    move(misplaced, tmp_path / "learners" / "l.csv")
    second = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status, f.n_rows) for f in second.files] == [
        ("learners/l.csv", "loaded", 1)
    ]
    assert con.execute("select learner_id, _source_file from raw.learners").fetchall() == [
        ("L1", "learners/l.csv")
    ]
    # The failure at the wrong path is no longer reported: that file is gone.
    assert unresolved_failures(con, tmp_path) == []


def test_failed_file_moved_to_another_path_of_its_folder_is_retried(tmp_path, con):
    bad = write(tmp_path / "learners" / "l.csv", "learner_id\nL1\n")
    ingest_landing(con, tmp_path)
    move(bad, tmp_path / "learners" / "retry" / "l.csv")
    report = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status) for f in report.files] == [("learners/retry/l.csv", "failed")]
    assert [path for path, _ in unresolved_failures(con, tmp_path)] == ["learners/retry/l.csv"]


def test_reverted_upsert_file_loads_as_latest(tmp_path, con):
    header = "company_id,industry,country,employee_count\n"
    d1 = header + "C1,tech,DE,10\n"
    write(tmp_path / "companies" / "d1.csv", d1)
    ingest_landing(con, tmp_path)
    write(tmp_path / "companies" / "d2.csv", header + "C1,tech,DE,20\n")
    ingest_landing(con, tmp_path)
    write(tmp_path / "companies" / "d3.csv", d1)
    report = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status) for f in report.files] == [
        ("companies/d1.csv", "skipped"),
        ("companies/d2.csv", "skipped"),
        ("companies/d3.csv", "loaded"),
    ]
    # "The row from the most recently loaded file wins": d3's values, equal to d1's.
    latest = con.execute(
        "select employee_count, _source_file from raw.companies "
        "order by _load_id desc, _row_number desc limit 1"
    ).fetchone()
    assert latest == ("10", "companies/d3.csv")


def test_renamed_file_loads_nothing(tmp_path, con):
    original = write(tmp_path / "attempts" / "a.csv", ATTEMPTS)
    ingest_landing(con, tmp_path)
    move(original, tmp_path / "attempts" / "archive" / "a.csv")
    report = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status, f.n_rows) for f in report.files] == [
        ("attempts/archive/a.csv", "renamed", 0)
    ]
    assert "attempts/a.csv" in report.files[0].error
    assert report.loaded == [] and report.failed == []
    assert con.execute("select count(*) from raw.attempts").fetchone()[0] == 2
    assert [row[1:] for row in ledger(con)] == [
        ("attempts/a.csv", "loaded", 2),
        ("attempts/archive/a.csv", "renamed", 0),
    ]
    third = ingest_landing(con, tmp_path)
    assert [f.status for f in third.files] == ["skipped"]
    assert unresolved_failures(con, tmp_path) == []


def test_unreadable_file_is_reported_and_others_still_load(tmp_path, con, unreadable):
    locked = write(tmp_path / "courses" / "a.csv", "course_id\nK1\n")
    write(tmp_path / "courses" / "b.csv", "course_id\nK2\n")
    write(tmp_path / "learners" / "l.csv", "learner_id,company_id\nL1,C1\n")
    unreadable.add(locked)
    report = ingest_landing(con, tmp_path)
    assert {f.file_path: f.status for f in report.files} == {
        "learners/l.csv": "loaded",
        "courses/a.csv": "failed",
        "courses/b.csv": "loaded",
    }
    error = report.failed[0].error
    assert "courses/a.csv" in error and "Permission denied" in error
    assert not_in_a_transaction(con)
    assert con.execute(
        "select content_hash from raw.load_ledger where file_path = 'courses/a.csv'"
    ).fetchall() == [("unreadable",)]
    assert unresolved_failures(con, tmp_path) == [("courses/a.csv", error)]


def test_file_vanishing_while_loading_is_reported_and_rolled_back(tmp_path, con, monkeypatch):
    import orchestration.ingest.loader as ingest_loader

    write(tmp_path / "courses" / "a.csv", "course_id\nK1\n")
    write(tmp_path / "courses" / "b.csv", "course_id\nK2\n")
    real_hash = ingest_loader.content_hash

    def hash_then_vanish(path: Path) -> str:
        digest = real_hash(path)
        if path.name == "a.csv":
            path.unlink()  # removed by its platform between hashing and loading
        return digest

    monkeypatch.setattr(ingest_loader, "content_hash", hash_then_vanish)
    report = ingest_landing(con, tmp_path)
    assert [(f.file_path, f.status) for f in report.files] == [
        ("courses/a.csv", "failed"),
        ("courses/b.csv", "loaded"),
    ]
    assert "courses/a.csv" in report.failed[0].error
    assert not_in_a_transaction(con)
    assert con.execute("select course_id from raw.courses").fetchall() == [("K2",)]
    # Gone from the landing folder, so no longer reported.
    assert unresolved_failures(con, tmp_path) == []


def test_unreadable_file_loads_once_readable(tmp_path, con, unreadable):
    locked = write(tmp_path / "courses" / "a.csv", "course_id\nK1\n")
    unreadable.add(locked)
    assert [f.status for f in ingest_landing(con, tmp_path).files] == ["failed"]
    # Retried on every run while unreadable, not skipped.
    assert [f.status for f in ingest_landing(con, tmp_path).files] == ["failed"]
    unreadable.clear()
    report = ingest_landing(con, tmp_path)
    assert [(f.status, f.n_rows) for f in report.files] == [("loaded", 1)]
    assert unresolved_failures(con, tmp_path) == []
    assert [f.status for f in ingest_landing(con, tmp_path).files] == ["skipped"]


def test_a_path_whose_file_changes_back_lands_the_old_bytes_again(tmp_path, con):
    """A, B, then A again at one path: A is the latest landing, not a skipped repeat."""
    path = tmp_path / "companies" / "companies.csv"
    path.parent.mkdir(parents=True)
    header = "company_id,industry,country,employee_count\n"
    versions = [header + "c1,retail,DE,10\n", header + "c1,finance,DE,10\n"]
    statuses = []
    for text in (versions[0], versions[1], versions[0], versions[0]):
        path.write_text(text)
        statuses.append([f.status for f in ingest_landing(con, tmp_path).files])
    assert statuses == [["loaded"], ["loaded"], ["loaded"], ["skipped"]]
    latest = con.execute(
        "select industry from raw.companies order by _load_id desc limit 1"
    ).fetchone()
    assert latest == ("retail",)


def mixed_landing(root: Path) -> None:
    """Files of every outcome, interleaved in load order: loads, failures, statements."""
    write(root / "courses" / "a.csv", "course_id\nK1\nK2\n")
    write(root / "courses" / "b.csv", "title\nno id column\n")
    write(root / "courses" / "c.csv", "")
    for day in range(1, 5):
        write(root / "attempts" / f"d{day}.csv", ATTEMPTS.replace("A1", f"A1-{day}"))
    write(root / "attempts" / "notes.txt", "not data\n")
    for day in range(1, 4):
        lines = "".join(
            f'{{"id": "00000000-0000-0000-0000-00000000{day}{k:03d}", "actor": {{"mbox": '
            f'"mailto:l{k}@x.org"}}, "verb": {{"id": "http://adlnet.gov/expapi/verbs/answered"}},'
            f' "object": {{"id": "https://lms.example/items/I{k}"}}}}\n'
            for k in range(50)
        )
        write(root / "statements" / f"s{day}.jsonl", lines + ("{not json\n" if day == 2 else ""))


def warehouse_content(con: duckdb.DuckDBPyConnection) -> dict:
    tables = ["load_ledger", "statements", *ENTITIES]
    return {
        table: con.execute(
            f"select * exclude ({'loaded_at' if table == 'load_ledger' else '_load_id'}) "
            f"from raw.{table} order by all"
        ).fetchall()
        for table in tables
    }


def test_files_read_side_by_side_land_as_one_at_a_time(tmp_path, monkeypatch):
    """Several files are read at once and committed in load order: the ledger and every raw
    row equal a one-at-a-time ingest, through a second run with a rename and new files."""
    import orchestration.ingest.loader as ingest_loader

    landing = tmp_path / "landing"
    mixed_landing(landing)
    real_insert, inserted = ingest_loader.insert_file, []

    def counted_insert(cursor, planned):
        inserted.append(planned.file_path)
        return real_insert(cursor, planned)

    monkeypatch.setattr(ingest_loader, "insert_file", counted_insert)
    one, three = duckdb.connect(":memory:"), duckdb.connect(":memory:")
    for con, workers in ((one, 1), (three, 3)):
        inserted.clear()
        report = ingest_landing(con, landing, workers=workers)
        # Each file to load is read once, however many are read at once.
        assert sorted(inserted) == sorted(
            f.file_path for f in report.files if f.status in ("loaded", "failed")
        )
    move(landing / "courses" / "a.csv", landing / "courses" / "archive" / "a.csv")
    write(landing / "courses" / "d.csv", "course_id\nK4\n")
    reports = [ingest_landing(con, landing, workers=w) for con, w in ((one, 1), (three, 3))]
    assert [f.status for f in reports[1].files].count("renamed") == 1
    assert reports[0].files == reports[1].files
    assert warehouse_content(one) == warehouse_content(three)
    assert ledger(three)[-1][0] == len(ledger(three))
    assert not_in_a_transaction(three)


def test_stopped_half_way_the_first_files_of_the_order_are_committed(tmp_path, monkeypatch):
    """Stopped while committing the third load, with later files already read: the first two
    loads are in, nothing of any later file, no transaction left open; the next run loads
    the rest, and the warehouse equals an uninterrupted run."""
    import orchestration.ingest.loader as ingest_loader

    landing = tmp_path / "landing"
    mixed_landing(landing)
    real_finish = ingest_loader.finish_file
    finished = []

    def stop_at_third(con, planned, cursor, inserted, loaded_at):
        if len(finished) == 2:
            raise KeyboardInterrupt
        finished.append(planned.file_path)
        return real_finish(con, planned, cursor, inserted, loaded_at)

    monkeypatch.setattr(ingest_loader, "finish_file", stop_at_third)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    with pytest.raises(KeyboardInterrupt):
        ingest_landing(con, landing, workers=3)
    assert [row[1] for row in ledger(con)] == finished
    assert con.execute("select count(distinct _load_id) from raw.attempts").fetchone()[0] == 0
    assert not_in_a_transaction(con)
    # No file's transaction is left open on another cursor: a checkpoint needs none.
    con.execute("checkpoint")
    monkeypatch.setattr(ingest_loader, "finish_file", real_finish)
    ingest_landing(con, landing, workers=3)
    uninterrupted = duckdb.connect(":memory:")
    ingest_landing(uninterrupted, landing, workers=1)
    assert warehouse_content(con) == warehouse_content(uninterrupted)
