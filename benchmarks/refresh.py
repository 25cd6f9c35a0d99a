"""Whole-refresh benchmark: generate data at a named size, refresh, then refresh one more day.

``.venv/bin/python benchmarks/refresh.py --size S`` (sizes S, M, L, and XS to try the script;
see ``SIZES``) generates ``days + 1`` days of sample data into a work folder, holds back the
last day's files, runs the
``daily_refresh`` job stage by stage, then lands the held-back day and runs it again (the daily
case). It prints, per stage, the stage's input rows, seconds, and the peak resident memory of
the stage's process tree, for the full and the daily refresh, and the ratio daily / full.

How the stages are measured, and why:

- Each stage is the same ``daily_refresh`` job that the schedule and ``make run`` execute
  (``job.execute_in_process`` against a Dagster instance in the work folder), restricted to the
  stage's assets with ``asset_selection``; checks on those assets run with them, as in the full
  job. Stages run in the job's order, each on the warehouse the previous one left.
- Each stage runs in its own child process, so the peak memory of a stage is its own: the
  parent polls ``/proc`` every 0.2 s and sums VmRSS over the child and its descendants (the dbt
  subprocess, which runs DuckDB for the SQL stages). The child's own ``ru_maxrss`` and its
  children's are reported too and the larger figure is shown; a spike shorter than the poll
  interval is only seen through them. Shared pages count once per process, so the sum errs high.
- ``seconds`` is the time of ``execute_in_process`` in the child; ``wall`` adds the child's
  start-up (importing Dagster and the definitions, a fixed cost of several seconds that a real
  refresh pays once, not once per stage).
- dbt tests run with ``DBT_INDIRECT_SELECTION=buildable`` in the stages (see ``run_stage``):
  each test once, in the stage that builds the last of its parents. The job itself, unsplit,
  runs the same tests with dbt's default (eager) selection.
- Splitting the job costs one more ``dbt build`` start (staging and intermediate are one dbt
  invocation in the job, two here). ``--whole`` also runs the unsplit job, full and daily, on a
  second warehouse from the same landing files, as a cross-check of the totals.
- Rows in are read from the warehouse between stages: files' rows loaded by ingest, raw rows
  for staging, staging attempts for intermediate, ``int_irt_responses`` rows for IRT,
  ``irt.learner_abilities`` rows for the marts, mart rows for publish.

``--format xapi`` lands the same seed's attempts and enrollments as xAPI statements
(``python -m sample_data --format xapi``: the same world, its activity in ``statements/``);
``--format both`` refreshes the tables landing, then the statements landing, and prints them
side by side with xapi / tables by seconds, CPU seconds and peak memory per stage and for
ingest plus staging. ``--until staging`` stops each refresh after that stage.

``CPU s`` is user plus system time of a stage's child and the processes it waited for (dbt
and its DuckDB; not spark's JVM, which outlives its Python), start-up included: on a shared
machine the load stretches seconds, hardly CPU seconds, so compare ratios of those.

The work folder (default ``/tmp/skillgap-bench/<size>``) holds the landing files, truth, the
warehouse, the serving file, ``DAGSTER_HOME`` and one log per stage under ``logs/``; the
statements landing has the same in ``<workdir>/xapi/``.
``--keep`` reuses landing files generated earlier with the same size and seed. The benchmark
prints figures and asserts nothing; on a shared machine, run it twice and read the spread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.settings import REPO_ROOT, Settings
from sample_data import DEFAULT_START

SEED = 7
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Size:
    companies: int
    learners: int
    days: int
    approx_attempts: str


SIZES = {
    # XS checks the benchmark itself in about a minute; its figures are start-up costs.
    "XS": Size(20, 1_000, 10, "about 5k"),
    "S": Size(200, 20_000, 90, "about 1M"),
    "M": Size(1_000, 200_000, 90, "about 10M"),
    "L": Size(3_000, 1_000_000, 90, "about 50M"),
}

# (id, label) in the order of the daily_refresh job.
STAGES = (
    ("ingest", "ingest"),
    ("staging", "staging"),
    ("intermediate", "intermediate"),
    ("irt_calibrate", "IRT calibrate"),
    ("irt_score", "IRT score"),
    ("marts", "marts"),
    ("publish", "publish"),
)
LABELS = dict(STAGES)
WHOLE = "whole"

# A landing file of one day: <entity>_<YYYY-MM-DD>[suffix].<csv|parquet> (sample_data.writers),
# or its statements, .jsonl.gz (attempts) or .json (enrollments) (sample_data.statements).
DAY_FILE = re.compile(r"^[a-z_]+_(\d{4}-\d{2}-\d{2})[^/]*\.(csv|parquet|jsonl\.gz|json)$")
# How the learning activity lands (sample_data --format); tables in the work folder itself.
FORMATS = ("tables", "xapi")


def stage_selection(stage: str):
    """The asset selection of one stage (None for the whole job)."""
    import dagster as dg

    from orchestration.assets import irt

    return {
        "ingest": dg.AssetSelection.groups("ingest"),
        # Seeds are in group staging (orchestration.dbt_project.GROUP_BY_SCHEMA).
        "staging": dg.AssetSelection.groups("staging"),
        "intermediate": dg.AssetSelection.groups("intermediate"),
        # Every output of a multi-asset, whatever its list of outputs is today.
        "irt_calibrate": dg.AssetSelection.assets(
            irt.ITEM_PARAMETERS
        ).required_multi_asset_neighbors(),
        "irt_score": dg.AssetSelection.assets(irt.ABILITIES).required_multi_asset_neighbors(),
        "marts": dg.AssetSelection.groups("marts"),
        # The serving asset, with its freshness check (checks follow their asset).
        "publish": dg.AssetSelection.groups("serving"),
    }.get(stage)


# ---------------------------------------------------------------------------------------------
# The child: one stage of the job in this process


def run_stage_child(stage: str, result_path: Path) -> int:
    """Execute one stage (or the whole job) of ``daily_refresh``; write figures as JSON.

    The child also reads the stage's rows in (before) and the rows ingest loaded (after) from
    its engine's warehouse: on spark through the session the stage uses, started before the
    stage so that the JVM start is timed on its own (``jvm_seconds``), not in ``seconds``.
    """
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.settings import load_settings

    job = defs.get_job_def("daily_refresh")
    selection = stage_selection(stage)
    keys = None
    if selection is not None:
        keys = sorted(selection.resolve(defs.resolve_asset_graph()))
    reader = Reader(load_settings())
    jvm_seconds = reader.start()
    rows, before = rows_in(stage, reader), last_load_id(reader)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    seconds = time.perf_counter() - started
    figures = {
        "stage": stage,
        "engine": reader.engine,
        "success": result.success,
        "run_id": result.run_id,
        "seconds": seconds,
        "jvm_seconds": jvm_seconds,
        "assets": len(keys) if keys is not None else None,
        "rows_in": rows,
        **stage_outputs(stage, reader, before, result.run_id),
        "maxrss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "maxrss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        **result_metadata(result),
        "failures": [
            f"{event.step_key}: {event.message}" for event in result.all_events if event.is_failure
        ],
    }
    result_path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if result.success else 1


def result_metadata(result) -> dict:
    """dbt nodes' durations and the item-health seconds, from the run's materializations."""
    durations, health_seconds = {}, None
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("Execution Duration")
        if value is not None:
            durations[materialization.asset_key.to_user_string()] = float(value.value)
        health = materialization.metadata.get("health_seconds")
        if health is not None:
            health_seconds = float(health.value)
    return {"dbt_durations": durations, "health_seconds": health_seconds}


def stage_outputs(stage: str, reader: Reader, before: int, run_id: str) -> dict:
    """What the parent prints about a stage's output: rows loaded, calibration runs."""
    if stage in ("ingest", WHOLE):
        return {
            "ingested_rows": ingested_rows(reader, before),
            "attempts": ingested_rows(reader, before, "attempts"),
            "statements": ingested_rows(reader, before, "statements"),
        }
    if stage == "irt_calibrate":
        return {"calibration_runs": calibration_runs(reader, run_id)}
    return {}


