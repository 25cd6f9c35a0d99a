"""Every stored estimate, current and as of each period start, equals a re-scoring from
scratch, after every kind of change the history can undergo."""

from __future__ import annotations


def test_every_stored_estimate_equals_a_rescoring_from_scratch_after_changes(changed_history):
    for check in changed_history["checked"]:
        assert check.n_checked > 1000
        assert check.mismatches == []
