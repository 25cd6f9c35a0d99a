"""The refresh benchmark runs daily_refresh stage by stage: every stage's selection must build
as a job subset (a multi-asset cannot be split) and the stages together must cover the job.
The script is a command line over modules beside it (benchmarks/refresh_*.py)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import date

import pytest

from benchmarks import refresh_stages as stages
from benchmarks.refresh_processes import Measure
from benchmarks.refresh_tables import comparison_lines
from orchestration.settings import REPO_ROOT

STAGES = ("ingest", "staging", "intermediate", "irt_calibrate", "irt_score", "marts", "publish")


@pytest.fixture(scope="module")
def script():
    """benchmarks/refresh.py loaded by its path, as ``python benchmarks/refresh.py`` runs it."""
    spec = importlib.util.spec_from_file_location(
        "refresh_benchmark", REPO_ROOT / "benchmarks" / "refresh.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_stages_build_and_cover_the_job():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_refresh")
    graph = defs.resolve_asset_graph()
    covered = set()
    for stage in STAGES:
        keys = stages.stage_selection(stage).resolve(graph)
        assert keys, stage
        job.get_subset(asset_selection=keys)  # raises when a multi-asset is split
        covered |= keys
    assert covered >= {key for key in job.asset_layer.executable_asset_keys}


def test_two_engines_print_side_by_side_with_their_ratio():
    measure = Measure
    duck = [
        measure("ingest", rows=1_000, seconds=2.0, peak_kb=100 * 1024),
        measure("staging", rows=900, seconds=10.0, peak_kb=300 * 1024),
    ]
    # spark failed after ingest: its staging is missing, not zero
    spark = [measure("ingest", rows=1_000, seconds=8.0, jvm=20.5, peak_kb=900 * 1024)]
    lines = comparison_lines(duck, spark)
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:] if line[0] != "-"}
    assert rows["ingest"] == ["1,000", "2.0", "100", "1,000", "8.0", "20.5", "900", "4.0"]
    assert rows["staging"] == ["900", "10.0", "300", "-", "-", "-", "-", "-"]
    # totals: seconds summed (JVM apart), peak the largest of any stage
    assert rows["refresh"] == ["total", "-", "12.0", "300", "-", "8.0", "20.5", "900", "0.7"]
    assert len({len(line) for line in lines[1:]}) == 1  # the columns line up


def test_rows_are_read_from_the_duckdb_warehouse(tmp_path):
    import duckdb

    from orchestration.settings import load_settings

    warehouse = tmp_path / "warehouse.duckdb"
    reader = stages.Reader(load_settings({"SKILLGAP_WAREHOUSE": str(warehouse)}))
    assert reader.start() is None  # no JVM on duckdb
    assert stages.rows_in("staging", reader) is None  # no warehouse yet
    assert stages.last_load_id(reader) == 0
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.load_ledger (load_id int, entity text, status text, n_rows int)"
        )
        con.execute(
            "insert into raw.load_ledger values (1, 'attempts', 'loaded', 5), "
            "(2, 'attempts', 'loaded', 7), (2, 'learners', 'loaded', 3), (2, 'x', 'failed', 9)"
        )
        con.execute("create table raw.attempts as select range as id from range(4)")
        con.execute("create view raw.attempts_view as select * from raw.attempts")
    assert stages.last_load_id(reader) == 2
    assert stages.ingested_rows(reader, 1) == 10
    assert stages.ingested_rows(reader, 0, "attempts") == 12
    # staging reads all raw tables but the ledger, and no views
    assert stages.rows_in("staging", reader) == 4
    assert stages.rows_in("marts", reader) is None  # irt not built yet


def test_the_script_loads_by_its_path_and_takes_days(script):
    args = script.parse_args(["--size", "XS", "--days", "3"])
    assert (args.size, args.days, args.engine, args.format) == ("XS", 3, "duckdb", "tables")
    assert script.parse_args(["--size", "S", "--keep"]).days is None
    with pytest.raises(SystemExit):
        script.parse_args(["--days", "2", "--full-only"])


def test_days_print_per_stage_with_day_n_over_day_1_and_plot(tmp_path):
    from benchmarks.refresh_days import days_lines, plot_days, report_days
    from benchmarks.refresh_engines import EngineRun

    def day(attempts, history, ingest, staging):
        ingest = Measure("ingest", rows=attempts, seconds=ingest, child={"attempts": attempts})
        return [ingest, Measure("staging", rows=history, seconds=staging)], history

    run = EngineRun("duckdb", held=[date(2026, 4, 1), date(2026, 4, 2), date(2026, 4, 3)])
    for measures, history in (day(50, 1_000, 1.0, 4.0), day(52, 1_052, 1.2, 4.0)):
        run.days.append(measures)
        run.history.append(history)
    lines = days_lines(run)
    assert lines[2].split() == ["1", "2026-04-01", "50", "1,000", "1.0", "4.0", "5.0"]
    assert lines[3].split() == ["2", "2026-04-02", "52", "1,052", "1.2", "4.0", "5.2"]
    assert lines[-1].split() == ["day", "2", "/", "day", "1", "1.20", "1.00", "1.04"]
    png = plot_days(run, tmp_path / "days.png", "test")
    assert png.read_bytes()[:4] == b"\x89PNG"
    report_days(run, tmp_path, "XS", "duckdb")
    assert (tmp_path / "days_duckdb_tables_XS.png").exists()
