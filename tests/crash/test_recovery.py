"""Dead runs are told from live ones, cleared, and never block a refresh (fast: no refresh runs).

A run records its process (host, pid, start); a run whose process is gone is marked failed
with the stage it died in and its pool slot freed, while a live run, a run on another host and
a run with no process on record are left alone. The daemon's health check, the landing sensor
and the schedule use the same test. `make run` exits naming a refresh that runs, or waits for
it, and SIGTERM ends the waiting at once; SIGTERM ends a run even where Dagster ignores it
(the pool claim's loop).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.dependency import NodeHandle
from dagster._core.events import DagsterEvent
from dagster._core.execution.plan.handle import StepHandle
from dagster._core.launcher import WorkerStatus

from orchestration import recovery
from orchestration.refresh_guard import EXIT_BUSY, RefreshLock
from orchestration.settings import REPO_ROOT

pytestmark = pytest.mark.slow  # child processes, signals and waits: about 15 s


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.fixture
def instance(home):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def gone_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def add_run(instance, tags: dict, step: str | None = "dbt_staging", slot: bool = True) -> str:
    """A STARTED daily_refresh run with ``tags``, in ``step``, holding the duckdb slot."""
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name="daily_refresh", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags
        )
    )
    instance.report_dagster_event(
        DagsterEvent(dg.DagsterEventType.RUN_START.value, "daily_refresh"), run_id
    )
    if step:
        instance.report_dagster_event(
            DagsterEvent(
                dg.DagsterEventType.STEP_START.value,
                "daily_refresh",
                step_handle=StepHandle(NodeHandle(step, None)),
            ),
            run_id,
        )
    if slot:
        instance.event_log_storage.initialize_concurrency_limit_to_default("duckdb")
        claim = instance.event_log_storage.claim_concurrency_slot("duckdb", run_id, step or "x")
        assert claim.is_claimed
    return run_id


def slot_holders(instance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info("duckdb")
    return {slot.run_id for slot in info.claimed_slots}


def test_a_process_is_alive_gone_or_unknown():
    assert recovery.RunProcess(os.getpid(), start=recovery.process_start(os.getpid())).state() == (
        "alive"
    )
    assert recovery.RunProcess(gone_pid()).state() == "gone"
    # the same pid, started at another time: another process
    assert recovery.RunProcess(os.getpid(), start="other-boot:1").state() == "gone"
    assert recovery.RunProcess(os.getpid(), seen_at=time.time() - 10**7).state() == "gone"
    assert recovery.RunProcess(os.getpid(), seen_at=time.time()).state() == "alive"
    assert recovery.RunProcess(gone_pid(), host="elsewhere").state() == "unknown"


def test_a_dead_run_is_marked_failed_and_frees_its_slot_and_a_live_one_is_untouched(instance):
    dead = add_run(instance, recovery.process_tags(gone_pid()))
    live = add_run(instance, recovery.process_tags(), step="irt_scoring", slot=False)
    elsewhere = recovery.process_tags(gone_pid()) | {recovery.HOST_TAG: "b"}
    elsewhere = add_run(instance, elsewhere, slot=False)
    unrecorded = add_run(instance, {}, slot=False)
    assert slot_holders(instance) == {dead}

    [line] = recovery.clear_dead_runs(instance)

    assert line.startswith("RUN KILLED       run " + dead[:8] + " of ")
    assert line.endswith(
        "was killed during dbt staging; marked failed; this refresh redoes its work"
    )
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    failure = instance.get_records_for_run(dead, of_type=dg.DagsterEventType.RUN_FAILURE).records
    assert "killed during dbt staging" in failure[0].event_log_entry.dagster_event.message
    assert dead not in slot_holders(instance)
    for run_id in (live, elsewhere, unrecorded):
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    assert recovery.clear_dead_runs(instance) == []


def test_a_run_without_tags_is_known_by_the_pid_dagster_logged(instance):
    from dagster._core.events import EngineEventData

    run_id = add_run(instance, {}, step=None, slot=False)
    instance.report_engine_event(
        f"Started process for run (pid: {gone_pid()}).",
        instance.get_run_by_id(run_id),
        EngineEventData.in_process(gone_pid()),
    )
    [line] = recovery.clear_dead_runs(instance)
    assert "killed during start-up" in line


def test_a_finished_run_still_holding_a_slot_gives_it_back(instance):
    run_id = add_run(instance, recovery.process_tags())
    instance.report_run_failed(instance.get_run_by_id(run_id), "failed by hand")
    assert recovery.clear_dead_runs(instance) == []
    assert slot_holders(instance) == set()


def test_the_daemons_health_check_fails_only_dead_runs(instance):
    launcher = instance.run_launcher
    assert isinstance(launcher, recovery.MonitoredRunLauncher)
    assert launcher.supports_check_run_worker_health
    assert instance.run_monitoring_enabled
    dead = instance.get_run_by_id(add_run(instance, recovery.process_tags(gone_pid())))
    live = instance.get_run_by_id(add_run(instance, recovery.process_tags(), slot=False))
    unrecorded = instance.get_run_by_id(add_run(instance, {}, slot=False))
    result = launcher.check_run_worker_health(dead)
    assert result.status == WorkerStatus.FAILED
    assert "killed during dbt staging" in result.msg
    for run in (live, unrecorded):
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING


def test_the_landing_sensor_and_the_schedule_clear_a_dead_run_first(
    instance, tmp_path, monkeypatch
):
    from orchestration.jobs import daily_refresh_schedule
    from orchestration.resources import LearningRecordStore
    from orchestration.sensors import new_landing_files_sensor

    monkeypatch.setenv("SKILLGAP_LANDING_DIR", str(tmp_path / "landing"))
    (tmp_path / "landing" / "learners").mkdir(parents=True)
    (tmp_path / "landing" / "learners" / "day1.csv").write_text("learner_id\nL1\n")
    dead = add_run(instance, recovery.process_tags(gone_pid()))
    context = dg.build_sensor_context(instance=instance, resources={"lrs": LearningRecordStore()})
    request = new_landing_files_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE

    dead = add_run(instance, recovery.process_tags(gone_pid()))
    request = daily_refresh_schedule(dg.build_schedule_context(instance=instance))
    assert isinstance(request, dg.RunRequest)
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE


def test_the_refresh_lock_is_held_by_one_at_a_time(home):
    first, second = RefreshLock(home), RefreshLock(home)
    assert first.try_acquire()
    assert not second.try_acquire()
    assert second.holder()["pid"] == os.getpid()
    first.release()
    assert second.try_acquire()
    second.release()


HOLD_LOCK = """
import sys, time
from orchestration.refresh_guard import RefreshLock
assert RefreshLock(sys.argv[1]).try_acquire()
print("held", flush=True)
time.sleep(120)
"""


def start_make_run(home: Path, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SKILLGAP_LANDING_DIR": str(tmp_path / "landing"),
        "SKILLGAP_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "SKILLGAP_SERVING": str(tmp_path / "serving.duckdb"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.refresh", "--skip-sample", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a signal this test process ignores (after other tests) would stay ignored in the child
        preexec_fn=default_signals,
    )


def default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def lock_holder(home):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(home)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    yield holder
    holder.kill()
    holder.wait()


def test_make_run_exits_naming_the_refresh_that_runs(home, tmp_path, lock_holder):
    proc = start_make_run(home, tmp_path)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_BUSY, output
    assert "Another refresh is running: a refresh starting since" in output
    assert f"pid {lock_holder.pid}" in output


def test_make_run_waits_for_a_live_run_in_the_pool_and_sigterm_ends_the_wait(home, tmp_path):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        live = add_run(instance, recovery.process_tags())
    proc = start_make_run(home, tmp_path, "--wait")
    first = proc.stdout.readline()
    assert first.startswith(f"Waiting for run {live[:8]} of "), first
    assert f"(pid {os.getpid()}, in dbt staging) to end" in first
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)  # the live run never ends: only the signal ends the wait
    assert proc.returncode != 0


SPIN = """
import subprocess, sys, time
import dagster as dg
from dagster._utils.interrupts import capture_interrupts
from orchestration.refresh_guard import stop_on_signals
with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    child = subprocess.Popen(["sleep", "120"])
    with capture_interrupts(), stop_on_signals(instance, sys.argv[2], sys.stdout, grace=1.0):
        print("spinning", child.pid, flush=True)
        while True:  # as Dagster's pool claim loop: signals only set a flag
            pass
"""


def test_sigterm_ends_a_run_that_dagster_keeps_from_seeing_it(home):
    """Dagster replaces the handlers while a run executes and, between steps, only notes a
    signal: the watcher stops the run, marks it failed, and exits."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = add_run(instance, recovery.process_tags())
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SPIN), str(home), run_id],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    word, child = proc.stdout.readline().split()
    assert word == "spinning"
    proc.send_signal(signal.SIGTERM)
    # The loop never ends by itself and its child sleeps 120 s: ending at all is the watcher's
    # doing (a wall-clock bound would fail on a loaded machine, not on a broken watcher).
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "SIGTERM" in output
    assert recovery.process_start(int(child)) is None  # its child was stopped too
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert slot_holders(instance) == set()
