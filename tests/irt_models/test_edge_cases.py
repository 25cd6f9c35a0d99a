"""Awkward items and bad input are handled, flagged or refused clearly, never crash.

Guards: unobserved graded categories are collapsed and flagged; items with too few
responses or a single category are flagged and not fitted (NaN parameters), and scoring
ignores them; a miskeyed item is flagged for negative discrimination and by item fit; bad
arguments raise ValueError naming the argument; a fit stopped at max_iter warns and says
converged=False; a warm start converges in fewer iterations; unknown items at scoring are
ignored by default or refused on request.
"""

import warnings

import numpy as np
import pytest

import irt_models as irt


@pytest.fixture(scope="module")
def sim():
    return irt.simulate(1500, 20, "2pl", seed=13)


def test_unobserved_graded_categories_are_collapsed_and_flagged():
    s = irt.simulate(1500, 6, "grm", n_categories=4, seed=2)
    r = s.responses.copy()
    r[(s.items == 0) & (r == 2)] = 3  # nobody uses category 2 of item 0
    cal = irt.calibrate(s.persons, s.items, r, "grm", n_categories=5)  # and nobody uses 4
    assert cal.flag[0] == "collapsed_categories"
    assert cal.n_categories[0] == 3
    np.testing.assert_array_equal(cal.categories[0, :3], [0, 1, 3])
    assert np.all(np.diff(cal.thresholds[0, :2]) > 0) and np.isnan(cal.thresholds[0, 2:]).all()
    assert np.isfinite(cal.slope).all()
    scores = irt.score(cal, s.persons, s.items, r)
    assert np.isfinite(scores.theta).all()


def test_items_with_too_few_responses_are_flagged_and_not_fitted(sim):
    keep = (sim.items != 3) | (sim.persons < 10)  # item 3 answered by 10 persons only
    cal = irt.calibrate(sim.persons[keep], sim.items[keep], sim.responses[keep])
    assert cal.flag[3] == "too_few_responses"
    assert cal.n_responses[3] == 10
    assert np.isnan(cal.slope[3]) and np.isnan(cal.difficulty[3])
    assert not cal.fitted[3] and cal.fitted[np.arange(20) != 3].all()
    scores = irt.score(cal, sim.persons[keep], sim.items[keep], sim.responses[keep])
    assert np.all(scores.n_items[:10] == 19)
    loose = irt.calibrate(sim.persons[keep], sim.items[keep], sim.responses[keep],
                          min_responses=5)  # fmt: skip
    assert np.isfinite(loose.slope[3])


def test_an_item_everyone_got_right_is_flagged_single_category(sim):
    r = sim.responses.copy()
    r[sim.items == 5] = 1
    cal = irt.calibrate(sim.persons, sim.items, r)
    assert cal.flag[5] == "single_category" and np.isnan(cal.slope[5])


def test_a_miskeyed_item_is_flagged_for_negative_discrimination(sim):
    r = sim.responses.copy()
    r[sim.items == 7] = 1 - r[sim.items == 7]
    cal = irt.calibrate(sim.persons, sim.items, r)
    assert cal.slope[7] < 0
    assert cal.flag[7] == "negative_discrimination"
    fit = irt.item_fit(cal, sim.persons, sim.items, r)
    assert fit.flag[7] == "negative_discrimination"
    np.testing.assert_allclose(fit.infit, cal.infit, rtol=1e-6)
    # under the original calibration, the flipped item misfits badly
    honest = irt.calibrate(sim.persons, sim.items, sim.responses)
    assert irt.item_fit(honest, sim.persons, sim.items, r).outfit[7] > 1.5


def test_sparse_items_stay_finite_under_the_default_priors():
    s = irt.simulate(30, 3, "2pl", seed=1)
    r = (s.theta[s.persons] > 0).astype(int)  # perfectly separated responses
    cal = irt.calibrate(s.persons, s.items, r, min_responses=10)
    assert np.isfinite(cal.slope).all() and np.all(cal.slope < 10)


def test_a_fit_stopped_at_max_iter_warns_and_reports_not_converged(sim):
    with pytest.warns(irt.ConvergenceWarning, match="max_iter=2"):
        cal = irt.calibrate(sim.persons, sim.items, sim.responses, max_iter=2)
    assert cal.converged is False and cal.iterations == 2


def test_a_warm_start_from_the_previous_run_converges_in_fewer_iterations(sim):
    cold = irt.calibrate(sim.persons, sim.items, sim.responses)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warm = irt.calibrate(sim.persons, sim.items, sim.responses, init=cold)
    assert warm.iterations < cold.iterations
    np.testing.assert_allclose(warm.slope, cold.slope, atol=2e-3)