# ---------------------------------------------------------------------------------------------
# Rows in the warehouse of either engine


class Reader:
    """Counts in the engine's warehouse: DuckDB read only, or Spark SQL in the stage's JVM."""

    def __init__(self, settings: Settings):
        self.engine = settings.engine
        self.warehouse = settings.warehouse
        self.spark = None

    def start(self) -> float | None:
        """On spark, the process's session (and Thrift server): the seconds it took to start."""
        if self.engine != "spark":
            return None
        from orchestration.spark.session import get_spark

        started = time.perf_counter()
        self.spark = get_spark()
        return time.perf_counter() - started

    def rows(self, sql: str) -> list[tuple] | None:
        """The rows of ``sql``; None when a table it reads is missing."""
        if self.spark is not None:
            from pyspark.errors import AnalysisException

            try:
                return [tuple(row) for row in self.spark.sql(sql).collect()]
            except AnalysisException:  # no such table or schema (yet)
                return None
        if not self.warehouse.exists():
            return None
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return con.execute(sql).fetchall()
        except duckdb.CatalogException:
            return None
        finally:
            con.close()

    def value(self, sql: str, default=None):
        rows = self.rows(sql)
        return default if not rows else rows[0][0]

    def tables(self, schema: str) -> list[str]:
        """The base tables (no views) of ``schema``."""
        if self.spark is not None:
            if not self.spark.catalog.databaseExists(schema):
                return []
            return [t.name for t in self.spark.catalog.listTables(schema) if t.tableType != "VIEW"]
        rows = self.rows(
            "select table_name from information_schema.tables "
            f"where table_schema = '{schema}' and table_type = 'BASE TABLE'"
        )
        return [r[0] for r in rows or []]


