"""irt.* goes from the DuckDB workspace to Spark by Parquet files DuckDB streams (no table in
the driver's memory), with the types the Arrow path gave; a warehouse DuckDB cannot write
(object storage) still takes the Arrow path."""

from __future__ import annotations

import duckdb
import pytest

from orchestration.spark import warehouse

pytestmark = pytest.mark.slow  # Spark table writes: 20-40 s here

TABLE = """
    select 'L' || i as learner_id, i::integer as n, i / 7 as theta,
        timestamp '2026-01-02 03:04:05.123456' + to_seconds(i) as scored_at,
        date '2026-01-01' + i::integer as day, i % 2 = 0 as flag,
        cast(i as hugeint) * 1000000000000000000000 as signature
    from range({rows}) t(i)
"""


@pytest.fixture
def workspace():
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema pushed")
    con.execute(f"create table pushed.scores as {TABLE.format(rows=1000)}")
    con.execute(f"create table pushed.empty as {TABLE.format(rows=0)}")
    yield con
    con.close()


def spark_rows(spark, name):
    return sorted(tuple(row) for row in spark.table(name).collect())


def test_parquet_and_arrow_paths_give_the_same_tables(spark, workspace, monkeypatch):
    assert warehouse.push_schema(spark, workspace, "pushed") == ["empty", "scores"]
    copied = {
        t: (spark.table(f"pushed.{t}").dtypes, spark_rows(spark, f"pushed.{t}"))
        for t in ("empty", "scores")
    }
    home = warehouse.local_folder(spark.conf.get("spark.sql.warehouse.dir")) / "duckdb" / "pushed"
    assert warehouse.table_location(spark, "pushed.scores").startswith("file:" + str(home))

    monkeypatch.setattr(warehouse, "local_folder", lambda location: None)
    for table in ("empty", "scores"):  # else the unchanged tables are not pushed again
        spark.sql(f"drop table pushed.{table}")
    warehouse.push_schema(spark, workspace, "pushed")
    assert not warehouse.table_location(spark, "pushed.scores").startswith("file:" + str(home))
    through_arrow = {
        t: (spark.table(f"pushed.{t}").dtypes, spark_rows(spark, f"pushed.{t}"))
        for t in ("empty", "scores")
    }
    assert copied == through_arrow
    assert dict(copied["scores"][0])["scored_at"] == "timestamp"
    assert dict(copied["scores"][0])["signature"] == "decimal(38,0)"
    assert len(copied["scores"][1]) == 1000 and copied["empty"][1] == []
    # the wall clock DuckDB holds (UTC) is the one Spark shows in its UTC session
    assert str(copied["scores"][1][0][3]) == "2026-01-02 03:04:05.123456"


def test_a_push_rewrites_only_changed_tables_and_removes_the_old_files(spark, workspace):
    warehouse.push_schema(spark, workspace, "pushed")
    home = warehouse.local_folder(spark.conf.get("spark.sql.warehouse.dir")) / "duckdb" / "pushed"

    def versions():
        return {t: sorted(p.name for p in (home / t).iterdir()) for t in ("empty", "scores")}

    first = versions()
    warehouse.push_schema(spark, workspace, "pushed")
    assert versions() == first  # nothing changed: nothing written

    workspace.execute("update pushed.scores set theta = theta + 1 where n = 3")
    warehouse.push_schema(spark, workspace, "pushed")
    second = versions()
    assert second["empty"] == first["empty"] and second["scores"] != first["scores"]
    assert [len(v) for v in second.values()] == [1, 1]
    assert spark.sql("select theta from pushed.scores where n = 3").first()[0] == 3 / 7 + 1

    workspace.execute("delete from pushed.scores where n >= 10")
    warehouse.push_schema(spark, workspace, "pushed")
    assert spark.table("pushed.scores").count() == 10
