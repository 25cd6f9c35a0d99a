"""The same refreshes on both engines give the same warehouse and the same serving file, and
a daily increment on Spark equals a rebuild.

One small generated sample, refreshed twice by each engine through the daily_refresh job: all
days, then one more small day (late attempts of old learners, an assignment's max_score
changed, a learner moving company). Five days of the sample's activity land as xAPI statements
(the generator's ``--format xapi``: attempts as JSON lines, enrollments as JSON arrays, the
corrupt file as half a gzip file), and the small day adds statements too: a voiding statement,
an LRS's copy, a conflict, attempts without an id, a line that is not JSON, a Caliper envelope
and a .json file that cannot be parsed (tests/engine/increment.py). raw.statements is the same
on both engines. The spark engine runs in this process (its SparkSession
serves dbt through Thrift; metastore and warehouse in a temporary folder). Every staging,
intermediate and irt.* table and every published mart of the spark engine equals DuckDB's:
same columns, same rows, numbers to 1e-6 (the IRT computes on the same responses with the
same code on both engines). On Spark the second refresh is a real increment of the attempt
chain (insert_overwrite of learner buckets): each chain table equals a --full-refresh
rebuild of it, and only the buckets of the learners with new or re-decided rows are written.
"""

from __future__ import annotations

import os
import socket
import time

import duckdb
import pytest

from orchestration.dbt_project import PROFILES_DIR, run_dbt
from orchestration.settings import load_settings
from sample_data import generate
from tests.engine.compare import differences
from tests.engine.increment import (
    CHAIN,
    activity_as_statements,
    land_small_day,
    land_statements_day,
    partition_files,
    read_tables,
)

pytestmark = pytest.mark.slow

COMPANIES, LEARNERS, DAYS = 20, 1500, 20
LAYERS = ("staging", "intermediate", "irt")
# what identifies a landed file and its outcome (load ids and times differ by engine)
LEDGER = "file_path, entity, content_hash, file_format, n_rows, status"
STATEMENTS = "statement_id, stored, statement, source, _source_file, _row_number"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def duckdb_tables(path, schemas) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'select * from "{s}"."{t}"').df()
            for s, t in names
            if s in schemas
        }
    finally:
        con.close()


def column_types(path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'marts'"
        ).fetchall()
        return {(table, column): kind for table, column, kind in rows}
    finally:
        con.close()


def spark_chain_run(session, before: dict) -> dict:
    """What the last Spark refresh wrote per chain table: rewritten and kept partition
    files, the buckets written, and every bucket there is."""
    written = {}
    for table in CHAIN:
        after = partition_files(session, table)
        kept = {f for f, stamp in after.items() if before[table].get(f) == stamp}
        written[table] = {
            "files": len(after),
            "kept": len(kept),
            "buckets": {after[f][0] for f in after if f not in kept},
            "all_buckets": {bucket for bucket, _ in after.values()},
        }
    return written


def forget_file_listings(session) -> None:
    """Refresh this session's cached file listings of every table. dbt rewrites tables through
    its own Thrift session; the IRT assets then read them through this one, which would list
    the files of the first refresh (FILE_NOT_EXIST). A scheduled refresh runs in a fresh
    process; the test runs two in one."""
    for database in ("raw", *LAYERS, "marts"):
        for row in session.sql(f"show tables in {database}").collect():
            session.catalog.refreshTable(f"{database}.{row.tableName}")


def spark_rebuild(session, root) -> tuple[dict, float]:
    """The chain tables after a --full-refresh rebuild of them on Spark, and its seconds."""
    from orchestration.spark.session import spark_env

    env = {
        **os.environ,
        **spark_env(),
        "DBT_PROFILES_DIR": str(PROFILES_DIR),
        "DBT_TARGET_PATH": str(root / "target"),
        "DBT_LOG_PATH": str(root / "logs"),
    }
    started = time.monotonic()
    run_dbt("run", "--full-refresh", "--select", *(t.split(".")[1] for t in CHAIN), env=env)
    return read_tables(session, CHAIN), time.monotonic() - started


