"""A refresh that died never blocks the next one: find dead runs, mark them failed, free them.

A run killed with SIGKILL (the OOM killer, a restart, a stopped container) stays STARTED in
``$DAGSTER_HOME``, holds the ``duckdb`` pool's slot and its place under the run queue's
``skillgap/refresh`` limit, and every later run waits for it forever. Each run records the
process that executes it: ``make run`` and the job's executor tag it with host, pid and the
process's start (boot id and start tick, so a reused pid is not mistaken for it); a run
without those tags is identified by the pid Dagster logs when its process starts. A run whose
process is gone is dead: :func:`clear_dead_runs` marks it failed with the stage it was killed
in, frees its pool slots, and stops what it left running (a dbt it started, found by the
``SKILLGAP_RUN_ID`` its environment carries). A run whose process is alive, or on another host,
is never touched. :class:`MonitoredRunLauncher` gives Dagster's run monitoring (``dagster
dev``, see dagster.yaml) the same test, so the daemon fails dead runs on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from orchestration.run_console import stage_label

HOST_TAG = "skillgap/host"
PID_TAG = "skillgap/pid"
PROCESS_START_TAG = "skillgap/process_start"
# Set in the refresh's environment, so every process it starts (dbt, Java) carries it.
RUN_ENV = "SKILLGAP_RUN_ID"
HOST = socket.gethostname()
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
PROC = Path("/proc")
ATTENTION_LABEL = "RUN KILLED       "


# -- processes ---------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3 on of /proc/<pid>/stat (state first), or None when there is no such process."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def process_start(pid: int) -> str | None:
    """What tells this process from a later one with the same pid: boot id and start tick."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return f"{_boot_id()}:{fields[19]}"


