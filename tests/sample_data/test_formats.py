"""How the sample spells values: header styles and the timestamp formats of the landing contract.

Attempt timestamps are formatted in SQL (DuckDB), dimension timestamps in Python: both must
write the same text for the same epoch seconds and format number.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from sample_data.formats import (
    FORMAT_NULL,
    TIMESTAMP_OFFSETS,
    header_name,
    iso_text,
    iso_texts,
    timestamp_sql,
)

EPOCHS = (0, 1_780_272_000, 1_780_358_399, 1_780_300_123)


def test_header_styles():
    assert header_name("learner_id", "lower") == "learner_id"
    assert header_name("learner_id", "upper") == "LEARNER_ID"
    assert header_name("learner_id", "title") == "Learner_Id"


@pytest.mark.parametrize(
    ("time_format", "expected"),
    [
        (0, "2026-06-01T10:30:00"),
        (1, "2026-06-01T10:30:00Z"),
        (2, "2026-06-01T12:30:00+02:00"),
        (3, "2026-06-01T05:30:00-05:00"),
        (4, "2026-06-01T16:00:00+05:30"),
    ],
)
def test_iso_text_shifts_the_clock_and_names_the_offset(time_format, expected):
    assert iso_text(1_780_309_800, time_format) == expected


def test_sql_and_python_write_the_same_timestamp_text():
    formats = range(len(TIMESTAMP_OFFSETS))
    pairs = [(epoch, time_format) for epoch in EPOCHS for time_format in formats]
    epochs = np.array([epoch for epoch, _ in pairs], dtype=np.int64)
    time_formats = np.array([time_format for _, time_format in pairs], dtype=np.int64)
    con = duckdb.connect()
    con.register("frame", {"epoch": epochs, "time_format": time_formats})
    sql_text = [
        row[0]
        for row in con.execute(
            f"select {timestamp_sql('epoch', 'time_format')} from frame"
        ).fetchall()
    ]
    assert sql_text == [iso_text(int(e), int(f)) for e, f in pairs]
    assert iso_texts(epochs, time_formats) == sql_text


def test_the_null_format_writes_no_timestamp():
    sql = f"select {timestamp_sql('epoch', 'time_format')} from (select 0 as epoch, "
    assert duckdb.sql(sql + f"{FORMAT_NULL} as time_format)").fetchall() == [(None,)]
