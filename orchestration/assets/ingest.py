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
from orchestration.ingest.lrs import pull_statements, read_cursor
from orchestration.progress import progress_logger
from orchestration.resources import Landing, LearningRecordStore, Warehouse
from orchestration.settings import load_settings

LEDGER_KEY = dg.AssetKey(["raw", "load_ledger"])
LRS_KEY = dg.AssetKey(["raw", "lrs_pulls"])
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
        description="Landed xAPI statements and Caliper events, each whole, with lineage: "
        "from statement files and from the LRS pull.",
        kinds=KINDS,
        # the pull writes into raw.statements too: it runs first
        deps=[LRS_KEY],
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
        with warehouse.connect(memory_limit=load_settings().duckdb_memory_limit) as con:
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


LRS_CHECK = dg.AssetCheckSpec(
    "lrs_pull_complete",
    asset=LRS_KEY,
    description="The pull read the LRS to its end (or no LRS is configured): it answered and "
    "took the credentials.",
    blocking=False,
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            LRS_KEY,
            kinds=KINDS,
            description="Statements pulled from the Learning Record Store at SKILLGAP_LRS_URL "
            "into raw.statements, each exactly once; one row per pull (status, statements "
            "read and new, error). Nothing to do when no LRS is configured.",
        )
    ],
    check_specs=[LRS_CHECK],
    group_name="ingest",
    pool="duckdb",
    name="pull_lrs_statements",
)
def pull_lrs_statements(
    context: dg.AssetExecutionContext, warehouse: Warehouse, lrs: LearningRecordStore
):
    """Pull what the LRS stored since the last pull. An LRS that is down or refuses the
    credentials fails the check, not the refresh: the files still load."""
    config = lrs.lrs_config()
    if config is None:
        yield dg.MaterializeResult(
            asset_key=LRS_KEY, metadata={"lrs": "not configured (SKILLGAP_LRS_URL)"}
        )
        yield dg.AssetCheckResult(
            check_name=LRS_CHECK.name, asset_key=LRS_KEY, passed=True, description="no LRS"
        )
        return
    if warehouse.engine == "spark":
        message = "the LRS pull runs on the duckdb engine only in this version"
        yield dg.MaterializeResult(asset_key=LRS_KEY, metadata={"lrs": config.url})
        yield dg.AssetCheckResult(
            check_name=LRS_CHECK.name, asset_key=LRS_KEY, passed=False, description=message
        )
        return
    with warehouse.connect() as con:
        report = pull_statements(con, config, on_page=lrs_progress(context))
        cursor = read_cursor(con, config.url)
    message = (
        f"LRS {config.url}: {report.statements_new} new statements of {report.statements_read} "
        f"read in {report.pages} pages, {report.batches} batches, {report.seconds:.1f} s"
        + (" (resumed an unfinished pull)" if report.resumed else "")
    )
    (context.log.error if report.error else context.log.info)(report.error or message)
    yield dg.MaterializeResult(
        asset_key=LRS_KEY,
        metadata={
            "lrs": config.url,
            "status": report.status,
            "paging": report.paging or "not known yet",
            "statements_new": report.statements_new,
            "statements_read": report.statements_read,
            "pages": report.pages,
            "seconds": round(report.seconds, 2),
            # where the next pull starts: the landing sensor asks the LRS what lies beyond
            "cursor_watermark": cursor.watermark.isoformat() if cursor.watermark else "",
            "cursor_last_id": cursor.last_id or "",
        },
    )
    yield dg.AssetCheckResult(
        check_name=LRS_CHECK.name,
        asset_key=LRS_KEY,
        passed=report.error is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=report.error or message,
    )


def lrs_progress(context: dg.AssetExecutionContext):
    """Log the pull's progress every 100 pages."""

    def on_page(report) -> None:
        if report.pages % 100 == 0:
            context.log.info(f"LRS pull: {report.pages} pages read")

    return on_page
