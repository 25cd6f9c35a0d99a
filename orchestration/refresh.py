"""`make run`: the whole refresh, headless, through the same job the daily schedule runs.

Generates the sample dataset when the landing folder holds no file, prepares the dbt manifest,
executes the ``daily_refresh`` job against the persistent Dagster instance in ``$DAGSTER_HOME``
(so the run shows up in ``dagster dev``), then prints what needs attention (failed files, checks
that did not pass), rows per layer and where things are. The terminal gets one line per stage;
the full Dagster and dbt logs go to a file under ``data/logs/`` (``--verbose`` streams them).
Exits non-zero when the refresh fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import IO

import dagster as dg
import duckdb

from orchestration import refresh_guard
from orchestration.assets.ingest import ALL_LOADED_CHECK, LRS_CHECK
from orchestration.dbt_project import parse_manifest
from orchestration.ingest import unresolved_failures
from orchestration.run_console import RunConsole, output_to_file, timed_stage
from orchestration.settings import REPO_ROOT, Settings, is_uri, load_settings

LANDING_CHECK = ALL_LOADED_CHECK.name
LAYERS = ("raw", "staging", "intermediate", "irt", "marts")


def needs_sample(landing: Path | str) -> bool:
    """An empty local landing folder gets the sample data; a URI is never written to."""
    if is_uri(landing):
        return False
    return not (landing.is_dir() and any(p.is_file() for p in landing.rglob("*")))


def generate_sample(landing: Path, out: IO[str]) -> None:
    """The embedded sample (the generator's defaults) into ``landing``, its truth beside it.

    The generator is a tool beside the pipeline, not part of it: it runs as its own process,
    ``python -m sample_data``, so the pipeline never imports it. Its output goes to ``out``."""
    cmd = [sys.executable, "-m", "sample_data", "--out", str(landing)]
    cmd += ["--truth", str(landing.parent / "truth")]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    out.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"generating the sample data failed ({' '.join(cmd)}): {done.stderr}")


def prepare_environment(settings: Settings) -> None:
    """Export absolute paths for child processes and give DAGSTER_HOME its dagster.yaml."""
    os.environ.update(settings.as_env())
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    instance_yaml = settings.dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        shutil.copy(REPO_ROOT / "orchestration" / "dagster.yaml", instance_yaml)


def layer_summary(warehouse: Path) -> list[tuple[str, int, int]]:
    """(schema, tables, rows) for each warehouse layer."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        ).fetchall()
        summary = []
        for layer in LAYERS:
            names = [t for s, t in tables if s == layer]
            rows = sum(
                con.execute(f'select count(*) from "{layer}"."{t}"').fetchone()[0] for t in names
            )
            summary.append((layer, len(names), rows))
        return summary
    finally:
        con.close()


def accounting(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select entity, n_landed, n_cleaned, n_superseded, n_rejected, n_exact_duplicates "
            "from staging.stg_row_accounting order by entity"
        ).fetchall()
    except duckdb.Error:
        return []
    finally:
        con.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-sample",
        action="store_true",
        help="do not generate sample data even when the landing folder is empty",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental dbt models from the raw tables (dbt --full-refresh)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="stream the full Dagster and dbt logs to the terminal instead of a log file",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="when another refresh is running, wait for it to end instead of exiting",
    )
    return parser.parse_args(argv)


def run_config(full_refresh: bool) -> dict:
    return {
        # The step-by-step DEBUG events belong in the UI; the log gets INFO and up.
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
        "ops": {
            name: {"config": {"full_refresh": full_refresh}}
            for name in ("dbt_staging", "dbt_marts")
        },
    }


def execute_refresh(
    full_refresh: bool, out: IO[str], live: bool
) -> tuple[dg.ExecuteInProcessResult, RunConsole]:
    """Run ``daily_refresh`` in this process, one line per step to ``out`` as each ends."""
    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_refresh")
    # dbt steps get their progress from how many assets each materializes.
    totals = {a.op.name: len(a.keys) for a in defs.assets if isinstance(a, dg.AssetsDefinition)}
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.get() as instance:
        console = RunConsole(instance, run_id, out, live=live, totals=totals)
        with console.following(), refresh_guard.running(instance, run_id, out) as tags:
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_id=run_id,
                run_config=run_config(full_refresh),
                tags=tags,
            )
    return result, console


def refresh(args: argparse.Namespace, settings: Settings, out: IO[str], live: bool):
    """Sample data when needed, the manifest, the job; each a stage line on ``out``."""
    if not args.skip_sample and needs_sample(settings.landing_dir):
        out.write(f"Landing folder {settings.landing_dir} is empty: generating the sample data.\n")
        with timed_stage(out, "sample data"):
            generate_sample(settings.landing_dir, out)
    with timed_stage(out, "dbt parse"):
        parse_manifest()
    return execute_refresh(args.full_refresh, out, live)


def warehouse_attention(warehouse: Path) -> list[str]:
    """Lines about the data itself: no attempt at all, statements conflicting with others."""
    if not warehouse.exists():
        return []
    lines = []
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            (n_attempts,) = con.execute("select count(*) from staging.stg_attempts").fetchone()
            if n_attempts == 0:
                lines.append(
                    "NO ATTEMPTS      the warehouse holds no cleaned attempt: nothing can be "
                    "scored (attempts land in attempts/ or as statements in statements/)"
                )
            conflicts = con.execute(
                "select statement_id, source_file from staging.stg_statements_landed "
                "where outcome = 'conflict' order by load_id, row_number"
            ).fetchall()
            lines += lrs_attention(con)
    except duckdb.Error:
        return lines
    if conflicts:
        shown = ", ".join(f"{sid} ({path})" for sid, path in conflicts[:3])
        more = f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        lines.append(
            f"STATEMENT CONFLICT {len(conflicts)} statements reuse an id with other content; "
            f"the first stored copy stays: {shown}{more} (staging.stg_statements_landed)"
        )
    return lines


