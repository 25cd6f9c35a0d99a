"""Where skillgap keeps its files, from environment variables with defaults for a fresh clone.

Every part of skillgap (the dbt profile, the Dagster resources, the sample-data generator, the
Makefile) reads the same variables with the same defaults. Relative paths are relative to the
repository root, so commands behave the same from any working directory. Nothing here reads the
environment at import time: call :func:`load_settings` when the values are needed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

DEFAULTS = {
    "SKILLGAP_LANDING_DIR": "data/landing",
    "SKILLGAP_WAREHOUSE": "data/warehouse.duckdb",
    "SKILLGAP_SERVING": "data/serving.duckdb",
    "DAGSTER_HOME": "data/dagster_home",
    "SKILLGAP_SPARK_HOME": "data/spark",
}
ENGINES = ("duckdb", "spark")
# DuckDB's memory limit in dbt (profiles.yml, which repeats this default) and in the file
# ingest: beyond it DuckDB spills to disk, so a statements file of any size loads within it.
DUCKDB_MEMORY_LIMIT = "6GB"


def is_uri(landing) -> bool:
    """A landing given as ``scheme://...`` (read by Spark through Hadoop), not a local folder."""
    return isinstance(landing, str) and "://" in landing


@dataclass(frozen=True)
class Settings:
    """Absolute paths of the landing folder, the warehouse, the serving file and DAGSTER_HOME.

    The landing folder may also be a URI (``s3a://bucket/landing``) on the spark engine.
    """

    landing_dir: Path | str
    warehouse: Path
    serving: Path
    dagster_home: Path
    # duckdb (embedded, the default) or spark (docs/scale-out.md)
    engine: str = "duckdb"
    # spark engine: metastore, warehouse and conf of the local Spark; its master
    spark_home: Path = REPO_ROOT / DEFAULTS["SKILLGAP_SPARK_HOME"]
    spark_master: str = "local[2]"
    # $SKILLGAP_DUCKDB_MEMORY_LIMIT (DuckDB's syntax); dbt reads the variable itself
    duckdb_memory_limit: str = DUCKDB_MEMORY_LIMIT

    def as_env(self) -> dict[str, str]:
        """The variables to export so that child processes (dbt, dagster) agree with us."""
        return {
            "SKILLGAP_LANDING_DIR": str(self.landing_dir),
            "SKILLGAP_WAREHOUSE": str(self.warehouse),
            "SKILLGAP_SERVING": str(self.serving),
            "DAGSTER_HOME": str(self.dagster_home),
            "SKILLGAP_ENGINE": self.engine,
            "SKILLGAP_SPARK_HOME": str(self.spark_home),
            "SKILLGAP_SPARK_MASTER": self.spark_master,
        }


def resolve_path(value: str, root: Path = REPO_ROOT) -> Path:
    """An absolute path: ``value`` itself when absolute, else relative to ``root``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path).resolve()


def file_uri_path(location: str) -> Path | None:
    """The local path a ``file:`` URI names (``file:/x``, ``file:///x``); None otherwise."""
    parsed = urlparse(location)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def resolve_landing(value: str, engine: str, root: Path = REPO_ROOT) -> Path | str:
    """Where the landing files are: a local folder (an absolute :class:`Path`), or a URI.

    A URI stays a string: the spark engine lists and reads it through Hadoop, so any file
    system Spark is configured for works (docs/scale-out.md). The duckdb engine reads local
    folders only; it takes a ``file://`` URI as the folder it names and refuses any other.
    """
    if not is_uri(value):
        return resolve_path(value, root)
    if engine == "spark":
        return value
    local = file_uri_path(value)
    if local is not None:
        return resolve_path(str(local), root)
    raise ValueError(
        f"SKILLGAP_LANDING_DIR={value!r} is a {urlparse(value).scheme}:// URI, which only the "
        "spark engine reads: set SKILLGAP_ENGINE=spark (docs/scale-out.md) or land the files in a "
        "local folder"
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env

    def get(name: str) -> Path:
        return resolve_path(env.get(name) or DEFAULTS[name])

    engine = env.get("SKILLGAP_ENGINE") or "duckdb"
    if engine not in ENGINES:
        raise ValueError(f"SKILLGAP_ENGINE={engine!r}: choose one of {', '.join(ENGINES)}")
    return Settings(
        engine=engine,
        spark_home=get("SKILLGAP_SPARK_HOME"),
        spark_master=env.get("SKILLGAP_SPARK_MASTER") or "local[2]",
        landing_dir=resolve_landing(
            env.get("SKILLGAP_LANDING_DIR") or DEFAULTS["SKILLGAP_LANDING_DIR"], engine
        ),
        warehouse=get("SKILLGAP_WAREHOUSE"),
        serving=get("SKILLGAP_SERVING"),
        dagster_home=get("DAGSTER_HOME"),
        duckdb_memory_limit=env.get("SKILLGAP_DUCKDB_MEMORY_LIMIT") or DUCKDB_MEMORY_LIMIT,
    )


@functools.cache
def project_vars() -> dict[str, Any]:
    """The dbt vars of ``dbt_project.yml``: the one home of every setting that SQL and Python
    share (reportability thresholds, gain periods), so the two can never disagree."""
    with (REPO_ROOT / "dbt_project.yml").open(encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle)["vars"])
