"""The dbt resource removes dagster-dbt's old invocation folders under target/."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

from orchestration.dbt_project import DBT_EXECUTABLE
from orchestration.resources import (
    INVOCATION_FOLDER_MIN_AGE_SECONDS,
    DbtCli,
    prune_invocation_folders,
)

DAY = INVOCATION_FOLDER_MIN_AGE_SECONDS


def folder(parent: Path, name: str, age_seconds: float) -> Path:
    path = parent / name
    path.mkdir(parents=True)
    (path / "dbt.log").write_text("log")
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def test_keeps_the_newest_per_asset_and_anything_recent(tmp_path):
    # dbt_staging: 5 old folders (ages 2..6 days) and one from an hour ago.
    old = [folder(tmp_path, f"dbt_staging-run{k}-abc{k}", (k + 2) * DAY) for k in range(5)]
    recent = folder(tmp_path, "dbt_staging-runR-abcR", 3600)
    marts = [folder(tmp_path, f"dbt_marts-run{k}-def{k}", (k + 2) * DAY) for k in range(5)]
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")

    removed = prune_invocation_folders(tmp_path, "dbt_staging-", keep=2)

    # The newest two are the recent one and the 2-day-old one; the other four go.
    assert sorted(removed) == sorted(old[1:])
    assert recent.exists() and old[0].exists()
    assert all(not p.exists() for p in old[1:])
    # Another asset's folders and the project's own files are never touched.
    assert all(p.exists() for p in marts) and manifest.exists()


def test_recent_folders_stay_beyond_the_count(tmp_path):
    young = [folder(tmp_path, f"dbt_marts-run{k}-x{k}", 60 * (k + 1)) for k in range(4)]
    assert prune_invocation_folders(tmp_path, "dbt_marts-", keep=1) == []
    assert all(p.exists() for p in young)


def test_each_invocation_prunes_its_asset(tmp_path):
    """The resource's own target path: a new unique folder's parent loses the old ones."""
    target = tmp_path / "target"
    old = [folder(target, f"dbt_marts-run{k}-y{k}", (k + 2) * DAY) for k in range(4)]
    context = SimpleNamespace(
        op_execution_context=SimpleNamespace(op=SimpleNamespace(name="dbt_marts")),
        run=SimpleNamespace(run_id="0123456789"),
    )
    (tmp_path / "dbt_project.yml").write_text("name: probe\n")
    dbt = DbtCli(
        project_dir=str(tmp_path), dbt_executable=str(DBT_EXECUTABLE), keep_invocation_folders=1
    )
    previous = os.environ.get("DBT_TARGET_PATH")
    os.environ["DBT_TARGET_PATH"] = str(target)
    try:
        path = dbt._get_unique_target_path(context=context)
    finally:
        if previous is None:
            os.environ.pop("DBT_TARGET_PATH")
        else:
            os.environ["DBT_TARGET_PATH"] = previous
    assert path.parent == target and path.name.startswith("dbt_marts-0123456-")
    assert [p.exists() for p in old] == [True, False, False, False]
