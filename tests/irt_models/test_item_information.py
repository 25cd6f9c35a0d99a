"""Information curves match their closed forms and the curvature of the log-likelihood.

Guards irt_models.item_information: the 2PL case equals a^2 P (1 - P), and for a graded item
the information equals the expected negative second derivative of the log-likelihood in theta
(computed numerically), which is what makes 1/sqrt(I) a standard error.
"""

import numpy as np

from irt_models import Calibration
from irt_models.item_information import item_information, test_information


def test_two_pl_information_is_a_squared_p_q():
    cal = Calibration.from_parameters(["q"], "2pl", [1.7], [0.4])
    theta = np.linspace(-3, 3, 13)
    p = 1 / (1 + np.exp(-1.7 * (theta - 0.4)))
    assert np.allclose(item_information(cal, theta)[:, 0], 1.7**2 * p * (1 - p))


def test_graded_information_is_the_expected_curvature_of_the_loglikelihood():
    a, b = 1.3, np.array([-1.0, 0.2, 1.5])
    cal = Calibration.from_parameters(["g"], "grm", [a], [b])

    def probabilities(t):
        star = np.concatenate([[1.0], 1 / (1 + np.exp(-a * (t - b))), [0.0]])
        return star[:-1] - star[1:]

    for t in (-2.0, 0.0, 1.1):
        h = 1e-4
        p = probabilities(t)
        second = np.log(probabilities(t + h)) - 2 * np.log(p) + np.log(probabilities(t - h))
        expected = -np.sum(p * second / h**2)
        assert abs(item_information(cal, [t])[0, 0] - expected) < 1e-3


def test_test_information_sums_the_items():
    cal = Calibration.from_parameters(["a", "b"], "2pl", [1.0, 2.0], [0.0, 1.0])
    theta = np.array([-1.0, 0.0, 1.0])
    assert np.allclose(test_information(cal, theta), item_information(cal, theta).sum(axis=1))


def test_the_package_exports_the_information_curves_and_skill_assignment():
    import irt_models
    from irt_models.skill_assignment import assign_skill

    assert irt_models.test_information is test_information
    assert irt_models.item_information is item_information
    assert irt_models.assign_skill is assign_skill
    assert {"assign_skill", "item_information", "test_information"} <= set(irt_models.__all__)
