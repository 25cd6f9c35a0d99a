"""The same refresh on both engines gives the same warehouse and the same serving file.

One small generated sample, its last day held back. Each engine refreshes it twice: without
the last day, then after the last day lands (the daily increment). The spark engine runs
in this process (its SparkSession serves dbt through Thrift, metastore and warehouse in a
temporary folder). After the increment every staging and intermediate table, every irt.*
table and every published mart of the spark engine equals DuckDB's: same columns, same rows,
numbers to 1e-6. On DuckDB the increment equals a rebuild (tests/end_to_end); on Spark the
attempt chain is rebuilt on every refresh, so the comparison also shows the spark increment
equals a rebuild.
"""

from __future__ import annotations

import os
import re
import shutil
import socket

import duckdb
import pytest

from orchestration.settings import load_settings
from sample_data import generate
from tests.engine.compare import differences

pytestmark = pytest.mark.slow

COMPANIES, LEARNERS, DAYS = 20, 1500, 20
LAYERS = ("staging", "intermediate", "irt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hold_back_last_day(landing, held_back) -> list:
    last_day = max(
        re.search(r"\d{4}-\d{2}-\d{2}", p.name).group() for p in landing.glob("attempts/*")
    )
    held = []
    for path in sorted(landing.rglob(f"*_{last_day}*")):
        target = held_back / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        held.append((path, target))
    return held


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
        held = hold_back_last_day(landing, root / "held_back")
        for env in (duck, spark):
            os.environ.update(env)
            run_refresh()
        for path, target in held:
            shutil.move(target, path)
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
    assert len([n for n in duck if n.startswith("marts.")]) == 9
    problems = {n: differences(duck[n], spark[n]) for n in duck if n != "main.refresh_info"}
    assert not {n: p for n, p in problems.items() if p}
    assert all(len(f) > 0 for n, f in duck.items() if n.startswith("marts."))