# ---------------------------------------------------------------------------------------------
# The parent: processes, memory, rows


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
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-stage", stage]
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


def table_rows(reader: Reader, schema: str, exclude: tuple[str, ...] = ()) -> int | None:
    """Rows summed over the base tables of ``schema``."""
    names = [name for name in reader.tables(schema) if name not in exclude]
    if not names:
        return None
    return sum(reader.value(f"select count(*) from {schema}.{name}", 0) for name in names)


def rows_in(stage: str, reader: Reader) -> int | None:
    """The input rows of a stage, read before it runs (ingest: see ``ingested_rows``)."""
    if stage == "staging":
        return table_rows(reader, "raw", exclude=("load_ledger",))
    sql = {
        "intermediate": "select count(*) from staging.stg_attempts",
        "irt_calibrate": "select count(*) from intermediate.int_irt_responses",
        "irt_score": "select count(*) from intermediate.int_irt_responses",
        "marts": "select count(*) from irt.learner_abilities",
    }.get(stage)
    if sql:
        return reader.value(sql)
    if stage == "publish":
        return table_rows(reader, "marts")
    return None


def last_load_id(reader: Reader) -> int:
    return int(reader.value("select coalesce(max(load_id), 0) from raw.load_ledger", 0))


def ingested_rows(reader: Reader, after_load_id: int, entity: str | None = None) -> int:
    """Rows of the files loaded with a load id above ``after_load_id``."""
    where = f" and entity = '{entity}'" if entity else ""
    return int(
        reader.value(
            "select coalesce(sum(n_rows), 0) from raw.load_ledger "
            f"where status = 'loaded' and load_id > {after_load_id}{where}",
            0,
        )
    )


def calibration_runs(reader: Reader, run_id: str) -> list[list]:
    """Per skill: the calibration figures of the run ``run_id`` (irt.calibration_runs)."""
    rows = reader.rows(
        "select skill_id, run_type, n_learners, n_items, n_new_items, n_responses, "
        f"iterations, converged, seconds from irt.calibration_runs where run_id = '{run_id}' "
        "order by seconds desc"
    )
    return [[v if isinstance(v, str | bool | None) else float(v) for v in r] for r in rows or []]


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


# ---------------------------------------------------------------------------------------------
# Data: generate, hold back the last day, land it


def data_folder(workdir: Path, activity_format: str) -> Path:
    """Where a format's landing, truth and held-back day live: tables in the work folder
    itself (as before there were two formats), statements in ``<workdir>/xapi``."""
    return workdir if activity_format == "tables" else workdir / activity_format


def statements_written(log: Path) -> str:
    """The generator's summary of the statements it wrote (count, files, MB), from its log."""
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    found = re.search(r"^statements: (.*?) ->", text, re.MULTILINE)
    return found.group(1) if found else "statements: see the generator's log"


