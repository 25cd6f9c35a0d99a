"""Injected faults: each fault row is where the ledger says it is, with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from sample_data.catalog import build_catalog
from sample_data.faults import (
    FAKE_LEARNER_BASE,
    AttemptFaults,
    add_enrollment_faults,
    add_learner_faults,
)
from sample_data.formats import ATTEMPT_COLUMNS
from sample_data.ledger import Ledger
from sample_data.truth import fault_counts
from sample_data.world import read_seeds


@pytest.fixture(scope="module")
def catalog():
    return build_catalog(np.random.default_rng(1), read_seeds().skills, days=4)


def test_enrollment_fault_row_numbers_point_at_the_inserted_rows(catalog):
    rows = [
        [f"L{i:07d}", catalog.course_ids[0], "2026-06-01T08:00:00", None, None] for i in range(5)
    ]
    faults = add_enrollment_faults(np.random.default_rng(3), rows, catalog, midnight=0)
    assert len(rows) == 11 and len(faults) == 6
    for row_number, key, reason in faults:
        assert "|".join(rows[row_number - 1][:2]) == key
        assert reason in ("unknown_learner", "unknown_course")


def test_learner_faults_on_the_fault_day_duplicate_a_row_and_add_rejected_ones():
    rows = [
        [f"L{i:07d}", "CO00001", "analyst", "Ana Becker", "2026-06-01T00:00:00"] for i in (1, 2)
    ]
    faults = add_learner_faults(
        np.random.default_rng(0), rows, 1, 1, ["analyst"], "CO00001", midnight=0
    )
    reasons = [reason for _, _, reason in faults]
    assert reasons == ["exact_duplicate"] + ["unknown_company"] * 3 + ["missing_key"]
    duplicate_at = faults[0][0]
    assert rows[duplicate_at - 1] == rows[duplicate_at - 2]
    assert rows[faults[-1][0] - 1][0] is None


def test_learner_faults_are_only_added_on_their_days():
    rows = [["L0000001", "CO00001", "analyst", "Ana Becker", "2026-06-01T00:00:00"]]
    assert add_learner_faults(np.random.default_rng(0), rows, 5, 1, ["analyst"], "CO00001", 0) == []
    assert len(rows) == 1


def test_attempt_faults_without_earlier_rows_turn_conflicts_into_unknown_learners(catalog):
    n = 4000
    rng = np.random.default_rng(5)
    rows = {column: np.zeros(n, dtype=np.int64) for column in ATTEMPT_COLUMNS}
    rows["attempt_serial"] = np.arange(1, n + 1)
    rows["item_serial"] = rng.integers(1, len(catalog.item_ids) + 1, n)
    rows["score"] = np.ones(n)
    day = AttemptFaults(rng, catalog).draw(rows, "parquet", True, next_serial=n + 1)
    reasons = {fault.reason for fault in day.rows}
    assert day.rows and "conflicting_duplicate" not in reasons
    assert not reasons & {"bad_timestamp", "invalid_value"}  # CSV only
    new_ids = [f.row["attempt_serial"] for f in day.rows if f.reason != "exact_duplicate"]
    assert new_ids == list(range(n + 1, day.next_serial))
    assert len(day.used) == len(day.rows)
    unknown = [f.row for f in day.rows if f.reason == "unknown_learner"]
    assert unknown and all(row["learner_serial"] > FAKE_LEARNER_BASE for row in unknown)


def test_fault_counts_refuse_rows_that_are_not_accounted_for(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.landed["companies"] = 3
    ledger.fault("companies", "companies/companies_2026-06-01.csv", 3, "CO1", "invalid_value")
    clean = dict.fromkeys(("learners", "courses", "course_skills", "items"), 0)
    clean |= {"enrollments": 0, "attempts": 0, "companies": 2}
    assert fault_counts(ledger, clean)["rejected"]["companies"] == {"invalid_value": 1}
    clean["companies"] = 1
    with pytest.raises(RuntimeError, match="accounting for companies"):
        fault_counts(ledger, clean)
