"""Ingest on Spark is whole or not at all across a stop between an entity's rows and its
ledger rows: the next ingest gives the row accounting of a clean ingest."""

from __future__ import annotations

from datetime import datetime

import pytest

from orchestration.ingest import spark_loader
from orchestration.ingest.contract import ENTITIES
from orchestration.ingest.spark_loader import ingest_landing_spark
from sample_data import generate

pytestmark = pytest.mark.slow

NOW = datetime(2026, 7, 1)


class StoppedError(RuntimeError):
    """The simulated crash."""


@pytest.fixture
def raw(spark, tmp_path):
    """A fresh ``raw`` database in ``tmp_path``, dropped afterwards."""

    def fresh(name: str) -> None:
        spark.sql("drop database if exists raw cascade")
        spark.sql(f"create database raw location '{tmp_path / name}'")

    yield fresh
    spark.sql("drop database if exists raw cascade")


def accounting(spark) -> dict:
    """Rows per load and file of every raw table, and the ledger without its clock."""
    rows = {
        entity: sorted(
            tuple(r)
            for r in spark.sql(
                f"select _load_id, _source_file, count(*) from raw.{entity} group by all"
            ).collect()
        )
        for entity in ENTITIES
    }
    ledger = sorted(
        tuple(r)
        for r in spark.sql(
            "select load_id, entity, file_path, content_hash, status, n_rows from raw.load_ledger"
        ).collect()
    )
    return {"rows": rows, "ledger": ledger}


def test_a_stop_between_rows_and_ledger_leaves_no_trace(spark, raw, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    generate(landing, tmp_path / "truth", companies=3, learners=40, days=3, seed=11)
    raw("clean")
    ingest_landing_spark(spark, landing, now=NOW)
    clean = accounting(spark)
    assert sum(len(r) for r in clean["rows"].values()) > 0

    raw("stopped")
    write_ledger = spark_loader.SparkIngest.write_ledger

    def stop_at_attempts(self):
        if self.ledger and self.ledger[-1][2] == "attempts":
            raise StoppedError("the run stops after writing the attempts rows")
        write_ledger(self)

    monkeypatch.setattr(spark_loader.SparkIngest, "write_ledger", stop_at_attempts)
    with pytest.raises(StoppedError):
        ingest_landing_spark(spark, landing, now=NOW)
    stopped = accounting(spark)
    last = max((row[0] for row in stopped["ledger"]), default=0)
    assert any(load > last for load, _, _ in stopped["rows"]["attempts"])  # rows, no ledger

    monkeypatch.setattr(spark_loader.SparkIngest, "write_ledger", write_ledger)
    assert sorted(spark_loader.drop_unledgered_rows(spark)) == ["attempts"]
    ingest_landing_spark(spark, landing, now=NOW)
    assert accounting(spark) == clean
