"""Small warehouses for the tests of orchestration.irt, with intermediate tables written by the
test from a known truth (not by dbt).

``two_runs``: the first run calibrates freely; a second run with one more day of data holds the
calibrated items fixed, re-scores only learners with new responses, calibrates a new item onto
the scale, and assigns items without a skill by data. ``changed_history``: runs after changes
that keep each learner's response count and latest time, and after items move between skills;
then a run with nothing new. Both are built once for the whole package.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pytest

from orchestration.irt.calibration import run_calibration
from orchestration.irt.scoring import run_scoring
from orchestration.irt.settings import IrtSettings
from orchestration.irt.verification import verify_scoring

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
    insert_rows(
        con,
        "intermediate.int_irt_responses",
        [row if len(row) == 10 else (*row, "unknown") for row in rows],
    )
    con.execute(
        """create or replace table intermediate.int_item_candidate_skills (
            item_id varchar, course_id varchar, skill_id varchar, is_given boolean,
            n_candidates integer, is_candidate boolean)"""
    )
    candidate_rows = []
    for item_id, skill, _, given in items:
        if given:
            candidate_rows.append((item_id, f"course_{skill}", skill, True, 1, False))
        else:
            candidate_rows += [(item_id, "course_mixed", s, False, 2, True) for s in SKILLS]
    insert_rows(con, "intermediate.int_item_candidate_skills", candidate_rows)


def insert_rows(con, table: str, rows: list[tuple]) -> None:
    """Insert ``rows`` in one statement, one list per column unnested side by side: a row-by-row
    executemany of the fixtures' ~25k rows took half a minute."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    unnested = ", ".join(f"unnest(${i + 1})" for i in range(len(columns)))
    con.execute(f"insert into {table} select {unnested}", columns)


@pytest.fixture(name="write_intermediate")
def write_intermediate_fixture():
    """``write_intermediate(con, rows, items)`` for tests that build their own warehouse."""
    return write_intermediate


@pytest.fixture(name="write_intermediate_module", scope="session")
def write_intermediate_session_fixture():
    """The same, for module- and session-scoped fixtures."""
    return write_intermediate


@pytest.fixture(scope="package")
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
        "fit": {
            (s, i): (infit, outfit)
            for s, i, infit, outfit in con.execute(
                "select skill_id, item_id, infit, outfit from irt.item_parameters"
            ).fetchall()
        },
        "abilities": {
            (lrn, s): (t, se)
            for lrn, s, t, se in con.execute(
                "select learner_id, skill_id, theta, theta_se from irt.learner_abilities"
            ).fetchall()
        },
    }


@pytest.fixture(scope="package")
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
        "('alpha_05', 'course_ab', 'alpha', false, 2, true), "
        "('alpha_05', 'course_ab', 'beta', false, 2, true)"
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
