"""The publish asset, last in the graph: the marts into the read-only serving file."""

import warnings
from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.assets.dbt import dbt_marts
from orchestration.publish import publish_marts
from orchestration.resources import Serving, Warehouse

SERVING_KEY = dg.AssetKey(["serving", "marts"])


@dg.asset(
    key=SERVING_KEY,
    deps=list(dbt_marts.keys),
    group_name="serving",
    pool="duckdb",
    kinds={"python", "duckdb"},
    description="The marts copied into the serving file (SKILLGAP_SERVING) that Metabase and "
    "Superset open read-only; replaced atomically, only after every upstream step succeeded.",
)
def serving_marts(
    context: dg.AssetExecutionContext, warehouse: Warehouse, serving: Serving
) -> dg.MaterializeResult:
    sources = None
    if warehouse.engine == "spark":
        from orchestration.spark.warehouse import parquet_sources

        sources = parquet_sources(warehouse.spark(), "marts")
    result = publish_marts(
        None if sources else warehouse.resolved_path(),
        serving.resolved_path(),
        context.run.run_id,
        datetime.now(UTC).replace(tzinfo=None),
        sources=sources,
    )
    context.log.info(f"published {len(result.tables)} marts to {result.path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "bytes": result.bytes,
            "rows": dg.MetadataValue.json(result.tables),
        }
    )


# BI users should not look at data more than a day old without knowing it: the daily schedule
# refreshes every 24 hours, so a serving file older than 26 hours means a refresh was missed.
# Dagster 1.13 marks these builders superseded by FreshnessPolicy, which only the daemon
# evaluates; an explicit check also runs inside the job and in tests, so it stays (2026-11).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=dg.SupersessionWarning)
    serving_freshness_checks = dg.build_last_update_freshness_checks(
        assets=[serving_marts],
        lower_bound_delta=timedelta(hours=26),
    )
    freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=serving_freshness_checks,
        name="serving_freshness_sensor",
    )
