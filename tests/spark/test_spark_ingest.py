"""Ingest on Spark: whole or not at all across a stop between an entity's rows and its ledger
rows (the next ingest gives the row accounting of a clean ingest), and the same ledger and
rows from a landing URI read through Hadoop's FileSystem (``file://``, the code path of
``s3a://`` and the other object stores) as from the local folder."""

from __future__ import annotations

from datetime import datetime

import pytest

from orchestration.ingest import spark_loader
from orchestration.ingest.contract import ENTITIES
from orchestration.ingest.spark_loader import ingest_landing_spark, unresolved_failures_spark
from sample_data import generate

pytestmark = pytest.mark.slow

NOW = datetime(2026, 7, 1)


class StoppedError(RuntimeError):
    """The simulated crash."""


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    generate(root / "landing", root / "truth", companies=3, learners=30, days=2, seed=11)
    (root / "landing" / "attempts" / ".hidden.csv").write_text("not data\n")
    return root / "landing"


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


def test_a_stop_between_rows_and_ledger_leaves_no_trace(spark, raw, landing, monkeypatch):
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


def test_a_landing_uri_is_read_through_hadoop_as_the_local_folder(spark, raw, landing):
    raw("local")
    local = ingest_landing_spark(spark, landing, now=NOW)
    expected = accounting(spark), unresolved_failures_spark(spark, landing)
    raw("uri")
    uri = landing.as_uri()
    assert uri.startswith("file:///")
    through_hadoop = ingest_landing_spark(spark, uri, now=NOW)
    assert [f.file_path for f in through_hadoop.files] == [f.file_path for f in local.files]
    assert (accounting(spark), unresolved_failures_spark(spark, uri)) == expected
    assert expected[1], "the sample's corrupt file is reported through both paths"
    # A second ingest of the URI finds every file already loaded, by content hash.
    again = ingest_landing_spark(spark, uri, now=NOW)
    assert {f.status for f in again.files} == {"skipped"}