@pytest.fixture(scope="module")
def engines(tmp_path_factory, run_refresh):
    root = tmp_path_factory.mktemp("engines")
    saved = dict(os.environ)
    common = {"SKILLGAP_LANDING_DIR": str(root / "landing"), "DAGSTER_HOME": str(root / "dh")}
    duck = {
        **common,
        "SKILLGAP_ENGINE": "duckdb",
        "SKILLGAP_WAREHOUSE": str(root / "warehouse.duckdb"),
        "SKILLGAP_SERVING": str(root / "serving_duckdb.duckdb"),
    }
    spark = {
        **common,
        "SKILLGAP_ENGINE": "spark",
        # the same folder as a URI: Spark lists and hashes it through Hadoop's FileSystem,
        # the path an object-store landing (s3a://, abfss://) takes
        "SKILLGAP_LANDING_DIR": (root / "landing").as_uri(),
        "SKILLGAP_SPARK_HOME": str(root / "spark"),
        "SKILLGAP_SPARK_THRIFT_PORT": str(free_port()),
        "SKILLGAP_WAREHOUSE": str(root / "unused.duckdb"),
        "SKILLGAP_SERVING": str(root / "serving_spark.duckdb"),
    }
    seconds = {}
    from orchestration.spark.session import get_spark, stop_spark

    try:
        os.environ.update(common)
        landing = load_settings().landing_dir
        generate(landing, root / "truth", COMPANIES, LEARNERS, DAYS, seed=5)
        activity_as_statements(landing, root / "scratch")
        for step in ("all days", "one more day"):
            if step == "one more day":
                changed_learners = land_small_day(landing)
                changed_learners |= land_statements_day(landing, changed_learners)
            for name, env in (("duckdb", duck), ("spark", spark)):
                os.environ.update(env)
                if name == "spark" and step == "one more day":
                    before = {t: partition_files(get_spark(), t) for t in CHAIN}
                    forget_file_listings(get_spark())
                started = time.monotonic()
                run_refresh()
                seconds[f"{name} refresh, {step}"] = time.monotonic() - started
            session = get_spark()
        written = spark_chain_run(session, before)
        # Tables only, as DuckDB's side lists them: staging's views (stg_attempt_rows, ...) are
        # the union dbt reads, not data of their own.
        names = [
            f"{layer}.{table.name}"
            for layer in LAYERS
            for table in session.catalog.listTables(layer)
            if table.tableType != "VIEW"
        ]
        spark_tables = read_tables(session, names)
        rebuilt, seconds["spark chain --full-refresh"] = spark_rebuild(session, root)
        with duckdb.connect(duck["SKILLGAP_WAREHOUSE"], read_only=True) as con:
            duck_ledger = con.execute(f"select {LEDGER} from raw.load_ledger").fetchall()
            duck_statements = con.execute(f"select {STATEMENTS} from raw.statements").fetchall()
        spark_ledger = [
            tuple(r) for r in session.sql(f"select {LEDGER} from raw.load_ledger").collect()
        ]
        spark_statements = [
            tuple(r) for r in session.sql(f"select {STATEMENTS} from raw.statements").collect()
        ]
        print({k: round(v, 1) for k, v in seconds.items()})
        print({t: {k: v for k, v in w.items() if "buckets" not in k} for t, w in written.items()})
        yield {
            "serving_types": tuple(column_types(env["SKILLGAP_SERVING"]) for env in (duck, spark)),
            "duckdb": duckdb_tables(duck["SKILLGAP_WAREHOUSE"], LAYERS),
            "spark": spark_tables,
            "rebuilt": rebuilt,
            "ledgers": (sorted(duck_ledger), sorted(spark_ledger)),
            "statements": tuple(
                sorted(rows, key=str) for rows in (duck_statements, spark_statements)
            ),
            "written": written,
            "changed_learners": changed_learners,
            "session": session,
            "serving": (
                duckdb_tables(duck["SKILLGAP_SERVING"], ("marts", "main")),
                duckdb_tables(spark["SKILLGAP_SERVING"], ("marts", "main")),
            ),
        }
    finally:
        stop_spark()
        os.environ.clear()
        os.environ.update(saved)


