"""calibrate() recovers simulated item parameters to within their standard errors.

Guards the estimator and its standard errors together: for every estimated parameter
``z = (estimate - truth) / SE`` should behave like a standard normal draw. With ``n``
parameters the root mean square of ``z`` has a sampling SD of about ``1 / sqrt(2 n)``, so it
must lie within 4 such SDs of 1 (``|rms - 1| < 4 / sqrt(2 n)``) unless the estimates or the
SEs are off; and ``max |z| < 4.5``, which ``n`` (30 to 150 here) honest standard normal
draws exceed with probability below 0.1 %. Models: 2PL, Rasch, graded and mixed, dense and
sparse designs.
"""

import numpy as np
import pytest

import irt_models as irt


def z_scores(cal, sim):
    z = [(cal.slope - sim.slope) / cal.slope_se]
    m = cal.thresholds.shape[1]
    z.append(((cal.thresholds - sim.thresholds[:, :m]) / cal.thresholds_se).ravel())
    z = np.concatenate(z)
    return z[np.isfinite(z)]


CASES = [
    # model, fit model, persons, items, items per person (None: dense), latent variance
    ("2pl", "2pl", 2000, 30, None, 1.0),
    ("2pl", "2pl", 4000, 40, 15, 1.0),
    ("rasch", "rasch", 2000, 30, None, 1.6),
    ("grm", "grm", 2000, 20, None, 1.0),
    ("mixed", "mixed", 3000, 30, 20, 1.0),
]


@pytest.mark.parametrize(("model", "fit_model", "n_persons", "n_items", "per_person", "var"), CASES)
def test_estimates_lie_within_their_standard_errors_of_the_truth(
    model, fit_model, n_persons, n_items, per_person, var
):
    sim = irt.simulate(
        n_persons, n_items, model, items_per_person=per_person, latent_var=var, seed=7
    )
    cal = irt.calibrate(sim.persons, sim.items, sim.responses, fit_model)
    assert cal.converged
    z = z_scores(cal, sim)
    assert len(z) >= n_items
    rms = np.sqrt(np.mean(z**2))
    assert abs(rms - 1) < 4 / np.sqrt(2 * len(z)), rms
    assert np.abs(z).max() < 4.5


def test_rasch_recovers_the_latent_variance():
    sim = irt.simulate(3000, 25, "rasch", latent_var=1.6, seed=3)
    cal = irt.calibrate(sim.persons, sim.items, sim.responses, "rasch")
    # SE of a variance estimated from n draws is about var * sqrt(2 / n) = 0.041 here
    assert cal.latent_var == pytest.approx(1.6, abs=4 * 1.6 * np.sqrt(2 / 3000))
    assert np.all(cal.model == "rasch") and np.all(cal.slope == 1.0)


def test_graded_items_recover_with_mixed_numbers_of_categories():
    a = np.array([1.0, 1.5, 0.8, 1.2, 2.0, 1.1])
    b = np.array([
        [-1.0, 0.5, np.nan],
        [-0.5, np.nan, np.nan],
        [-1.5, -0.2, 1.0],
        [0.3, np.nan, np.nan],
        [-1.0, 0.0, 1.2],
        [-0.3, 0.9, np.nan],
    ])  # fmt: skip
    sim = irt.simulate(3000, 6, slope=a, thresholds=b, seed=5)
    cal = irt.calibrate(sim.persons, sim.items, sim.responses, "mixed")
    np.testing.assert_array_equal(cal.n_categories, [3, 2, 4, 2, 4, 3])
    np.testing.assert_array_equal(cal.model, ["grm", "2pl", "grm", "2pl", "grm", "grm"])
    z = z_scores(cal, sim)
    assert np.abs(z).max() < 4.5
