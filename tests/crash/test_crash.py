"""A refresh killed at any stage leaves nothing the next `make run` needs help with.

One small generated sample, its last day held back. `make run` (in its own process group, as a
service runs it) is killed with SIGKILL inside ingest (the process group), inside dbt staging
(the refresh process alone: its dbt runs on, as after the OOM killer, frozen by the test so
that it still runs when the restart comes) and inside IRT calibration, each time started again
with no help; the fourth run succeeds. Then the last day
lands: a SIGTERM during dbt staging, then SIGKILLs inside IRT scoring, dbt marts and the
publish (the new serving file written, not yet renamed), and a last run that succeeds. Beside
them, in this process, the same landing is refreshed without interruption: day one, then the
increment.

Checked: each restart names the run it found dead and the stage it died in, marks it failed
and stops the processes it left; SIGTERM stops a refresh within seconds and leaves its run
failed, not dead; the runs that succeed take about an uninterrupted run's time; every table of
every layer (without load ids and times) and every ability equal the uninterrupted run's, after
day one and after the increment; no landed file or row is loaded twice; the serving file opens,
with every mart, throughout the increment's kills.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time

import dagster as dg
import pytest

from orchestration import recovery
from orchestration.refresh_guard import GRACE_SECONDS
from sample_data import generate
from tests.crash.harness import (
    CALIBRATION_LOG,
    Place,
    ServingWatch,
    calibration_log_differences,
    copy_landing,
    land_held,
    latest_run,
    loaded_twice,
    make_run,
    run_status,
    table_differences,
    tables,
)

pytestmark = pytest.mark.slow

COMPANIES, LEARNERS, DAYS, SEED = 20, 1500, 20, 5
# (kill point, the stage the next run names); day one, then the increment
DAY_ONE = [
    ("ingest", "ingest"),
    ("dbt_staging:process", "dbt staging"),
    ("irt_calibration", "IRT calibration"),
]
INCREMENT = [
    ("irt_scoring", "IRT scoring"),
    ("dbt_marts", "dbt marts"),
    ("publish", "publish"),
]


def run_in_process() -> None:
    """The daily_refresh job in this process, on an instance of its own."""
    from orchestration.definitions import defs

    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("daily_refresh").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    assert result.success, [e.message for e in result.all_events if e.is_failure]


def uninterrupted(place: Place, held, results: dict) -> None:
    """Day one, then the increment, refreshed in this process (its environment is set)."""
    try:
        started = time.monotonic()
        run_in_process()
        results["day one seconds"] = time.monotonic() - started
        results["day one"] = tables(place.warehouse, place.landing)
        results["day one ready"].set()
        results["land"].wait()
        land_held(place, held)
        started = time.monotonic()
        run_in_process()
        results["increment seconds"] = time.monotonic() - started
        results["increment"] = tables(place.warehouse, place.landing)
    except BaseException as error:  # reported by the test
        results["error"] = error
        results["day one ready"].set()


def kill_then_restart(place: Place, points, record: dict) -> None:
    """Each point: a run killed there; the next run (killed at the next point, or the last,
    uninterrupted) clears it."""
    previous = None
    for kill_at, stage in [*points, (None, None)]:
        outcome = make_run(place, kill_at)
        record["outcomes"].append(outcome)
        if previous is not None:
            dead_id, label, left = previous
            record["restarts"].append((label, dead_id, outcome.killed_lines, left))
            record["statuses"][dead_id] = run_status(place, dead_id)
        if kill_at is None:
            return
        run = latest_run(place)
        assert outcome.returncode == -9, (kill_at, outcome.returncode, outcome.output[-2000:])
        assert run.status == dg.DagsterRunStatus.STARTED, (kill_at, run.status)
        with place.instance() as instance:
            assert recovery.running_stage(instance, run.run_id) == stage, kill_at
        left = recovery.leftover_processes(run.run_id)
        if kill_at.endswith(":process"):
            # The dbt left running would finish on its own while the restart starts up, sooner
            # or later as the machine's load has it: frozen, it waits (as a hung dbt would)
            # for the restart to stop it.
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
        previous = (run.run_id, stage, left)


def sigterm_during_staging(place: Place, record: dict) -> None:
    outcome = make_run(place, "dbt_staging:sigterm")
    run = latest_run(place)
    record["sigterm"] = {
        "outcome": outcome,
        "stopped after": outcome.ended_at - (outcome.hook_time or 0),
        "status": run.status,
        "leftovers": recovery.leftover_processes(run.run_id),
    }


@pytest.fixture(scope="module")
def crash(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("crash")
    generate(
        out_dir=root / "sample",
        truth_dir=root / "truth",
        companies=COMPANIES,
        learners=LEARNERS,
        days=DAYS,
        seed=SEED,
    )
    last_day = max(
        re.search(r"\d{4}-\d{2}-\d{2}", p.name).group()
        for p in (root / "sample" / "attempts").iterdir()
    )
    killed, calm = Place(root / "killed"), Place(root / "calm")
    held = copy_landing(root / "sample", killed.landing, last_day)
    copy_landing(root / "sample", calm.landing, last_day)

    saved = dict(os.environ)
    os.environ.update(calm.env())
    results = {"day one ready": threading.Event(), "land": threading.Event()}
    beside = threading.Thread(target=uninterrupted, args=(calm, held, results))
    record = {"outcomes": [], "restarts": [], "statuses": {}}
    beside.start()
    try:
        kill_then_restart(killed, DAY_ONE, record)
        results["land"].set()
        record["day one"] = tables(killed.warehouse, killed.landing)
        record["twice after day one"] = loaded_twice(killed.warehouse)
        land_held(killed, held)
        with ServingWatch(killed.serving) as watch:
            sigterm_during_staging(killed, record)
            record["outcomes"].append(record["sigterm"]["outcome"])
            kill_then_restart(killed, INCREMENT, record)
        record["watch"] = watch
        record["increment"] = tables(killed.warehouse, killed.landing)
        record["twice after increment"] = loaded_twice(killed.warehouse)
    finally:
        results["land"].set()
        beside.join()
        os.environ.clear()
        os.environ.update(saved)
    if "error" in results:
        raise results["error"]
    record["calm"] = results
    write_report(record, root / "report.txt")
    return record


def write_report(record: dict, path) -> None:
    """Each run: where it was killed, how it ended, its time, what it said about the run before
    it (for reading after a run: the path is in the test's temporary folder)."""
    lines = [
        f"uninterrupted, in process: day one {record['calm']['day one seconds']:.0f} s, "
        f"increment {record['calm']['increment seconds']:.0f} s"
    ]
    for outcome in record["outcomes"]:
        said = outcome.killed_lines[0] if outcome.killed_lines else "-"
        lines.append(
            f"{outcome.kill_at or 'no kill'}: exit {outcome.returncode}, "
            f"{outcome.seconds:.0f} s; {said}"
        )
    path.write_text("\n".join(lines) + "\n")


def test_each_restart_names_the_dead_run_and_its_stage_and_marks_it_failed(crash):
    assert len(crash["restarts"]) == len(DAY_ONE) + len(INCREMENT)
    for stage, dead_id, lines, _ in crash["restarts"]:
        # printed as it starts, and again under Needs attention by a run that ends
        assert lines, stage
        assert len(set(lines)) == 1, (stage, lines)
        assert f"run {dead_id[:8]} of " in lines[0]
        assert f"was killed during {stage}; marked failed" in lines[0], lines
        assert "this refresh redoes its work" in lines[0]
        assert crash["statuses"][dead_id] == dg.DagsterRunStatus.FAILURE


def test_a_restart_stops_what_the_dead_run_left_running(crash):
    [(_, dead_id, lines, left)] = [r for r in crash["restarts"] if r[0] == "dbt staging"]
    assert left, "the dbt of a refresh killed alone was expected to run on"
    assert "leftover processes" in lines[0]
    assert recovery.leftover_processes(dead_id) == []


def test_every_run_after_a_kill_succeeds_in_an_uninterrupted_runs_time(crash):
    last_runs = [o for o in crash["outcomes"] if o.kill_at is None]
    assert len(last_runs) == 2
    calm = crash["calm"]
    for outcome, normal in zip(
        last_runs, (calm["day one seconds"], calm["increment seconds"]), strict=True
    ):
        assert outcome.returncode == 0, outcome.output[-3000:]
        assert "Refresh succeeded" in outcome.output
        # make run adds dbt parse and start-up to the job; a run waiting on a dead one never ends
        assert outcome.seconds < 2 * normal + 60, (outcome.seconds, normal)


def test_sigterm_stops_a_refresh_within_seconds_and_leaves_no_dead_run(crash):
    sigterm = crash["sigterm"]
    assert sigterm["outcome"].hook_time is not None, sigterm["outcome"].log[-2000:]
    assert sigterm["outcome"].returncode in (1, 128 + 15), sigterm["outcome"].output[-2000:]
    assert sigterm["stopped after"] < GRACE_SECONDS + 3
    assert sigterm["status"] == dg.DagsterRunStatus.FAILURE
    assert sigterm["leftovers"] == []
    [after] = [o for o in crash["outcomes"] if o.kill_at == INCREMENT[0][0]]
    assert after.killed_lines == []


def test_every_table_and_ability_equals_an_uninterrupted_run_after_day_one(crash):
    got, want = crash["day one"], crash["calm"]["day one"]
    assert table_differences(got, want) == {}
    assert calibration_log_differences(got[CALIBRATION_LOG], want[CALIBRATION_LOG]) == []


def test_every_table_and_ability_equals_an_uninterrupted_run_after_the_increment(crash):
    got, want = crash["increment"], crash["calm"]["increment"]
    assert table_differences(got, want) == {}
    assert calibration_log_differences(got[CALIBRATION_LOG], want[CALIBRATION_LOG]) == []
    assert len(got["irt.learner_abilities"]) > 100


def test_no_landed_file_is_loaded_twice(crash):
    assert crash["twice after day one"] == []
    assert crash["twice after increment"] == []


def test_the_serving_file_opens_with_every_mart_throughout_the_kills(crash):
    watch = crash["watch"]
    assert watch.failures == []
    assert watch.opened > 50
    # the day-one file until the last run published the increment's
    assert len(watch.run_ids) == 2
