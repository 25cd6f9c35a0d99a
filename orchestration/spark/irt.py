"""IRT on Spark executors: ``irt_models`` and the warehouse path's rules unchanged, Spark
distributes the work.

Responses arrive as a Spark DataFrame with the columns of ``intermediate.int_irt_responses``
that the DuckDB path reads (``skill_id``, ``learner_id``, ``item_id``, ``response``,
``n_categories``, optionally ``entry_level`` and ``submitted_at``).

- ``calibrate_skills``: every skill in parallel on the executors (``groupBy(skill_id)
  .applyInPandas``), each fitted by ``orchestration.irt.calibration`` as on DuckDB (free,
  anchored on stored items, or linked, per the driver's plan). One row per skill: the run
  info and the pickled Calibration; ``calibrations`` and ``item_parameters`` unpack it.
- ``calibrate_distributed``: one skill too large for an executor. Learners are partitioned,
  each partition's E-step statistics are computed on the executors with the parameters
  broadcast per iteration and summed by ``treeReduce``; the M-step and SQUAREM run on the
  driver (``irt_models.distributed``). Equals ``irt_models.calibrate`` to 1e-6.
- ``score_learners``: EAP scores partitioned by learner with the calibrations broadcast
  (``orchestration.irt.scoring.eap``, as on DuckDB); ``as_of`` gives the history's estimates
  from the responses submitted by then.
"""

from __future__ import annotations

import pickle
import time
from datetime import datetime

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812

import irt_models
from irt_models.distributed import (
    Summary,
    add,
    calibrate_partitioned,
    partition_design,
    summarise,
)
from orchestration.irt.fitting import fit_planned
from orchestration.irt.item_fit import sampled_sx2
from orchestration.irt.responses import responses_from
from orchestration.irt.scoring import eap
from orchestration.irt.settings import IrtSettings

GROUP = "entry_level"
RUN_SCHEMA = (
    "skill_id string, n_learners long, n_items long, n_responses long, iterations long, "
    "converged boolean, loglik double, latent_mean double, latent_var double, seconds double, "
    "calibration binary, sx2 binary"
)
ITEM_SCHEMA = (
    "skill_id string, item_id string, model string, slope double, difficulty double, "
    "thresholds array<double>, slope_se double, difficulty_se double, "
    "thresholds_se array<double>, n_responses long, n_categories long, categories array<long>, "
    "flag string, fixed boolean, infit double, outfit double"
)
SCORE_SCHEMA = "skill_id string, learner_id string, theta double, theta_se double, n_items long"


def _whole_partition(batches) -> pd.DataFrame | None:
    """All Arrow batches of one partition as one frame (None when it is empty)."""
    frames = [batch for batch in batches if len(batch)]
    return pd.concat(frames, ignore_index=True) if frames else None


# -- every skill on the executors -----------------------------------------------------------
def calibrate_skills(
    responses: DataFrame, settings: IrtSettings, plans: dict | None = None
) -> DataFrame:
    """Calibrate each skill of ``responses`` in parallel on the executors.

    ``plans`` maps skill_id -> (fit, stored): ``fit`` is ``"free"``, ``"anchored"``,
    ``"linked"`` or None (nothing fitted), ``stored`` the skill's stored Calibration (the
    anchors, or the scale to link to), as ``orchestration.irt.fitting.plan_fit`` decides on
    the driver; a skill without a plan is fitted freely. Returns one row per fitted skill
    (``RUN_SCHEMA``), with the Calibration pickled in ``calibration`` and the S-X2 of its items
    (``orchestration.irt.item_fit.sampled_sx2``, a SampledFit or None) in ``sx2``.
    """
    plans = dict(plans or {})

    def fit(pdf: pd.DataFrame) -> pd.DataFrame:
        started = time.perf_counter()
        skill_id = str(pdf["skill_id"].iloc[0])
        how, stored = plans.get(skill_id, ("free", None))
        data = responses_from(pdf)
        cal = fit_planned(how, data, settings, stored)
        if cal is None:
            return pd.DataFrame(columns=RUN_SCHEMA_COLUMNS)
        row = {
            "skill_id": skill_id,
            "n_learners": len(np.unique(data.learners)),
            "n_items": len(data.item_index[0]),
            "n_responses": data.n,
            "iterations": cal.iterations,
            "converged": bool(cal.converged),
            "loglik": float(cal.loglik),
            "latent_mean": float(cal.latent_mean),
            "latent_var": float(cal.latent_var),
            "seconds": time.perf_counter() - started,
            "calibration": pickle.dumps(cal),
            "sx2": pickle.dumps(sampled_sx2(cal, data, settings.sx2_max_learners)),
        }
        return pd.DataFrame([row])

    return responses.groupBy("skill_id").applyInPandas(fit, RUN_SCHEMA)