def generate(size: Size, workdir: Path, keep: bool, env: dict[str, str], activity_format: str):
    """``days + 1`` days of the seed into ``workdir`` (``data_folder``), or reuse them."""
    landing, truth = workdir / "landing", workdir / "truth"
    holdback = workdir / "holdback"
    stamp, log = workdir / "generated.json", workdir / "logs" / "generate.log"
    wanted = {**size.__dict__, "days_generated": size.days + 1, "seed": SEED}
    if activity_format != "tables":
        wanted["format"] = activity_format
    label = "generate" if activity_format == "tables" else f"generate {activity_format}"
    statements = "; " + statements_written(log) if activity_format == "xapi" else ""
    if keep and stamp.exists() and json.loads(stamp.read_text(encoding="utf-8")) == wanted:
        faults = json.loads((truth / "faults.json").read_text(encoding="utf-8"))
        rows = sum(faults["landed_rows"].values())
        return Measure(label, rows=rows, note=f"reused (--keep){statements}")
    for path in (landing, truth, holdback, stamp):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    cmd = [sys.executable, "-m", "sample_data"]
    cmd += ["--companies", str(size.companies), "--learners", str(size.learners)]
    cmd += ["--days", str(size.days + 1), "--seed", str(SEED)]
    cmd += ["--out", str(landing), "--truth", str(truth), "--format", activity_format]
    print(f"  {label} ...", end="", flush=True)
    wall, peak_kb, code, cpu = run_child(cmd, env, log)
    print(f" {wall:.1f} s, {peak_kb / 1024:,.0f} MB")
    if code != 0:
        sys.exit(f"generate failed, see {log}")
    faults = json.loads((truth / "faults.json").read_text(encoding="utf-8"))
    stamp.write_text(json.dumps(wanted), encoding="utf-8")
    rows = sum(faults["landed_rows"].values())
    statements = "; " + statements_written(log) if activity_format == "xapi" else ""
    return Measure(
        label,
        rows=rows,
        seconds=wall,
        wall=wall,
        peak_kb=peak_kb,
        cpu=cpu,
        note=f"rows written; {faults['landed_rows']['attempts']:,} attempts{statements}",
    )


def check_naming(landing: Path) -> list[str]:
    """Landing files that do not follow <entity>_<YYYY-MM-DD>[...].<csv|parquet>."""
    return sorted(
        str(p.relative_to(landing))
        for p in landing.rglob("*")
        if p.is_file() and not DAY_FILE.match(p.name)
    )


def move_day(source: Path, target: Path, day: date) -> int:
    """Move every file of ``day`` from ``source`` to ``target``, keeping sub-folders."""
    moved = 0
    for path in sorted(source.rglob("*")):
        match = DAY_FILE.match(path.name)
        if path.is_file() and match and match.group(1) == day.isoformat():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
            moved += 1
    return moved


# ---------------------------------------------------------------------------------------------
# Output


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


def print_table(
    title: str, measures: list[Measure], full: list[Measure] | None = None, total: bool = True
) -> None:
    by_label = {m.label: m for m in full or []}
    jvm = any(m.jvm is not None for m in measures)
    header = f"{'stage':<15}{'rows in':>13}{'seconds':>10}"
    header += f"{'JVM s':>8}" if jvm else ""
    header += f"{'wall s':>9}{'CPU s':>9}{'peak MB':>10}"
    if full is not None:
        header += f"{'x full':>8}"
    print()
    print(title)
    print(header + "  note")
    print("-" * (len(header) + 6))
    for m in measures:
        line = f"{m.label:<15}{fmt(m.rows, ',d'):>13}{fmt(m.seconds, '.1f'):>10}"
        line += f"{fmt(m.jvm, '.1f'):>8}" if jvm else ""
        line += f"{m.wall:>9.1f}{fmt(m.cpu, '.1f'):>9}{m.peak_mb:>10,.0f}"
        if full is not None:
            base = by_label.get(m.label)
            ratio = m.seconds / base.seconds if base and base.seconds and m.seconds else None
            line += f"{fmt(ratio, '.2f'):>8}"
        print(line + (f"  {m.note}" if m.note else ""))
    if not total:
        return
    stages = [m for m in measures if not m.label.startswith("generate")]
    seconds = sum(m.seconds or 0 for m in stages)
    line = f"{'refresh total':<15}{'':>13}{seconds:>10.1f}"
    line += f"{sum(m.jvm or 0 for m in stages):>8.1f}" if jvm else ""
    wall = sum(m.wall for m in stages)
    cpu = sum(m.cpu or 0 for m in stages)
    peak = max((m.peak_mb for m in stages), default=0)
    print("-" * (len(header) + 6))
    print(f"{line}{wall:>9.1f}{cpu:>9.1f}{peak:>10,.0f}")


