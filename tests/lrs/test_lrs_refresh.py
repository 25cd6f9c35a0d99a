"""The refresh pulls statements from a real LRS (Ralph): the marts equal those of the same
statements landed as files, a second pull reads only the new statements, and an LRS that
went away leaves a successful refresh that says so.

One small sample generated as statements (``activity_format="xapi"``) with its last day held
back. Warehouse A pulls the statements from Ralph (posted as the sample's ``--lrs`` does),
warehouse B reads the same statements as files; each is refreshed before and after the last
day arrives. Then Ralph stops, and ``make run``'s entry point refreshes A again.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orchestration import refresh
from sample_data import generate
from sample_data.statements import post_statements
from tests.end_to_end.marts_snapshot import assert_same_marts, marts_snapshot
from tests.environment import refresh_environment
from tests.lrs.ralph import RalphServer, ralph_available

pytestmark = pytest.mark.slow

SIZE = {"companies": 8, "learners": 800, "days": 10, "seed": 11}


def environment(root: Path, lrs: RalphServer | None = None):
    """The refresh environment of ``root``, pulling from ``lrs`` when given."""
    if lrs is None:
        return refresh_environment(root)
    return refresh_environment(
        root,
        SKILLGAP_LRS_URL=lrs.url,
        SKILLGAP_LRS_USER=lrs.user,
        SKILLGAP_LRS_PASSWORD=lrs.password,
    )


# The sample is small (a quick test): its IRT calibrates items from 5 responses, so that
# scores still fill the marts being compared.
IRT = {"config": {"min_item_responses": 5, "min_assignment_responses": 10}}
OPS = {"irt_calibration": IRT, "irt_scoring": IRT}


def last_day_files(landing: Path) -> list[Path]:
    files = sorted((landing / "statements").glob("*"))
    last = max(re.search(r"\d{4}-\d{2}-\d{2}", p.name).group() for p in files)
    return [p for p in files if last in p.name]


def stored_count(lrs: RalphServer) -> int:
    """How many statements Ralph holds: the lines of its store (an id posted again with the
    same content, as the sample's re-landed rows are, is not stored twice)."""
    with (lrs.store / "fs_lrs.jsonl").open("rb") as store:
        return sum(1 for line in store if line.strip())


@pytest.fixture(scope="module")
def lrs(tmp_path_factory) -> Iterator[RalphServer]:
    if not ralph_available():
        pytest.skip("Ralph is not installed in .venv-lrs: run `make lrs-install`")
    with RalphServer(tmp_path_factory.mktemp("ralph")) as server:
        yield server


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory, lrs: RalphServer, run_refresh) -> dict:
    pulled, files = tmp_path_factory.mktemp("pulled"), tmp_path_factory.mktemp("files")
    summary = generate(pulled / "landing", pulled / "truth", activity_format="xapi", **SIZE)
    shutil.copytree(pulled / "landing", files / "landing")
    held = [p.relative_to(files / "landing") for p in last_day_files(files / "landing")]
    for path in held:
        (files / "landing" / path).rename(files / str(path).replace("/", "_"))
    first_days = [f for f in summary["statements"].files if Path(f) not in held]
    post_statements(pulled / "landing", first_days, lrs.url, lrs.user, lrs.password)
    stored = [stored_count(lrs)]
    shutil.rmtree(pulled / "landing" / "statements")
    for root, server in ((pulled, lrs), (files, None)):
        with environment(root, server):
            run_refresh(OPS)
    last_day = [str(p) for p in held if str(p) in summary["statements"].files]
    for path in held:
        (files / str(path).replace("/", "_")).rename(files / "landing" / path)
    post_statements(files / "landing", last_day, lrs.url, lrs.user, lrs.password)
    stored.append(stored_count(lrs) - stored[0])
    for root, server in ((pulled, lrs), (files, None)):
        with environment(root, server):
            run_refresh(OPS)
    return {"pulled": pulled, "files": files, "stored": stored, "lrs": lrs}


def test_marts_of_the_pulled_statements_equal_those_of_the_files(refreshed) -> None:
    a = marts_snapshot(refreshed["pulled"] / "warehouse.duckdb")
    b = marts_snapshot(refreshed["files"] / "warehouse.duckdb")
    # ten days hold no gain period: skill gains and period-start abilities may be empty
    empty = {name for name, frame in a.items() if frame.empty} - {
        "marts.skill_gains",
        "irt.learner_abilities_period_start",
    }
    assert len(a) >= 9 and not empty, empty
    assert_same_marts(a, b)


def test_the_second_pull_reads_only_the_new_statements(refreshed) -> None:
    with duckdb.connect(str(refreshed["pulled"] / "warehouse.duckdb"), read_only=True) as con:
        pulls = con.execute(
            "select status, paging, statements_read, statements_new from raw.lrs_pulls "
            "order by pull_id"
        ).fetchall()
        (in_raw,) = con.execute("select count(*) from raw.statements").fetchone()
    first, second = refreshed["stored"]
    assert pulls == [
        ("complete", "search_after", first, first),
        ("complete", "search_after", second, second),
    ]
    assert in_raw == first + second


def test_an_lrs_gone_away_leaves_a_refresh_that_succeeds_and_says_so(refreshed, capsys) -> None:
    pulled, lrs = refreshed["pulled"], refreshed["lrs"]
    lrs.stop()
    try:
        with environment(pulled, lrs):
            code = refresh.main(["--skip-sample"])
    finally:
        lrs.start()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Refresh succeeded" in out
    [line] = [line for line in out.splitlines() if "LRS NOT READ" in line]
    assert lrs.url in line and "no answer" in line
    with duckdb.connect(str(pulled / "warehouse.duckdb"), read_only=True) as con:
        (in_raw,) = con.execute("select count(*) from raw.statements").fetchone()
    assert in_raw == sum(refreshed["stored"])
