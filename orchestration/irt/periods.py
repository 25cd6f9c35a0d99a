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

    def moved_window(self) -> tuple[datetime | None, datetime]:
        """(low, high]: the responses whose learners' estimates as of the start must be
        computed. Without a previous start (no estimate stored yet) low is None: every
        response up to the start. A learner with none has no estimate as of the start, so a
        period longer than the history moves nobody (not everyone: every daily run of a
        warehouse younger than its longest period then re-scored every learner as of every
        start, 510k estimates a day at M)."""
        if self.previous_start is None:
            return None, self.start
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
