"""Test-only: kill the refresh at a chosen point inside a stage, for the crash test (tests/crash).

``SKILLGAP_TEST_KILL_AT=<point>[:<how>]`` makes ``make run`` kill itself when the point is
reached; nothing reads it otherwise. Points: ``ingest`` (after half the landing files, while
the next one loads), ``dbt_staging`` (after its 10th model), ``irt_calibration`` and
``irt_scoring`` (after half their skills), ``dbt_marts`` (after its 3rd model), ``publish`` (the
new serving file written, just before the rename). ``how``: ``group`` (default: SIGKILL to the
whole process group, dbt included, as a machine restart or a stopped container does),
``process`` (SIGKILL to the refresh alone: its dbt runs on, as after the OOM killer), or
``sigterm`` (SIGTERM to the refresh, as a service manager's stop does).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import dagster as dg

from orchestration.progress import parse_progress

KILL_AT_ENV = "SKILLGAP_TEST_KILL_AT"
# point: (step key, what to count, how many / which unit)
POINTS: dict[str, tuple[str, str, object]] = {
    "ingest": ("ingest_landing_files", "progress", "files"),
    "dbt_staging": ("dbt_staging", "materializations", 10),
    "irt_calibration": ("irt_calibration", "progress", "skills"),
    "irt_scoring": ("irt_scoring", "progress", "skills"),
    "dbt_marts": ("dbt_marts", "materializations", 3),
}
# A file loads in one transaction: a moment after the progress line, the next one is loading.
INGEST_DELAY_SECONDS = 0.02


def kill(how: str, where: str) -> None:
    sys.stderr.write(f"crash hook: {how} at {where} ({time.time():.3f})\n")
    sys.stderr.flush()
    if how == "process":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        os.killpg(os.getpgrp(), signal.SIGKILL)


def _at_publish(how: str) -> None:
    """Kill when the publish renames its finished file over the serving file."""
    import orchestration.publish as publish

    class KillBeforeRename:
        def __getattr__(self, name: str):
            return getattr(os, name)

        def replace(self, *args, **kwargs) -> None:
            kill(how, "publish, before the rename")
            time.sleep(60)  # SIGTERM: the interrupt arrives here

    publish.os = KillBeforeRename()


def install(instance: dg.DagsterInstance) -> None:
    """Arm the kill that ``SKILLGAP_TEST_KILL_AT`` asks for on this process's run."""
    spec = os.environ.get(KILL_AT_ENV, "")
    point, _, how = spec.partition(":")
    how = how or "group"
    if point == "publish":
        _at_publish(how)
        return
    if point not in POINTS:
        raise ValueError(f"{KILL_AT_ENV}={spec}: not one of {sorted(POINTS) + ['publish']}")
    step, counting, which = POINTS[point]
    seen = {"materializations": 0, "fired": False}
    handle = instance.handle_new_event

    def fire(where: str, delay: float = 0.0) -> None:
        seen["fired"] = True
        if delay:
            threading.Timer(delay, kill, (how, where)).start()
        else:
            kill(how, where)

    def handle_and_maybe_kill(event, *args, **kwargs):
        handle(event, *args, **kwargs)
        if seen["fired"] or event.step_key != step:
            return
        kind = event.dagster_event.event_type if event.dagster_event else None
        if counting == "materializations" and kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            seen["materializations"] += 1
            if seen["materializations"] == which:
                fire(f"{point}, model {which}")
        elif counting == "progress" and kind is None:
            progress = parse_progress(event.user_message)
            if progress and progress.unit == which and progress.done >= progress.total // 2:
                where = f"{point}, {progress.done}/{progress.total} {which}"
                fire(where, INGEST_DELAY_SECONDS if point == "ingest" else 0.0)

    instance.handle_new_event = handle_and_maybe_kill
