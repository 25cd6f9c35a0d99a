"""Shared fixtures: the dbt manifest that ``orchestration.definitions`` is built from, and the
daily refresh run in process (end-to-end and engine tests)."""

from __future__ import annotations

from collections.abc import Callable
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


def _run_daily_refresh(ops: dict | None = None) -> dict[str, bool]:
    import dagster as dg

    from orchestration.definitions import defs

    result = defs.resolve_job_def("daily_refresh").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            **({"ops": ops} if ops else {}),
        },
    )
    failures = [e.message for e in result.all_events if e.is_failure]
    assert result.success, failures
    return {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }


@pytest.fixture(scope="session")
def run_refresh() -> Callable[..., dict[str, bool]]:
    """Run daily_refresh in process on the SKILLGAP_* environment of the moment (``ops``: the
    run config of its ops, optional); fail the test with the failure events unless it
    succeeds; return each asset check's outcome by name."""
    return _run_daily_refresh
