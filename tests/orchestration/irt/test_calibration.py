"""Calibration keeps each skill's scale: anchored items keep their parameters exactly, new items
land on the existing scale, a full recalibration is linked back to the old one, and the
multiple-group model sees through the selection of learners into courses."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import duckdb
import numpy as np

from orchestration.irt.calibration import run_calibration
from orchestration.irt.scoring import run_scoring
from orchestration.irt.settings import IrtSettings

START = datetime(2026, 6, 1)


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


def test_anchors_keep_the_fit_of_their_own_calibration(two_runs):
    """The anchored run of alpha fits its new item on that item's takers; the anchors' infit
    and outfit stay those of the calibration that established them."""
    con = two_runs["con"]
    anchors = con.execute(
        "select skill_id, item_id from irt.item_parameters "
        "where anchored and skill_id = 'alpha' and run_id = 'run2'"
    ).fetchall()
    assert len(anchors) >= 29
    for key in anchors:
        assert two_runs["second"]["fit"][key] == two_runs["first"]["fit"][key], key
    assert two_runs["second"]["fit"][("alpha", "alpha_new")][0] is not None


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


def test_irt_sees_through_the_selection_that_biases_raw_percent_correct(
    tmp_path, write_intermediate
):
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


def test_sx2_is_stored_with_each_fresh_calibration_and_kept_otherwise(two_runs):
    """S-X2 of every fitted item with the calibration that produced it; beta, not refitted in
    run 2, keeps its run-1 values; a sample below the skill's learners uses that many."""
    from orchestration.irt.item_fit import sampled_sx2
    from orchestration.irt.responses import skill_responses
    from orchestration.irt.tables import stored_calibration

    con = two_runs["con"]
    rows = con.execute(
        "select skill_id, run_id, count(*), count(sx2), min(sx2_df), min(sx2_p), "
        "max(sx2_p), min(sx2_learners), max(sx2_learners) "
        "from irt.item_parameters where slope > 0 group by all order by all"
    ).fetchall()
    assert [(skill, run) for skill, run, *_ in rows] == [("alpha", "run2"), ("beta", "run1")]
    for _, _, n, n_sx2, min_df, min_p, max_p, min_learners, max_learners in rows:
        assert n_sx2 == n and min_df >= 1 and 0 <= min_p < max_p <= 1
        assert min_learners == max_learners > 0
    cal = stored_calibration(con, "beta")
    data = skill_responses(con, "beta")
    learners = len(np.unique(data.learners))
    again = sampled_sx2(cal, data, max_learners=learners - 7)
    assert again.n_learners == learners - 7
    full = sampled_sx2(cal, data, max_learners=0)
    assert full.n_learners == learners and np.all(np.isfinite(full.sx2))
    assert not np.allclose(again.sx2, full.sx2)  # a different sample, different statistics
