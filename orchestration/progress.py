"""Progress of a long stage, written as run log lines that the terminal view of `make run` reads.

An asset that knows its total (files to ingest, skills to calibrate) logs ``progress: 3/12
skills``; Dagster stores the line with the run's other events, the UI shows it as any log line,
and :mod:`orchestration.run_console` turns the latest one of each step into a progress bar.
Lines are thinned to about :data:`UPDATES_PER_STAGE` per stage: each is an event-log write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple, Protocol

PREFIX = "progress: "
UPDATES_PER_STAGE = 40
_PATTERN = re.compile(r"^progress: (\d+)/(\d+) (\S.*)$")


# What long-running library functions accept: ``progress(done, total)``.
ProgressCallback = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """The default ProgressCallback: report nothing."""


class Progress(NamedTuple):
    done: int
    total: int
    unit: str


class _Log(Protocol):
    def info(self, msg: str) -> None: ...


def progress_message(done: int, total: int, unit: str) -> str:
    return f"{PREFIX}{done}/{total} {unit}"


def parse_progress(message: str | None) -> Progress | None:
    """The progress a log line reports, or None for any other line."""
    match = _PATTERN.match(message or "")
    if match is None:
        return None
    return Progress(int(match.group(1)), int(match.group(2)), match.group(3))


def progress_logger(log: _Log, unit: str) -> ProgressCallback:
    """A callback ``report(done, total)`` that logs the start, the end and every
    ~1/UPDATES_PER_STAGE of the total in between."""

    def report(done: int, total: int) -> None:
        if done in (0, total) or done % max(1, total // UPDATES_PER_STAGE) == 0:
            log.info(progress_message(done, total, unit))

    return report
