"""The spark engine's IRT stage: the driver plans and keeps the books, the executors fit.

The IRT assets run the warehouse path's code (``orchestration.irt``) on the DuckDB workspace of
``orchestration.spark.warehouse.irt_workspace``: it holds the irt.* tables and reads Spark's
tables in place from their Parquet files. What costs the CPU, fitting the skills, goes to the
executors: ``executor_fitter`` is the ``SkillFitter`` of a calibration run (every skill, the
items assigned by data, the new versions of drifting items), ``executor_scoring`` the
``ScoringSource`` of scoring (the EAP of the learners whose estimates changed, and of the
estimates as of each gain period's start). Which learners to score, and everything written,
is decided on the driver by the same SQL as on the duckdb engine.

- The driver plans each skill as the duckdb engine does (``fitting.plan_skill``: free,
  anchored on the stored items, linked, or nothing) from the census and the stored scale.
- The skills to fit are calibrated in parallel, one per executor task
  (``orchestration.spark.irt.calibrate_skills``), with the skill's S-X2 on the same task.
- A skill with more than ``executor_max_responses`` responses is too large for one task: its
  E-step runs on every executor, partitioned by learner, and the M-step on the driver
  (``calibrate_distributed``); S-X2 on the same seeded sample of learners as on one machine.

The responses come from Spark's ``intermediate.int_irt_responses`` through the same SQL as on
the duckdb engine (``ASSIGNED_RESPONSES``), with the workspace's current irt.item_versions and
irt.item_skill_assignments as temporary views.
"""

from __future__ import annotations

import pickle
import time

import duckdb
import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812

import irt_models
from orchestration.irt.fitting import SkillFit, SkillFitter, SkillPlan, linked_to, plan_skill
from orchestration.irt.item_fit import SAMPLE_SEED, SampledFit, sampled_sx2
from orchestration.irt.item_health import unhealthy_anchors
from orchestration.irt.responses import (
    ASSIGNED_RESPONSES,
    RESPONSES,
    SkillCensus,
    responses_from,
    skill_responses,
)
from orchestration.irt.scoring import ScoringSource
from orchestration.irt.settings import IrtSettings
from orchestration.progress import ProgressCallback, no_progress
from orchestration.spark.irt import calibrate_distributed, calibrate_skills, score_learners
from orchestration.spark.warehouse import TEMPORARY_PREFIX, arrow_frame

# The workspace tables ASSIGNED_RESPONSES joins, with the columns it reads.
BOOK_TABLES = {
    "irt.item_versions": "skill_id, item_id, version_id, valid_from, valid_to",
    "irt.item_skill_assignments": "item_id, skill_id, method",
}


def view_name(table: str) -> str:
    return TEMPORARY_PREFIX + table.replace(".", "_")


def assigned_responses(spark, con: duckdb.DuckDBPyConnection, skills: list[str]) -> DataFrame:
    """The settled responses of ``skills`` as a Spark DataFrame (``ASSIGNED_RESPONSES``)."""
    sql = ASSIGNED_RESPONSES
    for table, columns in BOOK_TABLES.items():
        arrow = con.sql(f"select {columns} from {table}").to_arrow_table()
        frame = arrow_frame(spark, arrow)
        # The workspace's timestamps are UTC wall clocks; Spark's session time zone is UTC.
        frame = frame.select(
            *(
                frame[f.name].cast("timestamp").alias(f.name)
                if f.dataType.typeName() == "timestamp_ntz"
                else frame[f.name]
                for f in frame.schema.fields
            )
        )
        frame.createOrReplaceTempView(view_name(table))
        sql = sql.replace(table, view_name(table))
    spark.catalog.refreshTable(RESPONSES)  # dbt rewrote it through its own Thrift session
    return spark.sql(sql).where(F.col("skill_id").isin(skills))


def fit_large(responses: DataFrame, plan: SkillPlan, settings: IrtSettings):
    """(Calibration, S-X2, seconds) of one skill with its E-step across the executors: the
    rules of ``fitting.fit_planned`` on a distributed calibration."""
    started = time.perf_counter()
    fitted = responses
    if plan.fit == "anchored":
        unhealthy = unhealthy_anchors(plan.stored, settings).astype(str).tolist()
        fitted = responses.where(~F.col("item_id").isin(unhealthy)) if unhealthy else responses
        # The new items' takers only, as fitting.new_item_takers says why.
        anchors = plan.stored.items.astype(str).tolist()
        takers = fitted.where(~F.col("item_id").isin(anchors)).select("learner_id").distinct()
        fitted = fitted.join(takers, "learner_id", "left_semi")
    fixed = plan.stored if plan.fit == "anchored" else None
    cal = calibrate_distributed(fitted, settings, fixed)
    if plan.fit == "linked":
        cal = linked_to(cal, plan.stored)
    return cal, sampled_sx2_distributed(cal, responses, settings), time.perf_counter() - started


