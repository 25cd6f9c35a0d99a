"""Dagster resources: the DuckDB warehouse and the dbt CLI, configured from SKILLGAP_* variables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.settings import load_settings, resolve_landing


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
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.resolved_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only)
        try:
            # Timestamps are UTC everywhere (ICU is built in, but only loads after connect).
            con.execute("set TimeZone = 'UTC'")
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
