"""The SKILLGAP_* environment of a refresh rooted in one folder, for tests that refresh."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def refresh_environment(root: Path, **extra: str) -> Iterator[None]:
    """Landing ``root/landing``, warehouse, serving file and DAGSTER_HOME under ``root``, plus
    ``extra`` variables; the process environment is restored as it was on leaving."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "SKILLGAP_LANDING_DIR": str(root / "landing"),
            "SKILLGAP_WAREHOUSE": str(root / "warehouse.duckdb"),
            "SKILLGAP_SERVING": str(root / "serving.duckdb"),
            "DAGSTER_HOME": str(root / "dagster_home"),
            **extra,
        }
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
