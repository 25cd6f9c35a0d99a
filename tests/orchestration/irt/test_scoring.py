"""Scoring re-scores exactly the learners whose evidence changed: everyone else keeps theta
exactly; abilities track the truth better than raw percent-correct; the history keeps each
run's estimate."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np

from orchestration.irt.calibration import run_calibration
from orchestration.irt.group_scoring import run_group_scoring
from orchestration.irt.scoring import run_scoring
from orchestration.irt.settings import IrtSettings
from orchestration.irt.verification import verify_scoring
from tests.orchestration.irt.conftest import (
    N_LEARNERS,
    START,
    response_rows,
    simulate_truth,
    write_intermediate,
)

SKILLS = ("alpha", "beta")


def test_learners_without_new_attempts_keep_theta_exactly(two_runs):
    first, second = two_runs["first"]["abilities"], two_runs["second"]["abilities"]
    movers = two_runs["movers"]
    stayers = [k for k in first if k[0] not in movers]
    assert len(stayers) > 500
    assert all(second[k] == first[k] for k in stayers)


def test_learners_with_new_attempts_move(two_runs):
    first, second = two_runs["first"]["abilities"], two_runs["second"]["abilities"]
    moved = [k for k in first if k[0] in two_runs["movers"] and second[k] != first[k]]
    assert len(moved) >= 100


def test_theta_tracks_truth_better_than_raw_percent_correct(two_runs):
    con, theta = two_runs["con"], two_runs["theta"]
    rows = con.execute(
        """select abilities.learner_id, abilities.skill_id, abilities.theta,
                  avg(responses.response) as percent_correct
           from irt.learner_abilities as abilities
           join intermediate.int_irt_responses as responses
             on responses.learner_id = abilities.learner_id
            and responses.skill_id = abilities.skill_id and not responses.is_candidate
           group by all"""
    ).fetchall()
    truth = np.array([theta[int(r[0][1:]), SKILLS.index(r[1])] for r in rows])
    estimate = np.array([r[2] for r in rows])
    assert np.corrcoef(truth, estimate)[0, 1] > 0.8


def test_history_keeps_each_runs_estimate(two_runs):
    con = two_runs["con"]
    n_as_of = con.execute(
        "select count(distinct as_of) from irt.learner_ability_history"
    ).fetchone()[0]
    assert n_as_of >= 2
    latest = dict(
        ((lrn, s), t)
        for lrn, s, t in con.execute(
            "select learner_id, skill_id, arg_max(theta, as_of) from irt.learner_ability_history "
            "group by all"
        ).fetchall()
    )
    for key, (theta, _) in two_runs["second"]["abilities"].items():
        assert latest[key] == theta


def test_a_score_below_every_calibrated_category_is_scored_in_the_lowest(changed_history):
    con = changed_history["con"]
    categories = con.execute(
        "select categories from irt.item_parameters where item_id = 'alpha_graded'"
    ).fetchone()[0]
    assert categories == [2, 3]
    scored = con.execute(
        "select count(*) from irt.learner_abilities where skill_id = 'alpha' "
        "and learner_id between 'L0300' and 'L0311' and run_id = 'run2'"
    ).fetchone()[0]
    assert scored == 12


def test_learners_whose_responses_changed_in_place_are_rescored(changed_history):
    first, second = changed_history["first"]["abilities"], changed_history["second"]["abilities"]
    late = changed_history["late"]
    assert len(late) == 20
    assert all(second[(learner, "beta")] != first[(learner, "beta")] for learner in late)


def test_a_learner_who_moves_company_moves_in_every_skill(changed_history):
    companies = (
        changed_history["con"]
        .execute("select distinct company_id from irt.learner_abilities where learner_id = 'L0001'")
        .fetchall()
    )
    assert companies == [("C_new",)]


def test_a_run_with_nothing_new_rescores_nobody(changed_history):
    second, third = changed_history["scorings"]
    assert sum(s.rescored for s in second.per_skill) > 40
    assert sum(s.rescored for s in third.per_skill) == 0


def test_period_start_estimates_follow_each_run_and_equal_a_rescoring(tmp_path):
    """Gain periods short enough that learners have responses before their starts: a second
    run updates the stored as-of estimates in place (the learners to score), carries the
    others over, and every estimate still equals a re-scoring from scratch. A period longer
    than the history (30 days of 10) has no estimates and must not make everyone a learner
    to score: it once did, and every daily run of a warehouse younger than its longest period
    re-scored every learner as of every period start."""
    rng, theta, items, slope, difficulty = simulate_truth(seed=11)
    everyone = np.arange(N_LEARNERS)
    rows = []
    for day in range(9):
        rows += response_rows(
            rng, theta, items, slope, difficulty, day, everyone[everyone % 9 == day], per_learner=12
        )
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    write_intermediate(con, rows, items)
    settings = IrtSettings(min_item_responses=30, gain_periods=(3, 6, 30))
    run_calibration(con, "run1", START + timedelta(days=9), settings)
    run_scoring(con, "run1", START + timedelta(days=9), settings)
    rows += response_rows(rng, theta, items, slope, difficulty, 9, everyone[:150], per_learner=6)
    write_intermediate(con, rows, items)
    run_scoring(con, "run2", START + timedelta(days=10), settings)
    runs = dict(
        con.execute(
            "select run_id, count(*) from irt.learner_abilities_period_start group by run_id"
        ).fetchall()
    )
    assert runs.get("run1", 0) > 100 and runs.get("run2", 0) > 100
    assert (
        con.execute(
            "select count(*) from irt.learner_abilities_period_start where period_days = 30"
        ).fetchone()[0]
        == 0
    )
    check = verify_scoring(con)
    assert check.mismatches == [] and check.n_checked > 1000


def test_group_scores_are_the_same_with_skills_scored_in_parallel(two_runs):
    """run_group_scoring's workers score skills on their own cursors: the rows equal one
    worker's, in the same order."""
    con = two_runs["con"]
    now = START + timedelta(days=10)
    reference = con.execute("select max(as_of) from irt.group_abilities").fetchone()[0]
    query = "select * exclude (scored_at, run_id) from irt.{} order by skill_id, {}"
    tables = {
        "group_abilities": "group_type, group_value",
        "company_gains": "company_id, period_days",
    }
    outcomes = []
    for workers in (1, 2):
        settings = IrtSettings(workers=workers, gain_periods=(7,))
        summary = run_group_scoring(con, list(SKILLS), reference, f"w{workers}", now, settings)
        outcomes.append(
            (summary.groups, summary.gains)
            + tuple(con.execute(query.format(t, o)).fetchall() for t, o in tables.items())
        )
    assert outcomes[0][0] > 0
    assert outcomes[0] == outcomes[1]