# The latest pull of each LRS, when it did not read to the end (raw.lrs_pulls).
FAILED_PULLS_SQL = """
select lrs_url, error, statements_new from raw.lrs_pulls
qualify row_number() over (partition by lrs_url order by pull_id desc) = 1
    and status = 'failed'
"""


def lrs_attention(con: duckdb.DuckDBPyConnection) -> list[str]:
    """A line for each LRS whose latest pull failed: the error, and what was kept."""
    try:
        failed = con.execute(FAILED_PULLS_SQL).fetchall()
    except duckdb.CatalogException:
        return []  # no LRS was ever pulled
    return [
        f"LRS NOT READ     {error}; the landing files loaded, {new} new statements of this "
        "pull were kept, and the next refresh resumes the pull"
        for _, error, new in failed
    ]


def print_attention(
    console: RunConsole, failed_files: list[tuple[str, str]], data_lines: list[str] = ()
) -> None:
    """What a person must look at, first: files that did not load, checks that did not pass,
    and what the data lacks."""
    if not failed_files and not console.problems and not data_lines:
        return
    print()
    print("Needs attention:")
    for line in data_lines:
        print(f"  {line}")
    for file_path, error in failed_files:
        # Ingest errors already start with the file's path.
        message = error if error.startswith(file_path) else f"{file_path}: {error}"
        print(f"  FILE NOT LOADED  {message}")
    for problem in console.problems:
        if failed_files and problem.name == LANDING_CHECK:
            continue  # the files themselves are listed above
        if problem.name == LRS_CHECK.name and any(line.startswith("LRS") for line in data_lines):
            continue  # the LRS line above says it
        kind = "CHECK WARNS " if problem.severity == "WARN" else "CHECK FAILED"
        description = textwrap.shorten(problem.description, 200, placeholder=" ...")
        print(f"  {kind}     {problem.asset} {problem.name}: {description}")


def print_tables(warehouse: Path, engine: str = "duckdb") -> None:
    if engine == "spark":
        from orchestration.spark import warehouse as spark_warehouse
        from orchestration.spark.session import get_spark

        layers = spark_warehouse.layer_summary(get_spark(), LAYERS)
        rows = spark_warehouse.accounting(get_spark())
    else:
        layers, rows = layer_summary(warehouse), accounting(warehouse)
    print(f"{'layer':<14}{'tables':>8}{'rows':>14}")
    for layer, n_tables, n_rows in layers:
        print(f"{layer:<14}{n_tables:>8}{n_rows:>14,}")
    if rows:
        print()
        print(
            f"{'entity':<15}{'landed':>12}{'cleaned':>12}{'superseded':>12}"
            f"{'rejected':>10}{'exact dup':>10}"
        )
        widths = (12, 12, 12, 10, 10)
        for entity, *counts in rows:
            print(
                f"{entity:<15}" + "".join(f"{c:>{w},}" for c, w in zip(counts, widths, strict=True))
            )


def failed_landing_files(settings: Settings) -> list[tuple[str, str]]:
    if settings.engine == "spark":
        from orchestration.ingest.spark_loader import unresolved_failures_spark
        from orchestration.spark.session import get_spark

        return unresolved_failures_spark(get_spark(), settings.landing_dir)
    if not settings.warehouse.exists():
        return []
    try:
        # Not read-only: unresolved_failures creates the ledger of an empty warehouse.
        with duckdb.connect(str(settings.warehouse)) as con:
            return unresolved_failures(con, settings.landing_dir)
    except duckdb.Error:
        return []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    prepare_environment(settings)
    # Exits naming the refresh that runs already; clears the runs killed before this one.
    recovered = refresh_guard.start_refresh(args.wait, settings.serving)
    started = time.perf_counter()
    log_path = None
    if args.verbose:
        result, console = refresh(args, settings, sys.stdout, live=False)
    else:
        log_path = (
            settings.warehouse.parent / "logs" / f"refresh-{time.strftime('%Y%m%d-%H%M%S')}.log"
        )
        live = sys.stdout.isatty()
        with output_to_file(log_path) as terminal:
            result, console = refresh(args, settings, terminal, live)
    seconds = time.perf_counter() - started

    print()
    print(
        f"Refresh {'succeeded' if result.success else 'FAILED'} in {seconds:.0f} s "
        f"(run {result.run_id})."
    )
    data_lines = [] if settings.engine == "spark" else warehouse_attention(settings.warehouse)
    data_lines = recovered + data_lines
    print_attention(console, failed_landing_files(settings), data_lines)
    if settings.warehouse.exists() or settings.engine == "spark":
        print()
        print_tables(settings.warehouse, settings.engine)
    print()
    if settings.engine == "spark":
        print(f"Warehouse (spark engine, metastore and Parquet): {settings.spark_home}")
    else:
        print(f"Warehouse: {settings.warehouse}")
    print(f"Serving file for Metabase/Superset (read-only): {settings.serving}")
    print(f"Landing folder: {settings.landing_dir}")
    if log_path is not None:
        print(f"Full Dagster and dbt logs of this run: {log_path}")
    print("Open the asset graph and this run's logs with `make dev` (http://127.0.0.1:3000).")
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                print(f"FAILED: {event.step_key}: {event.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