def process_started_at(pid: int) -> float | None:
    """When the process started (seconds since the epoch), from /proc; None when gone."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    try:
        btime = next(
            int(line.split()[1])
            for line in (PROC / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tags(pid: int | None = None) -> dict[str, str]:
    """The run tags that identify the process executing a run (this one by default)."""
    pid = pid or os.getpid()
    tags = {HOST_TAG: HOST, PID_TAG: str(pid)}
    start = process_start(pid)
    if start is not None:
        tags[PROCESS_START_TAG] = start
    return tags


@dataclass(frozen=True)
class RunProcess:
    """The process that executes a run, as far as the instance records it."""

    pid: int
    host: str = HOST
    start: str | None = None  # from the tags: boot id and start tick
    seen_at: float | None = None  # from a Dagster event: the process existed then

    def state(self) -> str:
        """``alive``, ``gone``, or ``unknown`` (another host: nothing here can tell)."""
        if self.host != HOST:
            return "unknown"
        if not PROC.is_dir():
            return "alive" if _pid_exists(self.pid) else "gone"
        if self.start is not None:
            return "alive" if process_start(self.pid) == self.start else "gone"
        started = process_started_at(self.pid)
        if started is None:
            return "gone"
        # A process started after Dagster logged this pid is another one that reused it.
        return "alive" if self.seen_at is None or started <= self.seen_at + 2 else "gone"

    def describe(self) -> str:
        return f"pid {self.pid}" + ("" if self.host == HOST else f" on {self.host}")


def _pid_from_events(instance: dg.DagsterInstance, run_id: str) -> RunProcess | None:
    """The latest pid Dagster logged for the run ("Started process for run (pid: N)",
    "Executing steps in process (pid: N)"): its storage is local, so the process was too."""
    if "sqlite" not in type(instance.run_storage).__name__.lower():
        return None
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False, limit=50
    ).records
    for record in records:
        data = record.event_log_entry.dagster_event.engine_event_data
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None:
            return RunProcess(int(pid.value), seen_at=record.event_log_entry.timestamp)
    return None


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunProcess | None:
    """The process of ``run``: from its tags, else from its events; None when unrecorded."""
    tags = run.tags
    if PID_TAG in tags:
        return RunProcess(int(tags[PID_TAG]), tags.get(HOST_TAG, HOST), tags.get(PROCESS_START_TAG))
    return _pid_from_events(instance, run.run_id)


# -- what a dead run left ----------------------------------------------------------------------


def running_stage(instance: dg.DagsterInstance, run_id: str) -> str:
    """The stage the run was in: its started step that never ended."""
    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    started: dict[str, None] = {}
    seen_any = False
    for record in instance.get_records_for_run(run_id, of_type=kinds).records:
        step = record.event_log_entry.step_key
        if record.event_log_entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[step] = None
            seen_any = True
        else:
            started.pop(step, None)
    if started:
        return " and ".join(stage_label(step) for step in started)
    return "a pause between stages" if seen_any else "start-up"


def leftover_processes(run_id: str) -> list[int]:
    """Processes still running that a run started (their environment names the run)."""
    needle = f"{RUN_ENV}={run_id}".encode()
    found = []
    for entry in PROC.glob("[0-9]*") if PROC.is_dir() else []:
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return [pid for pid in found if pid != os.getpid() and process_start(pid) is not None]


def stop_processes(pids: list[int], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL whatever still runs after ``timeout`` seconds. A stopped process
    (suspended, or frozen by a debugger) acts on SIGTERM only once continued: SIGCONT follows."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + timeout
    while any(process_start(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if process_start(pid) is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def remove_publish_leftovers(serving: Path | None, pid: int) -> None:
    """The half-written serving file a killed publish of process ``pid`` left beside it."""
    if serving is None:
        return
    partial = serving.with_name(f".{serving.name}.{pid}.tmp")
    for path in (partial, partial.with_name(partial.name + ".wal")):
        path.unlink(missing_ok=True)


# -- clearing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadRun:
    record: dg.RunRecord
    process: RunProcess

    @property
    def run(self) -> dg.DagsterRun:
        return self.record.dagster_run


def find_dead_runs(instance: dg.DagsterInstance, exclude: str | None = None) -> list[DeadRun]:
    """In-progress runs of this instance whose process is gone."""
    dead = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=ACTIVE_STATUSES)):
        if record.dagster_run.run_id == exclude:
            continue
        process = run_process(instance, record.dagster_run)
        if process is not None and process.state() == "gone":
            dead.append(DeadRun(record, process))
    return dead


def run_name(record: dg.RunRecord) -> str:
    """``run 3f2a1b2c of 2026-12-05 06:31`` (local time), with the job when not the refresh."""
    run = record.dagster_run
    when = record.start_time or record.create_timestamp.timestamp()
    job = "" if run.job_name == "daily_refresh" else f" ({run.job_name})"
    return f"run {run.run_id[:8]}{job} of {datetime.fromtimestamp(when):%Y-%m-%d %H:%M}"


def clear_dead_run(
    instance: dg.DagsterInstance, dead: DeadRun, serving: Path | None = None, by: str = ""
) -> str:
    """Mark the run failed, stop what it left running, free its slots; the line saying so."""
    run_id = dead.run.run_id
    stage = running_stage(instance, run_id)
    leftovers = leftover_processes(run_id)
    stop_processes(leftovers)
    remove_publish_leftovers(serving, dead.process.pid)
    current = instance.get_run_by_id(run_id)
    if current is not None and not current.is_finished:
        instance.report_run_failed(
            current,
            f"The process of this run ({dead.process.describe()}) is gone: it was killed during "
            f"{stage}. Marked failed{by}; the next refresh redoes its work.",
            JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
        )
    free_slots(instance, run_id)
    stopped = f"; its leftover processes {leftovers} were stopped" if leftovers else ""
    return (
        f"{ATTENTION_LABEL}{run_name(dead.record)} was killed during {stage}; marked failed"
        f"{stopped}; this refresh redoes its work"
    )


def free_slots(instance: dg.DagsterInstance, run_id: str) -> None:
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        storage.free_concurrency_slots_for_run(run_id)


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> None:
    """Pool slots still held by runs that ended (marked failed elsewhere, by hand or by the
    daemon, whose slot clean-up has not run yet)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    holders = storage.get_concurrency_run_ids()
    if not holders:
        return
    for record in instance.get_run_records(dg.RunsFilter(run_ids=list(holders))):
        if record.dagster_run.is_finished:
            storage.free_concurrency_slots_for_run(record.dagster_run.run_id)


def clear_dead_runs(
    instance: dg.DagsterInstance,
    exclude: str | None = None,
    serving: Path | None = None,
    by: str = "",
) -> list[str]:
    """Clear every dead run of the instance; one Needs-attention line per run cleared."""
    lines = [clear_dead_run(instance, d, serving, by) for d in find_dead_runs(instance, exclude)]
    free_slots_of_finished_runs(instance)
    return lines


# -- the daemon --------------------------------------------------------------------------------


class MonitoredRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (a process per run), plus the health check that lets run
    monitoring (dagster.yaml ``run_monitoring``) fail a run whose process is gone."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        process = run_process(self._instance, run)
        if process is None or process.state() != "gone":
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        stage = running_stage(self._instance, run.run_id)
        stop_processes(leftover_processes(run.run_id))
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the process of this run ({process.describe()}) is gone: killed during {stage}; "
            "the next refresh redoes its work",
        )
