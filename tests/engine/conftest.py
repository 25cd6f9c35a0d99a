"""The refresh as the daily schedule runs it, on the SKILLGAP_* environment of the moment."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def _run_daily_refresh() -> dict[str, bool]:
    import dagster as dg

    from orchestration.definitions import defs

    result = defs.resolve_job_def("daily_refresh").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    failures = [e.message for e in result.all_events if e.is_failure]
    assert result.success, failures
    return {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }


@pytest.fixture(scope="session")
def run_refresh() -> Callable[[], dict[str, bool]]:
    return _run_daily_refresh
