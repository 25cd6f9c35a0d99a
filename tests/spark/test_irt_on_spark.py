"""IRT on Spark executors equals the in-memory path: per-skill calibration (applyInPandas),
the distributed E-step of one skill (to 1e-6), and scoring by learner (to 1e-9), with
executors in separate processes (``conftest.MASTER``)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import irt_models as irt
from orchestration.irt.fitting import calibrate_responses, fit_planned
from orchestration.irt.responses import responses_from
from orchestration.irt.scoring import eap
from orchestration.irt.settings import IrtSettings
from orchestration.spark import irt as spark_irt

from .test_distributed_em import assert_same_calibration

pytestmark = pytest.mark.slow
SETTINGS = IrtSettings(gain_periods=(30,))
LEVELS = np.array(["beginner", "intermediate", "advanced"])


def skill_frame(skill_id: str, n_learners: int, n_items: int, seed: int) -> pd.DataFrame:
    """Simulated responses of one skill in the columns of int_irt_responses."""
    s = irt.simulate(n_learners, n_items, "mixed", items_per_person=10, seed=seed)
    n_categories = np.where(
        np.isnan(s.thresholds).all(axis=1), 2, 1 + (~np.isnan(s.thresholds)).sum(axis=1)
    )
    return pd.DataFrame(
        {
            "skill_id": skill_id,
            "learner_id": [f"l{p:05d}" for p in s.persons],
            "item_id": [f"{skill_id}-i{j:03d}" for j in s.items],
            "response": s.responses.astype(np.int64),
            "n_categories": n_categories[s.items].astype(np.int64),
            "entry_level": LEVELS[s.persons % 3],
            "submitted_at": pd.Timestamp("2026-11-01") + pd.to_timedelta(s.items, unit="D"),
        }
    )


@pytest.fixture(scope="module")
def frames():
    return {
        "s1": skill_frame("s1", 1200, 25, seed=11),
        "s2": skill_frame("s2", 800, 18, seed=12),
        "s3": skill_frame("s3", 600, 15, seed=13),
    }


@pytest.fixture(scope="module")
def responses(spark, frames):
    return spark.createDataFrame(pd.concat(frames.values(), ignore_index=True)).cache()


def test_executors_are_separate_processes(spark):
    assert spark.sparkContext.master.startswith("local-cluster")
    infos = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    assert len(infos) == 3  # the driver and two executors
    pids = spark.sparkContext.parallelize(range(4), 4).map(lambda _: os.getpid()).collect()
    assert os.getpid() not in pids


def test_each_skill_calibrated_on_the_executors_equals_the_warehouse_path(responses, frames):
    anchors = calibrate_responses(
        responses_from(frames["s2"][frames["s2"].item_id < "s2-i009"]), SETTINGS, None
    )
    plans = {"s2": ("anchored", anchors), "s3": (None, anchors)}
    skills = spark_irt.calibrate_skills(responses, SETTINGS, plans).cache()
    got = spark_irt.calibrations(skills)
    assert sorted(got) == ["s1", "s2"]  # s3: nothing to fit
    for skill_id, cal in got.items():
        how, stored = plans.get(skill_id, ("free", None))
        expected = fit_planned(how, responses_from(frames[skill_id]), SETTINGS, stored)
        assert_same_calibration(expected, cal, tol=1e-9)
    assert got["s2"].fixed.sum() == 9 and got["s1"].groups.tolist() == sorted(LEVELS)
    items = spark_irt.item_parameters(skills).toPandas()
    assert len(items) == sum(len(c.items) for c in got.values())
    s1 = items[items.skill_id == "s1"].sort_values("item_id")
    np.testing.assert_allclose(s1.slope, got["s1"].slope, rtol=0, atol=0)


def test_distributed_e_step_equals_the_in_memory_calibration(spark, frames):
    frame = frames["s1"]
    anchors = calibrate_responses(responses_from(frame[frame.item_id < "s1-i008"]), SETTINGS, None)
    expected = calibrate_responses(responses_from(frame), SETTINGS, anchors)
    got = spark_irt.calibrate_distributed(spark.createDataFrame(frame), SETTINGS, anchors, 4)
    assert expected.fixed.sum() == 8 and len(expected.groups) == 3
    assert got.iterations == expected.iterations
    assert_same_calibration(expected, got, tol=1e-6)


def test_scores_by_learner_equal_the_in_memory_scores(responses, frames):
    cals = {k: calibrate_responses(responses_from(frames[k]), SETTINGS, None) for k in ("s1", "s2")}
    as_of = pd.Timestamp("2026-11-10").to_pydatetime()
    for when in (None, as_of):
        got = spark_irt.score_learners(responses, cals, as_of=when).toPandas()
        for skill_id, cal in cals.items():
            frame = frames[skill_id]
            if when is not None:
                frame = frame[frame.submitted_at <= as_of]
            expected = eap(cal, responses_from(frame))
            mine = got[got.skill_id == skill_id].sort_values("learner_id")
            np.testing.assert_array_equal(mine.learner_id, expected.persons)
            np.testing.assert_allclose(mine.theta, expected.theta, rtol=0, atol=1e-9)
            np.testing.assert_allclose(mine.theta_se, expected.se, rtol=0, atol=1e-9)
            np.testing.assert_array_equal(mine.n_items, expected.n_items)
        assert set(got.skill_id) == {"s1", "s2"}
