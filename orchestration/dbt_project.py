"""The dbt project as Dagster sees it: where it lives, and how dbt nodes become asset keys.

Asset keys mirror DuckDB as ``[schema, table]`` and the group is the layer, so the Dagster graph
reads like the warehouse. dbt sources name the Python assets that write them through
``meta: dagster: asset_key``, which the default translator already honours.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject

from orchestration.settings import REPO_ROOT

PROFILES_DIR = REPO_ROOT / "dbt_project"
DBT_PROJECT = DbtProject(project_dir=REPO_ROOT, profiles_dir=PROFILES_DIR)
MANIFEST = REPO_ROOT / "target" / "manifest.json"
# The dbt installed beside this Python, so runs work without the virtualenv on PATH. Every caller
# (the Dagster resource, `make manifest`, `make run`, tests, benchmarks) finds dbt here.
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")

# Seeds are reference data for staging; every other schema is its own group.
GROUP_BY_SCHEMA = {"raw": "ingest", "seeds": "staging"}


class SkillgapTranslator(DagsterDbtTranslator):
    """``[schema, name]`` keys and layer groups for dbt models and seeds."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        schema = dbt_resource_props["schema"]
        return GROUP_BY_SCHEMA.get(schema, schema)


class DbtCommandError(RuntimeError):
    """A dbt command exited non-zero; the message carries dbt's own output."""


def run_dbt(*args: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``dbt <args>`` from the repository root and return its stdout.

    Raises :class:`DbtCommandError` with dbt's output when it fails.
    """
    result = subprocess.run(
        [str(DBT_EXECUTABLE), *args],
        cwd=REPO_ROOT,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DbtCommandError(
            f"dbt {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def parse_manifest(env: Mapping[str, str] | None = None) -> Path:
    """``dbt parse``: write target/manifest.json, which the dbt assets are defined from.

    ``env`` (tests): another environment, such as ``SKILLGAP_ENGINE=spark`` and a
    ``DBT_TARGET_PATH`` of its own, where the manifest then goes.
    """
    run_dbt(
        "parse",
        "--quiet",
        "--project-dir",
        str(REPO_ROOT),
        "--profiles-dir",
        str(PROFILES_DIR),
        env=env,
    )
    if env is not None and env.get("DBT_TARGET_PATH"):
        return Path(env["DBT_TARGET_PATH"]) / "manifest.json"
    return MANIFEST


def isolated_dbt_env(warehouse: Path, workdir: Path) -> dict[str, str]:
    """The environment for a dbt run on ``warehouse`` that keeps its target/ and logs/ in
    ``workdir`` (tests and benchmarks), away from the project's own."""
    return {
        **os.environ,
        "SKILLGAP_WAREHOUSE": str(warehouse),
        "DBT_PROFILES_DIR": str(PROFILES_DIR),
        "DBT_TARGET_PATH": str(workdir / "target"),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


if __name__ == "__main__":  # `make manifest`
    parse_manifest()