def comparison_lines(duck: list[Measure], spark: list[Measure]) -> list[str]:
    """One row per stage: duckdb's rows in, seconds, peak MB beside spark's (with its JVM
    start, which ``seconds`` leaves out), and spark / duckdb by seconds."""
    by_label = {m.label: m for m in spark}
    head = f"{'':<15}{'duckdb':-^32}  {'spark':-^40}"
    header = (
        f"{'stage':<15}{'rows in':>12}{'seconds':>10}{'peak MB':>10}  "
        f"{'rows in':>12}{'seconds':>10}{'JVM s':>8}{'peak MB':>10}{'spark/duckdb':>14}"
    )
    lines = [head, header, "-" * len(header)]
    totals = [0.0, 0.0, 0.0]

    def row(label, d: Measure | None, s: Measure | None) -> str:
        ratio = None
        if d and s and d.seconds and s.seconds is not None:
            ratio = s.seconds / d.seconds
        return (
            f"{label:<15}{fmt(d and d.rows, ',d'):>12}{fmt(d and d.seconds, '.1f'):>10}"
            f"{fmt(d and d.peak_mb, ',.0f'):>10}  {fmt(s and s.rows, ',d'):>12}"
            f"{fmt(s and s.seconds, '.1f'):>10}{fmt(s and s.jvm, '.1f'):>8}"
            f"{fmt(s and s.peak_mb, ',.0f'):>10}{fmt(ratio, '.1f'):>14}"
        )

    for d in duck:
        s = by_label.get(d.label)
        lines.append(row(d.label, d, s))
        totals[0] += d.seconds or 0
        totals[1] += (s.seconds or 0) if s else 0
        totals[2] += (s.jvm or 0) if s else 0
    total_d = Measure("", seconds=totals[0], peak_kb=max((m.peak_kb for m in duck), default=0))
    total_s = Measure(
        "", seconds=totals[1], jvm=totals[2], peak_kb=max((m.peak_kb for m in spark), default=0)
    )
    lines += ["-" * len(header), row("refresh total", total_d, total_s)]
    return lines


def print_slowest_dbt(measures: list[Measure], top: int = 5) -> None:
    """The slowest dbt nodes per SQL stage, from dagster-dbt's Execution Duration metadata."""
    for m in measures:
        durations = m.child.get("dbt_durations") or {}
        if not durations:
            continue
        slowest = sorted(durations.items(), key=lambda kv: -kv[1])[:top]
        listed = ", ".join(f"{key.split('/')[-1]} {s:.1f}" for key, s in slowest)
        print(f"  {m.label}: {sum(durations.values()):.1f} s in dbt nodes; slowest: {listed}")


def print_calibration_runs(measure: Measure | None) -> None:
    """Per skill, from irt.calibration_runs as the calibration stage's child read it."""
    rows = (measure.child.get("calibration_runs") if measure else None) or []
    if not rows:
        return
    print(
        f"  {'skill':<24}{'run type':<14}{'learners':>10}{'items':>7}{'new':>5}"
        f"{'responses':>12}{'iter':>6}{'conv':>6}{'seconds':>9}"
    )
    for skill, run_type, learners, items, new, responses, iterations, converged, s in rows:
        print(
            f"  {skill:<24}{run_type:<14}{learners:>10,.0f}{items:>7.0f}{new:>5.0f}"
            f"{responses:>12,.0f}{iterations:>6.0f}{str(converged):>6}{s:>9.1f}"
        )
    print(
        f"  {len(rows)} skills, {sum(r[-1] for r in rows):.1f} s summed over skills "
        "(step 1 fits skills in parallel threads, so the sum can exceed the stage's seconds)"
    )
    health = measure.child.get("health_seconds")
    if health is not None:
        print(f"  item health (DIF and drift) in the calibration stage: {health:.1f} s")


# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(workdir: Path, folder: Path, engine: str) -> tuple[Settings, dict[str, str]]:
    """Paths of one engine's run: landing in ``workdir``, everything it writes in ``folder``
    (on spark: the metastore, Parquet warehouse and conf in ``folder/spark``, and a free port
    for the Thrift server, so that no other Spark on the machine shares either)."""
    settings = Settings(
        landing_dir=workdir / "landing",
        warehouse=folder / "warehouse.duckdb",
        serving=folder / "serving.duckdb",
        dagster_home=folder / "dagster_home",
        engine=engine,
        spark_home=folder / "spark",
    )
    env = {**os.environ, **settings.as_env()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    if engine == "spark":
        env["SKILLGAP_SPARK_THRIFT_PORT"] = str(free_port())
        env.pop("SKILLGAP_SPARK_CONF_DIR", None)
    return settings, env


def reset_warehouse(settings: Settings) -> None:
    for path in (settings.warehouse, settings.serving):
        for candidate in (path, path.with_name(path.name + ".wal")):
            candidate.unlink(missing_ok=True)
    if settings.engine == "spark":
        shutil.rmtree(settings.spark_home, ignore_errors=True)
    shutil.rmtree(settings.dagster_home, ignore_errors=True)


@dataclass
class EngineRun:
    """The figures of one engine on one landing format: full and daily stage by stage, the
    unsplit cross-check."""

    engine: str
    activity_format: str = "tables"
    full: list[Measure] = field(default_factory=list)
    daily: list[Measure] = field(default_factory=list)
    whole: list[Measure] = field(default_factory=list)
    load_before: str = ""
    load_after: str = ""


def engine_folder(workdir: Path, engine: str) -> Path:
    """duckdb in the work folder itself (as before there were two engines), spark beside."""
    return workdir if engine == "duckdb" else workdir / engine


def run_name(run: EngineRun) -> str:
    return run.engine if run.activity_format == "tables" else f"{run.engine}, xapi"


def stages_until(until: str | None) -> list[str]:
    """The stage ids of the job, up to and with ``until`` (all of them when None)."""
    ids = [s for s, _ in STAGES]
    return ids if until is None else ids[: ids.index(until) + 1]


def run_engine(engine: str, workdir: Path, last_day: date, args, activity_format="tables"):
    """Full refresh, then the held-back day, on ``engine``; optionally the unsplit job.
    ``workdir`` is the format's data folder (``data_folder``)."""
    from orchestration.dbt_project import parse_manifest
    from orchestration.refresh import prepare_environment

    run = EngineRun(engine, activity_format, load_before=load())
    folder = engine_folder(workdir, engine)
    logs = workdir / "logs" / engine
    settings, env = environment(workdir, folder, engine)
    print(
        f"\n=== engine {engine}, {activity_format} landing: load average {run.load_before}; "
        f"writes in {folder} ==="
    )
    # Whatever a previous run left: the landing folder starts without the last day.
    move_day(settings.landing_dir, workdir / "holdback", last_day)
    # A fresh warehouse and Dagster instance; the manifest the dbt assets are built from.
    reset_warehouse(settings)
    prepare_environment(settings)
    if engine == "spark":
        os.environ["SKILLGAP_SPARK_THRIFT_PORT"] = env["SKILLGAP_SPARK_THRIFT_PORT"]
    parse_manifest()
    stage_ids = stages_until(args.until)
    print("full refresh:")
    run.full = run_refresh(stage_ids, env, logs, "full")
    if all(m.ok for m in run.full) and not args.full_only:
        moved = move_day(workdir / "holdback", settings.landing_dir, last_day)
        print(f"landed {moved} files of {last_day}; daily refresh:")
        run.daily = run_refresh(stage_ids, env, logs, "daily")
    if args.whole:
        whole_settings, whole_env = environment(workdir, folder / "whole", engine)
        reset_warehouse(whole_settings)
        prepare_environment(whole_settings)
        move_day(settings.landing_dir, workdir / "holdback", last_day)
        print("unsplit job (cross-check):")
        run.whole += run_refresh([WHOLE], whole_env, logs, "whole_full")
        move_day(workdir / "holdback", settings.landing_dir, last_day)
        run.whole += run_refresh([WHOLE], whole_env, logs, "whole_daily")
        run.whole[0].label, run.whole[-1].label = "whole, full", "whole, daily"
    run.load_after = load()
    print(f"=== engine {engine}, {activity_format} landing done: load average {run.load_after} ===")
    return run


def report_engine(run: EngineRun, gen: Measure) -> None:
    """The tables of one engine, as the benchmark printed them before it had two."""
    name = run_name(run)
    print(f"\n##### engine {name} (load average before {run.load_before}, after {run.load_after})")
    print_table(f"FULL REFRESH, {name} (stage by stage)", [gen, *run.full])
    print_slowest_dbt(run.full)
    calibration = {m.label: m for m in run.full}.get(LABELS["irt_calibrate"])
    if calibration is not None:
        print(f"IRT calibration per skill, full refresh, {name} (irt.calibration_runs):")
        print_calibration_runs(calibration)
    if run.daily:
        full, daily = run.full, run.daily
        print_table(f"DAILY REFRESH, {name} (one more day landed)", daily, full)
        print_slowest_dbt(daily)
        full_s = sum(m.seconds or 0 for m in full)
        daily_s = sum(m.seconds or 0 for m in daily)
        full_wall = sum(m.wall for m in full)
        daily_wall = sum(m.wall for m in daily)
        what = "attempts" if run.activity_format == "tables" else "statements"
        full_att = full[0].child.get(what) or 0
        day_att = daily[0].child.get(what) or 0
        share = f"{day_att / full_att:.1%}" if full_att else "-"
        print(
            f"daily / full: {daily_s / full_s:.2f} by seconds, {daily_wall / full_wall:.2f} "
            f"by wall; the day landed {day_att:,} {what} = {share} of the full refresh's"
        )
    if run.whole:
        print_table(f"UNSPLIT JOB, {name} (one process per refresh)", run.whole, total=False)


def report_both(duck: EngineRun, spark: EngineRun) -> None:
    print("\n##### duckdb and spark side by side (seconds exclude spark's JVM start)")
    for title, d, s in (("FULL", duck.full, spark.full), ("DAILY", duck.daily, spark.daily)):
        if d and s:
            print(f"\n{title} REFRESH, both engines")
            print("\n".join(comparison_lines(d, s)))


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def format_comparison_lines(tables: list[Measure], xapi: list[Measure]) -> list[str]:
    """One row per stage: the tables landing's rows in, seconds, CPU seconds and peak MB beside
    the statements landing's, and xapi / tables by each; then ingest plus staging (the issue's
    goal: within 2x by seconds, 1.5x by peak memory) and the total. On a shared machine the
    ratio of CPU seconds is the steadier one: the load slows seconds, not CPU seconds."""
    by_label = {m.label: m for m in xapi}
    side = f"{'rows in':>12}{'seconds':>9}{'CPU s':>8}{'peak MB':>9}"
    head = f"{'':<17}{'tables':-^38}  {'xapi (statements)':-^38}  {'xapi / tables':-^21}"
    header = f"{'stage':<17}{side}  {side}  {'seconds':>8}{'CPU':>6}{'peak':>7}"

    def cells(m: Measure | None) -> str:
        return (
            f"{fmt(m and m.rows, ',d'):>12}{fmt(m and m.seconds, '.1f'):>9}"
            f"{fmt(m and m.cpu, '.1f'):>8}{fmt(m and m.peak_mb, ',.0f'):>9}"
        )

    def row(label: str, t: Measure | None, x: Measure | None) -> str:
        return (
            f"{label:<17}{cells(t)}  {cells(x)}  "
            f"{fmt(ratio(x and x.seconds, t and t.seconds), '.2f'):>8}"
            f"{fmt(ratio(x and x.cpu, t and t.cpu), '.2f'):>6}"
            f"{fmt(ratio(x and x.peak_mb, t and t.peak_mb), '.2f'):>7}"
        )

    def total(measures: list[Measure], labels: set[str]) -> Measure:
        chosen = [m for m in measures if m.label in labels]
        return Measure(
            "",
            seconds=sum(m.seconds or 0 for m in chosen),
            cpu=sum(m.cpu or 0 for m in chosen),
            peak_kb=max((m.peak_kb for m in chosen), default=0),
        )

    lines = [head, header, "-" * len(header)]
    lines += [row(t.label, t, by_label.get(t.label)) for t in tables]
    lines.append("-" * len(header))
    for label, labels in (
        ("ingest + staging", {LABELS["ingest"], LABELS["staging"]}),
        ("refresh total", {m.label for m in tables}),
    ):
        lines.append(row(label, total(tables, labels), total(xapi, labels)))
    return lines


def report_formats(tables: EngineRun, xapi: EngineRun) -> None:
    print(f"\n##### {tables.engine}: the tables landing and the same data as statements")
    for title, t, x in (("FULL", tables.full, xapi.full), ("DAILY", tables.daily, xapi.daily)):
        if t and x:
            print(f"\n{title} REFRESH, tables vs xapi ({tables.engine})")
            print("\n".join(format_comparison_lines(t, x)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark", "both"),
        default="duckdb",
        help="the warehouse engine (both: duckdb, then spark on the same landing files)",
    )
    parser.add_argument(
        "--format",
        choices=(*FORMATS, "both"),
        default="tables",
        help="how attempts and enrollments land: tables (default), xapi (the same seed as xAPI "
        "statements, sample_data --format xapi) or both (tables, then xapi, side by side)",
    )
    parser.add_argument(
        "--until",
        choices=[s for s, _ in STAGES],
        default=None,
        help="stop each refresh after this stage (e.g. staging: ingest and staging only)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="default /tmp/skillgap-bench/<size>"
    )
    parser.add_argument(
        "--keep", action="store_true", help="reuse landing files generated earlier at this size"
    )
    parser.add_argument(
        "--whole",
        action="store_true",
        help="also run the unsplit job (full and daily) on a second warehouse, as a cross-check",
    )
    parser.add_argument(
        "--full-only",
        action="store_true",
        help="skip the daily case (L: the full refresh alone takes most of an hour)",
    )
    parser.add_argument("--child-stage", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def prepare_data(size: Size, data: Path, args, env: dict[str, str], activity_format: str):
    """Generate (or reuse) one format's landing in ``data``, hold back its last day: the
    generation's measure and the held-back day."""
    gen = generate(size, data, args.keep, env, activity_format)
    last_day = DEFAULT_START + timedelta(days=size.days)
    odd = check_naming(data / "landing") + check_naming(data / "holdback")
    if odd:
        print(f"warning: {len(odd)} landing files not named <entity>_<date>...: {odd[:5]}")
    move_day(data / "landing", data / "holdback", last_day)
    held = sum(1 for p in (data / "holdback").rglob("*") if p.is_file())
    print(f"held back {held} files of {last_day} for the daily run ({activity_format} landing)")
    return gen, last_day


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_stage:
        return run_stage_child(args.child_stage, args.child_result)

    size = SIZES[args.size]
    workdir = (args.workdir or Path("/tmp/skillgap-bench") / args.size).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    engines = ("duckdb", "spark") if args.engine == "both" else (args.engine,)
    formats = FORMATS if args.format == "both" else (args.format,)
    _, env = environment(workdir, workdir, "duckdb")
    print(
        f"skillgap whole-refresh benchmark, size {args.size}: {size.companies:,} companies, "
        f"{size.learners:,} learners, {size.days} days + 1 daily ({size.approx_attempts} "
        f"attempts); seed {SEED}; engines {', '.join(engines)}; landing {', '.join(formats)}"
    )
    print("\n".join(machine()))
    print(f"load average at start: {load()}")
    print(f"work folder: {workdir} (one log per stage in {workdir / 'logs'}/<engine>)")
    started = time.perf_counter()

    runs, gens = [], {}
    for activity_format in formats:
        data = data_folder(workdir, activity_format)
        gens[activity_format], last_day = prepare_data(size, data, args, env, activity_format)
        runs += [run_engine(e, data, last_day, args, activity_format) for e in engines]
    if "spark" in engines:
        # The dbt assets are defined from target/manifest.json, parsed for the engine of the
        # last run: leave the project's default (duckdb) one, as make manifest writes it.
        from orchestration.dbt_project import parse_manifest

        parse_manifest({**os.environ, "SKILLGAP_ENGINE": "duckdb"})
    for run in runs:
        report_engine(run, gens[run.activity_format])
    for activity_format in formats:
        same = [run for run in runs if run.activity_format == activity_format]
        if len(same) == 2:
            report_both(*same)
    for engine in engines:
        same = [run for run in runs if run.engine == engine]
        if len(same) == 2:
            report_formats(*same)
    print()
    print(f"load average at end: {load()}; benchmark took {time.perf_counter() - started:.0f} s")
    print(
        "Note: a shared machine; other processes compete for the CPUs, so read seconds "
        "with the load averages above."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
