"""``python -m sample_data``: the documented command writes what ``generate`` writes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from sample_data import generate

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = {"companies": 6, "learners": 150, "days": 5, "seed": 2, "start_date": "2026-03-01"}


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_command_writes_the_same_bytes_as_generate(tmp_path):
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in SMALL.items()]
    done = subprocess.run(
        [sys.executable, "-m", "sample_data", *flags, "--out", str(tmp_path / "cli" / "landing")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("sample data: ")
    generate(tmp_path / "api" / "landing", tmp_path / "api" / "truth", **SMALL)
    assert (tmp_path / "cli" / "truth" / "faults.json").is_file()
    assert _digest(tmp_path / "cli") == _digest(tmp_path / "api")


def test_help_lists_the_flags():
    done = subprocess.run(
        [sys.executable, "-m", "sample_data", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for flag in ("--companies", "--learners", "--days", "--seed", "--out", "--truth"):
        assert flag in done.stdout
    assert "--start-date" in done.stdout
    for flag in ("--dif-items", "--dif-countries", "--leaked-items"):
        assert flag in done.stdout


def test_the_command_passes_the_lies_on(tmp_path):
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in SMALL.items()]
    lies = {"dif_items": 1, "dif_countries": 1, "leaked_items": 1}
    flags += [f"--{name.replace('_', '-')}={value}" for name, value in lies.items()]
    subprocess.run(
        [sys.executable, "-m", "sample_data", *flags, "--out", str(tmp_path / "cli" / "landing")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    generate(tmp_path / "api" / "landing", tmp_path / "api" / "truth", **SMALL, **lies)
    assert (tmp_path / "cli" / "truth" / "item_dif.csv").is_file()
    assert (tmp_path / "cli" / "truth" / "item_leaks.csv").is_file()
    assert _digest(tmp_path / "cli") == _digest(tmp_path / "api")


@pytest.mark.slow
def test_make_run_on_an_empty_landing_writes_the_embedded_sample(tmp_path):
    """orchestration.refresh runs the generator as a child process (the pipeline does not
    import it): the same files and truth as ``generate`` with its defaults."""
    import io

    from orchestration.refresh import generate_sample, needs_sample

    landing = tmp_path / "run" / "landing"
    assert needs_sample(landing)
    out = io.StringIO()
    generate_sample(landing, out)
    assert out.getvalue().startswith("sample data: ")
    assert not needs_sample(landing)
    generate(tmp_path / "api" / "landing", tmp_path / "api" / "truth")
    assert _digest(tmp_path / "run") == _digest(tmp_path / "api")
