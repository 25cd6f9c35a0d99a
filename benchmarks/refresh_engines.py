"""The refresh benchmark on one engine: its folders and environment, the full refresh, then
the held-back days one at a time (and optionally the unsplit job)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from benchmarks.refresh_data import move_day
from benchmarks.refresh_days import run_days
from benchmarks.refresh_processes import Measure, load, run_refresh
from benchmarks.refresh_stages import WHOLE, stages_until
from orchestration.settings import Settings


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
    """The figures of one engine on one landing format: full and daily stage by stage (``daily``
    is the first of ``days``), the unsplit cross-check."""

    engine: str
    activity_format: str = "tables"
    full: list[Measure] = field(default_factory=list)
    daily: list[Measure] = field(default_factory=list)
    whole: list[Measure] = field(default_factory=list)
    # The held-back days in landing order; per day landed, its stages and the history after it.
    held: list[date] = field(default_factory=list)
    days: list[list[Measure]] = field(default_factory=list)
    history: list[int | None] = field(default_factory=list)
    load_before: str = ""
    load_after: str = ""


def engine_folder(workdir: Path, engine: str) -> Path:
    """duckdb in the work folder itself (as before there were two engines), spark beside."""
    return workdir if engine == "duckdb" else workdir / engine


def run_engine(engine: str, workdir: Path, days: list[date], args, activity_format="tables"):
    """Full refresh, then the held-back days one at a time, on ``engine``; optionally the
    unsplit job. ``workdir`` is the format's data folder (``data_folder``)."""
    from orchestration.dbt_project import parse_manifest
    from orchestration.refresh import prepare_environment

    run = EngineRun(engine, activity_format, load_before=load(), held=list(days))
    folder = engine_folder(workdir, engine)
    logs = workdir / "logs" / engine
    settings, env = environment(workdir, folder, engine)
    print(
        f"\n=== engine {engine}, {activity_format} landing: load average {run.load_before}; "
        f"writes in {folder} ==="
    )
    # Whatever a previous run left: the landing folder starts without the held-back days.
    for day in days:
        move_day(settings.landing_dir, workdir / "holdback", day)
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
        run_days(run, stage_ids, env, workdir, settings.landing_dir)
    if args.whole:
        run_whole(run, workdir, folder, settings.landing_dir, days)
    run.load_after = load()
    print(f"=== engine {engine}, {activity_format} landing done: load average {run.load_after} ===")
    return run


def run_whole(run: EngineRun, workdir: Path, folder: Path, landing: Path, days: list[date]):
    """The unsplit job on a second warehouse: full refresh, then the first held-back day."""
    from orchestration.refresh import prepare_environment

    logs = workdir / "logs" / run.engine
    whole_settings, whole_env = environment(workdir, folder / "whole", run.engine)
    reset_warehouse(whole_settings)
    prepare_environment(whole_settings)
    for day in days:
        move_day(landing, workdir / "holdback", day)
    print("unsplit job (cross-check):")
    run.whole += run_refresh([WHOLE], whole_env, logs, "whole_full")
    move_day(workdir / "holdback", landing, days[0])
    run.whole += run_refresh([WHOLE], whole_env, logs, "whole_daily")
    run.whole[0].label, run.whole[-1].label = "whole, full", "whole, daily"
