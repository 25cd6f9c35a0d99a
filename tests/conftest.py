"""Shared fixtures: the dbt manifest that ``orchestration.definitions`` is built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.dbt_project import MANIFEST, parse_manifest
from orchestration.settings import REPO_ROOT

PROJECT_FILES = ("*.yml", "*.md", "*.sql", "*.csv")


def manifest_is_stale() -> bool:
    """True when the manifest is missing or older than a file of the dbt project."""
    if not MANIFEST.exists():
        return True
    built = MANIFEST.stat().st_mtime
    sources = [REPO_ROOT / "dbt_project.yml"] + [
        path
        for folder in ("dbt_project", "seeds")
        for pattern in PROJECT_FILES
        for path in (REPO_ROOT / folder).rglob(pattern)
    ]
    return any(path.stat().st_mtime > built for path in sources)


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """target/manifest.json, re-parsed once when stale (``make test`` parses it beforehand)."""
    return parse_manifest() if manifest_is_stale() else MANIFEST
