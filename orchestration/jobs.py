"""The daily refresh: one job over every asset, run in one process, never two at once."""

from __future__ import annotations

import dagster as dg

from orchestration.recovery import clear_dead_runs
from orchestration.refresh_guard import guarded_in_process_executor
from orchestration.settings import load_settings

# Runs carrying this tag are limited to one at a time by the run queue (see dagster.yaml), so a
# scheduled refresh and a sensor-started one never overlap on the single-writer warehouse.
REFRESH_TAG = {"skillgap/refresh": "warehouse"}

# The in-process executor: one process, no per-step start-up cost; the warehouse allows one
# writer anyway, so parallel steps would only queue on the duckdb pool. It first takes the
# refresh lock and clears runs whose process is gone (orchestration/refresh_guard.py).
daily_refresh = dg.define_asset_job(
    name="daily_refresh",
    selection=dg.AssetSelection.all(),
    executor_def=guarded_in_process_executor,
    tags=REFRESH_TAG,
    description="Ingest new landing files, dbt staging, IRT calibration and scoring, marts, "
    "publish the serving file.",
)


def clear_before_request(context, by: str) -> None:
    """Clear dead runs before requesting a refresh: a killed run would keep it queued."""
    for line in clear_dead_runs(context.instance, serving=load_settings().serving, by=by):
        context.log.info(line.strip())


@dg.schedule(
    name="daily_refresh_schedule",
    job=daily_refresh,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 05:00 UTC, after the platforms' nightly exports have landed.",
)
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    clear_before_request(context, " by the daily schedule")
    return dg.RunRequest(tags=REFRESH_TAG)


# The dbt data tests of a daily run read the rows it decided; once a week every test reads its
# whole table (DbtBuildConfig.data_tests) and every skill is tested for DIF, on a Sunday
# before the daily run would start.
FULL_CHECKS_CONFIG = {
    "ops": {
        **{op: {"config": {"data_tests": "all"}} for op in ("dbt_staging", "dbt_marts")},
        # Every skill's items are tested for DIF (a daily run tests the skills whose responses
        # grew by dif_growth since their last test).
        "irt_calibration": {"config": {"full_item_health": True}},
    }
}


@dg.schedule(
    name="weekly_full_checks",
    job=daily_refresh,
    cron_schedule="0 4 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every Sunday at 04:00 UTC: the daily refresh with every dbt data test on "
    "whole tables (a daily run tests the rows it decided) and DIF tested for every skill.",
)
def weekly_full_checks(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    clear_before_request(context, " by the weekly full checks")
    return dg.RunRequest(tags=REFRESH_TAG, run_config=FULL_CHECKS_CONFIG)
