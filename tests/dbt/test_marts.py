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

from orchestration.ingest import ensure_raw_schema
from orchestration.irt_runs import ensure_irt_schema

ROOT = Path(__file__).resolve().parents[2]
DBT = ROOT / ".venv" / "bin" / "dbt"


def create_source_tables(path: Path) -> None:
    """Empty raw.* and irt.* tables, created by the same code as the ingest and IRT assets."""
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)
        ensure_irt_schema(con)


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
