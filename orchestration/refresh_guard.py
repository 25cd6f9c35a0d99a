"""One refresh at a time, none blocked by a dead one, and each stoppable with Ctrl-C or SIGTERM.

A refresh (``make run``, or a run of ``daily_refresh`` that the schedule, the sensor or the UI
launched) first takes ``skillgap-refresh.lock`` in ``$DAGSTER_HOME``: an exclusive ``flock``
that the operating system releases when its process ends, however it ends. Holding it, it
clears the runs whose process is gone (:mod:`orchestration.recovery`). A second ``make run``
exits naming the refresh that holds the lock, or with ``--wait`` waits for it, saying what for;
a launched run waits for the lock, logging what for. Neither ever waits inside Dagster's pool
claim, whose loop spins a core and ignores signals (Dagster 1.13 sleeps ``min(0, ...)`` between
claims and checks interrupts only when a step starts).

While ``make run`` executes the job, :func:`stop_on_signals` watches for SIGINT and SIGTERM
through the wakeup fd (Dagster replaces the handlers while a run executes and only acts on them
inside a step): if the run has not ended ``GRACE_SECONDS`` after the signal, or on a second
signal, it stops the processes the refresh started, marks the run failed, frees its pool slots
and exits, leaving what a kill leaves, which the next refresh clears.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.executor.in_process import InProcessExecutor
from dagster._utils.interrupts import check_captured_interrupt

from orchestration import recovery
from orchestration.settings import load_settings

LOCK_NAME = "skillgap-refresh.lock"
EXIT_BUSY = 75  # EX_TEMPFAIL: another refresh runs; try again later
GRACE_SECONDS = 5.0
WAIT_POLL_SECONDS = 2.0
JOB_NAME = "daily_refresh"


class RefreshLock:
    """An exclusive lock on ``$DAGSTER_HOME/skillgap-refresh.lock``; its file says who holds it."""

    def __init__(self, dagster_home: Path | str) -> None:
        self.path = Path(dagster_home) / LOCK_NAME
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        self.note()
        return True

    def note(self, **extra: str) -> None:
        """Write who holds the lock (pid, host, since, and what ``extra`` adds) into its file."""
        info = {"pid": os.getpid(), "host": recovery.HOST, "since": time.time(), **extra}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode(), 0)

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


# -- what holds a refresh back -----------------------------------------------------------------


def describe_holder(instance: dg.DagsterInstance, holder: dict) -> str:
    """The refresh that holds the lock: its run, pid and stage when it has a run yet."""
    pid = holder.get("pid")
    for record in instance.get_run_records(dg.RunsFilter(statuses=recovery.ACTIVE_STATUSES)):
        if record.dagster_run.tags.get(recovery.PID_TAG) == str(pid):
            stage = recovery.running_stage(instance, record.dagster_run.run_id)
            return f"{recovery.run_name(record)} (pid {pid}, in {stage})"
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", time.time())))
    return f"a refresh starting since {since} (pid {pid}: sample data or dbt parse)"


def blocking_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs not dead (cleared already) that a refresh would wait for: refreshes in progress,
    and runs holding or waiting for a pool slot."""
    storage = instance.event_log_storage
    in_pools = (
        storage.get_concurrency_run_ids() if storage.supports_global_concurrency_limits else set()
    )
    found = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=recovery.ACTIVE_STATUSES)):
        run = record.dagster_run
        if run.job_name != JOB_NAME and run.run_id not in in_pools:
            continue
        process = recovery.run_process(instance, run)
        if process is None:
            found.append(
                f"{recovery.run_name(record)}, {run.status.value} with no process on record "
                "(if it is dead, terminate it in the UI: Runs, Terminate, force termination)"
            )
        else:
            stage = recovery.running_stage(instance, run.run_id)
            found.append(f"{recovery.run_name(record)} ({process.describe()}, in {stage})")
    return found


