"""The serving file is what BI tools open: readable by them, and never broken by a refresh.

Guards the serving file of docs/marts.md and the README's BI section: a DuckDB 1.x client
(the one Metabase's driver bundles) opens it read-only and finds every mart; SQLAlchemy with
duckdb-engine opens it with the URI Superset is given; a reader holding it open during a
publish neither breaks the publish nor sees a half-written file, keeps its snapshot and sees the
new data after reconnecting; a failed publish leaves the previous file exactly as it was.

The fast tests publish a small hand-made warehouse; one slow test runs the whole daily_refresh
job on small generated data with a reader open, and the client tests read the file it produced.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.publish import publish_marts
from orchestration.settings import REPO_ROOT

# Metabase's DuckDB driver bundles DuckDB 1.5 (2026-11): the newest 1.x on PyPI stands in for it.
DUCKDB_1X = "1.5.6"
MARTS = [
    "company_skill_benchmarks",
    "course_recommendations",
    "item_assignments",
    "item_health",
    "learner_skill_percentiles",
    "learner_skill_scores",
    "learning_activity",
    "skill_gains",
    "skill_gaps",
    "top_learners",
]
# Small enough for a quick refresh, large enough that skills have items with min_item_responses
# (30) responses, so they calibrate and fill the marts.
SAMPLE = ["--companies", "20", "--learners", "2500", "--days", "30"]

# A BI client in a separate process: opens the file read-only, prints what it sees as one JSON
# line, then on each stdin line prints it again ("reconnect" first closes and reopens).
READER = r"""
import json, sys
import duckdb

path = sys.argv[1]
con = duckdb.connect(path, read_only=True)

def snapshot():
    tables = [t for (t,) in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
    ).fetchall()]
    return {
        "version": duckdb.__version__,
        "run_ids": sorted({r for (r,) in con.execute(
            "select run_id from main.refresh_info").fetchall()}),
        "marts": {t: con.execute(f'select count(*) from marts."{t}"').fetchone()[0]
                  for t in tables},
    }

print(json.dumps(snapshot()), flush=True)
for line in sys.stdin:
    if line.strip() == "reconnect":
        con.close()
        con = duckdb.connect(path, read_only=True)
    print(json.dumps(snapshot()), flush=True)
"""


# Runs each SQL statement given as JSON on stdin against the file; prints the row counts.
RUN_SQL = r"""
import json, sys
import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
print(json.dumps([len(con.execute(sql).fetchall()) for sql in json.load(sys.stdin)]))
"""


class Reader:
    """A reader process holding the serving file open until :meth:`close`."""

    def __init__(self, path: Path, env: dict[str, str] | None = None, python: tuple[str, ...] = ()):
        self.proc = subprocess.Popen(
            [*(python or [sys.executable]), "-c", READER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.first = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise AssertionError(f"reader exited: {self.proc.stderr.read()}")
        return json.loads(line)

    def ask(self, command: str = "query") -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0, self.proc.stderr.read()


def make_warehouse(path: Path, learners: int) -> Path:
    """A warehouse with two marts of ``learners`` rows and a staging table not to publish."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute("create schema staging")
    con.execute(
        "create table marts.learner_skill_scores as select 'L' || i as learner_id, "
        "'sql' as skill_id, i * 1.5 as skill_score, timestamp '2026-06-01' as scored_at "
        f"from range({learners}) t(i)"
    )
    con.execute(
        "create table marts.top_learners as select * from marts.learner_skill_scores limit 3"
    )
    con.execute("create table staging.stg_learners as select 1 as learner_id")
    con.close()
    return path


def publish(warehouse: Path, serving: Path, run_id: str):
    return publish_marts(warehouse, serving, run_id, datetime(2026, 6, 1, 5))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".tmp.wal")))


