"""Items without a skill are assigned to the candidate skill that explains their responses.

Guards irt_models.skill_assignment: with correlated skills and noisy ability estimates, as in
the warehouse, the true skill wins with high confidence once there are enough responses; too
few responses or a miskeyed item leave the item unassigned.
"""

import numpy as np
import pytest

from irt_models.skill_assignment import assign_skill


def correlated_abilities(rng, n, k, rho):
    cov = np.full((k, k), rho) + np.eye(k) * (1 - rho)
    return rng.multivariate_normal(np.zeros(k), cov, size=n)


def noisy_estimates(rng, true, se):
    """EAP-like estimates: shrunk towards 0 with measurement noise, as the warehouse has."""
    reliability = 1 / (1 + se**2)
    return reliability * (true + rng.normal(0, se, size=true.shape))


@pytest.mark.parametrize("true_skill", [0, 1, 2])
def test_the_true_skill_wins_among_correlated_candidates(true_skill):
    rng = np.random.default_rng(11 + true_skill)
    true = correlated_abilities(rng, 400, 3, rho=0.6)
    estimates = noisy_estimates(rng, true, se=0.45)
    p = 1 / (1 + np.exp(-1.3 * (true[:, true_skill] - 0.2)))
    responses = rng.random(400) < p
    result = assign_skill(responses, estimates)
    assert result.best == true_skill
    assert result.confidence > 0.95


def test_accuracy_over_many_items_with_fifty_responses_is_high():
    rng = np.random.default_rng(5)
    hits = 0
    for trial in range(200):
        true = correlated_abilities(rng, 50, 2, rho=0.5)
        estimates = noisy_estimates(rng, true, se=0.4)
        skill = trial % 2
        slope = rng.lognormal(np.log(1.4), 0.25)
        p = 1 / (1 + np.exp(-slope * (true[:, skill] - rng.normal(0, 0.7))))
        hits += assign_skill(rng.random(50) < p, estimates).best == skill
    assert hits / 200 >= 0.8


def test_graded_items_are_dichotomised_at_half_the_categories():
    rng = np.random.default_rng(3)
    true = correlated_abilities(rng, 300, 2, rho=0.5)
    latent = 1.5 * true[:, 1] + rng.logistic(size=300)
    categories = np.digitize(latent, [-1.5, 0.0, 1.5])
    result = assign_skill(categories, noisy_estimates(rng, true, 0.4), n_categories=4)
    assert result.best == 1


def test_too_few_responses_leave_the_item_unassigned():
    result = assign_skill(np.ones(10), np.zeros((10, 2)), min_responses=50)
    assert result.best is None and result.reason == "too_few_responses"


def test_a_miskeyed_item_with_only_negative_slopes_is_unassigned():
    rng = np.random.default_rng(8)
    true = correlated_abilities(rng, 300, 2, rho=0.5)
    p = 1 / (1 + np.exp(1.5 * true[:, 0]))
    result = assign_skill(rng.random(300) < p, true)
    assert result.best is None and result.reason == "no_positive_slope"


def test_abilities_of_the_wrong_shape_are_rejected_by_name():
    with pytest.raises(ValueError, match="abilities"):
        assign_skill(np.ones(5), np.zeros(5))
