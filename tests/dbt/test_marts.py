"""The marts' SQL semantics and privacy invariants.

Guards: percentiles with ties, suppression exactly at the privacy thresholds, trimmed weighting,
band edges and gain significance (see the ``unit_tests`` in dbt_project/models/marts/*.yml).
Unit tests need every upstream relation to exist, so the test builds an empty warehouse: the
raw and irt tables the Python assets would write, then the marts and everything upstream
of them with ``--empty``.

The privacy data tests (dbt_project/tests/assert_marts_*.sql) then run on a copy of that
warehouse filled with hand-made rows, one small group per hole of issue 12: five peer companies
whose median would be the middle company's score, a learner peer group of one big company and
four one-learner companies, activity rows of two enrolled or one quiz learner, and a company
whose role-target figures would rest on one learner.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt_project import DbtCommandError, isolated_dbt_env, run_dbt
from orchestration.ingest import ensure_raw_schema
from orchestration.irt.tables import ensure_irt_schema

pytestmark = pytest.mark.slow  # dbt builds of the marts on a small warehouse: about 40 s

ROOT = Path(__file__).resolve().parents[2]


def create_source_tables(path: Path) -> None:
    """Empty raw.* and irt.* tables, created by the same code as the ingest and IRT assets."""
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)
        ensure_irt_schema(con)


@pytest.fixture(scope="module")
def dbt_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("marts")
    warehouse = tmp / "warehouse.duckdb"
    create_source_tables(warehouse)
    env = isolated_dbt_env(warehouse, tmp)
    for args in (
        ("seed",),
        # Marts read other marts (learner_skill_scores, skill_gaps...), so they are built too.
        ("run", "--empty", "--select", "+path:dbt_project/models/marts"),
    ):
        run_dbt(*args, env=env)
    yield env
    shutil.rmtree(tmp, ignore_errors=True)


def test_mart_unit_tests_pass(dbt_env: dict[str, str]) -> None:
    output = run_dbt(
        "test", "--select", "test_type:unit,path:dbt_project/models/marts", env=dbt_env
    )
    assert "PASS=" in output, output


# sql: companies A-E (one industry, country and size band), five reportable learners each, all
# at the company's theta. The middle company is C (0.0): a plain median would publish its score.
COMPANY_THETAS = {"A": -1.0, "B": -0.4, "C": 0.0, "D": 0.6, "E": 1.2}
# python: A's five learners and one learner in each of B-E. Only A has min_company_learners.
PYTHON_THETAS = {"A": [0.0, 0.2, 0.4, 0.6, 0.8], "B": [0.1], "C": [0.3], "D": [0.5], "E": [0.7]}


def fill_small_groups(path: Path) -> None:
    """Staging and irt rows for the privacy scenarios (see the module docstring)."""
    scored_at = dt.datetime(2026, 3, 1)
    with duckdb.connect(str(path)) as con:
        for company in COMPANY_THETAS:
            con.execute(
                "insert into staging.stg_companies (company_id, industry, country, size_band) "
                "values (?, 'tech', 'DE', '1-49')",
                [company],
            )
        abilities = []
        for company, theta in COMPANY_THETAS.items():
            for i in range(1, 6):
                # A1 is A's only learner with a role target for sql (data_analyst, 320).
                job_role = "data_analyst" if (company, i) == ("A", 1) else None
                con.execute(
                    "insert into staging.stg_learners (learner_id, company_id, job_role) "
                    "values (?, ?, ?)",
                    [f"{company}{i}", company, job_role],
                )
                abilities.append((f"{company}{i}", "sql", company, theta))
        for company, thetas in PYTHON_THETAS.items():
            for i, theta in enumerate(thetas, start=1):
                abilities.append((f"{company}{i}", "python", company, theta))
        con.executemany(
            "insert into irt.learner_abilities (learner_id, skill_id, company_id, theta, theta_se, "
            "n_items, n_responses, last_response_at, scored_at, run_id) "
            "values (?, ?, ?, ?, 0.3, 10, 10, ?, ?, 'run-1')",
            [(*row, scored_at, scored_at) for row in abilities],
        )
        # The company scores the IRT scoring run would estimate from these learners.
        con.execute(
            "insert into irt.group_abilities (skill_id, group_type, group_value, theta, theta_se, "
            "n_learners, as_of, scored_at, run_id) select skill_id, 'company', company_id, "
            "avg(theta), 0.3 / sqrt(count(*)), count(*), ?, ?, 'run-1' "
            "from irt.learner_abilities group by skill_id, company_id",
            [scored_at, scored_at],
        )
        con.execute(
            "insert into staging.stg_courses (course_id, title) values "
            "('k1', 'SQL basics'), ('k2', 'SQL joins')"
        )
        con.execute(
            "insert into staging.stg_items (item_id, course_id, max_score, item_type) values "
            "('q1', 'k1', 1, 'quiz'), ('q2', 'k2', 1, 'quiz')"
        )
        # k1, January: 2 enrollments (one completed) but 5 quiz learners.
        # k2, February: 5 enrollments but 1 quiz learner.
        con.execute(
            "insert into staging.stg_enrollments "
            "(learner_id, course_id, enrolled_at, completed_at) "
            "values ('A1', 'k1', '2026-01-05', '2026-01-20'), ('A2', 'k1', '2026-01-06', null), "
            "('A1', 'k2', '2026-02-02', null), ('A2', 'k2', '2026-02-02', '2026-02-20'), "
            "('A3', 'k2', '2026-02-02', null), ('A4', 'k2', '2026-02-02', null), "
            "('A5', 'k2', '2026-02-02', null)"
        )
        attempts = [(f"a{i}", f"A{i}", "q1", dt.datetime(2026, 1, 10), 1.0) for i in range(1, 6)]
        attempts.append(("a6", "A1", "q2", dt.datetime(2026, 2, 10), 0.0))
        con.executemany(
            "insert into staging.stg_attempts (attempt_id, learner_id, item_id, submitted_at, "
            "score, max_score, score_normalised, attempt_number) values (?, ?, ?, ?, ?, 1, ?, 1)",
            [(a, lrn, item, at, score, score) for a, lrn, item, at, score in attempts],
        )


@pytest.fixture(scope="module")
def small_groups_env(
    dbt_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The empty warehouse copied, filled with the small groups, and its marts rebuilt."""
    tmp = tmp_path_factory.mktemp("marts_small_groups")
    warehouse = tmp / "warehouse.duckdb"
    shutil.copyfile(dbt_env["SKILLGAP_WAREHOUSE"], warehouse)
    fill_small_groups(warehouse)
    env = {**dbt_env, "SKILLGAP_WAREHOUSE": str(warehouse), "DBT_TARGET_PATH": str(tmp / "target")}
    run_dbt("run", "--select", "path:dbt_project/models/marts", env=env)
    yield env
    shutil.rmtree(tmp, ignore_errors=True)


def test_privacy_data_tests_pass_on_small_groups(small_groups_env: dict[str, str]) -> None:
    run_dbt(
        "test",
        "--select",
        "assert_marts_*",
        "path:dbt_project/models/marts",
        "--exclude",
        "test_type:unit",
        env=small_groups_env,
    )


def test_peer_figure_test_finds_a_median_that_is_one_company_score(
    small_groups_env: dict[str, str], tmp_path: Path
) -> None:
    """The search is not vacuous: a plain median (company C's 250.0) is reported for the four
    other companies, in the peer_median_score and in the gap to it, in all four peer groups."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(small_groups_env["SKILLGAP_WAREHOUSE"], warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update marts.company_skill_benchmarks "
            "set peer_median_score = 250.0, gap_to_peer_median = 250.0 - company_score "
            "where skill_id = 'sql' and not is_suppressed"
        )
    env = {**small_groups_env, "SKILLGAP_WAREHOUSE": str(warehouse)}
    with pytest.raises(DbtCommandError) as failed:
        run_dbt("test", "--select", "assert_marts_no_peer_figure_equals_one_other_company", env=env)
    assert "Got 32 results" in str(failed.value), failed.value
