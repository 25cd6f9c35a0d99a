"""The same refresh on both engines gives the same warehouse and the same serving file.

One small generated sample, refreshed once by each engine through the daily_refresh job. The
spark engine runs in this process (its SparkSession serves dbt through Thrift; metastore and
warehouse in a temporary folder). Every staging, intermediate and irt.* table and every
published mart of the spark engine equals DuckDB's: same columns, same rows, numbers to 1e-6
(the IRT computes on the same responses with the same code on both engines). A daily
increment on Spark equals a rebuild by construction: the attempt chain is a table rebuilt on
every refresh there (test_spark_attempt_chain_is_rebuilt).
"""

from __future__ import annotations

import os
import socket

import duckdb
import pytest

from orchestration.settings import REPO_ROOT, load_settings
from sample_data import generate
from tests.engine.compare import differences

pytestmark = pytest.mark.slow

COMPANIES, LEARNERS, DAYS = 20, 1500, 20
LAYERS = ("staging", "intermediate", "irt")
INCREMENTAL_ON_DUCKDB = (
    "stg_attempts_landed",
    "stg_attempts",
    "stg_enrollments_landed",
    "int_attempts_scored",
)


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
        "SKILLGAP_SPARK_HOME": str(root / "spark"),
        "SKILLGAP_SPARK_THRIFT_PORT": str(free_port()),
        "SKILLGAP_WAREHOUSE": str(root / "unused.duckdb"),
        "SKILLGAP_SERVING": str(root / "serving_spark.duckdb"),
    }
    try:
        os.environ.update(common)
        landing = load_settings().landing_dir
        generate(landing, root / "truth", COMPANIES, LEARNERS, DAYS, seed=5)
        for env in (duck, spark):
            os.environ.update(env)
            run_refresh()
        from orchestration.spark.session import get_spark

        session = get_spark()
        spark_tables = {
            name: session.table(name).toPandas()
            for layer in LAYERS
            for name in (
                f"{layer}.{row.tableName}"
                for row in session.sql(f"show tables in {layer}").collect()
            )
        }
        yield {
            "serving_types": tuple(column_types(env["SKILLGAP_SERVING"]) for env in (duck, spark)),
            "duckdb": duckdb_tables(duck["SKILLGAP_WAREHOUSE"], LAYERS),
            "spark": spark_tables,
            "serving": (
                duckdb_tables(duck["SKILLGAP_SERVING"], ("marts", "main")),
                duckdb_tables(spark["SKILLGAP_SERVING"], ("marts", "main")),
            ),
        }
    finally:
        from orchestration.spark.session import stop_spark

        stop_spark()
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize("layer", LAYERS)
def test_warehouse_layers_equal(engines, layer):
    duck = {n: f for n, f in engines["duckdb"].items() if n.startswith(layer + ".")}
    spark = {n: f for n, f in engines["spark"].items() if n.startswith(layer + ".")}
    assert sorted(duck) == sorted(spark)
    assert duck, f"no {layer} tables"
    problems = {n: differences(duck[n], spark[n]) for n in duck}
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


def test_spark_attempt_chain_is_rebuilt():
    """On Spark the incremental models are tables, without the DuckDB delete post-hook."""
    import json

    from orchestration.dbt_project import parse_manifest

    target = REPO_ROOT / "target" / "engine-test"
    env = {**os.environ, "SKILLGAP_ENGINE": "spark", "DBT_TARGET_PATH": str(target)}
    nodes = json.loads(parse_manifest(env).read_text())["nodes"].values()
    chain = {n["name"]: n for n in nodes if n["name"] in INCREMENTAL_ON_DUCKDB}
    assert sorted(chain) == sorted(INCREMENTAL_ON_DUCKDB)
    assert {n["config"]["materialized"] for n in chain.values()} == {"table"}
