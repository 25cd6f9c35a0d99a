"""`make run`: the whole refresh, headless, through the same job the daily schedule runs.

Generates the sample dataset when the landing folder holds no file, prepares the dbt manifest,
executes the ``daily_refresh`` job against the persistent Dagster instance in ``$DAGSTER_HOME``
(so the run shows up in ``dagster dev``), then prints rows per layer and where things are.
Exits non-zero when the refresh fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from orchestration.settings import REPO_ROOT, Settings, load_settings

LAYERS = ("raw", "staging", "intermediate", "irt", "marts")


def landing_has_files(landing_dir: Path) -> bool:
    return landing_dir.is_dir() and any(p.is_file() for p in landing_dir.rglob("*"))


def prepare_environment(settings: Settings) -> None:
    """Export absolute paths for child processes and give DAGSTER_HOME its dagster.yaml."""
    os.environ.update(settings.as_env())
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    instance_yaml = settings.dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        shutil.copy(REPO_ROOT / "orchestration" / "dagster.yaml", instance_yaml)


def prepare_dbt_manifest() -> None:
    """``dbt parse``: the dbt assets are defined from target/manifest.json."""
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [
            str(dbt),
            "parse",
            "--quiet",
            "--project-dir",
            str(REPO_ROOT),
            "--profiles-dir",
            str(REPO_ROOT / "dbt_project"),
        ],
        check=True,
        cwd=REPO_ROOT,
    )


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


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    settings = load_settings()
    prepare_environment(settings)
    started = time.perf_counter()
    if not args.skip_sample and not landing_has_files(settings.landing_dir):
        from sample_data import generate

        print(f"Landing folder {settings.landing_dir} is empty: generating the sample dataset.")
        generate(out_dir=settings.landing_dir, truth_dir=settings.landing_dir.parent / "truth")
    prepare_dbt_manifest()

    import dagster as dg

    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_refresh")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            # The step-by-step DEBUG events belong in the UI; the terminal gets INFO and up.
            run_config={
                "loggers": {"console": {"config": {"log_level": "INFO"}}},
                "ops": {
                    name: {"config": {"full_refresh": args.full_refresh}}
                    for name in ("dbt_staging", "dbt_marts")
                },
            },
        )
    seconds = time.perf_counter() - started

    print()
    print(
        f"Refresh {'succeeded' if result.success else 'FAILED'} in {seconds:.0f} s "
        f"(run {result.run_id})."
    )
    if settings.warehouse.exists():
        print(f"{'layer':<14}{'tables':>8}{'rows':>14}")
        for layer, n_tables, rows in layer_summary(settings.warehouse):
            print(f"{layer:<14}{n_tables:>8}{rows:>14,}")
        rows = accounting(settings.warehouse)
        if rows:
            print()
            print(
                f"{'entity':<15}{'landed':>12}{'cleaned':>12}{'superseded':>12}"
                f"{'rejected':>10}{'exact dup':>10}"
            )
            for entity, *counts in rows:
                print(
                    f"{entity:<15}"
                    + "".join(
                        f"{c:>{w},}" for c, w in zip(counts, (12, 12, 12, 10, 10), strict=True)
                    )
                )
    print()
    print(f"Warehouse: {settings.warehouse}")
    print(f"Serving file for Metabase/Superset (read-only): {settings.serving}")
    print(f"Landing folder: {settings.landing_dir}")
    print("Open the asset graph and this run's logs with `make dev` (http://127.0.0.1:3000).")
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                print(f"FAILED: {event.step_key}: {event.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
