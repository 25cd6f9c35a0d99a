"""The terminal view of `make run`: stage lines from a real run's events, progress, log file."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid

import dagster as dg

from orchestration.progress import Progress, parse_progress, progress_logger, progress_message
from orchestration.run_console import RunConsole, progress_bar
from orchestration.settings import REPO_ROOT


class ListLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)


def test_a_progress_message_reads_back_and_other_lines_do_not() -> None:
    assert parse_progress(progress_message(3, 12, "skills")) == Progress(3, 12, "skills")
    assert parse_progress("3/12 skills") is None
    assert parse_progress(None) is None


def test_progress_is_thinned_but_keeps_the_start_and_the_end() -> None:
    log = ListLog()
    report = progress_logger(log, "files")
    for done in range(1001):
        report(done, 1000)
    parsed = [parse_progress(line) for line in log.lines]
    assert parsed[0] == Progress(0, 1000, "files")
    assert parsed[-1] == Progress(1000, 1000, "files")
    assert len(parsed) <= 45


def test_progress_bar_is_full_at_the_total_and_empty_at_zero() -> None:
    assert progress_bar(0, 10, width=10) == "[..........]"
    assert progress_bar(10, 10, width=10) == "[##########]"
    assert progress_bar(5, 10, width=10) == "[#####.....]"


@dg.asset
def landed(context):  # no annotation: the module has `from __future__ import annotations`
    report = progress_logger(context.log, "files")
    for done in range(4):
        report(done, 3)
    return dg.MaterializeResult(metadata={"files_loaded": 3, "rows_loaded": 1234})


@dg.asset(
    deps=[landed],
    check_specs=[dg.AssetCheckSpec("share_high_enough", asset="scored")],
)
def scored():
    yield dg.MaterializeResult(metadata={"learner_skills": 42})
    yield dg.AssetCheckResult(
        check_name="share_high_enough",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="skills below 0.5: sql",
    )


def test_one_line_per_step_with_its_figures_and_the_checks_that_did_not_pass() -> None:
    job = dg.Definitions(
        assets=[landed, scored],
        jobs=[dg.define_asset_job("both", executor_def=dg.in_process_executor)],
    ).resolve_job_def("both")
    out = io.StringIO()
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.ephemeral() as instance:
        figures = {
            "landed": (("files_loaded", "files loaded"), ("rows_loaded", "rows in")),
            "scored": (("learner_skills", "learner-skills out"),),
        }
        console = RunConsole(instance, run_id, out, live=False, figures=figures)
        with console.following(interval=0.05):
            result = job.execute_in_process(instance=instance, run_id=run_id)
    assert result.success
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("ok landed")
    assert "files loaded 3" in lines[0] and "rows in 1,234" in lines[0]
    assert lines[1].startswith("~~ scored")
    assert "learner-skills out 42" in lines[1] and "checks 0/1 passed" in lines[1]
    [problem] = console.problems
    assert (problem.name, problem.severity, problem.description) == (
        "share_high_enough",
        "WARN",
        "skills below 0.5: sql",
    )


def test_output_of_python_and_child_processes_goes_to_the_log_file(tmp_path) -> None:
    # In a child process: pytest's own capture replaces sys.stdout inside this one.
    log = tmp_path / "logs" / "run.log"
    script = f"""
import subprocess, sys
from pathlib import Path
from orchestration.settings import REPO_ROOT
from orchestration.run_console import output_to_file
with output_to_file(Path({str(log)!r})) as terminal:
    print("from python")
    print("from stderr", file=sys.stderr)
    subprocess.run([sys.executable, "-c", "print('from a child')"], check=True)
    terminal.write("to the terminal\\n")
print("after")
"""
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    text = log.read_text()
    assert "from python" in text and "from stderr" in text and "from a child" in text
    assert "to the terminal" not in text and "after" not in text
    assert shown.stdout == "to the terminal\nafter\n"