def test_unknown_items_are_ignored_by_default_or_refused_on_request(sim):
    cal = irt.calibrate(sim.persons, sim.items, sim.responses)
    items = np.where(sim.items == 0, 999, sim.items)
    s = irt.score(cal, sim.persons, items, sim.responses)
    assert np.all(s.n_items == 19)
    with pytest.raises(ValueError, match="items: 1 item"):
        irt.score(cal, sim.persons, items, sim.responses, unknown_items="raise")


def test_a_person_without_usable_responses_gets_the_prior(sim):
    cal = irt.calibrate(sim.persons, sim.items, sim.responses)
    s = irt.score(cal, ["a", "b"], [0, 999], [1, 1])
    assert s.n_items.tolist() == [1, 0]
    assert s.theta[1] == pytest.approx(0.0, abs=1e-9) and s.se[1] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"model": "3pl"}, "model"),
        ({"quadrature": 2}, "quadrature"),
        ({"tol": -1}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"n_categories": 1}, "n_categories"),
        ({"fixed_items": [1, 2]}, "fixed_items"),
        ({"init": "previous"}, "init"),
        ({"prior": 3}, "prior"),
        ({"min_responses": -2}, "min_responses"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(sim, kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}"):
        irt.calibrate(sim.persons, sim.items, sim.responses, **kwargs)


def test_bad_responses_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="^responses"):
        irt.calibrate([1, 2], [1, 1], [0.5, 1])
    with pytest.raises(ValueError, match="^responses"):
        irt.calibrate([1, 2], [1, 1], [-1, 1])
    with pytest.raises(ValueError, match="persons, items, responses"):
        irt.calibrate([1, 2, 3], [1, 1], [0, 1])
    with pytest.raises(ValueError, match="^model"):
        irt.calibrate(np.arange(40), np.zeros(40, int), np.arange(40) % 3, "2pl")
    with pytest.raises(ValueError, match="^method"):
        cal = irt.Calibration.from_parameters([0], "2pl", [1.0], [0.0])
        irt.score(cal, [0], [0], [1], method="mle")


def test_summary_reports_the_fit_and_every_item(sim):
    cal = irt.calibrate(sim.persons, sim.items, sim.responses)
    text = cal.summary()
    assert "log-likelihood" in text and f"{cal.loglik:.3f}" in text
    assert len(text.splitlines()) == 6 + cal.n_items


def test_a_degenerate_information_matrix_gives_unknown_standard_errors_not_an_error():
    """An item at a degenerate optimum (slope near 0, unbounded intercept) can make the
    information matrix non-finite; its standard errors are then NaN and the fit stands."""
    from irt_models.information import _inverse

    result = _inverse(np.array([[np.nan, 0.0], [0.0, 1.0]]))
    assert result.shape == (2, 2) and np.isnan(result).all()


def _item_calibrated_on_high_scores():
    """A graded item calibrated when nobody scored in its two lowest categories."""
    return irt.Calibration.from_parameters(
        ["easy", "graded"],
        ["2pl", "grm"],
        [1.2, 1.5],
        [[0.0], [-0.5, 0.8]],
        categories=[[0, 1], [2, 3, 4]],
    )


def test_a_response_below_every_calibrated_category_scores_in_the_lowest():
    cal = _item_calibrated_on_high_scores()
    persons = ["p0", "p0", "p2", "p2"]
    items = ["easy", "graded", "easy", "graded"]
    low = irt.score(cal, persons, items, [1, 0, 1, 2])
    # 0 and 2 on the graded item both fall in its lowest model category (value 2)
    assert low.theta[0] == pytest.approx(low.theta[1], abs=1e-12)
    above = irt.score(cal, ["p"], ["graded"], [7])
    top = irt.score(cal, ["p"], ["graded"], [4])
    assert above.theta[0] == pytest.approx(top.theta[0], abs=1e-12)


def test_an_anchored_calibration_accepts_responses_outside_the_anchor_categories():
    anchor = _item_calibrated_on_high_scores()
    s = irt.simulate(400, 3, "2pl", seed=4)
    persons = np.concatenate([s.persons, np.arange(400)])
    items = np.concatenate([s.items.astype(str), np.full(400, "graded")])
    rng = np.random.default_rng(1)
    responses = np.concatenate([s.responses, rng.integers(0, 5, 400)])  # 0 and 1 are new
    cal = irt.calibrate(persons, items, responses, "mixed", fixed_items=anchor)
    j = int(cal.index(["graded"])[0])
    assert cal.fixed[j] and cal.slope[j] == 1.5
    np.testing.assert_array_equal(cal.categories[j, :3], [2, 3, 4])
    assert np.isfinite(cal.slope).all()


def test_category_values_must_increase():
    with pytest.raises(ValueError, match="categories: item 'graded'"):
        irt.Calibration.from_parameters(
            ["graded"], "grm", [1.0], [[-0.5, 0.8]], categories=[[3, 2, 4]]
        )