RUN_SCHEMA_COLUMNS = [part.split()[0] for part in RUN_SCHEMA.split(", ")]


def calibrations(skills: DataFrame) -> dict[str, irt_models.Calibration]:
    """skill_id -> Calibration from the rows of ``calibrate_skills`` (collected)."""
    rows = skills.select("skill_id", "calibration").collect()
    return {row.skill_id: pickle.loads(row.calibration) for row in rows}


def calibration_items(skill_id: str, cal: irt_models.Calibration) -> pd.DataFrame:
    """One row per item of a Calibration (``ITEM_SCHEMA``); thresholds without the padding."""
    k = cal.n_categories.astype(int)
    return pd.DataFrame(
        {
            "skill_id": skill_id,
            "item_id": cal.items.astype(str),
            "model": cal.model.astype(str),
            "slope": cal.slope,
            "difficulty": cal.difficulty,
            "thresholds": [t[: n - 1].tolist() for t, n in zip(cal.thresholds, k, strict=True)],
            "slope_se": cal.slope_se,
            "difficulty_se": cal.difficulty_se,
            "thresholds_se": [
                t[: n - 1].tolist() for t, n in zip(cal.thresholds_se, k, strict=True)
            ],
            "n_responses": cal.n_responses,
            "n_categories": k,
            "categories": [c[:n].tolist() for c, n in zip(cal.categories, k, strict=True)],
            "flag": cal.flag,
            "fixed": cal.fixed,
            "infit": cal.infit,
            "outfit": cal.outfit,
        }
    )


def item_parameters(skills: DataFrame) -> DataFrame:
    """The item parameters of every calibrated skill as a Spark DataFrame (``ITEM_SCHEMA``),
    unpacked on the executors."""

    def unpack(batches):
        for pdf in batches:
            for skill_id, blob in zip(pdf["skill_id"], pdf["calibration"], strict=True):
                yield calibration_items(skill_id, pickle.loads(blob))

    return skills.select("skill_id", "calibration").mapInPandas(unpack, ITEM_SCHEMA)


# -- one large skill: the E-step on the executors ---------------------------------------------
class SparkPartitions:
    """The ``irt_models.distributed`` backend on Spark: learners hashed into partitions, each
    partition's E-step design built once on its executor and cached, statistics summed with
    ``treeReduce`` while the parameters travel as a broadcast."""

    def __init__(self, responses: DataFrame, n_partitions: int, groups: bool):
        self.responses = responses.select(
            F.col("learner_id").cast("string"),
            F.col("item_id").cast("string"),
            F.col("response").cast("long"),
            *([F.col(GROUP).cast("string")] if groups else []),
        ).repartition(n_partitions, "learner_id")
        # read and shuffled once: the summary and every plan's designs start from here
        self.responses.persist(StorageLevel.MEMORY_AND_DISK)
        self.groups = groups
        self.sc = responses.sparkSession.sparkContext
        self.designs = None

    def _map_partitions(self, fn) -> DataFrame:
        """One pickled result of ``fn(learner_id, item_id, response, group)`` per non-empty
        partition, as a frame with the binary column ``value``."""
        groups = self.groups

        def run(batches):
            pdf = _whole_partition(batches)
            if pdf is not None:
                arrays = [pdf[c].to_numpy() for c in ("learner_id", "item_id", "response")]
                value = fn(*arrays, pdf[GROUP].to_numpy() if groups else None)
                yield pd.DataFrame({"value": [pickle.dumps(value, protocol=5)]})

        return self.responses.mapInPandas(run, "value binary")

    def summary(self) -> Summary:
        """The partitions' summaries (``irt_models.distributed.summarise``), merged."""
        rows = self._map_partitions(summarise).collect()
        return Summary.merge([pickle.loads(row.value) for row in rows])

    def prepare(self, plan) -> None:
        """Build and cache every partition's design for ``plan``."""
        if self.designs is not None:
            self.designs.unpersist()

        def design(*arrays):
            return partition_design(plan, *arrays)

        packed = self._map_partitions(design)
        self.designs = packed.rdd.map(lambda row: pickle.loads(row.value))
        self.designs.persist(StorageLevel.MEMORY_AND_DISK).count()

    def total(self, fn, *args):
        """The sum over partitions of ``fn(design, *args)``, ``args`` broadcast."""
        shared = self.sc.broadcast(args)
        try:
            return self.designs.map(lambda design: fn(design, *shared.value)).treeReduce(add)
        finally:
            shared.unpersist()

    def close(self) -> None:
        self.responses.unpersist()
        if self.designs is not None:
            self.designs.unpersist()


