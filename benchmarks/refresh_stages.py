"""The refresh benchmark's stages, and the child process that runs one of them.

The sizes and the stages of ``daily_refresh`` in the job's order; ``run_stage_child`` executes
one stage (``job.execute_in_process`` with the stage's ``asset_selection``) in the process that
``benchmarks/refresh.py --child-stage`` starts, and writes its figures as JSON for the parent.
``Reader`` counts rows in either engine's warehouse: the stage's rows in, the rows ingest
loaded, the calibration runs.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.settings import Settings

SEED = 7


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


def stages_until(until: str | None) -> list[str]:
    """The stage ids of the job, up to and with ``until`` (all of them when None)."""
    ids = [s for s, _ in STAGES]
    return ids if until is None else ids[: ids.index(until) + 1]


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
