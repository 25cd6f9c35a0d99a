"""Estimates do not depend on how the same data are presented, nor on the grid size for EAP.

Guards: the same estimates whatever the row order and whatever the labels (integers or
strings); long input gives what the equivalent wide matrix gives; EAP scores move by less
than 1e-3 when the quadrature is doubled; scoring needs no dense matrix and works for
persons outside the calibration.
"""

import numpy as np
import pytest

import irt_models as irt


@pytest.fixture(scope="module")
def sparse_sim():
    return irt.simulate(1500, 30, "mixed", items_per_person=12, seed=11)


@pytest.fixture(scope="module")
def sparse_cal(sparse_sim):
    s = sparse_sim
    return irt.calibrate(s.persons, s.items, s.responses, "mixed")


def assert_same_items(c1, c2, atol=1e-8):
    np.testing.assert_allclose(c1.slope, c2.slope, atol=atol)
    np.testing.assert_allclose(c1.thresholds, c2.thresholds, atol=atol)
    np.testing.assert_allclose(c1.slope_se, c2.slope_se, atol=atol)
    assert c1.loglik == pytest.approx(c2.loglik, abs=1e-6)


def test_shuffling_the_rows_changes_nothing(sparse_sim, sparse_cal):
    s = sparse_sim
    order = np.random.default_rng(0).permutation(len(s.responses))
    shuffled = irt.calibrate(s.persons[order], s.items[order], s.responses[order], "mixed")
    assert_same_items(sparse_cal, shuffled)
    assert shuffled.iterations == sparse_cal.iterations


def test_string_labels_give_the_same_estimates_as_integer_codes(sparse_sim, sparse_cal):
    s = sparse_sim
    persons = np.char.add("learner-", s.persons.astype(str))
    items = np.array([f"item-{j:03d}" for j in s.items])
    named = irt.calibrate(persons, items, s.responses, "mixed")
    assert named.items[0] == "item-000"
    assert_same_items(sparse_cal, named)


def test_long_input_gives_the_same_estimates_as_the_equivalent_wide_matrix():
    s = irt.simulate(800, 12, "2pl", seed=2)
    wide = np.full((800, 12), np.nan)
    wide[s.persons, s.items] = s.responses
    wide[np.random.default_rng(1).random(wide.shape) < 0.3] = np.nan  # missing at random
    observed = ~np.isnan(wide[s.persons, s.items])
    from_long = irt.calibrate(s.persons[observed], s.items[observed], s.responses[observed])
    from_wide = irt.calibrate(*irt.wide_to_long(wide))
    assert_same_items(from_long, from_wide)


def test_eap_moves_less_than_1e_3_when_the_quadrature_is_doubled():
    s = irt.simulate(500, 60, "mixed", seed=4)
    cal = irt.calibrate(s.persons, s.items, s.responses, "mixed")
    base = irt.score(cal, s.persons, s.items, s.responses)
    fine = irt.score(cal, s.persons, s.items, s.responses, quadrature=2 * cal.quadrature)
    assert np.max(np.abs(base.theta - fine.theta)) < 1e-3
    assert np.max(np.abs(base.se - fine.se)) < 1e-3


def test_persons_not_in_the_calibration_are_scored_on_its_scale(sparse_cal):
    # new persons answering the calibrated items: only item parameters matter
    fresh = irt.simulate(
        400, 30, slope=sparse_cal.slope, thresholds=sparse_cal.thresholds, seed=5,
        items_per_person=20,
    )  # fmt: skip
    scores = irt.score(sparse_cal, fresh.persons + 10_000, fresh.items, fresh.responses)
    assert scores.persons[0] == 10_000
    assert np.all(scores.n_items == 20)
    assert np.corrcoef(scores.theta, fresh.theta)[0, 1] > 0.85
    # EAP is unbiased for the population mean; posterior SDs are below the prior SD
    assert abs(scores.theta.mean() - fresh.theta.mean()) < 0.1
    assert np.all(scores.se < 1.0)


def test_marginal_reliability_is_high_for_long_tests_and_low_for_short_ones(sparse_cal):
    long_test = irt.simulate(
        500, 30, slope=sparse_cal.slope, thresholds=sparse_cal.thresholds, seed=6
    )
    short = long_test.items < 3
    rel_long = irt.marginal_reliability(
        irt.score(sparse_cal, long_test.persons, long_test.items, long_test.responses)
    )
    rel_short = irt.marginal_reliability(
        irt.score(
            sparse_cal, long_test.persons[short], long_test.items[short],
            long_test.responses[short],
        )
    )  # fmt: skip
    assert 0.85 < rel_long < 1.0
    assert 0.0 < rel_short < rel_long


def test_marginal_reliability_of_arrays_equals_that_of_the_scores(sparse_cal, sparse_sim):
    s = sparse_sim
    scores = irt.score(sparse_cal, s.persons, s.items, s.responses)
    used = scores.n_items > 0
    from_arrays = irt.marginal_reliability(theta=scores.theta[used], se=scores.se[used])
    assert from_arrays == irt.marginal_reliability(scores)
    assert np.isnan(irt.marginal_reliability(theta=[0.5], se=[0.3]))
    with pytest.raises(ValueError, match="theta, se"):
        irt.marginal_reliability(theta=scores.theta)
    with pytest.raises(ValueError, match="not both"):
        irt.marginal_reliability(scores, theta=scores.theta, se=scores.se)
