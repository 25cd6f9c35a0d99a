"""The IRT stage keeps each skill's scale stable between runs and scores only what changed.

Guards orchestration.irt_runs on a small warehouse whose intermediate tables are written by the
test from a known truth: the first run calibrates freely; a second run with one more day of
data holds the calibrated items fixed (identical parameters), re-scores only learners with new
responses (everyone else keeps theta exactly), calibrates new items onto the scale; an item
without a skill is assigned to its true skill by data; a full recalibration is linked back to
the old scale; abilities track the truth better than raw percent-correct.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pytest

from orchestration.irt_runs import IrtSettings, run_calibration, run_scoring, verify_scoring

START = datetime(2026, 6, 1)
SKILLS = ("alpha", "beta")
N_LEARNERS = 700


def simulate_truth(seed: int = 4):
    """Correlated abilities on two skills and 2PL items: 30 per skill plus 2 without skill."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    theta = rng.multivariate_normal([0, 0], cov, size=N_LEARNERS)
    items = []
    for s, skill in enumerate(SKILLS):
        for j in range(30):
            items.append((f"{skill}_{j:02d}", skill, s, True))
    items += [("mixed_a", "alpha", 0, False), ("mixed_b", "beta", 1, False)]
    slope = rng.lognormal(np.log(1.3), 0.2, size=len(items))
    difficulty = rng.normal(0, 0.9, size=len(items))
    return rng, theta, items, slope, difficulty


def response_rows(
    rng, theta, items, slope, difficulty, day: int, learners: np.ndarray, per_learner: int
):
    rows = []
    for learner in learners:
        for k in rng.choice(len(items), size=per_learner, replace=False):
            item_id, skill, s, given = items[k]
            p = 1 / (1 + np.exp(-slope[k] * (theta[learner, s] - difficulty[k])))
            response = int(rng.random() < p)
            at = START + timedelta(days=day, minutes=int(rng.integers(0, 600)))
            candidates = [skill] if given else list(SKILLS)
            for candidate in candidates:
                rows.append(
                    (
                        candidate,
                        f"L{learner:04d}",
                        item_id,
                        f"C{learner % 7}",
                        "quiz",
                        response,
                        2,
                        at,
                        not given,
                    )
                )
    return rows