@pytest.fixture(scope="session")
def duckdb_1x() -> Path:
    """DuckDB 1.x installed into its own folder, cached between runs (~10 s the first time)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "skillgap-test"
    target = cache / f"duckdb-{DUCKDB_1X}"
    if not (target / "duckdb" / "__init__.py").exists():
        # Install beside the cache and rename: concurrent test runs never see half a package.
        partial = cache / f"duckdb-{DUCKDB_1X}.{os.getpid()}.partial"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                str(partial),
                f"duckdb=={DUCKDB_1X}",
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            # A failure, not a skip: a green run must mean a 1.x client really read the file.
            pytest.fail(f"cannot install duckdb=={DUCKDB_1X}: {done.stderr.strip()[-500:]}")
        try:
            partial.rename(target)
        except OSError:  # another run installed it first
            subprocess.run(["rm", "-rf", str(partial)], check=True)
    return target


def test_publish_copies_the_marts_and_refresh_info_only(tmp_path):
    warehouse = make_warehouse(tmp_path / "warehouse.duckdb", learners=10)
    result = publish(warehouse, tmp_path / "serving.duckdb", "run-1")
    assert result.tables == {"learner_skill_scores": 10, "top_learners": 3}
    con = duckdb.connect(str(result.path), read_only=True)
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() order by all"
    ).fetchall()
    info = con.execute("select * from main.refresh_info order by mart").fetchall()
    con.close()
    assert tables == [
        ("main", "refresh_info"),
        ("marts", "learner_skill_scores"),
        ("marts", "top_learners"),
    ]
    assert info == [
        ("marts.learner_skill_scores", 10, "run-1", datetime(2026, 6, 1, 5)),
        ("marts.top_learners", 3, "run-1", datetime(2026, 6, 1, 5)),
    ]
    assert leftovers(tmp_path) == []


def test_reader_open_during_publish_keeps_its_snapshot_and_sees_new_data_after_reconnect(
    tmp_path,
):
    serving = tmp_path / "serving.duckdb"
    publish(make_warehouse(tmp_path / "old.duckdb", learners=10), serving, "run-1")
    reader = Reader(serving)
    try:
        assert reader.first["run_ids"] == ["run-1"]
        publish(make_warehouse(tmp_path / "new.duckdb", learners=20), serving, "run-2")
        assert reader.ask() == reader.first
        after = reader.ask("reconnect")
    finally:
        reader.close()
    assert after["run_ids"] == ["run-2"]
    assert after["marts"] == {"learner_skill_scores": 20, "top_learners": 3}


@pytest.mark.parametrize("broken", ["no marts schema", "missing warehouse"])
def test_failed_publish_leaves_the_previous_serving_file_untouched(tmp_path, broken):
    serving = tmp_path / "serving.duckdb"
    publish(make_warehouse(tmp_path / "good.duckdb", learners=10), serving, "run-1")
    before = serving.stat()
    content = serving.read_bytes()
    warehouse = tmp_path / "bad.duckdb"
    if broken == "no marts schema":
        con = duckdb.connect(str(warehouse))
        con.execute("create table main.t as select 1 as x")
        con.close()
    with pytest.raises((RuntimeError, duckdb.Error)):
        publish(warehouse, serving, "run-2")
    after = serving.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert serving.read_bytes() == content
    assert leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory) -> dict:
    """One daily_refresh run on generated data while a reader holds an older serving file.

    The serving file starts as a hand-made publish (run id ``before``); the reader opens it,
    the refresh runs (``python -m orchestration.refresh``, the ``make run`` entry), then the
    reader reports what it sees before and after reconnecting.
    """
    root = tmp_path_factory.mktemp("refresh")
    env = {
        **os.environ,
        "SKILLGAP_LANDING_DIR": str(root / "landing"),
        "SKILLGAP_WAREHOUSE": str(root / "warehouse.duckdb"),
        "SKILLGAP_SERVING": str(root / "serving.duckdb"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    subprocess.run(
        [sys.executable, "-m", "sample_data", *SAMPLE],  # into SKILLGAP_LANDING_DIR
        check=True,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
    )
    serving = root / "serving.duckdb"
    publish(make_warehouse(root / "old.duckdb", learners=10), serving, "before")
    reader = Reader(serving)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "orchestration.refresh", "--skip-sample"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        during = reader.ask()
        after = reader.ask("reconnect")
    finally:
        reader.close()
    return {
        "run": run,
        "serving": serving,
        "warehouse": root / "warehouse.duckdb",
        "first": reader.first,
        "during": during,
        "after": after,
    }


def warehouse_mart_counts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in MARTS}
    finally:
        con.close()


@pytest.mark.slow
def test_refresh_with_a_reader_open_succeeds_and_the_reader_sees_new_marts_on_reconnect(
    refreshed,
):
    run = refreshed["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert refreshed["first"]["run_ids"] == ["before"]
    assert refreshed["during"] == refreshed["first"]
    after = refreshed["after"]
    assert len(after["run_ids"]) == 1 and after["run_ids"] != ["before"]
    assert after["marts"] == warehouse_mart_counts(refreshed["warehouse"])
    assert sorted(after["marts"]) == MARTS
    assert after["marts"]["learner_skill_scores"] > 0
    assert leftovers(refreshed["serving"].parent) == []


@pytest.mark.slow
def test_make_run_shows_one_line_per_stage_and_writes_the_full_logs_to_a_file(refreshed):
    """`make run`'s terminal: stage lines, the summary, the path of a log holding the rest."""
    shown = refreshed["run"].stdout
    for stage in ("ingest", "dbt staging", "IRT calibration", "IRT scoring", "dbt marts"):
        assert re.search(rf"^(ok|~~|!!) {stage} ", shown, re.MULTILINE), shown
    assert "Refresh succeeded" in shown
    [log_line] = [line for line in shown.splitlines() if line.startswith("Full Dagster")]
    log = Path(log_line.split(": ", 1)[1])
    logged = log.read_text()
    assert "Running dbt command" in logged
    assert "Running dbt command" not in shown
    assert len(shown.splitlines()) < 60


