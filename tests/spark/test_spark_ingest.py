"""Ingest on Spark: whole or not at all across a stop between an entity's rows and its ledger
rows (the next ingest gives the row accounting of a clean ingest), the same ledger and rows
from a landing URI read through Hadoop's FileSystem (``file://``, the code path of ``s3a://``
and the other object stores) as from the local folder, and statements files loaded into the
rows DuckDB's loader gives."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import duckdb
import pytest

from orchestration.ingest import ingest_landing, spark_loader
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


STATEMENT = {
    "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example", "name": "l1"}},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en": "answered"}},
    "object": {"id": "https://lms.example/items/i1", "objectType": "Activity"},
    "result": {"score": {"raw": 1.50, "min": 0, "max": 2}, "response": 'Zoë 😀 \\ "q"\t/'},
    "context": {"extensions": {"https://lms.example/x": [1e7, 2.5e-5, 1e22, 0.001, -0.0]}},
    "timestamp": "2026-06-01T10:00:00+02:00",
}
LRS = {
    "stored": "2026-06-01T10:00:01Z",
    "authority": {"objectType": "Agent", "mbox": "mailto:lrs@example.org"},
    "version": "1.0.3",
}


def write_statements(folder) -> None:
    """Statements files as platforms write them, with what DuckDB keeps as invalid."""
    folder.mkdir(parents=True)
    with_id = {"id": "6fa459ea-ee8a-3ca4-894e-db77e160355e", **STATEMENT}
    lines = [
        json.dumps(with_id, ensure_ascii=False),
        "",
        json.dumps(STATEMENT, indent=None, separators=(" , ", " : ")),  # no id: an MD5 id
        "not json",  # kept with its line number, rejected in staging
        '{"x": 1} trailing',
        "{'single': 'quotes'}",
        '{"x": "a\tb"}',  # a raw tab inside a string
        '{"x": "\\ud800"}',  # a lone surrogate
        json.dumps({**STATEMENT, **LRS, "id": None}),  # valid, but its id is null
        '"a string"',
        "[1, 2]",
    ]
    text = "\n".join(lines) + "\n"
    (folder / "a.jsonl").write_text("\ufeff" + text, encoding="utf-8")
    (folder / "b.ndjson.gz").write_bytes(gzip.compress(text.replace("\n", "\r\n").encode()))
    array = [with_id, "a string", 1.5, None, {**STATEMENT, **LRS}]
    (folder / "c.json").write_text(json.dumps(array, indent=2), encoding="utf-8")
    envelope = {"sensor": "s", "sendTime": "2026-06-01T10:00:00Z", "data": [STATEMENT, LRS]}
    (folder / "d.json.gz").write_bytes(gzip.compress(json.dumps(envelope).encode()))
    (folder / "e.json").write_text(json.dumps(with_id), encoding="utf-8")
    (folder / "f_unparsable.json").write_text('[{"id": "x"},', encoding="utf-8")
    (folder / "g_not_utf8.jsonl").write_bytes(b'{"x": "\xff"}\n')
    (folder / "h.txt").write_text("not a statements file")


def test_statements_load_as_the_duckdb_loader_loads_them(spark, raw, tmp_path):
    landing = tmp_path / "statements_landing"
    write_statements(landing / "statements")
    columns = "statement_id, stored, statement, source, _source_file, _row_number"
    ledger = "file_path, content_hash, file_format, n_rows, status"
    with duckdb.connect() as con:
        ingest_landing(con, landing, now=NOW)
        expected = sorted(con.execute(f"select {columns} from raw.statements").fetchall(), key=str)
        files = sorted(con.execute(f"select {ledger} from raw.load_ledger").fetchall())
    raw("statements")
    ingest_landing_spark(spark, landing, now=NOW)
    rows = sorted(
        (tuple(r) for r in spark.sql(f"select {columns} from raw.statements").collect()), key=str
    )
    assert rows == expected
    assert (
        sorted(tuple(r) for r in spark.sql(f"select {ledger} from raw.load_ledger").collect())
        == files
    )
    assert {row[0] for row in files if row[4] == "failed"} == {
        "statements/f_unparsable.json",
        "statements/g_not_utf8.jsonl",
        "statements/h.txt",
    }
    # Lines 4-8 are not JSON to DuckDB (kept as landed), line 9 is a statement whose id is null.
    no_id = sorted(row[5] for row in rows if row[0] is None and row[4] == "statements/a.jsonl")
    assert no_id == [4, 5, 6, 7, 8, 9]
    hashed = [row for row in rows if row[4] == "statements/a.jsonl" and row[5] == 3]
    assert len(hashed[0][0]) == 36 and hashed[0][2].startswith('{"actor":')
