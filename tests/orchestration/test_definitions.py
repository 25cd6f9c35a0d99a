"""The Dagster definitions load and wire the refresh as the README promises.

Guards: the asset graph (a snapshot of the sorted asset keys, after dagster-open-platform's
test_defs.py: a new or renamed asset must be added here on purpose), the daily job selecting
every asset, the 05:00 UTC schedule, the landing sensor (off by default; skips without files,
requests a run when files appear or change, skips when nothing changed or a refresh is running)
and the run tag that dagster.yaml uses to keep two refreshes from overlapping.
"""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
import yaml

from orchestration.settings import REPO_ROOT

EXPECTED_ASSET_KEYS = [
    "intermediate/int_attempts_scored",
    "intermediate/int_irt_responses",
    "intermediate/int_item_candidate_skills",
    "irt/calibration_runs",
    "irt/company_gains",
    "irt/group_abilities",
    "irt/item_dif",
    "irt/item_drift",
    "irt/item_parameters",
    "irt/item_skill_assignments",
    "irt/item_versions",
    "irt/learner_abilities",
    "irt/learner_abilities_period_start",
    "irt/learner_ability_history",
    "marts/company_skill_benchmarks",
    "marts/course_recommendations",
    "marts/item_assignments",
    "marts/item_health",
    "marts/learner_skill_percentiles",
    "marts/learner_skill_scores",
    "marts/learning_activity",
    "marts/skill_gains",
    "marts/skill_gaps",
    "marts/top_learners",
    "raw/attempts",
    "raw/companies",
    "raw/course_skills",
    "raw/courses",
    "raw/enrollments",
    "raw/items",
    "raw/learner_identities",
    "raw/learners",
    "raw/load_ledger",
    "raw/lrs_pulls",
    "raw/skills",
    "raw/statements",
    "seeds/company_size_bands",
    "seeds/iso_countries",
    "seeds/role_targets",
    "seeds/skills",
    "serving/marts",
    "staging/stg_attempt_rows",
    "staging/stg_attempts",
    "staging/stg_attempts_landed",
    "staging/stg_attempts_rejected",
    "staging/stg_companies",
    "staging/stg_companies_landed",
    "staging/stg_companies_rejected",
    "staging/stg_course_skills",
    "staging/stg_course_skills_landed",
    "staging/stg_course_skills_rejected",
    "staging/stg_courses",
    "staging/stg_courses_landed",
    "staging/stg_courses_rejected",
    "staging/stg_enrollment_rows",
    "staging/stg_enrollments",
    "staging/stg_enrollments_landed",
    "staging/stg_enrollments_rejected",
    "staging/stg_item_rows",
    "staging/stg_items",
    "staging/stg_items_landed",
    "staging/stg_items_rejected",
    "staging/stg_learner_identities",
    "staging/stg_learner_identities_landed",
    "staging/stg_learner_identities_rejected",
    "staging/stg_learners",
    "staging/stg_learners_landed",
    "staging/stg_learners_rejected",
    "staging/stg_row_accounting",
    "staging/stg_skills",
    "staging/stg_skills_landed",
    "staging/stg_skills_rejected",
    "staging/stg_statement_attempts",
    "staging/stg_statement_enrollments",
    "staging/stg_statement_items",
    "staging/stg_statements_landed",
    "staging/stg_statements_parsed",
]


@pytest.fixture(scope="module")
def defs(dbt_manifest) -> dg.Definitions:
    from orchestration.definitions import defs

    return defs


@pytest.fixture
def landing(tmp_path, monkeypatch):
    """An empty landing folder that the sensor reads through SKILLGAP_LANDING_DIR."""
    folder = tmp_path / "landing"
    folder.mkdir()
    monkeypatch.setenv("SKILLGAP_LANDING_DIR", str(folder))
    return folder


def evaluate_sensor(instance: dg.DagsterInstance, cursor: str | None = None):
    from orchestration.resources import LearningRecordStore
    from orchestration.sensors import new_landing_files_sensor

    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"lrs": LearningRecordStore()}
    )
    return new_landing_files_sensor(context), context.cursor


def test_definitions_load_with_every_asset_key_in_the_snapshot(defs):
    keys = sorted(key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys())
    assert keys == EXPECTED_ASSET_KEYS


def test_daily_refresh_selects_every_asset_and_runs_in_process(defs):
    job = defs.resolve_job_def("daily_refresh")
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert selected == set(EXPECTED_ASSET_KEYS)
    assert job.executor_def.name == "in_process"


def test_schedule_runs_daily_refresh_every_day_at_five_utc(defs):
    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.job_name == "daily_refresh"
    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_refresh_runs_carry_the_tag_that_dagster_yaml_limits_to_one_run(defs):
    from orchestration.jobs import REFRESH_TAG

    limits = yaml.safe_load((REPO_ROOT / "orchestration" / "dagster.yaml").read_text())[
        "concurrency"
    ]["runs"]["tag_concurrency_limits"]
    [(key, value)] = REFRESH_TAG.items()
    assert {"key": key, "limit": 1} in limits
    assert defs.resolve_job_def("daily_refresh").tags[key] == value


