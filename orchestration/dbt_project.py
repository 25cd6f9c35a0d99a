"""The dbt project as Dagster sees it: where it lives, and how dbt nodes become asset keys.

Asset keys mirror DuckDB as ``[schema, table]`` and the group is the layer, so the Dagster graph
reads like the warehouse. dbt sources name the Python assets that write them through
``meta: dagster: asset_key``, which the default translator already honours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject

from orchestration.settings import REPO_ROOT

DBT_PROJECT = DbtProject(project_dir=REPO_ROOT, profiles_dir=REPO_ROOT / "dbt_project")

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