def sampled_sx2_distributed(
    cal: irt_models.Calibration, responses: DataFrame, settings: IrtSettings
) -> SampledFit | None:
    """``sampled_sx2`` on the same seeded sample of learners, drawn on the driver from the
    skill's distinct learners; only the sample's responses are collected."""
    rows = responses.select(F.col("learner_id").cast("string")).distinct().collect()
    learners = np.unique(np.array([row[0] for row in rows], dtype=str))
    chosen = learners
    if settings.sx2_max_learners and len(learners) > settings.sx2_max_learners:
        rng = np.random.default_rng(SAMPLE_SEED)
        chosen = rng.choice(learners, settings.sx2_max_learners, replace=False)
    sample = responses.where(F.col("learner_id").isin(chosen.tolist())).toPandas()
    return sampled_sx2(cal, responses_from(sample), 0) if len(sample) else None


def executor_fitter(spark) -> SkillFitter:
    """The ``SkillFitter`` of the spark engine (see the module's docstring)."""

    def fit_on_executors(
        con: duckdb.DuckDBPyConnection,
        skills: list[str],
        settings: IrtSettings,
        census: dict[str, SkillCensus],
        assigning_with: set[str],
        progress: ProgressCallback = no_progress,
    ) -> list[SkillFit]:
        plans = {s: plan_skill(con, s, settings, census.get(s, SkillCensus())) for s in skills}
        fitting = [plan for plan in plans.values() if plan.fit]
        progress(0, len(skills))
        results = fit_plans(spark, con, fitting, settings) if fitting else {}
        fits = []
        for skill_id in skills:
            cal, sx2, seconds = results.get(skill_id, (None, None, 0.0))
            # store_fits reads a fitted skill's responses itself, one skill at a time.
            data = skill_responses(con, skill_id) if skill_id in assigning_with else None
            fits.append(SkillFit(cal, plans[skill_id].run(cal, seconds), data, sx2))
        progress(len(skills), len(skills))
        return fits

    return fit_on_executors


def fit_plans(spark, con, plans: list[SkillPlan], settings: IrtSettings) -> dict[str, tuple]:
    """skill_id -> (Calibration, S-X2, seconds) for every plan: small skills one per task,
    large ones with the E-step on every executor."""
    responses = assigned_responses(spark, con, [plan.skill_id for plan in plans])
    large = [p for p in plans if p.census.n_responses > settings.executor_max_responses]
    small = {p.skill_id: (p.fit, p.stored) for p in plans if p not in large}
    results = {}
    if small:
        rows = calibrate_skills(
            responses.where(F.col("skill_id").isin(list(small))), settings, small
        ).collect()
        for row in rows:
            cal, sx2 = pickle.loads(row.calibration), pickle.loads(row.sx2)
            results[row.skill_id] = (cal, sx2, row.seconds)
    for plan in large:
        one = responses.where(F.col("skill_id") == plan.skill_id)
        results[plan.skill_id] = fit_large(one, plan, settings)
    return results


# -- scoring ----------------------------------------------------------------------------------
class ExecutorResponses:
    """The responses of a skill's learners to score (the workspace's temp table
    learners_to_score), left in Spark: the EAP runs on the executors, partitioned by learner
    with the calibration broadcast (``orchestration.spark.irt.score_learners``); only the
    scores come back. Used like ``orchestration.irt.scoring.LoadedResponses``."""

    def __init__(self, spark, con: duckdb.DuckDBPyConnection, skill_id: str):
        learners = con.sql("select learner_id, is_changed from learners_to_score")
        arrow_frame(spark, learners.to_arrow_table()).createOrReplaceTempView(
            TEMPORARY_PREFIX + "learners_to_score"
        )
        self.skill_id = skill_id
        self.frame = (
            assigned_responses(spark, con, [skill_id])
            .join(spark.table(TEMPORARY_PREFIX + "learners_to_score"), "learner_id")
            .persist(StorageLevel.MEMORY_AND_DISK)
        )

    def scores(self, cal, changed_only: bool = False, as_of=None) -> irt_models.Scores | None:
        frame = self.frame.where(F.col("is_changed")) if changed_only else self.frame
        got = score_learners(frame, {self.skill_id: cal}, as_of=as_of).toPandas()
        if got.empty:
            return None
        got = got.sort_values("learner_id")
        return irt_models.Scores(
            persons=got["learner_id"].to_numpy().astype(str),
            theta=got["theta"].to_numpy(dtype=float),
            se=got["theta_se"].to_numpy(dtype=float),
            n_items=got["n_items"].to_numpy(dtype=np.int64),
        )

    def close(self) -> None:
        self.frame.unpersist()


def executor_scoring(spark) -> ScoringSource:
    """The ``ScoringSource`` of the spark engine: EAP on the executors."""
    opened: list[ExecutorResponses] = []

    def source(con: duckdb.DuckDBPyConnection, skill_id: str) -> ExecutorResponses:
        while opened:  # the previous skill's responses are done with
            opened.pop().close()
        opened.append(ExecutorResponses(spark, con, skill_id))
        return opened[-1]

    return source
