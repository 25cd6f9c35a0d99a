"""The attempts files: each day's simulated attempts with their faults, as CSV or Parquet.

Days alternate between Parquet (typed columns) and CSV (text: header styles, shuffled column
order, UTC offsets); one CSV day lacks the optional attempt_number column.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from sample_data.behaviour import Attempts
from sample_data.catalog import Catalog
from sample_data.faults import AttemptFaults, DayFaults
from sample_data.formats import (
    ATTEMPT_COLUMNS,
    FLAG_ATTEMPT_ID_NULL,
    FLAG_ITEM_ID_NULL,
    FLAG_LEARNER_ID_NULL,
    FLAG_SCORE_NULL,
    FLAG_SCORE_TEXT,
    FORMAT_NULL,
    FORMAT_TEXT,
    HEADER_STYLES,
    OFFSET_SHARE,
    TIMESTAMP_OFFSETS,
    header_name,
    timestamp_sql,
)
from sample_data.ledger import Ledger
from sample_data.writers import write_frame

PARQUET_DAY_SHARE = 0.6


def attempt_sql(file_format: str, with_number: bool) -> dict[str, str]:
    """{landed column: SQL over ATTEMPT_COLUMNS} for a file format."""

    def nullable(flag: int, expression: str) -> str:
        return f"case when flags & {flag} <> 0 then null else {expression} end"

    sql = {
        "attempt_id": nullable(FLAG_ATTEMPT_ID_NULL, "printf('A%010d', attempt_serial)"),
        "learner_id": nullable(FLAG_LEARNER_ID_NULL, "printf('L%07d', learner_serial)"),
        "item_id": nullable(FLAG_ITEM_ID_NULL, "printf('ITM%06d', item_serial)"),
    }
    if file_format == "parquet":
        sql["submitted_at"] = (
            f"case when time_format = {FORMAT_NULL} then null "
            "else make_timestamp(submitted_epoch * 1000000) end"
        )
        sql["score"] = nullable(FLAG_SCORE_NULL, "score")
        sql["attempt_number"] = "attempt_number::integer"
    else:
        sql["submitted_at"] = (
            f"case when time_format = {FORMAT_TEXT} then submitted_text "
            f"else {timestamp_sql('submitted_epoch', 'time_format')} end"
        )
        number = (
            "case when score = floor(score) then (score::bigint)::varchar else score::varchar end"
        )
        sql["score"] = (
            f"case when flags & {FLAG_SCORE_NULL} <> 0 then null "
            f"when flags & {FLAG_SCORE_TEXT} <> 0 then score_text else {number} end"
        )
        sql["attempt_number"] = "attempt_number::varchar"
    if not with_number:
        del sql["attempt_number"]
    return sql


def _merge(rows: dict[str, np.ndarray], faults: DayFaults, positions: np.ndarray) -> tuple:
    """The real rows with the fault rows at ``positions``; and each row's place in the file."""
    n = len(rows["attempt_serial"])
    total = n + len(faults.rows)
    key = np.concatenate([np.arange(n) * 2, positions * 2 - 1])
    order = np.argsort(key, kind="stable")
    data = {
        column: np.concatenate(
            [rows[column], np.array([f.row[column] for f in faults.rows], dtype=rows[column].dtype)]
        )[order]
        for column in ATTEMPT_COLUMNS
    }
    submitted_text = np.full(total, None, dtype=object)
    score_text = np.full(total, None, dtype=object)
    where = np.empty(total, dtype=np.int64)
    where[order] = np.arange(total)
    for j, fault in enumerate(faults.rows):
        if fault.text is not None:
            submitted_text[where[n + j]], score_text[where[n + j]] = fault.text
    data["submitted_text"], data["score_text"] = submitted_text, score_text
    return data, where


class AttemptWriter:
    """Adds the day's faults to the simulated attempts and writes the day's attempts file."""

    def __init__(self, rng, con, ledger: Ledger, catalog: Catalog, days: int):
        self.rng, self.con, self.ledger = rng, con, ledger
        self.faults = AttemptFaults(rng, catalog)
        self.next_serial = 1
        self.is_parquet = rng.random(days) < PARQUET_DAY_SHARE
        self.is_parquet[0] = False
        if days > 1:
            self.is_parquet[1] = True
        csv_days = [day for day in range(2, days) if not self.is_parquet[day]]
        self.no_number_day = csv_days[0] if csv_days else None
        self.corrupt_day = days // 3

    def write(self, day_index: int, day: date, attempts: Attempts) -> int:
        """Write the day's file (and the corrupt file on its day); the real rows written."""
        n = len(attempts.learner)
        file_format = "parquet" if self.is_parquet[day_index] else "csv"
        with_number = day_index != self.no_number_day
        rows = self._rows(attempts, file_format)
        faults = self.faults.draw(rows, file_format, with_number, self.next_serial)
        self.next_serial = faults.next_serial
        data, where = _merge(rows, faults, self.faults.positions(faults, n))
        columns = self._columns(day_index, file_format, with_number)
        source_file = write_frame(
            self.con, self.ledger, "attempts", day, data, columns, file_format
        )
        for j, fault in enumerate(faults.rows):
            row = fault.row
            key = "" if row["flags"] & FLAG_ATTEMPT_ID_NULL else f"A{row['attempt_serial']:010d}"
            self.ledger.fault("attempts", source_file, int(where[n + j]) + 1, key, fault.reason)
        if with_number and n:
            self.faults.remember(rows, file_format, faults.used)
        if day_index == self.corrupt_day:
            self.faults.write_corrupt_file(self.ledger, day)
        return n

    def _rows(self, attempts: Attempts, file_format: str) -> dict[str, np.ndarray]:
        """ATTEMPT_COLUMNS of the simulated attempts, with new attempt ids."""
        rng = self.rng
        n = len(attempts.learner)
        rows = {
            "attempt_serial": np.arange(self.next_serial, self.next_serial + n, dtype=np.int64),
            "learner_serial": attempts.learner + 1,
            "item_serial": attempts.item + 1,
            "submitted_epoch": attempts.submitted_at,
            "time_format": np.zeros(n, dtype=np.int64)
            if file_format == "parquet"
            else np.where(
                rng.random(n) < OFFSET_SHARE, rng.integers(1, len(TIMESTAMP_OFFSETS), n), 0
            ),
            "score": attempts.score,
            "attempt_number": attempts.attempt_number,
            "flags": np.zeros(n, dtype=np.int64),
        }
        self.next_serial += n
        return rows

    def _columns(self, day_index: int, file_format: str, with_number: bool) -> list:
        """(header, SQL) of the day's file: header style, column order, an extra column."""
        sql = attempt_sql(file_format, with_number)
        names = list(sql)
        style = "lower" if file_format == "parquet" else HEADER_STYLES[day_index % 3]
        if file_format == "csv" and day_index % 4 == 3:
            names = [names[i] for i in self.rng.permutation(len(names))]
        columns = [(header_name(name, style), sql[name]) for name in names]
        if day_index % 5 == 2:
            columns.append(("source_system", "'lms-export'"))
        return columns
