"""Everything Dagster knows about skillgap: assets, checks, resources, jobs, schedules."""

from __future__ import annotations

import os

import dagster as dg

from orchestration.assets.dbt import dbt_marts, dbt_staging
from orchestration.assets.ingest import ingest_landing_files, pull_lrs_statements
from orchestration.assets.irt import irt_calibration, irt_scoring
from orchestration.assets.publish import (
    freshness_sensor,
    serving_freshness_checks,
    serving_marts,
)
from orchestration.dbt_project import DBT_EXECUTABLE, DBT_PROJECT
from orchestration.jobs import daily_refresh, daily_refresh_schedule, weekly_full_checks
from orchestration.resources import DbtCli, Landing, LearningRecordStore, Serving, Warehouse
from orchestration.sensors import new_landing_files_sensor

# `dagster dev` parses the dbt project on load with a plain `dbt` from PATH (dagster-dbt's
# preparer takes no executable): make it this virtualenv's.
os.environ["PATH"] = os.pathsep.join([str(DBT_EXECUTABLE.parent), os.environ["PATH"]])
DBT_PROJECT.prepare_if_dev()

defs = dg.Definitions(
    assets=[
        pull_lrs_statements,
        ingest_landing_files,
        dbt_staging,
        irt_calibration,
        irt_scoring,
        dbt_marts,
        serving_marts,
    ],
    asset_checks=[*serving_freshness_checks],
    jobs=[daily_refresh],
    schedules=[daily_refresh_schedule, weekly_full_checks],
    sensors=[new_landing_files_sensor, freshness_sensor],
    resources={
        "warehouse": Warehouse(),
        "landing": Landing(),
        "serving": Serving(),
        "lrs": LearningRecordStore(),
        "dbt": DbtCli(project_dir=DBT_PROJECT, dbt_executable=str(DBT_EXECUTABLE)),
    },
)
