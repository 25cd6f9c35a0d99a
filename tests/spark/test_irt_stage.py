"""The spark engine's IRT stage fits on the executors what the duckdb engine fits in threads.

Two warehouses get the same responses (tests/orchestration/irt's two-run scenario: a free first
calibration; then a day with a brand-new item, items assigned to skills by data and an
anchored calibration). One runs ``run_calibration`` with the default fitter, the other with
``executor_fitter`` (each skill one task on the executors of ``conftest.MASTER``), and a third
with every skill "too large" for a task (the E-step across executors). Every item parameter,
standard error, S-X2 and run row is equal to 1e-6. The learners are scored after each run,
on the executors for the spark warehouses (``executor_scoring``): the abilities, their history
and the period-start estimates equal the in-process scores to 1e-9, and the second run
re-scores only the learners whose responses changed.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import duckdb
import numpy as np
import pytest

from orchestration.irt.calibration import run_calibration
from orchestration.irt.fitting import fit_skills
from orchestration.irt.scoring import load_responses_to_score, run_scoring
from orchestration.irt.settings import IrtSettings
from orchestration.spark.irt_stage import executor_fitter, executor_scoring
from tests.orchestration.irt.conftest import (
    N_LEARNERS,
    START,
    response_rows,
    simulate_truth,
    write_intermediate,
)

pytestmark = pytest.mark.slow
SETTINGS = IrtSettings(min_item_responses=30, min_assignment_responses=50, gain_periods=(5,))
PARAMETERS = (
    "select skill_id, item_id, model, slope, difficulty, slope_se, difficulty_se, flag, anchored, "
    "infit, outfit, sx2, sx2_df, sx2_p, sx2_learners from irt.item_parameters order by all"
)
RUNS = (
    "select run_id, skill_id, run_type, n_learners, n_items, n_new_items, n_responses, "
    "iterations, converged, marginal_reliability from irt.calibration_runs order by all"
)


def days_of_responses():
    """The responses of days 0-8, then those with day 9 (new item alpha_new)."""
    rng, theta, items, slope, difficulty = simulate_truth()
    everyone = np.arange(N_LEARNERS)
    first = []
    for day in range(9):
        chosen = everyone[everyone % 9 == day]
        first += response_rows(rng, theta, items, slope, difficulty, day, chosen, 24)
    items_2 = [*items, ("alpha_new", "alpha", 0, True)]
    slope_2, difficulty_2 = np.append(slope, 1.2), np.append(difficulty, 0.3)
    movers = rng.choice(N_LEARNERS, size=300, replace=False)
    second = first + response_rows(rng, theta, items_2, slope_2, difficulty_2, 9, movers, 8)
    return [(first, items), (second, items_2)]


def publish_to_spark(spark, con) -> None:
    """intermediate.int_irt_responses in Spark, as dbt builds it there (instants in UTC)."""
    frame = spark.createDataFrame(con.sql("from intermediate.int_irt_responses").to_arrow_table())
    frame = frame.withColumn("submitted_at", frame["submitted_at"].cast("timestamp"))
    spark.sql("create database if not exists intermediate")
    frame.write.mode("overwrite").format("parquet").saveAsTable("intermediate.int_irt_responses")


@pytest.fixture(scope="module")
def warehouses(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("irt-stage")
    # name: (fitter, scoring source, settings)
    fitters = {
        "threads": (fit_skills, load_responses_to_score, SETTINGS),
        "executors": (executor_fitter(spark), executor_scoring(spark), SETTINGS),
        "distributed": (
            executor_fitter(spark),
            load_responses_to_score,
            dataclasses.replace(SETTINGS, executor_max_responses=0),
        ),
    }
    cons = {name: duckdb.connect(str(folder / f"{name}.duckdb")) for name in fitters}
    for run, (rows, items) in enumerate(days_of_responses(), start=1):
        for name, (fitter, source, settings) in fitters.items():
            con = cons[name]
            write_intermediate(con, rows, items)
            if fitter is not fit_skills:
                publish_to_spark(spark, con)
            now = START + timedelta(days=9 + run)
            run_calibration(con, f"run{run}", now, settings, fitter=fitter)
            run_scoring(con, f"run{run}", now, settings, source=source)
    yield cons
    for con in cons.values():
        con.close()


def assert_rows_equal(expected: list[tuple], got: list[tuple], tol: float) -> None:
    assert len(expected) == len(got)
    for want, have in zip(expected, got, strict=True):
        for a, b in zip(want, have, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert a == pytest.approx(b, abs=tol, nan_ok=True), (want, have)
            else:
                assert a == b, (want, have)


@pytest.mark.parametrize("fitter", ["executors", "distributed"])
def test_the_executors_fit_what_the_threads_fit(warehouses, fitter):
    threads, other = warehouses["threads"], warehouses[fitter]
    expected = threads.execute(PARAMETERS).fetchall()
    # both runs: the first free, the second anchored with the new item and assigned items
    assert {r[0] for r in threads.execute(RUNS).fetchall()} == {"run1", "run2"}
    assert any(row[1] == "alpha_new" for row in expected)
    assert_rows_equal(expected, other.execute(PARAMETERS).fetchall(), 1e-6)
    assert_rows_equal(threads.execute(RUNS).fetchall(), other.execute(RUNS).fetchall(), 1e-6)
    assignments = "select item_id, skill_id, method from irt.item_skill_assignments order by all"
    assert threads.execute(assignments).fetchall() == other.execute(assignments).fetchall()


ABILITIES = {
    "learner_abilities": "select skill_id, learner_id, theta, theta_se, n_items, n_responses, "
    "run_id from irt.learner_abilities order by all",
    "learner_ability_history": "select skill_id, learner_id, as_of, theta, theta_se, n_items, "
    "run_id from irt.learner_ability_history order by all",
    "learner_abilities_period_start": "select skill_id, learner_id, period_days, period_start, "
    "theta, theta_se, n_items, run_id from irt.learner_abilities_period_start order by all",
}


@pytest.mark.parametrize("table", sorted(ABILITIES))
def test_the_executors_score_what_this_process_scores(warehouses, table):
    sql = ABILITIES[table]
    expected = warehouses["threads"].execute(sql).fetchall()
    assert expected
    assert_rows_equal(expected, warehouses["executors"].execute(sql).fetchall(), 1e-9)
    if table == "learner_abilities":
        runs = dict(
            warehouses["executors"]
            .execute("select run_id, count(*) from irt.learner_abilities group by all")
            .fetchall()
        )
        # the second run re-scored the learners with new responses, not everyone
        assert 0 < runs["run2"] < runs["run1"]
