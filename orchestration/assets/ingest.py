"""The ingest asset: new landing files into raw.*, with the load ledger and its check."""

import dagster as dg

from orchestration.ingest import (
    ENTITIES,
    LANDING_FOLDERS,
    STATEMENTS,
    ingest_landing,
    unexpected_folders,
    unresolved_failures,
)
from orchestration.progress import progress_logger
from orchestration.resources import Landing, Warehouse

LEDGER_KEY = dg.AssetKey(["raw", "load_ledger"])
# Python code writing DuckDB tables, as the publish asset (the dbt assets get dbt and duckdb).
KINDS = {"python", "duckdb"}
RAW_SPECS = [
    dg.AssetSpec(
        LEDGER_KEY,
        description="One row per landed file version: load order, status, error.",
        kinds=KINDS,
    ),
    *(
        dg.AssetSpec(
            ["raw", name], description=f"Landed {name} rows as text, with lineage.", kinds=KINDS
        )
        for name in ENTITIES
    ),
    dg.AssetSpec(
        ["raw", STATEMENTS],
        description="Landed xAPI statements and Caliper events, each whole, with lineage.",
        kinds=KINDS,
    ),
]
ALL_LOADED_CHECK = dg.AssetCheckSpec(
    "landing_files_all_loaded",
    asset=LEDGER_KEY,
    description="Every landing file still present was loaded: none failed to parse or lacked "
    "a required column.",
    blocking=False,
)

FOLDERS_READ_CHECK = dg.AssetCheckSpec(
    "landing_folders_all_read",
    asset=LEDGER_KEY,
    description="Every folder and file at the top of the landing is one skillgap reads: "
    "attempts in a misspelt folder would otherwise refresh with nothing in it.",
    blocking=False,
)

TOTALS_SQL = (
    "select entity, sum(n_rows) from raw.load_ledger where status = 'loaded' group by entity"
)


def ingest_on_spark(spark, landing_dir, progress):
    """The spark engine's ingest: the same report, failures and totals, from Spark's ledger."""
    from orchestration.ingest.spark_loader import ingest_landing_spark, unresolved_failures_spark

    report = ingest_landing_spark(spark, landing_dir, progress=progress)
    failures = unresolved_failures_spark(spark, landing_dir)
    return report, failures, {r[0]: r[1] for r in spark.sql(TOTALS_SQL).collect()}


@dg.multi_asset(
    specs=RAW_SPECS,
    check_specs=[ALL_LOADED_CHECK, FOLDERS_READ_CHECK],
    group_name="ingest",
    pool="duckdb",
    name="ingest_landing_files",
)
def ingest_landing_files(context: dg.AssetExecutionContext, warehouse: Warehouse, landing: Landing):
    """Load new landing files, one transaction per file; bad files are recorded, not fatal."""
    landing_dir = landing.resolved_path()
    progress = progress_logger(context.log, "files")
    if warehouse.engine == "spark":
        report, failures, totals = ingest_on_spark(warehouse.spark(), landing_dir, progress)
    else:
        with warehouse.connect() as con:
            report = ingest_landing(con, landing_dir, progress=progress)
            failures = unresolved_failures(con, landing_dir)
            totals = dict(con.execute(TOTALS_SQL).fetchall())
    for result in report.failed:
        context.log.error(result.error)
    context.log.info(
        f"{len(report.loaded)} files loaded ({report.rows_loaded()} rows), "
        f"{len(report.failed)} failed, "
        f"{len(report.renamed)} renamed (rows already loaded), "
        f"{len(report.skipped)} already seen"
    )
    yield dg.MaterializeResult(
        asset_key=LEDGER_KEY,
        metadata={
            "files_loaded": len(report.loaded),
            "files_failed": len(report.failed),
            "files_renamed": len(report.renamed),
            "rows_loaded": report.rows_loaded(),
        },
    )
    for name in (*ENTITIES, STATEMENTS):
        yield dg.MaterializeResult(
            asset_key=["raw", name],
            metadata={
                "rows_loaded_this_run": report.rows_loaded(name),
                "rows_total": int(totals.get(name) or 0),
            },
        )
    yield dg.AssetCheckResult(
        check_name=ALL_LOADED_CHECK.name,
        asset_key=LEDGER_KEY,
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(error for _, error in failures) or "every landing file loaded",
        metadata={"unloaded_files": dg.MetadataValue.json([p for p, _ in failures])},
    )
    unread = [] if isinstance(landing_dir, str) else unexpected_folders(landing_dir)
    yield dg.AssetCheckResult(
        check_name=FOLDERS_READ_CHECK.name,
        asset_key=LEDGER_KEY,
        passed=not unread,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"not read: {', '.join(unread)} (landing folders: {', '.join(LANDING_FOLDERS)})"
            if unread
            else "every top-level folder is a landing folder"
        ),
        metadata={"unread": dg.MetadataValue.json(unread)},
    )
