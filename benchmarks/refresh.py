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

``--days N`` generates ``days + N`` days, holds back the last N, and after the full refresh
lands them one at a time with the daily refresh after each: per day the seconds per stage and
the history size, ``day N / day 1``, and a PNG of the daily seconds against the history.

The script is the command line; the work is in modules beside it, by job: ``refresh_stages``
(sizes, stages, the child that runs one stage, rows in the warehouse), ``refresh_processes``
(child processes, their seconds and peak memory), ``refresh_data`` (generate, hold back and
land days), ``refresh_engines`` (one engine's full refresh, days and unsplit job),
``refresh_days`` (``--days``: the days table and plot) and ``refresh_tables`` (the tables).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Run as a script (benchmarks/ on the path, not the repository): the modules beside it are
# imported as benchmarks.refresh_*, as the tests import them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.refresh_data import FORMATS, data_folder, prepare_data  # noqa: E402
from benchmarks.refresh_days import report_days  # noqa: E402
from benchmarks.refresh_engines import environment, run_engine  # noqa: E402
from benchmarks.refresh_processes import load, machine  # noqa: E402
from benchmarks.refresh_stages import SEED, SIZES, STAGES, run_stage_child  # noqa: E402
from benchmarks.refresh_tables import (  # noqa: E402
    report_both,
    report_engine,
    report_formats,
    run_name,
)


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
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        metavar="N",
        help="after the full refresh, land N held-back days one at a time, the daily refresh "
        "after each; print seconds per stage per day and plot them against the history (PNG)",
    )
    parser.add_argument("--child-stage", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.days is not None and (args.days < 1 or args.full_only):
        parser.error("--days needs N >= 1 and the daily refresh (not --full-only)")
    return args


def report(runs: list, gens: dict, args: argparse.Namespace, workdir: Path) -> None:
    """Each run's tables (and its days with --days), then engines and formats side by side."""
    for run in runs:
        report_engine(run, gens[run.activity_format])
        if args.days is not None:
            report_days(run, data_folder(workdir, run.activity_format), args.size, run_name(run))
    for key in ("activity_format", "engine"):
        groups: dict[str, list] = {}
        for run in runs:
            groups.setdefault(getattr(run, key), []).append(run)
        for same in groups.values():
            if len(same) == 2:
                (report_both if key == "activity_format" else report_formats)(*same)


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
        f"{size.learners:,} learners, {size.days} days + {args.days or 1} daily "
        f"({size.approx_attempts} "
        f"attempts); seed {SEED}; engines {', '.join(engines)}; landing {', '.join(formats)}"
    )
    print("\n".join(machine()))
    print(f"load average at start: {load()}")
    print(f"work folder: {workdir} (one log per stage in {workdir / 'logs'}/<engine>)")
    started = time.perf_counter()

    runs, gens = [], {}
    for activity_format in formats:
        data = data_folder(workdir, activity_format)
        gens[activity_format], days = prepare_data(size, data, args, env, activity_format)
        runs += [run_engine(e, data, days, args, activity_format) for e in engines]
    if "spark" in engines:
        # The dbt assets are defined from target/manifest.json, parsed for the engine of the
        # last run: leave the project's default (duckdb) one, as make manifest writes it.
        from orchestration.dbt_project import parse_manifest

        parse_manifest({**os.environ, "SKILLGAP_ENGINE": "duckdb"})
    report(runs, gens, args, workdir)
    print()
    print(f"load average at end: {load()}; benchmark took {time.perf_counter() - started:.0f} s")
    print(
        "Note: a shared machine; other processes compete for the CPUs, so read seconds "
        "with the load averages above."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