def write_intermediate(con, rows, items):
    con.execute("create schema if not exists intermediate")
    con.execute(
        """create or replace table intermediate.int_irt_responses (
            skill_id varchar, learner_id varchar, item_id varchar, company_id varchar,
            item_type varchar, response integer, n_categories integer, submitted_at timestamp,
            is_candidate boolean, entry_level varchar)"""
    )
    con.executemany(
        "insert into intermediate.int_irt_responses values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [row if len(row) == 10 else (*row, "unknown") for row in rows],
    )
    con.execute(
        """create or replace table intermediate.int_item_candidate_skills (
            item_id varchar, course_id varchar, skill_id varchar, is_given boolean,
            n_candidates integer)"""
    )
    candidate_rows = []
    for item_id, skill, _, given in items:
        if given:
            candidate_rows.append((item_id, f"course_{skill}", skill, True, 1))
        else:
            candidate_rows += [(item_id, "course_mixed", s, False, 2) for s in SKILLS]
    con.executemany(
        "insert into intermediate.int_item_candidate_skills values (?, ?, ?, ?, ?)",
        candidate_rows,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Run 1 on days 0-8; run 2 after day 9 lands for 60 learners and a brand-new item."""
    rng, theta, items, slope, difficulty = simulate_truth()
    everyone = np.arange(N_LEARNERS)
    rows = []
    for day in range(9):
        rows += response_rows(
            rng, theta, items, slope, difficulty, day, everyone[everyone % 9 == day], per_learner=24
        )
    path = tmp_path_factory.mktemp("irt") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    write_intermediate(con, rows, items)
    settings = IrtSettings(min_item_responses=30, min_assignment_responses=50)
    run_calibration(con, "run1", START + timedelta(days=9), settings)
    run_scoring(con, "run1", START + timedelta(days=9), settings)
    first = snapshot(con)

    new_item = ("alpha_new", "alpha", 0, True)
    items_2 = [*items, new_item]
    slope_2 = np.append(slope, 1.2)
    difficulty_2 = np.append(difficulty, 0.3)
    movers = rng.choice(N_LEARNERS, size=60, replace=False)
    rows += response_rows(rng, theta, items_2, slope_2, difficulty_2, 9, movers, per_learner=6)
    for learner in rng.choice(np.setdiff1d(everyone, movers), size=80, replace=False):
        p = 1 / (1 + np.exp(-1.2 * (theta[learner, 0] - 0.3)))
        rows.append(
            (
                "alpha",
                f"L{learner:04d}",
                "alpha_new",
                "C0",
                "quiz",
                int(rng.random() < p),
                2,
                START + timedelta(days=9, hours=1),
                False,
            )
        )
    # The 80 answer only the new item: they must move too; record who did.
    answered_new = {r[1] for r in rows if r[2] == "alpha_new"}
    write_intermediate(con, rows, items_2)
    run_calibration(con, "run2", START + timedelta(days=10), settings)
    run_scoring(con, "run2", START + timedelta(days=10), settings)
    second = snapshot(con)
    yield {
        "con": con,
        "path": path,
        "first": first,
        "second": second,
        "theta": theta,
        "items": items,
        "movers": {f"L{m:04d}" for m in movers} | answered_new,
        "settings": settings,
    }
    con.close()


def snapshot(con):
    return {
        "params": {
            (s, i): (a, b)
            for s, i, a, b in con.execute(
                "select skill_id, item_id, slope, difficulty from irt.item_parameters"
            ).fetchall()
        },
        "abilities": {
            (lrn, s): (t, se)
            for lrn, s, t, se in con.execute(
                "select learner_id, skill_id, theta, theta_se from irt.learner_abilities"
            ).fetchall()
        },
    }


def test_anchored_item_parameters_are_identical_in_the_next_run(two_runs):
    first, second = two_runs["first"]["params"], two_runs["second"]["params"]
    for key, value in first.items():
        if value[0] is not None and value[0] > 0:
            assert second[key] == value, key
    # alpha got a new item, so it was refitted with its 30 calibrated items held fixed; beta
    # had nothing new and was not refitted at all.
    anchored = (
        two_runs["con"]
        .execute(
            "select count(*) from irt.item_parameters where anchored and skill_id = 'alpha' "
            "and run_id = 'run2'"
        )
        .fetchone()[0]
    )
    assert anchored >= 29


def test_a_new_item_is_calibrated_onto_the_existing_scale(two_runs):
    con = two_runs["con"]
    slope, difficulty, anchored = con.execute(
        "select slope, difficulty, anchored from irt.item_parameters where item_id = 'alpha_new'"
    ).fetchone()
    assert not anchored
    assert abs(difficulty - 0.3) < 0.6 and 0.4 < slope < 3
    run_type, n_new = con.execute(
        "select run_type, n_new_items from irt.calibration_runs "
        "where run_id = 'run2' and skill_id = 'alpha'"
    ).fetchone()
    assert run_type == "anchored" and n_new == 1


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


def test_an_item_without_skill_is_assigned_to_its_true_skill(two_runs):
    rows = dict(
        (i, (s, m, c))
        for i, s, m, c in two_runs["con"]
        .execute(
            "select item_id, skill_id, method, confidence from irt.item_skill_assignments "
            "where item_id like 'mixed_%'"
        )
        .fetchall()
    )
    assert rows["mixed_a"][:2] == ("alpha", "data")
    assert rows["mixed_b"][:2] == ("beta", "data")
    assert rows["mixed_a"][2] > 0.9 and rows["mixed_b"][2] > 0.9


def test_an_assigned_item_is_calibrated_on_each_of_its_responses_once(two_runs):
    """Its responses are settled once assigned: read as candidates too, they counted twice."""
    con = two_runs["con"]
    counts = {}
    for item, skill in (("mixed_a", "alpha"), ("mixed_b", "beta")):
        calibrated = con.execute(
            "select n_responses from irt.item_parameters where item_id = ? and skill_id = ?",
            [item, skill],
        ).fetchone()[0]
        landed = con.execute(
            "select count(*) from intermediate.int_irt_responses "
            "where item_id = ? and skill_id = ?",
            [item, skill],
        ).fetchone()[0]
        counts[item] = (calibrated, landed)
    # alpha was refitted in run 2, on all of mixed_a's responses; beta was not (nothing new),
    # so mixed_b keeps the count of run 1, a few responses fewer than now.
    assert counts["mixed_a"][0] == counts["mixed_a"][1] > 0
    assert 0.9 * counts["mixed_b"][1] <= counts["mixed_b"][0] <= counts["mixed_b"][1]


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


def test_full_recalibration_is_linked_back_to_the_old_scale(two_runs, tmp_path):
    con = two_runs["con"]
    copy = tmp_path / "copy.duckdb"
    before = two_runs["second"]["params"]
    settings = IrtSettings(full_recalibration=True)
    con.execute("checkpoint")
    shutil.copy(two_runs["path"], copy)
    recal = duckdb.connect(str(copy))
    run_calibration(recal, "run3", START + timedelta(days=11), settings)
    after = {
        (s, i): (a, b)
        for s, i, a, b in recal.execute(
            "select skill_id, item_id, slope, difficulty from irt.item_parameters "
            "where slope > 0 and flag is null"
        ).fetchall()
    }
    recal.close()
    common = [k for k in after if before.get(k) and before[k][0] and before[k][0] > 0]
    shift = np.mean([after[k][1] - before[k][1] for k in common])
    assert abs(shift) < 0.05
    assert np.corrcoef([after[k][1] for k in common], [before[k][1] for k in common])[0, 1] > 0.98


def test_irt_sees_through_the_selection_that_biases_raw_percent_correct(tmp_path):
    """Learners enrol in courses near their own level and the course after it, so everyone
    gets about the same share right: raw percent-correct hardly ranks them, IRT does."""
    rng = np.random.default_rng(21)
    n_learners = 800
    theta = rng.normal(0, 1, n_learners)
    centres = np.linspace(-2, 2, 9)
    difficulty = np.repeat(centres, 8) + rng.normal(0, 0.4, 72)
    slope = rng.lognormal(np.log(1.3), 0.2, 72)
    items = [(f"item_{j:02d}", "alpha", 0, True) for j in range(72)]
    rows = []
    for learner in range(n_learners):
        entry = int(np.argmin(np.abs(centres - (theta[learner] + rng.normal(0, 0.7)))))
        for course in sorted({entry, min(entry + 1, 8)}):
            for j in range(course * 8, course * 8 + 8):
                p = 1 / (1 + np.exp(-slope[j] * (theta[learner] - difficulty[j])))
                rows.append(
                    (
                        "alpha",
                        f"L{learner:04d}",
                        items[j][0],
                        "C0",
                        "quiz",
                        int(rng.random() < p),
                        2,
                        START,
                        False,
                        f"level_{entry}",
                    )
                )
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    write_intermediate(con, rows, items)
    run_calibration(con, "run1", START, IrtSettings())
    run_scoring(con, "run1", START, IrtSettings())
    estimates = dict(con.execute("select learner_id, theta from irt.learner_abilities").fetchall())
    raw = dict(
        con.execute(
            "select learner_id, avg(response) from intermediate.int_irt_responses group by all"
        ).fetchall()
    )
    con.close()
    learners = sorted(estimates)
    truth = np.array([theta[int(k[1:])] for k in learners])
    irt_r = np.corrcoef(truth, [estimates[k] for k in learners])[0, 1]
    raw_r = np.corrcoef(truth, [raw[k] for k in learners])[0, 1]
    # With the true item parameters EAP reaches about 0.90 here; one latent distribution for
    # all learners reaches only 0.59 because who answers which item depends on ability; one per
    # entry level (multiple-group MML) removes that bias.
    assert raw_r < 0.3
    assert irt_r > 0.8


def test_an_item_not_fitted_before_keeps_its_responses_when_it_is_calibrated_later(tmp_path):
    """An item too rare to fit in one run is stored without parameters; when it is calibrated
    in a later run its responses are taken as they are, not mapped through placeholder
    categories."""
    from orchestration.irt_runs import ensure_irt_schema, stored_calibration

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_irt_schema(con)
    con.execute(
        "insert into irt.item_parameters (skill_id, item_id, model, slope, thresholds, "
        "categories, n_categories, anchored, run_id, calibrated_at) values "
        "('alpha', 'rare', '2pl', null, null, [-1, -1], 2, false, 'r', now()), "
        "('alpha', 'fitted', 'grm', 1.1, [-0.5, 0.7], [0, 2, 3], 3, false, 'r', now())"
    )
    stored = stored_calibration(con, "alpha")
    assert stored.items.tolist() == ["fitted"]
    assert stored.categories[0].tolist() == [0, 2, 3]
    con.close()


# -- history that changes under the IRT stage ------------------------------------------------


@pytest.fixture(scope="module")
def changed_history(tmp_path_factory):
    """Run 1 on days 0-8, then a run after changes that keep each learner's response count and
    latest time, and after items move between skills; then a run with nothing new."""
    rng, theta, items, slope, difficulty = simulate_truth(seed=9)
    everyone = np.arange(N_LEARNERS)
    rows = []
    for day in range(9):
        rows += response_rows(
            rng, theta, items, slope, difficulty, day, everyone[everyone % 9 == day], per_learner=24
        )
    # An assignment on which nobody scored in the two lowest of its four categories.
    graded = ("alpha_graded", "alpha", 0, True)
    items = [*items, graded]
    for learner in range(300):
        response = 3 if theta[learner, 0] + rng.normal(0, 0.5) > 0 else 2
        rows.append(
            (
                "alpha",
                f"L{learner:04d}",
                graded[0],
                f"C{learner % 7}",
                "assignment",
                response,
                4,
                START + timedelta(days=learner % 9, hours=12),
                False,
            )
        )
    path = tmp_path_factory.mktemp("irt_changes") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    write_intermediate(con, rows, items)
    settings = IrtSettings()
    run_calibration(con, "run1", START + timedelta(days=9), settings)
    run_scoring(con, "run1", START + timedelta(days=9), settings)
    first = snapshot(con)
    checked_first = verify_scoring(con)

    # 1. twelve new scores of 0 on the assignment
    for learner in range(300, 312):
        rows.append(
            (
                "alpha",
                f"L{learner:04d}",
                graded[0],
                f"C{learner % 7}",
                "assignment",
                0,
                4,
                START + timedelta(days=9, hours=3),
                False,
            )
        )
    # 2. late earlier attempts: twenty first attempts replaced by an earlier, opposite answer
    late = []
    for k, row in enumerate(rows):
        if row[0] == "beta" and row[2] == "beta_11" and len(late) < 20:
            rows[k] = (*row[:5], 1 - row[5], row[6], row[7] - timedelta(minutes=5), row[8])
            late.append(row[1])
    # 2. a max_score change moves every category of one item, counts and times unchanged
    rows = [(*r[:5], 1 - r[5], *r[6:]) if r[2] == "beta_03" else r for r in rows]
    # 2. a learner changes company
    rows = [(*r[:3], "C_new", *r[4:]) if r[1] == "L0001" else r for r in rows]
    # 5. one more day for a few learners: the gain periods move by a day
    movers = rng.choice(N_LEARNERS, size=40, replace=False)
    rows += response_rows(rng, theta, items[:-1], slope, difficulty, 9, movers, per_learner=4)
    write_intermediate(con, rows, items)
    # 4. alpha_05's course gained the skill beta (it had no skill_id of its own)
    con.execute("delete from intermediate.int_item_candidate_skills where item_id = 'alpha_05'")
    con.execute(
        "insert into intermediate.int_item_candidate_skills values "
        "('alpha_05', 'course_ab', 'alpha', false, 2), ('alpha_05', 'course_ab', 'beta', false, 2)"
    )
    con.execute(
        "update intermediate.int_irt_responses set is_candidate = true where item_id = 'alpha_05'"
    )
    con.execute(
        "insert into intermediate.int_irt_responses select 'beta', learner_id, item_id, "
        "company_id, item_type, response, n_categories, submitted_at, true, entry_level "
        "from intermediate.int_irt_responses where item_id = 'alpha_05'"
    )
    # 4. beta_07 lost its skill_id; its course teaches only alpha
    con.execute(
        "update intermediate.int_item_candidate_skills set skill_id = 'alpha', is_given = false "
        "where item_id = 'beta_07'"
    )
    con.execute(
        "update intermediate.int_irt_responses set skill_id = 'alpha' where item_id = 'beta_07'"
    )
    run_calibration(con, "run2", START + timedelta(days=10), settings)
    second_scoring = run_scoring(con, "run2", START + timedelta(days=10), settings)
    second = snapshot(con)
    checked_second = verify_scoring(con)
    run_calibration(con, "run3", START + timedelta(days=11), settings)
    third_scoring = run_scoring(con, "run3", START + timedelta(days=11), settings)
    yield {
        "con": con,
        "first": first,
        "second": second,
        "late": set(late),
        "checked": (checked_first, checked_second, verify_scoring(con)),
        "scorings": (second_scoring, third_scoring),
    }
    con.close()


def test_every_stored_estimate_equals_a_rescoring_from_scratch_after_changes(changed_history):
    for check in changed_history["checked"]:
        assert check.n_checked > 1000
        assert check.mismatches == []


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


def test_an_item_whose_candidate_skills_change_is_decided_again(changed_history):
    con = changed_history["con"]
    rows = dict(
        (item, (skill, method, candidates))
        for item, skill, method, candidates in con.execute(
            "select item_id, skill_id, method, candidate_skills from irt.item_skill_assignments "
            "where item_id in ('alpha_05', 'beta_07')"
        ).fetchall()
    )
    assert rows["alpha_05"] == ("alpha", "data", "alpha,beta")
    assert rows["beta_07"] == ("alpha", "only_course_skill", "alpha")
    parameters = con.execute(
        "select skill_id, item_id from irt.item_parameters "
        "where item_id in ('alpha_05', 'beta_07') order by all"
    ).fetchall()
    assert parameters == [("alpha", "alpha_05"), ("alpha", "beta_07")]


def test_a_run_with_nothing_new_rescores_nobody(changed_history):
    second, third = changed_history["scorings"]
    assert sum(s["rescored"] for s in second.per_skill) > 40
    assert sum(s["rescored"] for s in third.per_skill) == 0