def test_landing_sensor_is_off_by_default(defs):
    sensor = defs.resolve_sensor_def("new_landing_files_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "daily_refresh"


def test_landing_sensor_skips_when_the_landing_folder_is_empty(landing):
    with dg.DagsterInstance.ephemeral() as instance:
        result, cursor = evaluate_sensor(instance)
    assert isinstance(result, dg.SkipReason)
    assert "no files" in result.skip_message
    assert cursor is None


def test_landing_sensor_requests_a_tagged_run_when_files_appear_and_skips_when_unchanged(
    landing,
):
    from orchestration.jobs import REFRESH_TAG

    (landing / "learners").mkdir()
    (landing / "learners" / "day1.csv").write_text("learner_id,company_id\nL1,C1\n")
    with dg.DagsterInstance.ephemeral() as instance:
        request, cursor = evaluate_sensor(instance)
        assert isinstance(request, dg.RunRequest)
        assert request.run_key == cursor
        assert request.tags.items() >= REFRESH_TAG.items()

        unchanged, same_cursor = evaluate_sensor(instance, cursor)
        assert isinstance(unchanged, dg.SkipReason)
        assert same_cursor == cursor

        (landing / "learners" / "day2.csv").write_text("learner_id,company_id\nL2,C1\n")
        again, new_cursor = evaluate_sensor(instance, cursor)
        assert isinstance(again, dg.RunRequest)
        assert new_cursor != cursor


def test_landing_sensor_waits_while_a_refresh_is_running(landing):
    (landing / "learners").mkdir()
    (landing / "learners" / "day1.csv").write_text("learner_id,company_id\nL1,C1\n")
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_run(
            dg.DagsterRun(
                job_name="daily_refresh",
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.STARTED,
            )
        )
        result, cursor = evaluate_sensor(instance)
    assert isinstance(result, dg.SkipReason)
    assert "running" in result.skip_message
    # The cursor is not advanced, so the files trigger a run once the refresh is over.
    assert cursor is None


def test_weekly_full_checks_run_every_test_on_whole_tables_and_dif_on_every_skill(defs):
    """The weekly schedule's run config is valid for daily_refresh and asks dbt for every
    row (var data_tests_scope all) and the IRT stage for DIF on every skill; a daily run's
    defaults scope the tests to its own rows."""
    from orchestration.assets.dbt import DbtBuildConfig, build_args
    from orchestration.jobs import FULL_CHECKS_CONFIG
    from orchestration.settings import project_vars

    schedule = defs.resolve_schedule_def("weekly_full_checks")
    assert schedule.job_name == "daily_refresh" and schedule.cron_schedule == "0 4 * * 0"
    assert dg.validate_run_config(defs.resolve_job_def("daily_refresh"), FULL_CHECKS_CONFIG)
    ops = FULL_CHECKS_CONFIG["ops"]
    assert ops["irt_calibration"]["config"] == {"full_item_health": True}
    weekly = build_args(DbtBuildConfig(**ops["dbt_staging"]["config"]))
    assert weekly[weekly.index("--vars") + 1] == '{"data_tests_scope": "all"}'
    # A daily run's scope is dbt_project.yml's own: no --vars, so dbt parses partially.
    assert project_vars()["data_tests_scope"] == "run"
    assert "--vars" not in build_args(DbtBuildConfig())
    with pytest.raises(dg.Failure, match="data_tests"):
        build_args(DbtBuildConfig(data_tests="some"))


def test_full_refresh_and_full_recalibration_are_valid_run_config(defs):
    """The run options the README documents, as `make run ARGS=--full-refresh` sends them."""
    from orchestration.assets.dbt import DbtBuildConfig, build_args

    job = defs.resolve_job_def("daily_refresh")
    run_config = {
        "ops": {
            "dbt_staging": {"config": {"full_refresh": True}},
            "dbt_marts": {"config": {"full_refresh": False}},
            "irt_calibration": {"config": {"full_recalibration": True}},
        }
    }
    assert dg.validate_run_config(job, run_config)
    assert build_args(DbtBuildConfig(full_refresh=True))[-1] == "--full-refresh"
    assert "--full-refresh" not in build_args(DbtBuildConfig())


def test_a_landing_uri_lists_the_same_files_as_the_folder_it_names(tmp_path):
    """The sensor's listing of a URI landing (pyarrow, no JVM) equals the local walk."""
    from orchestration.sensors import landing_entries

    landing = tmp_path / "landing"
    for name in ("learners/day1.csv", "attempts/2026/day1.parquet", "attempts/.tmp.csv"):
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text("x\n")
    (landing / "not_an_entity").mkdir()
    (landing / "not_an_entity" / "f.csv").write_text("x\n")

    local = sorted(landing_entries(landing))
    assert [path for path, _, _ in local] == ["attempts/2026/day1.parquet", "learners/day1.csv"]
    assert sorted(landing_entries(landing.as_uri())) == local


def test_a_landing_uri_is_kept_on_spark_and_refused_on_duckdb_unless_it_is_a_file_uri(tmp_path):
    from orchestration.settings import load_settings

    bucket = "s3a://bucket/landing"
    assert (
        load_settings({"SKILLGAP_ENGINE": "spark", "SKILLGAP_LANDING_DIR": bucket}).landing_dir
        == bucket
    )
    with pytest.raises(ValueError, match=r"SKILLGAP_LANDING_DIR='s3a://bucket/landing'.*spark"):
        load_settings({"SKILLGAP_LANDING_DIR": bucket})
    local = load_settings({"SKILLGAP_LANDING_DIR": tmp_path.as_uri()}).landing_dir
    assert local == tmp_path
