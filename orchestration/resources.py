"""Dagster resources: the DuckDB warehouse and the dbt CLI, configured from SKILLGAP_* variables."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.ingest.lrs_client import LrsConfig
from orchestration.settings import load_settings, resolve_landing


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-up costs of every invocation.

    Before each ``dbt build`` dagster-dbt runs ``dbt --version`` in a subprocess (1.5 s) and
    builds a dbt adapter in this process (2.3 s, measured at S), which only its
    ``fetch_column_metadata`` and ``fetch_row_counts`` use; skillgap calls neither. The dbt
    executable is this virtualenv's (``DBT_EXECUTABLE``), so its version is the installed
    dbt-core's. Issue 24 measured the two as a third of a daily intermediate stage.

    dagster-dbt gives every invocation a folder of its own under target/
    (``<asset>-<run id>-<uuid>``: compiled SQL, dbt.log, a copy of the partial-parse state, about
    4 MB). Left alone they pile up, two a day from the schedule alone; each invocation first
    removes its asset's older folders beyond the newest ``keep_invocation_folders``, never one
    touched in the last day (a build in flight in another process keeps its folder).
    """

    keep_invocation_folders: int = 10

    def _get_unique_target_path(self, *, context):
        path = super()._get_unique_target_path(context=context)
        if context is not None:
            folder = path if path.is_absolute() else Path(self.project_dir) / path
            prune_invocation_folders(
                folder.parent,
                f"{context.op_execution_context.op.name}-",
                self.keep_invocation_folders,
            )
        return path

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None


# An invocation folder touched within this age is never removed, whatever the count.
INVOCATION_FOLDER_MIN_AGE_SECONDS = 24 * 3600


def prune_invocation_folders(parent: Path, prefix: str, keep: int) -> list[Path]:
    """Remove the folders ``parent/<prefix>*`` beyond the ``keep`` newest (by modification
    time) that are older than INVOCATION_FOLDER_MIN_AGE_SECONDS; return those removed."""
    if not parent.is_dir():
        return []
    folders = sorted(
        (p for p in parent.iterdir() if p.name.startswith(prefix) and p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    cutoff = time.time() - INVOCATION_FOLDER_MIN_AGE_SECONDS
    removed = [p for p in folders[max(keep, 0) :] if p.stat().st_mtime < cutoff]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file. Empty ``path`` means ``$SKILLGAP_WAREHOUSE`` (or its default).

    DuckDB allows one writing process per file; every asset that writes holds the ``duckdb``
    pool, so writers never overlap.
    """

    path: str = ""

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path else load_settings().warehouse

    @property
    def engine(self) -> str:
        """``SKILLGAP_ENGINE``: duckdb, or spark (the warehouse is Spark's; docs/scale-out.md)."""
        return load_settings().engine

    def spark(self):
        """The process's SparkSession, serving Thrift to dbt (spark engine only)."""
        from orchestration.spark.session import get_spark

        return get_spark()

    @contextmanager
    def irt_connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """What the IRT assets compute on: the warehouse, or on spark the IRT workspace."""
        if self.engine == "spark":
            from orchestration.spark.warehouse import irt_workspace

            with irt_workspace(self.spark()) as con:
                yield con
        else:
            with self.connect() as con:
                yield con

    def irt_fitter(self):
        """What fits the skills of a calibration run: threads here, or Spark's executors."""
        if self.engine == "spark":
            from orchestration.spark.irt_stage import executor_fitter

            return executor_fitter(self.spark())
        from orchestration.irt.fitting import fit_skills

        return fit_skills

    def irt_scoring_source(self):
        """Where the EAP of the learners to score runs: here, or on Spark's executors."""
        if self.engine == "spark":
            from orchestration.spark.irt_stage import executor_scoring

            return executor_scoring(self.spark())
        from orchestration.irt.scoring import load_responses_to_score

        return load_responses_to_score

    @contextmanager
    def connect(
        self, read_only: bool = False, memory_limit: str | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse; ``memory_limit`` (DuckDB's syntax, ``'6GB'``) bounds
        its buffer pool, DuckDB's default being 80% of the machine's memory."""
        path = self.resolved_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only)
        try:
            # Timestamps are UTC everywhere (ICU is built in, but only loads after connect).
            con.execute("set TimeZone = 'UTC'")
            if memory_limit:
                con.execute(f"set memory_limit = '{memory_limit}'")
            yield con
        finally:
            con.close()


class Landing(dg.ConfigurableResource):
    """The landing folder. Empty ``path`` means ``$SKILLGAP_LANDING_DIR`` (or its default).

    On the spark engine it may be a URI on any Hadoop file system (``s3a://bucket/landing``).
    """

    path: str = ""

    def resolved_path(self) -> Path | str:
        settings = load_settings()
        if not self.path:
            return settings.landing_dir
        return resolve_landing(self.path, settings.engine)


class Serving(dg.ConfigurableResource):
    """The published read-only file for BI tools. Empty ``path`` means ``$SKILLGAP_SERVING``."""

    path: str = ""

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path else load_settings().serving


class LearningRecordStore(dg.ConfigurableResource):
    """The xAPI Learning Record Store the refresh pulls statements from (README, "Statements
    from an LRS"). Empty ``url``, ``user`` and ``password`` mean ``$SKILLGAP_LRS_URL``,
    ``$SKILLGAP_LRS_USER`` and ``$SKILLGAP_LRS_PASSWORD``; no URL at all means no LRS, and the
    pull does nothing. ``paging``: auto, since (the xAPI standard) or search_after (Ralph).
    """

    url: str = ""
    user: str = ""
    password: str = ""
    page_size: int = 500
    paging: str = "auto"
    overlap_seconds: float = 300.0
    batch_statements: int = 5000

    def lrs_config(self) -> LrsConfig | None:
        """The pull's settings, or None when no LRS is configured."""
        url = self.url or os.environ.get("SKILLGAP_LRS_URL", "")
        if not url:
            return None
        return LrsConfig(
            url=url,
            user=self.user or os.environ.get("SKILLGAP_LRS_USER", ""),
            password=self.password or os.environ.get("SKILLGAP_LRS_PASSWORD", ""),
            page_size=self.page_size,
            paging=self.paging,
            overlap_seconds=self.overlap_seconds,
            batch_statements=self.batch_statements,
        )
