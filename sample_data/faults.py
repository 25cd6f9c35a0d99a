"""Injected faults, one per row, with the reason codes of docs/interfaces.md.

Attempts carry faults at ``ATTEMPT_FAULT_RATE`` (duplicates of earlier rows, unknown keys,
out-of-range scores, unparseable or future timestamps, missing keys or values); dimension
files carry a few fixed ones (invalid countries and sizes, unknown companies, learners and
courses, duplicates); one attempts file is corrupt. Every fault is entered in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from sample_data.catalog import Catalog
from sample_data.formats import (
    ATTEMPT_COLUMNS,
    FLAG_ATTEMPT_ID_NULL,
    FLAG_ITEM_ID_NULL,
    FLAG_LEARNER_ID_NULL,
    FLAG_SCORE_NULL,
    FLAG_SCORE_TEXT,
    FORMAT_NULL,
    FORMAT_TEXT,
    iso_text,
)
from sample_data.ledger import Ledger

ATTEMPT_FAULT_RATE = 0.005
ATTEMPT_FAULTS = {
    "exact_duplicate": 0.24,
    "conflicting_duplicate": 0.14,
    "unknown_learner": 0.10,
    "unknown_item": 0.10,
    "score_out_of_range": 0.10,
    "bad_timestamp": 0.08,
    "future_timestamp": 0.07,
    "missing_key": 0.07,
    "missing_value": 0.06,
    "invalid_value": 0.04,
}
# Parquet has typed columns: these faults become missing_value there.
CSV_ONLY_FAULTS = ("bad_timestamp", "invalid_value")
BAD_TIMESTAMPS = ("not-a-date", "2026-13-45", "2026-02-30T10:00:00", "31/06/2026 10:00")
FUTURE_SHIFT = (2099 - 2026) * 365 * 86400
FAKE_LEARNER_BASE = 90_000_000
REJECTED_LEARNER_BASE = 80_000_000
FAKE_ITEM_BASE = 9_000_000
FAKE_COURSE_BASE = 90_000
FAKE_COMPANY_BASE = 900_000
UNKNOWN_SKILL_ID = "quantum_computing"
INVALID_ITEM_ID = f"ITM{FAKE_ITEM_BASE + 999_999}"
# Real attempts kept per day (and format) as candidates for later duplicates.
RESERVOIR_PER_DAY = 64


# ---------------------------------------------------------------------------------------------
# Dimension files


def company_fault_rows(midnight: int) -> list[tuple[list[str], str]]:
    """(row, reason) of the invalid companies appended to the first companies file."""
    at = iso_text(midnight)
    fake = [FAKE_COMPANY_BASE + k for k in range(1, 5)]
    return [
        ([f"CO{fake[0]}", "Faultline Ltd", "retail", "XX1", "120", at], "invalid_country"),
        (
            [f"CO{fake[1]}", "Grenzwert GmbH", "manufacturing", "Germany", "800", at],
            "invalid_country",
        ),
        ([f"CO{fake[2]}", "Nullpunkt AG", "technology", "DE", "0", at], "invalid_value"),
        ([f"CO{fake[3]}", "Abacus Inc.", "education", "US", "abc", at], "invalid_value"),
    ]


def add_learner_faults(
    rng, rows: list, day_index: int, fault_day: int, roles: list[str], company_id: str, midnight
) -> list[tuple[int, str, str]]:
    """Add a duplicate (days 0 and ``fault_day``) and, on ``fault_day``, learners of unknown
    companies and one without id to ``rows``; return (row number, key, reason) of each."""
    faults: list[tuple[int, str, str]] = []
    if len(rows) and day_index in (0, fault_day):
        duplicate_at = int(rng.integers(len(rows)))
        rows.insert(duplicate_at + 1, list(rows[duplicate_at]))
        faults.append((duplicate_at + 2, rows[duplicate_at][0], "exact_duplicate"))
    if day_index != fault_day:
        return faults
    at = iso_text(midnight + 3600)
    for k in range(1, 4):
        learner_id = f"L{REJECTED_LEARNER_BASE + k:08d}"
        unknown_company = f"CO{FAKE_COMPANY_BASE + 10 + k}"
        rows.append([learner_id, unknown_company, roles[0], "Ghost User", at])
        faults.append((len(rows), learner_id, "unknown_company"))
    rows.append([None, company_id, roles[0], "Nameless User", at])
    faults.append((len(rows), "", "missing_key"))
    return faults


def add_enrollment_faults(
    rng, rows: list, catalog: Catalog, midnight: int
) -> list[tuple[int, str, str]]:
    """Insert enrollments of unknown learners and courses at random rows of ``rows``; return
    (row number, key, reason) of each, renumbered as later ones are inserted before them."""
    faults: list[tuple[int, str, str]] = []
    for k in range(1, 7):
        if k <= 3:
            key = (f"L{FAKE_LEARNER_BASE + 900 + k:08d}", catalog.course_ids[k - 1])
            reason = "unknown_learner"
        else:
            key = ("L0000001", f"CRS{FAKE_COURSE_BASE + k}")
            reason = "unknown_course"
        at = int(rng.integers(len(rows) + 1))
        rows.insert(at, [key[0], key[1], iso_text(midnight + 7200), None, None])
        faults = [
            (row_number + (1 if row_number >= at + 1 else 0), fault_key, fault_reason)
            for row_number, fault_key, fault_reason in faults
        ]
        faults.append((at + 1, "|".join(key), reason))
    return faults


# ---------------------------------------------------------------------------------------------
# Attempts


def attempt_row(rows: dict[str, np.ndarray], index: int) -> dict:
    """One row of the day's attempt columns, as a dict a fault may change."""
    return {column: rows[column][index] for column in ATTEMPT_COLUMNS}


