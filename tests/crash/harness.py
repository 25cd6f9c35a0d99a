"""What the crash test drives and compares: `make run` in its own process group, killed at a
point by the test-only hook (orchestration/crash_hook.py); the serving file watched while it
runs; every warehouse table compared with an uninterrupted run's."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.settings import REPO_ROOT
from tests.engine.compare import RUN_TIME_COLUMNS, cell_text, differences

LAYERS = ("raw", "staging", "intermediate", "irt", "marts")
# Which load a row came from, and when: a killed load used up the ids and times of its files.
LOAD_COLUMNS = {"_load_id", "load_id", "loaded_at"}
RUN_TIMEOUT = 900  # seconds: a refresh waiting on a dead run would otherwise never end
# One row per skill per calibration: a run killed after calibrating adds its rows, and so does
# its rerun (compared by calibration_log_differences).
CALIBRATION_LOG = "irt.calibration_runs"


@dataclass
class Place:
    """One warehouse with its landing, serving file and Dagster home, under ``root``."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def serving(self) -> Path:
        return self.root / "serving.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SKILLGAP_") and k not in ("DAGSTER_HOME", "PYTEST_CURRENT_TEST")
        }
        env.update(
            SKILLGAP_LANDING_DIR=str(self.landing),
            SKILLGAP_WAREHOUSE=str(self.warehouse),
            SKILLGAP_SERVING=str(self.serving),
            DAGSTER_HOME=str(self.dagster_home),
            **extra,
        )
        return env

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.dagster_home))


@dataclass
class Outcome:
    kill_at: str | None
    returncode: int
    seconds: float
    ended_at: float
    output: str
    log: str = ""

    @property
    def killed_lines(self) -> list[str]:
        return [line.strip() for line in self.output.splitlines() if "RUN KILLED" in line]

    @property
    def hook_time(self) -> float | None:
        """When the hook fired (its line in the run's log)."""
        match = re.search(r"crash hook: \S+ at .* \((\d+\.\d+)\)", self.log)
        return float(match.group(1)) if match else None


def default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_run(place: Place, kill_at: str | None = None, *args: str) -> Outcome:
    """``make run`` (python -m orchestration.refresh) in a new process group, as a service
    would start it; with ``kill_at``, the hook kills it there."""
    extra = {"SKILLGAP_TEST_KILL_AT": kill_at} if kill_at else {}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.refresh", "--skip-sample", *args],
        cwd=REPO_ROOT,
        env=place.env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=default_signals,
    )
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise AssertionError(
            f"make run did not end in {RUN_TIMEOUT} s:\n{output[-3000:]}"
        ) from None
    ended = time.time()
    log_match = re.search(r"Full Dagster and dbt logs of this run: (\S+)", output)
    log_path = log_match and Path(log_match.group(1))
    if log_path is None:  # killed before the summary: the newest log
        logs = sorted((place.root / "logs").glob("refresh-*.log"), key=lambda p: p.stat().st_mtime)
        log_path = logs[-1] if logs else None
    log = log_path.read_text(errors="replace") if log_path else ""
    return Outcome(kill_at, proc.returncode, time.monotonic() - started, ended, output, log)


def latest_run(place: Place) -> dg.DagsterRun:
    with place.instance() as instance:
        [record] = instance.get_run_records(limit=1)
        return record.dagster_run


def run_status(place: Place, run_id: str) -> dg.DagsterRunStatus:
    with place.instance() as instance:
        return instance.get_run_by_id(run_id).status


# -- what the warehouse holds ------------------------------------------------------------------


def unlanded(landing: str, value):
    return value.replace(landing, "<landing>") if isinstance(value, str) else value