def calibrate_distributed(
    responses: DataFrame,
    settings: IrtSettings,
    fixed_items: irt_models.Calibration | None = None,
    n_partitions: int | None = None,
) -> irt_models.Calibration:
    """One skill's calibration with the E-step on the executors; the arguments of the DuckDB
    path's ``calibrate_responses`` (mixed models, anchors, entry-level groups) and its result."""
    groups = settings.multiple_groups and GROUP in responses.columns
    sc = responses.sparkSession.sparkContext
    parts = SparkPartitions(responses, n_partitions or sc.defaultParallelism, groups)
    try:
        summary = parts.summary()
        item_ncat = _declared_categories(responses, fixed_items)
        return calibrate_partitioned(
            parts,
            summary,
            "mixed",
            n_categories=item_ncat,
            fixed_items=fixed_items,
            quadrature=settings.quadrature,
            tol=settings.tol,
            max_iter=settings.max_iter,
            min_responses=settings.min_item_responses,
            n_jobs=1,
        )
    finally:
        parts.close()


def _declared_categories(responses: DataFrame, fixed: irt_models.Calibration | None) -> dict:
    """Declared categories per item: the largest n_categories of its responses, an anchor's
    own (the rule of ``orchestration.irt.fitting.calibrate_responses``)."""
    rows = responses.groupBy("item_id").agg(F.max("n_categories").alias("k")).collect()
    declared = {str(row.item_id): int(row.k) for row in rows}
    if fixed is not None:
        for i, item in enumerate(fixed.items.tolist()):
            declared[item] = int(fixed.n_categories[i])
    return declared


# -- scoring by learner ----------------------------------------------------------------------
def score_learners(
    responses: DataFrame,
    calibrations: dict[str, irt_models.Calibration],
    as_of: datetime | None = None,
    n_partitions: int | None = None,
) -> DataFrame:
    """EAP scores of every (skill, learner) from the skill's calibration (``SCORE_SCHEMA``).

    Partitioned by learner, the calibrations broadcast; ``as_of``: only the responses
    submitted by then (the estimates kept for gain periods).
    """
    if as_of is not None:
        # a UTC wall clock, read in the session's time zone (UTC), not the Python process's
        as_of_literal = F.to_timestamp(F.lit(as_of.isoformat(sep=" ")))
        responses = responses.where(F.col("submitted_at") <= as_of_literal)
    spark = responses.sparkSession
    shared = spark.sparkContext.broadcast(calibrations)
    n = n_partitions or spark.sparkContext.defaultParallelism
    columns = ["skill_id", "learner_id", "item_id", "response", "n_categories"]

    def score(batches):
        pdf = _whole_partition(batches)
        if pdf is None:
            return
        for skill_id, part in pdf.groupby("skill_id", sort=True):
            scores = eap(shared.value.get(skill_id), responses_from(part))
            if scores is not None:
                yield pd.DataFrame(
                    {
                        "skill_id": skill_id,
                        "learner_id": scores.persons.astype(str),
                        "theta": scores.theta,
                        "theta_se": scores.se,
                        "n_items": scores.n_items,
                    }
                )

    return responses.select(*columns).repartition(n, "learner_id").mapInPandas(score, SCORE_SCHEMA)