def start_refresh(wait: bool, serving: Path | None = None, out: IO[str] = sys.stdout) -> list[str]:
    """Before ``make run`` executes the job: take the lock, clear dead runs, check that no live
    run holds the pool. Returns the Needs-attention lines about the runs it cleared.

    When another refresh runs, exits with :data:`EXIT_BUSY` naming it, or waits for it with
    ``wait`` (Ctrl-C or SIGTERM stop the waiting at once)."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        # inherited from a parent that ignores it: a refresh must still stop when told to
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    lines: list[str] = []
    shown = None
    try:
        with dg.DagsterInstance.get() as instance:
            lock = RefreshLock(instance.root_directory)  # $DAGSTER_HOME, as for launched runs
            while True:
                if lock.try_acquire():
                    cleared = recovery.clear_dead_runs(instance, serving=serving)
                    out.writelines(f"{line}\n" for line in cleared)
                    out.flush()
                    lines += cleared
                    blockers = blocking_runs(instance)
                    if not blockers:
                        _LOCKS.append(lock)  # held until this process ends
                        return lines
                    lock.release()
                    what = "; ".join(blockers)
                else:
                    what = describe_holder(instance, lock.holder())
                if not wait:
                    out.write(
                        f"Another refresh is running: {what}.\nThis one did not start: run it "
                        "again once that one has ended, or `make run ARGS=--wait` to wait for "
                        "it. `make dev` shows its progress.\n"
                    )
                    raise SystemExit(EXIT_BUSY)
                if what != shown:
                    out.write(f"Waiting for {what} to end (Ctrl-C stops waiting).\n")
                    out.flush()
                    shown = what
                time.sleep(WAIT_POLL_SECONDS)
    except KeyboardInterrupt:
        out.write("Stopped while waiting: this refresh did not start.\n")
        raise SystemExit(130) from None


_LOCKS: list[RefreshLock] = []


# -- stopping on a signal ----------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in recovery.PROC.glob("[0-9]*") if recovery.PROC.is_dir() else []:
        fields = recovery._stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def hard_stop(instance: dg.DagsterInstance, run_id: str, signum: int, out: IO[str]) -> None:
    """Stop the refresh's processes, mark the run failed, free its slots, exit."""
    name = signal.Signals(signum).name
    # The main thread may be spinning in pure Python (Dagster's pool claim loop): at the
    # default 5 ms switch interval every file read and SQLite call here waits that long for
    # the GIL, 15 s in all; the process ends below, so hand the GIL over at once.
    sys.setswitchinterval(1e-6)
    with contextlib.suppress(Exception):
        out.write(f"\n{name}: the run has not stopped by itself; stopping it now.\n")
        out.flush()
    stray = set(descendants(os.getpid())) | set(recovery.leftover_processes(run_id))
    recovery.stop_processes(sorted(stray), timeout=1.0)
    with contextlib.suppress(Exception):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(run, f"Stopped by {name}; the next refresh redoes its work.")
        recovery.free_slots(instance, run_id)
    os._exit(128 + signum)


@contextlib.contextmanager
def stop_on_signals(
    instance: dg.DagsterInstance, run_id: str, out: IO[str], grace: float = GRACE_SECONDS
) -> Iterator[None]:
    """Make SIGINT and SIGTERM end the block within ``grace`` seconds (main thread only)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    done = threading.Event()
    received_any = threading.Event()

    def watch() -> None:
        first: tuple[int, float] | None = None
        while not done.is_set():
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            wanted = (signal.SIGINT, signal.SIGTERM)
            received = [s for s in os.read(read_fd, 64) if s in wanted] if ready else []
            if received and first is not None:
                hard_stop(instance, run_id, received[0], out)  # a second signal: now
            if received:
                first = (received[0], time.monotonic())
                received_any.set()
            if first is not None and time.monotonic() - first[1] > grace and not done.is_set():
                hard_stop(instance, run_id, first[0], out)

    watcher = threading.Thread(target=watch, name="stop-on-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(previous)
        watcher.join()
        os.close(read_fd)
        os.close(write_fd)
        if received_any.is_set():
            # Dagster stops the step, not always what it started: a dbt signalled by nobody
            # would write on after this refresh ends.
            recovery.stop_processes(recovery.leftover_processes(run_id), timeout=2.0)


@contextlib.contextmanager
def running(instance: dg.DagsterInstance, run_id: str, out: IO[str]) -> Iterator[dict]:
    """Around ``make run``'s execution of the job: yields the run tags that record this
    process; marks the processes it starts with the run; stops on SIGINT or SIGTERM."""
    os.environ[recovery.RUN_ENV] = run_id
    for lock in _LOCKS:
        lock.note(run_id=run_id)
    if os.environ.get("SKILLGAP_TEST_KILL_AT"):
        from orchestration import crash_hook

        crash_hook.install(instance)
    with stop_on_signals(instance, run_id, out):
        yield recovery.process_tags()


# -- launched runs -----------------------------------------------------------------------------


class GuardedInProcessExecutor(InProcessExecutor):
    """The in-process executor, first taking the refresh lock and clearing dead runs."""

    def execute(self, plan_context, execution_plan) -> Iterator[DagsterEvent]:
        instance, run_id = plan_context.instance, plan_context.run_id
        instance.add_run_tags(run_id, recovery.process_tags())
        os.environ[recovery.RUN_ENV] = run_id
        lock = RefreshLock(instance.root_directory)
        waited_for, last_said = None, 0.0
        while not lock.try_acquire():
            if check_captured_interrupt():
                raise DagsterExecutionInterruptedError()
            what = describe_holder(instance, lock.holder())
            if what != waited_for or time.monotonic() - last_said > 60:
                yield DagsterEvent.engine_event(plan_context, f"Waiting for {what} to end.")
                waited_for, last_said = what, time.monotonic()
            time.sleep(1.0)
        try:
            lock.note(run_id=run_id)
            by = f" by run {run_id[:8]}"
            serving = load_settings().serving
            for line in recovery.clear_dead_runs(instance, run_id, serving, by):
                yield DagsterEvent.engine_event(plan_context, line.strip(), EngineEventData())
            yield from super().execute(plan_context, execution_plan)
        finally:
            # An interrupted step may leave its dbt running: nothing of this run outlives it.
            recovery.stop_processes(recovery.leftover_processes(run_id), timeout=2.0)
            lock.release()


@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema.as_field())
def guarded_in_process_executor(init_context) -> GuardedInProcessExecutor:
    """Every step in one process, after taking the refresh lock (one refresh at a time) and
    clearing runs whose process is gone."""
    from dagster._core.definitions.executor_definition import _core_in_process_executor_creation

    base = _core_in_process_executor_creation(init_context.executor_config)
    return GuardedInProcessExecutor(
        retries=base.retries, step_dependency_config=base.step_dependency_config
    )
