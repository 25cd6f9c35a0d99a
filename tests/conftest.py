"""Shared fixtures: the dbt manifest that ``orchestration.definitions`` is built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.dbt_project import MANIFEST, parse_manifest


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """target/manifest.json, parsed once when missing (``make test`` parses it beforehand)."""
    return MANIFEST if MANIFEST.exists() else parse_manifest()
