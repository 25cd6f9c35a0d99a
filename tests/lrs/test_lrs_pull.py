"""Pulling statements from a real LRS (Ralph) into raw.statements: each exactly once.

Each test runs its own Ralph (about 2 s to start) so that it can count what the whole store
holds and stop the server in the middle of a pull. The pulls are the library's
(orchestration.ingest.lrs), into a DuckDB file of the test's own; the refresh end to end is in
tests/lrs/test_lrs_refresh.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.lrs import pull_statements
from orchestration.ingest.lrs_client import LrsConfig
from tests.lrs.ralph import RalphServer, free_port

pytestmark = pytest.mark.slow

ANSWERED = "http://adlnet.gov/expapi/verbs/answered"


def statements(n: int, day: str = "2026-01-01", learner: str | None = None) -> list[dict]:
    """``n`` scored answers of one learner, with ids, on ``day``."""
    actor = {
        "account": {"homePage": "https://lms.example", "name": learner or str(uuid.uuid4())},
        "objectType": "Agent",
    }
    return [
        {
            "id": str(uuid.uuid4()),
            "actor": actor,
            "verb": {"id": ANSWERED},
            "object": {"id": f"https://lms.example/items/q{i % 7}", "objectType": "Activity"},
            "result": {"score": {"raw": i % 3, "min": 0, "max": 2}},
            "timestamp": f"{day}T00:{(i // 60) % 60:02d}:{i % 60:02d}+00:00",
        }
        for i in range(n)
    ]


def config(lrs: RalphServer, **overrides) -> LrsConfig:
    settings = {"user": lrs.user, "password": lrs.password, "page_size": 100}
    settings |= {"batch_statements": 300, "backoff_seconds": 0.05}
    return LrsConfig(lrs.url, **(settings | overrides))


def landed(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The ids in raw.statements, one per row (so a doubled statement shows twice)."""
    return [r[0] for r in con.execute("select statement_id from raw.statements").fetchall()]


@pytest.fixture
def lrs(ralph_root: Path):
    with RalphServer(ralph_root) as server:
        yield server


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute("set TimeZone = 'UTC'")
        yield connection


def test_a_second_pull_reads_only_what_came_after(lrs: RalphServer, con) -> None:
    first = statements(450)
    lrs.post(first)
    report = pull_statements(con, config(lrs))
    assert (report.status, report.paging) == ("complete", "search_after")
    assert report.statements_new == 450 and report.batches == 2
    assert sorted(landed(con)) == sorted(s["id"] for s in first)
    # a late statement with an old timestamp: Ralph's `since` (on timestamp) would miss it
    later = statements(120, day="2026-02-01") + statements(5, day="2025-06-01")
    lrs.post(later)
    again = pull_statements(con, config(lrs))
    assert again.status == "complete"
    assert again.statements_read == again.statements_new == 125
    assert sorted(landed(con)) == sorted(s["id"] for s in first + later)
    ledger = con.execute(
        "select file_path, file_format, sum(n_rows) from raw.load_ledger group by all"
    ).fetchall()
    assert ledger == [(lrs.url, "lrs", 575)]
    nothing = pull_statements(con, config(lrs))
    assert (nothing.statements_read, nothing.statements_new) == (0, 0)


def test_a_pull_stopped_by_the_lrs_resumes_without_loss_or_double(lrs, con) -> None:
    sent = statements(1000)
    lrs.post(sent)

    def stop_after_five_pages(report) -> None:
        if report.pages == 5:
            lrs.stop()

    broken = pull_statements(con, config(lrs, retries=2), on_page=stop_after_five_pages)
    assert broken.status == "failed"
    assert "no answer" in broken.error and "tried 2 times" in broken.error
    # the batch of pages 1-3 was committed before the LRS went away; pages 4-5 were not
    assert broken.statements_new == 300 and len(landed(con)) == 300
    lrs.start()
    resumed = pull_statements(con, config(lrs))
    assert resumed.status == "complete" and resumed.resumed
    assert resumed.statements_read == 700
    ids = landed(con)
    assert len(ids) == len(set(ids)) == 1000
    assert set(ids) == {s["id"] for s in sent}


def test_pages_read_again_add_nothing(lrs, con) -> None:
    sent = statements(250)
    lrs.post(sent)
    pull_statements(con, config(lrs))
    # forget the cursor: the next pull reads the whole store again
    con.execute("delete from raw.lrs_cursor")
    again = pull_statements(con, config(lrs))
    assert (again.statements_read, again.statements_new) == (250, 0)
    assert len(landed(con)) == 250


def test_wrong_credentials_name_the_variables(lrs, con) -> None:
    lrs.post(statements(3))
    report = pull_statements(con, config(lrs, password="wrong"))
    assert report.status == "failed" and report.credentials_refused
    assert "HTTP 401" in report.error and "SKILLGAP_LRS_PASSWORD" in report.error
    assert landed(con) == []
    logged = con.execute("select status, error from raw.lrs_pulls").fetchall()
    assert logged == [("failed", report.error)]


def test_an_unreachable_lrs_fails_the_pull_not_the_caller(con) -> None:
    url = f"http://127.0.0.1:{free_port()}/xAPI/"
    report = pull_statements(con, LrsConfig(url, "u", "p", retries=2, backoff_seconds=0.01))
    assert report.status == "failed" and not report.credentials_refused
    assert url in report.error and "no answer" in report.error


def test_the_landing_sensor_asks_the_lrs_beyond_the_last_pull(lrs, tmp_path, monkeypatch) -> None:
    """No pull yet: anything stored is new. After a pull: nothing, until more is posted. The
    sensor reads where the pull stopped from its materialization, never the warehouse."""
    import dagster as dg

    from orchestration.assets.ingest import pull_lrs_statements
    from orchestration.resources import LearningRecordStore, Warehouse
    from orchestration.sensors import new_landing_files_sensor

    monkeypatch.setenv("SKILLGAP_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.delenv("SKILLGAP_ENGINE", raising=False)
    resources = {
        "lrs": LearningRecordStore(url=lrs.url, user=lrs.user, password=lrs.password),
        "warehouse": Warehouse(path=str(tmp_path / "warehouse.duckdb")),
    }
    with dg.DagsterInstance.ephemeral() as instance:

        def tick():
            context = dg.build_sensor_context(
                instance=instance, cursor=tick.cursor, resources={"lrs": resources["lrs"]}
            )
            result = new_landing_files_sensor(context)
            tick.cursor = context.cursor
            return result

        tick.cursor = None
        assert isinstance(tick(), dg.SkipReason)  # an empty LRS, no files
        lrs.post(statements(3))
        assert isinstance(tick(), dg.RunRequest)
        assert dg.materialize([pull_lrs_statements], instance=instance, resources=resources).success
        assert isinstance(tick(), dg.SkipReason)
        lrs.post(statements(2, day="2026-03-01"))
        assert isinstance(tick(), dg.RunRequest)
        lrs.stop()
        assert isinstance(tick(), dg.SkipReason)  # an LRS gone quiet starts nothing
