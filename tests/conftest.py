"""Shared fixtures: the dbt manifest that ``orchestration.definitions`` is built from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """target/manifest.json, parsed once when missing (``make test`` parses it beforehand)."""
    manifest = REPO_ROOT / "target" / "manifest.json"
    if not manifest.exists():
        subprocess.run(
            [
                str(Path(sys.executable).with_name("dbt")),
                "parse",
                "--quiet",
                "--project-dir",
                str(REPO_ROOT),
                "--profiles-dir",
                str(REPO_ROOT / "dbt_project"),
            ],
            check=True,
            cwd=REPO_ROOT,
        )
    return manifest
