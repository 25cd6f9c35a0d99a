"""The same world landed as tables and as xAPI statements gives the same marts.

One seed is generated twice, its attempts and enrollments once as tables and once as
statements (``--format xapi``: every landed row as its statements, faulty ones included), each
refreshed by the daily_refresh job into a warehouse of its own. Every published mart and the
``irt.*`` abilities are equal: same rows, numbers to 1e-9.

Only the marts are compared. The staging layers differ by the statements' rules, as
docs/landing-contract.md (section 4b) says: a faulty row is rejected by another reason (an
empty attempt_id is an ``invalid_id`` statement, not ``missing_key``; no submitted_at is a
``bad_timestamp``, a score that is not a number ``missing_value``), an attempt on an item
missing from the catalog also lands an item of its own (rejected, as it names no course), and
an enrollment's versions are counted as duplicates, not superseded. None of that reaches a mart.
"""

from __future__ import annotations

import os

import duckdb
import pytest

from orchestration.settings import load_settings
from sample_data import generate
from tests.end_to_end.marts_snapshot import assert_same_marts, marts_snapshot

# Two refreshes of about 21k attempts, 40-50 s each: `pytest -m "not slow"` leaves it out.
pytestmark = pytest.mark.slow

# Enough for every mart to have rows: 32 days for the 30-day gains, some 300 scored learners.
SIZE = {"companies": 8, "learners": 1200, "days": 32, "seed": 3}
FORMATS = ("tables", "xapi")


def landed_rows(warehouse) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            table: con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            for table in ("attempts", "statements")
        }


@pytest.fixture(scope="module")
def landings(tmp_path_factory, run_refresh) -> dict[str, dict]:
    """Per format: the marts snapshot and the raw activity rows of its refresh."""
    root = tmp_path_factory.mktemp("statement_landing")
    saved = dict(os.environ)
    found = {}
    try:
        for name in FORMATS:
            folder = root / name
            os.environ.update(
                {
                    "SKILLGAP_LANDING_DIR": str(folder / "landing"),
                    "SKILLGAP_WAREHOUSE": str(folder / "warehouse.duckdb"),
                    "SKILLGAP_SERVING": str(folder / "serving.duckdb"),
                    "DAGSTER_HOME": str(folder / "dagster_home"),
                }
            )
            settings = load_settings()
            generate(settings.landing_dir, folder / "truth", **SIZE, activity_format=name)
            run_refresh()
            found[name] = {
                "marts": marts_snapshot(settings.warehouse),
                "served": marts_snapshot(settings.serving),
                "raw": landed_rows(settings.warehouse),
            }
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return found


def test_each_landing_came_in_its_own_format(landings):
    tables, xapi = landings["tables"]["raw"], landings["xapi"]["raw"]
    assert tables["attempts"] > 10_000 and tables["statements"] == 0
    assert xapi["statements"] > tables["attempts"] and xapi["attempts"] == 0


def test_every_mart_and_the_abilities_have_rows(landings):
    """A comparison of empty tables would prove nothing."""
    snapshot = landings["tables"]["marts"]
    assert {"irt.learner_abilities", "marts.learner_skill_scores", "marts.skill_gains"} <= set(
        snapshot
    )
    assert [name for name, frame in snapshot.items() if frame.empty] == []


def test_tables_and_statements_give_the_same_marts(landings):
    assert_same_marts(landings["tables"]["marts"], landings["xapi"]["marts"])


def test_tables_and_statements_publish_the_same_serving_file(landings):
    assert_same_marts(landings["tables"]["served"], landings["xapi"]["served"])


def test_raw_statements_keep_ids_stored_and_line_numbers(tmp_path):
    """The columns the loader derives from each line, pinned: the statement's own id (a
    number as its text, ``null`` as no id), else a UUID-shaped MD5 of the minified text (also
    for a value that is not an object); ``stored``; blank lines (Unicode blanks too) counted,
    not loaded; a line that is not JSON kept as landed, without an id."""
    import hashlib

    from orchestration.ingest import ingest_landing

    lines = [
        '{ "id" : "s1", "stored" : "2026-06-01T10:00:00Z", "x" : 1.50 }',
        '{"id": 12.50}',
        "",
        '{"id": null, "stored": null}',
        "  \u00a0",
        '{"verb": {"id": "v"}}',
        "[1, 2]",
        "not json",
        '\t{"id": "s2"}',
    ]
    (tmp_path / "statements").mkdir()
    (tmp_path / "statements" / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def hashed(minified: str) -> str:
        h = hashlib.md5(minified.encode()).hexdigest()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    with duckdb.connect() as con:
        ingest_landing(con, tmp_path)
        rows = con.execute(
            "select _row_number, statement_id, stored, statement from raw.statements order by 1"
        ).fetchall()
    assert rows == [
        (1, "s1", "2026-06-01T10:00:00Z", '{"id":"s1","stored":"2026-06-01T10:00:00Z","x":1.5}'),
        (2, "12.5", None, '{"id":12.5}'),
        (4, None, None, '{"id":null,"stored":null}'),
        (6, hashed('{"verb":{"id":"v"}}'), None, '{"verb":{"id":"v"}}'),
        (7, hashed("[1,2]"), None, "[1,2]"),
        (8, None, None, "not json"),
        (9, "s2", None, '{"id":"s2"}'),
    ]
