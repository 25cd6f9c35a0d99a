"""dbt models as Dagster assets, in two pieces around the Python IRT assets.

Staging and intermediate models feed the IRT assets, whose tables the marts read; one dbt
multi-asset for all models would put the IRT assets both after and before it. So the project is
split: everything but the marts, then the marts. ``dbt build`` runs each model's tests right
after it, and dagster-dbt reports them as asset checks. ``@dbt_assets`` takes no ``kinds``:
dagster-dbt gives every dbt asset the kinds dbt and the adapter's type (duckdb).
"""

import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt_project import DBT_PROJECT, SkillgapTranslator
from orchestration.settings import load_settings, project_vars

MARTS_SELECTION = "marts"
# dbt unit tests pin SQL semantics on fixed rows: they run in `make test`, not on every refresh
# (22 of them took 17 s of a refresh's marts stage). "buildable" runs a data test only when
# every model it reads is built in the same invocation, so a partial materialisation from the
# UI never tests a table that does not exist yet. --no-write-json: nothing reads a build's
# manifest.json and run_results.json (Dagster reads dbt's event stream; the assets are defined
# from `dbt parse`'s manifest), and writing them took about 1 s of every build.
BUILD_ARGS = [
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--indirect-selection",
    "buildable",
    "--no-write-json",
]


class DbtBuildConfig(dg.Config):
    """Run options of the dbt assets (Launchpad: ops.dbt_staging.config / dbt_marts.config)."""

    # The attempt models are incremental (README: incremental attempts); a full refresh
    # rebuilds them from the raw tables, e.g. after changing a cleaning rule or the var
    # scored_attempt, which only apply to rows decided after the change otherwise.
    full_refresh: bool = False
    # Rows the data tests of the incremental attempt chain read (macro
    # default__get_where_subquery): "run", those this run decided (a day's tests cost what the
    # day brought), or "all", the whole tables (the weekly schedule weekly_full_checks).
    data_tests: str = "run"


DATA_TEST_SCOPES = ("run", "all")


def build_args(config: DbtBuildConfig) -> list[str]:
    """dbt's arguments; on the spark engine, first the Thrift server dbt connects to."""
    if config.data_tests not in DATA_TEST_SCOPES:
        raise dg.Failure(
            f"dbt config data_tests: expected one of {', '.join(DATA_TEST_SCOPES)}, "
            f"got {config.data_tests!r}"
        )
    if load_settings().engine == "spark":
        from orchestration.spark.session import get_spark

        get_spark()
    # The project's own value needs no --vars: any --vars makes dbt parse the whole project
    # again instead of partially (its vars differ from the manifest's), 6 to 8 s per build.
    scope = []
    if config.data_tests != project_vars()["data_tests_scope"]:
        scope = ["--vars", json.dumps({"data_tests_scope": config.data_tests})]
    return BUILD_ARGS + scope + (["--full-refresh"] if config.full_refresh else [])


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    exclude=MARTS_SELECTION,
    dagster_dbt_translator=SkillgapTranslator(),
    name="dbt_staging",
    pool="duckdb",
)
def dbt_staging(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    """Seeds, staging (typed, cleaned, rejected with reasons) and intermediate models."""
    yield from dbt.cli(build_args(config), context=context).stream()


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    select=MARTS_SELECTION,
    dagster_dbt_translator=SkillgapTranslator(),
    name="dbt_marts",
    pool="duckdb",
)
def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    """The BI marts: percentiles by peer group, benchmarks, gaps, recommendations, gains."""
    yield from dbt.cli(build_args(config), context=context).stream()