def without_partition_column(frame):
    """Spark's chain tables carry learner_bucket, their partition column: physical layout
    (docs/scale-out.md, incremental), not data; DuckDB's tables do not have it."""
    return frame.drop(columns=["learner_bucket"], errors="ignore")


@pytest.mark.parametrize("layer", LAYERS)
def test_warehouse_layers_equal(engines, layer):
    duck = {n: f for n, f in engines["duckdb"].items() if n.startswith(layer + ".")}
    spark = {n: f for n, f in engines["spark"].items() if n.startswith(layer + ".")}
    assert sorted(duck) == sorted(spark)
    assert duck, f"no {layer} tables"
    problems = {n: differences(duck[n], without_partition_column(spark[n])) for n in duck}
    assert not {n: p for n, p in problems.items() if p}


def test_serving_files_equal(engines):
    duck, spark = engines["serving"]
    assert sorted(duck) == sorted(spark)
    assert len([n for n in duck if n.startswith("marts.")]) >= 9
    problems = {n: differences(duck[n], spark[n]) for n in duck if n != "main.refresh_info"}
    assert not {n: p for n, p in problems.items() if p}
    # The small sample leaves some marts empty (privacy suppression); most are not.
    assert sum(len(f) > 0 for n, f in duck.items() if n.startswith("marts.")) >= 6


def test_serving_column_types_equal(engines):
    """BI tools see the same column types whichever engine built the marts."""
    assert engines["serving_types"][0] == engines["serving_types"][1]


def test_the_landing_uri_gives_the_ledger_of_the_local_folder(engines):
    """Spark read the landing as a file:// URI through Hadoop, DuckDB as a folder: the same
    files, identities (path, content hash) and outcomes."""
    duck, spark = engines["ledgers"]
    assert len(duck) > 20
    assert duck == spark


def test_both_engines_load_the_same_statements(engines):
    """Spark's loader gives DuckDB's rows: the same ids (the MD5 of the minified JSON for
    statements without one), minified texts, stored values and line numbers."""
    duck, spark = engines["statements"]
    assert len(duck) > 3000
    assert duck == spark


def test_the_statements_reach_every_outcome(engines):
    """The statement landing is not a formality: what the rows became on both engines (equal
    by test_warehouse_layers_equal) covers each path of staging."""
    landed = engines["duckdb"]["staging.stg_statements_landed"]
    outcomes = set(landed["outcome"])
    assert {"attempt", "enrollment", "pass", "voids", "voided", "exact_duplicate"} <= outcomes
    assert {"conflict", "rejected"} <= outcomes
    assert "invalid_json" in set(landed["reject_reason"])
    assert landed["is_caliper"].any()
    failed = {path for path, _, _, _, _, status in engines["ledgers"][0] if status == "failed"}
    assert {
        "statements/zz_broken.json",
        "statements/attempts_2026-06-07_corrupt.jsonl.gz",
    } <= failed


@pytest.mark.parametrize("table", CHAIN)
def test_a_daily_increment_on_spark_equals_a_rebuild(engines, table):
    increment, rebuilt = engines["spark"][table], engines["rebuilt"][table]
    assert len(rebuilt) > 0
    assert "learner_bucket" in increment.columns
    assert differences(increment, rebuilt) == []


def test_the_daily_increment_rewrites_only_the_changed_buckets(engines):
    """Every bucket of a learner whose attempts changed is rewritten; most are not."""
    session, written = engines["session"], engines["written"]
    learners = ", ".join(f"'{learner}'" for learner in sorted(engines["changed_learners"]))
    changed = {
        f"learner_bucket={row[0]}"
        for row in session.sql(
            "select distinct learner_bucket from staging.stg_attempts "
            f"where learner_id in ({learners})"
        ).collect()
    }
    for table in ("staging.stg_attempts", "intermediate.int_attempts_scored"):
        assert changed <= written[table]["buckets"], table
    for table, run in written.items():
        assert 0 < run["kept"] < run["files"], table
        assert len(run["buckets"]) < len(run["all_buckets"]) / 2, table
