"""The refresh benchmark runs daily_refresh stage by stage: every stage's selection must build
as a job subset (a multi-asset cannot be split) and the stages together must cover the job."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from orchestration.settings import REPO_ROOT

STAGES = ("ingest", "staging", "intermediate", "irt_calibrate", "irt_score", "marts", "publish")


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location(
        "refresh_benchmark", REPO_ROOT / "benchmarks" / "refresh.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_stages_build_and_cover_the_job(benchmark):
    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_refresh")
    graph = defs.resolve_asset_graph()
    covered = set()
    for stage in STAGES:
        keys = benchmark.stage_selection(stage).resolve(graph)
        assert keys, stage
        job.get_subset(asset_selection=keys)  # raises when a multi-asset is split
        covered |= keys
    assert covered >= {key for key in job.asset_layer.executable_asset_keys}
