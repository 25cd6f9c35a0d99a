"""Gain periods: where each period of the dbt var gain_periods starts in this run, and where
it started in the previous one (the window of responses whose as-of estimates moved).

Shared by the response signatures (``responses.moved_responses_sql``) and scoring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb


@dataclass(frozen=True)
class GainPeriod:
    """Where one gain period starts in this run, and where it started in the previous one."""

    days: int
    start: datetime
    previous_start: datetime | None

    def moved_window(self) -> tuple[datetime, datetime] | None:
        """(low, high]: responses in it change estimates as of the start; None: all do."""
        if self.previous_start is None:
            return None
        return min(self.start, self.previous_start), max(self.start, self.previous_start)


def gain_periods(
    con: duckdb.DuckDBPyConnection, skill_id: str, reference: datetime, days: Iterable[int]
) -> list[GainPeriod]:
    previous = dict(
        con.execute(
            "select period_days, max(period_start) from irt.learner_abilities_period_start "
            "where skill_id = ? group by period_days",
            [skill_id],
        ).fetchall()
    )
    return [GainPeriod(d, reference - timedelta(days=d), previous.get(d)) for d in days]
