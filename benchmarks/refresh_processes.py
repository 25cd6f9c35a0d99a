"""The refresh benchmark's processes: a stage in its own child, its seconds and peak memory.

The parent starts each stage as a child process (``benchmarks/refresh.py --child-stage``),
polls ``/proc`` every ``POLL_SECONDS`` for the VmRSS summed over the child and its descendants
(dbt and its DuckDB; on spark the JVM), and reads the child's own figures from its JSON.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from benchmarks.refresh_stages import LABELS, WHOLE
from orchestration.settings import REPO_ROOT

POLL_SECONDS = 0.2
# The script whose --child-stage runs one stage.
SCRIPT = Path(__file__).resolve().with_name("refresh.py")


def _ppid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return int(text[text.rfind(")") + 2 :].split()[1])


def _vmrss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root: int, seen: set[int] | None = None) -> int:
    """VmRSS summed over ``root`` and all its descendants, from /proc (their pids: ``seen``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _ppid(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if seen is not None:
            seen.add(pid)
        total += _vmrss_kb(pid)
        todo.extend(children.get(pid, ()))
    return total


class TreePeak(threading.Thread):
    """Polls the process tree of ``pid`` until stopped; ``peak_kb`` is the largest sum seen."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.seen: set[int] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid, self.seen))
            self._stop_event.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def wait_descendants(self, timeout: float = 120.0) -> float:
        """Wait until every process seen in the tree has exited: the JVM PySpark started
        exits on its own after the child (Derby allows one JVM per metastore, and the next
        stage's JVM opens the same one). The seconds waited."""
        started = time.perf_counter()
        others = self.seen - {self.pid}
        while any(os.path.exists(f"/proc/{pid}") for pid in others):
            if time.perf_counter() - started > timeout:
                break
            time.sleep(0.1)
        return time.perf_counter() - started


@dataclass
class Measure:
    """One row of a results table."""

    label: str
    rows: int | None = None
    seconds: float | None = None
    wall: float = 0.0
    peak_kb: int = 0
    jvm: float | None = None
    cpu: float | None = None  # user + system seconds of the stage's process tree
    ok: bool = True
    note: str = ""
    child: dict = field(default_factory=dict)

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def run_child(cmd: list[str], env: dict[str, str], log_path: Path) -> tuple[float, int, int, float]:
    """Run ``cmd`` with its output in ``log_path``: (wall seconds, peak tree kB, return code,
    CPU seconds). The CPU seconds (user + system, of the child and the descendants it waited
    for, such as dbt) hardly change with the load of a shared machine, which wall seconds do."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=log, stderr=log)
        poller = TreePeak(process.pid)
        poller.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = code = os.waitstatus_to_exitcode(status)
        poller.stop()
    wall = time.perf_counter() - started
    poller.wait_descendants()
    return wall, poller.peak_kb, code, usage.ru_utime + usage.ru_stime


def run_stage(stage: str, env: dict[str, str], logs: Path, tag: str) -> Measure:
    result_path = logs / f"{tag}_{stage}.json"
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(SCRIPT), "--child-stage", stage]
    cmd += ["--child-result", str(result_path)]
    if stage != WHOLE:
        # A stage is a subset of a dbt multi-asset, for which dagster-dbt lets dbt pick tests by
        # eager indirect selection: the staging stage would run tests that also read
        # intermediate and marts tables, which do not exist yet on a fresh warehouse. With
        # "buildable" each test runs in the stage that builds the last of its parents, once.
        env = {"DBT_INDIRECT_SELECTION": "buildable", **env}
    wall, peak_kb, code, cpu = run_child(cmd, env, logs / f"{tag}_{stage}.log")
    measure = Measure(LABELS.get(stage, stage), wall=wall, peak_kb=peak_kb, cpu=cpu, ok=code == 0)
    if result_path.exists():
        child = json.loads(result_path.read_text(encoding="utf-8"))
        measure.child = child
        measure.seconds = child["seconds"]
        measure.jvm = child.get("jvm_seconds")
        measure.rows = child.get("rows_in")
        measure.peak_kb = max(peak_kb, child["maxrss_self_kb"], child["maxrss_children_kb"])
    if not measure.ok:
        measure.note = f"FAILED, see {logs / f'{tag}_{stage}.log'}"
    return measure


def run_refresh(stages: list[str], env: dict[str, str], logs: Path, tag: str) -> list[Measure]:
    """Run ``stages`` in order; stop after a failed one."""
    measures = []
    for stage in stages:
        print(f"  {tag}: {LABELS.get(stage, stage)} ...", end="", flush=True)
        measure = run_stage(stage, env, logs, tag)
        if stage in ("ingest", WHOLE):
            measure.rows = measure.child.get("ingested_rows")
            attempts = measure.child.get("attempts")
            statements = measure.child.get("statements")
            measure.note = measure.note or (
                f"{fmt(statements, ',d')} statements"
                if statements
                else f"{fmt(attempts, ',d')} attempts"
            )
        jvm = f" (+ {measure.jvm:.1f} s JVM start)" if measure.jvm is not None else ""
        print(f" {measure.seconds or measure.wall:.1f} s{jvm}, {measure.peak_mb:,.0f} MB")
        measures.append(measure)
        if not measure.ok:
            print(f"  {measure.note}")
            for failure in measure.child.get("failures", [])[:5]:
                print(f"    {failure[:300]}")
            break
    return measures


def machine() -> list[str]:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as fh:
        mem_kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    return [
        f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine: {len(os.sched_getaffinity(0))} CPUs ({os.cpu_count()} online), "
        f"{mem_kb / 1024**2:.1f} GiB RAM, {model}; {platform.platform()}",
        f"python:  {platform.python_version()}, duckdb {duckdb.__version__}",
    ]


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def fmt(value, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)
