"""Every staging, intermediate and marts model is documented, down to its columns.

Reads target/manifest.json (the ``dbt_manifest`` fixture, re-parsed when a file of the dbt project
is newer), so it needs no warehouse. Guards: each model has a description and at least
one documented column, each documented column a non-empty description (doc blocks rendered),
and each mart, the BI contract, an enforced dbt contract with a data_type on every column.

What it cannot see offline: a column the SQL produces but the yml does not list. For the marts
the enforced contract covers that, since dbt refuses to build a mart whose columns differ from
its yml (tests/dbt/test_marts.py builds them with ``--empty``); staging and intermediate
columns would need a built warehouse to compare with, which this fast test does not build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("staging", "intermediate", "marts")


@pytest.fixture(scope="module")
def models(dbt_manifest: Path) -> dict[str, dict[str, Any]]:
    """The manifest's model nodes under models/<layer>/, by name."""
    nodes = json.loads(dbt_manifest.read_text())["nodes"].values()
    return {
        node["name"]: node
        for node in nodes
        if node["resource_type"] == "model" and layer_of(node) in LAYERS
    }


def layer_of(node: dict[str, Any]) -> str:
    parts = Path(node["original_file_path"]).parts
    return parts[2] if parts[:2] == ("dbt_project", "models") and len(parts) > 3 else ""


def test_every_layer_has_models(models):
    assert {layer_of(node) for node in models.values()} == set(LAYERS)


def test_every_model_has_a_description(models):
    missing = sorted(name for name, node in models.items() if not node["description"].strip())
    assert missing == [], f"models without a description: {', '.join(missing)}"


def test_every_model_documents_its_columns(models):
    missing = sorted(name for name, node in models.items() if not node["columns"])
    assert missing == [], f"models without documented columns: {', '.join(missing)}"


def test_every_documented_column_has_a_description(models):
    missing = sorted(
        f"{name}.{column}"
        for name, node in models.items()
        for column, spec in node["columns"].items()
        if not (spec.get("description") or "").strip()
    )
    assert missing == [], f"columns without a description: {', '.join(missing)}"


def test_descriptions_have_no_unrendered_jinja(models):
    texts = {
        f"{name}.{column}": spec.get("description") or ""
        for name, node in models.items()
        for column, spec in {"<model>": node, **node["columns"]}.items()
    }
    unrendered = sorted(where for where, text in texts.items() if "{{" in text or "{%" in text)
    assert unrendered == [], f"descriptions with unrendered jinja: {', '.join(unrendered)}"


def test_every_mart_enforces_its_contract_with_typed_columns(models):
    marts = {name: node for name, node in models.items() if layer_of(node) == "marts"}
    unenforced = sorted(name for name, node in marts.items() if not node["contract"]["enforced"])
    assert unenforced == [], f"marts without an enforced contract: {', '.join(unenforced)}"
    untyped = sorted(
        f"{name}.{column}"
        for name, node in marts.items()
        for column, spec in node["columns"].items()
        if not spec.get("data_type")
    )
    assert untyped == [], f"mart columns without a data_type: {', '.join(untyped)}"
