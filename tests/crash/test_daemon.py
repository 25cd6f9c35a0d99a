"""`dagster dev` recovers from a killed run by itself: run monitoring fails it, the next run
succeeds.

A real `dagster dev` (webserver, daemon, code server) on a tiny sample, with the shipped
dagster.yaml. A refresh launched as the UI launches it runs dbt staging when every process of
`dagster dev` is killed with SIGKILL, as a machine restart does: the run stays STARTED, holding
the pool slot and the run queue's one refresh place. `dagster dev` starts again; with nothing
else done, the daemon's run monitoring marks the run failed (the launcher's health check finds
its process gone) and frees its slot. Then the landing sensor is turned on: its run is queued
under the same one-refresh limit, starts, and succeeds. (A run worker killed alone is failed by
the code server that started it, without run monitoring.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration import recovery
from orchestration.settings import REPO_ROOT
from sample_data import generate
from tests.crash.harness import default_signals
from tests.orchestration.test_webserver import (
    free_port,
    graphql,
    group_alive,
    stop,
    wait_for_asset_nodes,
)

pytestmark = pytest.mark.slow

MONITORING_TIMEOUT = 180  # poll interval 30 s, and the daemon's own start
RUN_TIMEOUT = 600
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
START_SENSOR = """
mutation($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on PythonError { message }
  }
}
"""
LOCATIONS = (
    "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
)


def mutate(port: int, query: str, variables: dict) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def wait_for(what: str, condition, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"no {what} after {timeout} s:\n{log.read_text()[-4000:]}")


def records(home: Path, **filters) -> list[dg.RunRecord]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_run_records(dg.RunsFilter(**filters)))


def in_step(home: Path, run_id: str, step: str) -> bool:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return recovery.running_stage(instance, run_id) == step


class DagsterDev:
    """`dagster dev` on one Dagster home, started and stopped (or killed) as asked."""

    def __init__(self, root: Path) -> None:
        self.root, self.home = root, root / "dagster_home"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SKILLGAP_")},
            "DAGSTER_HOME": str(self.home),
            "SKILLGAP_LANDING_DIR": str(root / "landing"),
            "SKILLGAP_WAREHOUSE": str(root / "warehouse.duckdb"),
            "SKILLGAP_SERVING": str(root / "serving.duckdb"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.proc, self.log, self.started = None, root / "dagster_dev.log", 0

    def start(self) -> int:
        self.port, self.started = free_port(), self.started + 1
        with self.log.open("a") as out:
            out.write(f"\n=== dagster dev #{self.started}\n")
            out.flush()
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster")), "dev", "-m"]
                + ["orchestration.definitions", "-h", "127.0.0.1", "-p", str(self.port)],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=default_signals,
            )
        wait_for_asset_nodes(self.port, self.proc, self.log)
        return self.port

    def kill(self) -> None:
        """SIGKILL to every process of it, run workers included, as a machine restart does."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        deadline = time.monotonic() + 30
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop(self.proc, self.log)
        self.proc = None


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("daemon")
    (root / "dagster_home").mkdir()
    (root / "dagster_home" / "dagster.yaml").write_text(
        (REPO_ROOT / "orchestration" / "dagster.yaml").read_text()
    )
    generate(out_dir=root / "landing", truth_dir=root / "truth", companies=8, learners=400, days=6)
    dev = DagsterDev(root)
    try:
        yield dev
    finally:
        dev.stop()


def selector_of(port: int) -> dict:
    [repository] = graphql(port, LOCATIONS)["data"]["repositoriesOrError"]["nodes"]
    return {
        "repositoryLocationName": repository["location"]["name"],
        "repositoryName": repository["name"],
    }


def launch_and_kill_in_staging(dev: DagsterDev) -> str:
    """A refresh launched as the UI does, then `dagster dev` killed while it runs dbt staging."""
    port = dev.start()
    params = {"selector": {**selector_of(port), "jobName": "daily_refresh"}}
    launched = mutate(port, LAUNCH, {"params": params})["data"]["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    wait_for("dbt staging", lambda: in_step(dev.home, run_id, "dbt staging"), RUN_TIMEOUT, dev.log)
    dev.kill()
    return run_id


def test_a_killed_run_is_failed_by_the_daemon_and_the_next_sensor_run_succeeds(dagster_dev):
    dev = dagster_dev
    killed = launch_and_kill_in_staging(dev)
    [record] = records(dev.home, run_ids=[killed])
    assert record.dagster_run.status == dg.DagsterRunStatus.STARTED  # nobody left to say

    port = dev.start()

    def failed():
        [record] = records(dev.home, run_ids=[killed])
        return record.dagster_run.status == dg.DagsterRunStatus.FAILURE

    wait_for("failed run", failed, MONITORING_TIMEOUT, dev.log)
    with dg.DagsterInstance.from_config(str(dev.home)) as instance:
        [failure] = instance.get_records_for_run(
            killed, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
        message = failure.event_log_entry.dagster_event.message
        assert "Detected run worker status" in message  # run monitoring, no refresh yet
        assert "killed during dbt staging" in message

    selector = {**selector_of(port), "sensorName": "new_landing_files_sensor"}
    started = mutate(port, START_SENSOR, {"selector": selector})["data"]["startSensor"]
    assert started["__typename"] == "Sensor", started

    def sensor_run():
        runs = [r for r in records(dev.home) if r.dagster_run.run_id != killed]
        return runs[0].dagster_run if runs else None

    run = wait_for("sensor run", sensor_run, 120, dev.log)
    assert run.tags.get("dagster/sensor_name") == "new_landing_files_sensor"

    def finished():
        [record] = records(dev.home, run_ids=[run.run_id])
        return record.dagster_run.is_finished and record.dagster_run

    assert wait_for("finished run", finished, RUN_TIMEOUT, dev.log).status == (
        dg.DagsterRunStatus.SUCCESS
    )
