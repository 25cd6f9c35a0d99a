"""The terminal view of `make run`: one line per stage, warnings first, everything else in a file.

A refresh's Dagster and dbt logs run to several hundred lines; the lines that matter (a file that
failed, a check that warns) drown in them. :class:`RunConsole` reads the run's events from the
Dagster instance while the job runs and prints, per stage, its elapsed time, what went in and
came out, and a progress bar while it runs (when the terminal is interactive and the stage
reports progress, see :mod:`orchestration.progress`). The full logs go to a file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dagster as dg

from orchestration.progress import Progress, parse_progress

# What each step's line shows: (metadata key of one of its materializations, label).
STAGE_FIGURES: dict[str, tuple[tuple[str, str], ...]] = {
    "ingest_landing_files": (
        ("files_loaded", "files loaded"),
        ("files_failed", "failed"),
        ("rows_loaded", "rows in"),
    ),
    "irt_calibration": (
        ("responses", "responses in"),
        ("items", "items out"),
        ("flagged_items", "flagged"),
    ),
    "irt_scoring": (("learner_skills", "learner-skills out"), ("rescored", "rescored")),
}
STAGE_LABELS = {
    "ingest_landing_files": "ingest",
    "dbt_staging": "dbt staging",
    "irt_calibration": "IRT calibration",
    "irt_scoring": "IRT scoring",
    "dbt_marts": "dbt marts",
    "serving__marts": "publish",
}


def stage_label(step_key: str) -> str:
    if step_key.startswith("freshness_check"):
        return "freshness check"
    return STAGE_LABELS.get(step_key, step_key)


LABEL_WIDTH = 16
BAR_WIDTH = 24


@dataclass
class CheckOutcome:
    """An asset check that did not pass."""

    step: str
    name: str
    asset: str
    severity: str
    description: str


@dataclass
class Stage:
    key: str
    started: float
    ended: float | None = None
    failed: bool = False
    progress: Progress | None = None
    materialized: int = 0
    checks_passed: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


def format_duration(seconds: float) -> str:
    return f"{seconds:5.1f} s" if seconds < 100 else f"{seconds / 60:5.1f} min"


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = width if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def stage_line(label: str, seconds: float, detail: str, status: str = "") -> str:
    mark = {"": "  ", "ok": "ok", "FAILED": "!!", "warn": "~~"}[status]
    return f"{mark} {label:<{LABEL_WIDTH}}{format_duration(seconds)}  {detail}".rstrip()


def _figure(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


class RunConsole:
    """Follows one Dagster run's events and writes one line per step to ``out``.

    ``totals`` maps a step to how many assets it materializes: dbt steps get their bar from it.
    ``figures`` says which materialization metadata each step's line shows.
    With ``live`` (an interactive terminal) the running step's line is redrawn in place.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        out: IO[str],
        live: bool,
        totals: Mapping[str, int] | None = None,
        figures: Mapping[str, tuple[tuple[str, str], ...]] = STAGE_FIGURES,
    ) -> None:
        self.instance, self.run_id, self.out, self.live = instance, run_id, out, live
        self.totals = dict(totals or {})
        self.figures = figures
        self.stages: dict[str, Stage] = {}
        self.problems: list[CheckOutcome] = []
        self._cursor: str | None = None
        self._drawn = False

    # -- following the run -------------------------------------------------------------------

    def poll(self) -> None:
        """Read the events stored since the last call and print what they complete."""
        while True:
            connection = self.instance.get_records_for_run(self.run_id, cursor=self._cursor)
            for record in connection.records:
                self._apply(record.event_log_entry)
            self._cursor = connection.cursor
            if not connection.has_more:
                break
        self._redraw_running()

    @contextlib.contextmanager
    def following(self, interval: float = 0.5) -> Iterator[None]:
        """Poll in a background thread while the block (the run) executes, then catch up."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                with contextlib.suppress(Exception):  # the store may be mid-write; next poll
                    self.poll()

        thread = threading.Thread(target=loop, name="run-console", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.poll()

    def _apply(self, entry: Any) -> None:
        step = entry.step_key
        event = entry.dagster_event
        if step is None:
            return
        if event is None:
            progress = parse_progress(entry.user_message)
            if progress is not None and step in self.stages:
                self.stages[step].progress = progress
            return
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            self.stages[step] = Stage(step, entry.timestamp)
        elif step not in self.stages:
            return
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self._materialized(self.stages[step], entry.asset_materialization)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            self._checked(self.stages[step], entry.asset_check_evaluation)
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            stage = self.stages[step]
            stage.ended = entry.timestamp
            stage.failed = kind == dg.DagsterEventType.STEP_FAILURE
            self._print_finished(stage)

    def _materialized(self, stage: Stage, materialization: Any) -> None:
        stage.materialized += 1
        wanted = {key for key, _ in self.figures.get(stage.key, ())}
        for key, value in materialization.metadata.items():
            if key in wanted:
                stage.figures[key] = value.value

    def _checked(self, stage: Stage, evaluation: Any) -> None:
        if evaluation.passed:
            stage.checks_passed += 1
            return
        description = evaluation.description or ", ".join(
            f"{key}: {value.value}" for key, value in evaluation.metadata.items()
        )
        self.problems.append(
            CheckOutcome(
                stage.key,
                evaluation.check_name,
                evaluation.asset_key.to_user_string(),
                evaluation.severity.value,
                description,
            )
        )

    # -- what a stage line says --------------------------------------------------------------

    def detail(self, stage: Stage) -> str:
        parts = []
        progress = stage.progress
        if stage.key.startswith("dbt_") and self.totals.get(stage.key):
            progress = Progress(stage.materialized, self.totals[stage.key], "models")
        if progress is not None:
            done, total, unit = progress
            bar = f"{progress_bar(done, total)} " if stage.ended is None else ""
            parts.append(f"{bar}{done:,}/{total:,} {unit}")
        for key, label in self.figures.get(stage.key, ()):
            if key in stage.figures:
                parts.append(f"{label} {_figure(stage.figures[key])}")
        problems = [p for p in self.problems if p.step == stage.key]
        checks = stage.checks_passed + len(problems)
        if checks:
            parts.append(f"checks {stage.checks_passed}/{checks} passed")
        return ", ".join(parts)

    def _print_finished(self, stage: Stage) -> None:
        severities = {p.severity for p in self.problems if p.step == stage.key}
        if stage.failed or "ERROR" in severities:
            status = "FAILED"
        else:
            status = "warn" if severities else "ok"
        label = stage_label(stage.key)
        self._write(stage_line(label, stage.ended - stage.started, self.detail(stage), status))

    def _redraw_running(self) -> None:
        if not self.live:
            return
        running = [s for s in self.stages.values() if s.ended is None]
        if running:
            stage = running[-1]
            label = stage_label(stage.key)
            line = stage_line(label, time.time() - stage.started, self.detail(stage))
            self.out.write("\r\033[K" + line)
            self.out.flush()
            self._drawn = True

    def _write(self, line: str) -> None:
        if self._drawn:
            self.out.write("\r\033[K")
            self._drawn = False
        self.out.write(line + "\n")
        self.out.flush()


@contextlib.contextmanager
def timed_stage(out: IO[str], label: str) -> Iterator[None]:
    """A stage outside the Dagster run (sample data, dbt parse): one line when it ends."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        out.write(stage_line(label, time.perf_counter() - started, "", "FAILED") + "\n")
        raise
    out.write(stage_line(label, time.perf_counter() - started, "", "ok") + "\n")
    out.flush()


@contextlib.contextmanager
def output_to_file(path: Path) -> Iterator[IO[str]]:
    """Send everything written to stdout and stderr, by Python or by child processes (dbt),
    to ``path``; yield a stream to the real terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()