def tables(warehouse: Path, landing: Path) -> dict:
    """Every base table of the layers, as a DataFrame without its load ids and times, with
    ``landing`` (in error messages) written as ``<landing>``."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name, list(column_name order by ordinal_position) "
            "from information_schema.columns join information_schema.tables "
            "using (table_schema, table_name) where table_type = 'BASE TABLE' group by all"
        ).fetchall()
        found = {}
        for schema, table, columns in names:
            if schema not in LAYERS:
                continue
            kept = ", ".join(f'"{c}"' for c in columns if c not in LOAD_COLUMNS)
            frame = con.execute(f'select {kept} from "{schema}"."{table}"').df()
            for column in frame.columns:
                if frame[column].dtype == "object":
                    frame[column] = frame[column].map(partial(unlanded, str(landing)))
            found[f"{schema}.{table}"] = frame
        return found


def table_differences(got: dict, want: dict) -> dict[str, list[str]]:
    problems = {}
    for name in sorted((set(got) | set(want)) - {CALIBRATION_LOG}):
        if name not in got or name not in want:
            problems[name] = ["missing on one side"]
            continue
        # abilities to 1e-9: the same responses give the same estimate
        tolerance = 1e-9 if name.startswith("irt.learner_abilities") else 1e-6
        found = differences(got[name], want[name], tolerance=tolerance)
        if found:
            problems[name] = found
    return problems


def calibration_log(frame) -> list[list[tuple]]:
    """The calibration log run by run, in order, without run ids and times."""
    columns = [c for c in frame.columns if c not in RUN_TIME_COLUMNS]
    order = frame.groupby("run_id")["started_at"].min().sort_values().index
    return [
        sorted(
            tuple(cell_text(v) for v in row)
            for row in frame.loc[frame.run_id == run, columns].itertuples(index=False)
        )
        for run in order
    ]


def calibration_log_differences(got, want) -> list[str]:
    """The killed side's log starts with the uninterrupted side's, run for run; each further
    run (a kill after calibration, then its rerun) calibrated nothing: no first calibration,
    no fit (kept or too few data)."""
    got_runs, want_runs = calibration_log(got), calibration_log(want)
    problems = [] if got_runs[: len(want_runs)] == want_runs else ["the first runs differ"]
    columns = [c for c in got.columns if c not in RUN_TIME_COLUMNS]
    kind, iterations = columns.index("run_type"), columns.index("iterations")
    for number, run in enumerate(got_runs[len(want_runs) :], len(want_runs)):
        fitted = [r for r in run if r[kind] == "initial" or r[iterations] not in ("0", None)]
        if fitted:
            problems.append(f"run {number} fitted again: {fitted[:2]}")
    return problems


def loaded_twice(warehouse: Path) -> list[tuple]:
    """Landed files in the ledger more than once, and raw rows from one file's row twice."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        twice = con.execute(
            "select file_path, content_hash, count(*) from raw.load_ledger "
            "where status = 'loaded' group by all having count(*) > 1"
        ).fetchall()
        raw = con.execute(
            "select table_name from information_schema.columns where table_schema = 'raw' "
            "and column_name = '_source_file'"
        ).fetchall()
        for (table,) in raw:
            twice += con.execute(
                f"select '{table}', _source_file, _row_number, count(*) from raw.{table} "
                "group by all having count(*) > 1 limit 3"
            ).fetchall()
        return twice


# -- the serving file, watched -----------------------------------------------------------------


@dataclass
class ServingWatch:
    """Opens the serving file read-only every few hundredths of a second while a block runs:
    each time it must open and hold its marts (once it exists)."""

    path: Path
    opened: int = 0
    failures: list[str] = field(default_factory=list)
    run_ids: set = field(default_factory=set)

    def __enter__(self) -> ServingWatch:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def look(self) -> None:
        if not self.path.exists():
            return
        try:
            with duckdb.connect(str(self.path), read_only=True) as con:
                marts = con.execute(
                    "select count(*) from duckdb_tables() where schema_name = 'marts'"
                ).fetchone()[0]
                run_ids = con.execute("select distinct run_id from main.refresh_info").fetchall()
        except (duckdb.IOException, FileNotFoundError) as error:
            if self.path.exists():
                self.failures.append(f"{type(error).__name__}: {error}")
            return
        except duckdb.Error as error:
            self.failures.append(f"{type(error).__name__}: {error}")
            return
        self.opened += 1
        if marts < 10 or len(run_ids) != 1:
            self.failures.append(f"{marts} marts, run ids {run_ids}")
        self.run_ids.update(r for (r,) in run_ids)

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.look()


def copy_landing(source: Path, target: Path, leave_out: str) -> list[Path]:
    """Copy the landing; files whose name has ``leave_out`` wait in ``held/``."""
    held = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        inside = path.relative_to(source)
        if leave_out in path.name:
            destination = target.parent / "held" / inside
            held.append(inside)
        else:
            destination = target / inside
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    return held


def land_held(place: Place, held: list[Path]) -> None:
    for inside in held:
        destination = place.landing / inside
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(place.root / "held" / inside, destination)
