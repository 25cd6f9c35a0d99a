"""The marts' SQL semantics, pinned by the dbt unit tests beside each mart.

Guards: percentiles with ties, suppression exactly at the privacy thresholds, trimmed weighting,
band edges and gain significance (see the ``unit_tests`` in dbt_project/models/marts/*.yml).
Unit tests need every upstream relation to exist, so the test builds an empty warehouse: the
raw and irt tables the Python assets would write, then the marts and everything upstream
of them with ``--empty``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
DBT = ROOT / ".venv" / "bin" / "dbt"

RAW_COLUMNS = {
    "skills": ["skill_id", "skill_name", "domain", "parent_skill_id"],
    "companies": [
        "company_id",
        "industry",
        "country",
        "employee_count",
        "company_name",
        "updated_at",
    ],
    "learners": ["learner_id", "company_id", "job_role", "display_name", "updated_at"],
    "courses": ["course_id", "title", "level"],
    "course_skills": ["course_id", "skill_id", "weight"],
    "items": ["item_id", "course_id", "max_score", "item_type", "skill_id"],
    "attempts": [
        "attempt_id",
        "learner_id",
        "item_id",
        "submitted_at",
        "score",
        "attempt_number",
    ],
    "enrollments": ["learner_id", "course_id", "enrolled_at", "completed_at", "grade"],
}

# docs/interfaces.md, section irt.
IRT_TABLES = {
    "item_parameters": """skill_id VARCHAR, item_id VARCHAR, model VARCHAR, slope DOUBLE,
        difficulty DOUBLE, thresholds DOUBLE[], slope_se DOUBLE, difficulty_se DOUBLE,
        n_responses INTEGER, n_categories INTEGER, infit DOUBLE, outfit DOUBLE, flag VARCHAR,
        anchored BOOLEAN, run_id VARCHAR, calibrated_at TIMESTAMP""",
    "calibration_runs": """run_id VARCHAR, skill_id VARCHAR, run_type VARCHAR,
        n_learners INTEGER, n_items INTEGER, n_new_items INTEGER, n_responses INTEGER,
        iterations INTEGER, converged BOOLEAN, loglik DOUBLE, latent_mean DOUBLE,
        latent_var DOUBLE, marginal_reliability DOUBLE, seconds DOUBLE, started_at TIMESTAMP""",
    "item_skill_assignments": """item_id VARCHAR, course_id VARCHAR, skill_id VARCHAR,
        method VARCHAR, n_candidates INTEGER, n_responses INTEGER, confidence DOUBLE,
        evidence VARCHAR, run_id VARCHAR""",
    "learner_abilities": """learner_id VARCHAR, skill_id VARCHAR, company_id VARCHAR,
        theta DOUBLE, theta_se DOUBLE, n_items INTEGER, last_response_at TIMESTAMP,
        scored_at TIMESTAMP, run_id VARCHAR""",
    "learner_ability_history": """learner_id VARCHAR, skill_id VARCHAR, as_of TIMESTAMP,
        theta DOUBLE, theta_se DOUBLE, n_items INTEGER, run_id VARCHAR, scored_at TIMESTAMP""",
}


def create_source_tables(path: Path) -> None:
    """Empty raw.* and irt.* tables, as the ingest and IRT assets create them."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists irt")
        con.execute(
            """create table raw.load_ledger (load_id INTEGER, file_path VARCHAR,
            entity VARCHAR, content_hash VARCHAR, file_format VARCHAR, n_rows BIGINT,
            loaded_at TIMESTAMP, status VARCHAR, error VARCHAR)"""
        )
        for entity, columns in RAW_COLUMNS.items():
            typed = ", ".join(f"{column} VARCHAR" for column in columns)
            con.execute(
                f"create table raw.{entity} ({typed}, _load_id INTEGER,"
                " _source_file VARCHAR, _row_number BIGINT)"
            )
        for table, columns in IRT_TABLES.items():
            con.execute(f"create table irt.{table} ({columns})")


def run_dbt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DBT), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def dbt_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("marts")
    warehouse = tmp / "warehouse.duckdb"
    create_source_tables(warehouse)
    env = {
        **os.environ,
        "SKILLGAP_WAREHOUSE": str(warehouse),
        "DBT_PROFILES_DIR": str(ROOT / "dbt_project"),
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for args in (
        ("seed",),
        # Marts read other marts (learner_skill_scores, skill_gaps...), so they are built too.
        ("run", "--empty", "--select", "+path:dbt_project/models/marts"),
    ):
        result = run_dbt(env, *args)
        assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout}"
    yield env
    shutil.rmtree(tmp, ignore_errors=True)


def test_mart_unit_tests_pass(dbt_env: dict[str, str]) -> None:
    result = run_dbt(dbt_env, "test", "--select", "test_type:unit,path:dbt_project/models/marts")
    assert result.returncode == 0, result.stdout
    assert "PASS=" in result.stdout, result.stdout