@pytest.mark.slow
def test_serving_file_opens_read_only_in_duckdb_1x_with_every_mart(refreshed, duckdb_1x):
    assert refreshed["run"].returncode == 0
    env = {**os.environ, "PYTHONPATH": str(duckdb_1x)}
    # -S: no site-packages, so the venv's DuckDB 2.0 cannot shadow the 1.x on PYTHONPATH.
    reader = Reader(refreshed["serving"], env=env, python=(sys.executable, "-S"))
    reader.close()
    assert reader.first["version"] == DUCKDB_1X
    assert reader.first["marts"] == warehouse_mart_counts(refreshed["warehouse"])


@pytest.mark.slow
def test_serving_file_opens_read_only_through_sqlalchemy_as_superset_does(refreshed):
    assert refreshed["run"].returncode == 0
    # The URI given to Superset (the README's BI section): four slashes before an absolute path.
    engine = sa.create_engine(f"duckdb:///{refreshed['serving']}?access_mode=read_only")
    try:
        with engine.connect() as con:
            counts = {
                t: con.execute(sa.text(f"select count(*) from marts.{t}")).scalar_one()
                for t in MARTS
            }
            # duckdb-engine names schemas <database>.<schema>; the database is the file's stem.
            tables = sa.inspect(con).get_table_names(schema="serving.marts")
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                con.execute(sa.text("create table marts.scratch (x integer)"))
    finally:
        engine.dispose()
    assert tables == MARTS
    assert counts == warehouse_mart_counts(refreshed["warehouse"])


@pytest.mark.slow
def test_starter_questions_in_docs_run_on_the_serving_file_in_duckdb_1x(refreshed, duckdb_1x):
    assert refreshed["run"].returncode == 0
    statements = re.findall(r"```sql\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.S)
    assert len(statements) >= 5
    done = subprocess.run(
        [sys.executable, "-S", "-c", RUN_SQL, str(refreshed["serving"])],
        input=json.dumps(statements),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(duckdb_1x)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == len(statements)