@dataclass
class FaultRow:
    row: dict  # ATTEMPT_COLUMNS
    reason: str
    earliest: int = 0  # the first position it may take among the real rows
    text: tuple[str | None, str | None] | None = None  # (submitted_at, score) as written


@dataclass
class DayFaults:
    rows: list[FaultRow] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # real rows a fault was drawn from
    next_serial: int = 0


class AttemptFaults:
    """The faulty attempt rows of each day, and a reservoir of earlier rows to duplicate.

    Draws from the run's one generator: the order of the draws is part of the output.
    """

    def __init__(self, rng, catalog: Catalog):
        self.rng, self.catalog = rng, catalog
        self.reservoir: dict[str, list[dict]] = {"csv": [], "parquet": []}
        self.fake = 0

    def _fake_id(self) -> int:
        self.fake += 1
        return self.fake

    def draw(self, rows, file_format: str, with_number: bool, next_serial: int) -> DayFaults:
        """Fault rows for a day of ``rows``; new attempt ids count on from ``next_serial``."""
        rng = self.rng
        n = len(rows["attempt_serial"])
        counts = rng.multinomial(
            rng.binomial(n, ATTEMPT_FAULT_RATE) if n else 0, list(ATTEMPT_FAULTS.values())
        )
        day = DayFaults(next_serial=next_serial)
        # Exact duplicates come from files with the same columns only.
        same_format = file_format if with_number else None
        for reason, count in zip(ATTEMPT_FAULTS, counts, strict=True):
            for _ in range(count):
                if file_format == "parquet" and reason in CSV_ONLY_FAULTS:
                    reason = "missing_value"
                index = self._pick(n, day.used)
                if reason == "exact_duplicate":
                    day.rows.append(self._exact_duplicate(rows, index, same_format))
                    continue
                if reason == "conflicting_duplicate":
                    conflicting = self._conflicting_duplicate(file_format)
                    if conflicting is not None:
                        day.rows.append(conflicting)
                        continue
                    reason = "unknown_learner"
                row = attempt_row(rows, index)
                row["attempt_serial"] = day.next_serial
                day.next_serial += 1
                day.rows.append(self._garble(row, reason))
        return day

    def _pick(self, n: int, used: set[int]) -> int:
        """A real row no fault was drawn from yet."""
        while True:
            index = int(self.rng.integers(n))
            if index not in used:
                used.add(index)
                return index

    def _exact_duplicate(self, rows, index: int, same_format: str | None) -> FaultRow:
        """A row from an earlier day (half the time, if any) or a later copy of today's row."""
        pool = self.reservoir.get(same_format or "", [])
        if pool and self.rng.random() < 0.5:
            return FaultRow(pool.pop(int(self.rng.integers(len(pool)))), "exact_duplicate")
        return FaultRow(attempt_row(rows, index), "exact_duplicate", earliest=index + 1)

    def _conflicting_duplicate(self, file_format: str) -> FaultRow | None:
        """An earlier row's attempt id with another score; None when there is none."""
        rng = self.rng
        pool = self.reservoir["csv"] + self.reservoir["parquet"]
        if not pool:
            return None
        j = int(rng.integers(len(pool)))
        n_csv = len(self.reservoir["csv"])
        source, j = ("csv", j) if j < n_csv else ("parquet", j - n_csv)
        row = dict(self.reservoir[source].pop(j))
        max_score = self.catalog.item_max[row["item_serial"] - 1]
        row["score"] = (
            1 - row["score"]
            if max_score == 1
            else (row["score"] + rng.integers(1, max_score)) % (max_score + 1)
        )
        row["time_format"] = 0 if file_format == "parquet" else row["time_format"]
        return FaultRow(row, "conflicting_duplicate")

    def _garble(self, row: dict, reason: str) -> FaultRow:
        """``row`` (a new attempt id) made invalid for ``reason``."""
        rng = self.rng
        max_score = self.catalog.item_max[row["item_serial"] - 1]
        text = None
        if reason == "unknown_learner":
            row["learner_serial"] = FAKE_LEARNER_BASE + self._fake_id()
        elif reason == "unknown_item":
            row["item_serial"] = FAKE_ITEM_BASE + self._fake_id()
            row["score"] = float(min(row["score"], 1))
        elif reason == "score_out_of_range":
            bad = (1.5, 2.0, -1.0) if max_score == 1 else (-1.0, max_score + 1.0, max_score + 0.5)
            row["score"] = bad[int(rng.integers(3))]
        elif reason == "bad_timestamp":
            row["time_format"] = FORMAT_TEXT
            text = (BAD_TIMESTAMPS[int(rng.integers(len(BAD_TIMESTAMPS)))], None)
        elif reason == "future_timestamp":
            row["submitted_epoch"] = row["submitted_epoch"] + FUTURE_SHIFT
        elif reason == "missing_key":
            which = int(rng.integers(3))
            row["flags"] = (FLAG_ATTEMPT_ID_NULL, FLAG_LEARNER_ID_NULL, FLAG_ITEM_ID_NULL)[which]
        elif reason == "missing_value":
            if rng.random() < 0.5:
                row["flags"] = FLAG_SCORE_NULL
            else:
                row["time_format"] = FORMAT_NULL
        elif reason == "invalid_value":
            row["flags"] = FLAG_SCORE_TEXT
            text = (None, "abc")
        return FaultRow(row, reason, text=text)

    def positions(self, day: DayFaults, n: int) -> np.ndarray:
        """Where each fault row goes among the ``n`` real rows (after its original)."""
        return np.array(
            [int(self.rng.integers(fault.earliest, n + 1)) for fault in day.rows], dtype=np.int64
        )

    def remember(self, rows, file_format: str, used: set[int]) -> None:
        """Keep a few of the day's untouched rows as candidates for later duplicates."""
        n = len(rows["attempt_serial"])
        keep = self.rng.choice(n, min(n, RESERVOIR_PER_DAY), replace=False)
        pool = self.reservoir[file_format]
        pool.extend(attempt_row(rows, int(i)) for i in np.sort(keep) if int(i) not in used)
        del pool[: max(0, len(pool) - 20 * RESERVOIR_PER_DAY)]

    def write_corrupt_file(self, ledger: Ledger, day: date) -> None:
        """An attempts file of the day that no Parquet reader can open."""
        source_file = f"attempts/attempts_{day.isoformat()}_corrupt.parquet"
        garbage = b"PAR1" + self.rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        (ledger.out_dir / source_file).write_bytes(garbage)
        ledger.corrupt.append(source_file)
        ledger.fault_rows.append(("attempts", source_file, "", "", "corrupt_file"))
