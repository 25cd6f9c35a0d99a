"""score_groups: group latent means by marginal ML with the items fixed.

Guards: on a small case the estimate, its SE and the spread equal a direct computation
(Gauss-Hermite integration of each person's likelihood against the normal density, a
general-purpose optimiser and a finite-difference Hessian), and the item-parameter part of the
SE equals finite differences of the estimate over every item parameter; by simulation over
many groups the mean is unbiased, the SE matches the spread of the estimates and 95% intervals
cover the true latent mean (``se``), and the mean ability of the group's own persons
(``se_sample``), in 93-97% of cases, also when the items are calibrated with error (and then
not without the item-parameter part); groups without responses get NaN; bad arguments raise.
"""

import dataclasses

import numpy as np
import pytest
from scipy import optimize
from scipy.special import expit, log_expit, logsumexp

import irt_models as irt

N_ITEMS = 40


def bank(seed=0):
    rng = np.random.default_rng(seed)
    slope = rng.lognormal(0.0, 0.3, N_ITEMS)
    difficulty = rng.normal(0.0, 1.0, N_ITEMS)
    cal = irt.Calibration.from_parameters(np.arange(N_ITEMS), "2pl", slope, difficulty)
    return cal, slope, difficulty


def draw(theta, slope, difficulty, items_per_person, rng):
    """Long-format 2PL responses: each person answers a few random items."""
    n = len(theta)
    items = np.array([rng.choice(N_ITEMS, items_per_person, replace=False) for _ in range(n)])
    persons = np.repeat(np.arange(n), items_per_person)
    items = items.reshape(-1)
    p = expit(slope[items] * (theta[persons] - difficulty[items]))
    return persons, items, (rng.random(len(p)) < p).astype(int)


# Gauss-Hermite nodes and weights: the integral against a normal density, independent of the
# code's equally spaced grid (and, unlike scipy's adaptive quad per person, vectorised).
GH_NODES, GH_WEIGHTS = np.polynomial.hermite.hermgauss(160)


def direct_loglik(mu, log_sd, persons, items, responses, slope, difficulty, prior=None):
    """sum_p log integral prod_j P(y_pj | theta) N(theta; mu, sd) dtheta, by Gauss-Hermite."""
    sd = np.exp(log_sd)
    theta = mu + np.sqrt(2.0) * sd * GH_NODES  # the normal density's nodes
    z = slope[items][:, None] * (theta[None, :] - difficulty[items][:, None])
    log_p = log_expit(np.where(responses[:, None] == 1, z, -z))
    person = np.unique(persons, return_inverse=True)[1]
    per_person = np.zeros((person.max() + 1, len(theta)))
    np.add.at(per_person, person, log_p)
    total = logsumexp(per_person + np.log(GH_WEIGHTS / np.sqrt(np.pi)), axis=1).sum()
    if prior is not None:
        total -= 0.5 * (log_sd - np.log(prior[0])) ** 2 / prior[1] ** 2
    return total


def numeric_hessian(f, x, h=1e-3):
    x = np.asarray(x, float)
    k = len(x)
    hess = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            ea, eb = np.eye(k)[a] * h, np.eye(k)[b] * h
            hess[a, b] = (f(x + ea + eb) - f(x + ea - eb) - f(x - ea + eb) + f(x - ea - eb)) / (
                4 * h * h
            )
    return hess


def test_estimate_and_se_equal_a_direct_computation():
    cal, slope, difficulty = bank()
    rng = np.random.default_rng(5)
    theta = rng.normal(0.6, 0.8, 25)
    persons, items, responses = draw(theta, slope, difficulty, 6, rng)
    data = (persons, items, responses, slope, difficulty, (1.0, 0.5))
    lik = irt.likelihoods(cal, persons, items, responses, quadrature=121)
    got = irt.score_groups(lik, np.zeros(25, dtype=int))

    def neg(x):
        return -direct_loglik(x[0], x[1], *data)

    best = optimize.minimize(neg, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-7})
    cov = np.linalg.inv(numeric_hessian(neg, best.x))
    assert got.mean[0] == pytest.approx(best.x[0], abs=1e-4)
    assert got.sd[0] == pytest.approx(np.exp(best.x[1]), abs=1e-4)
    assert got.se[0] == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-3)
    assert got.n_persons[0] == 25


def test_fixed_spread_equals_a_direct_computation():
    cal, slope, difficulty = bank(1)
    rng = np.random.default_rng(6)
    theta = rng.normal(-0.4, 1.0, 15)
    persons, items, responses = draw(theta, slope, difficulty, 5, rng)
    lik = irt.likelihoods(cal, persons, items, responses, quadrature=121)
    got = irt.score_groups(lik, np.zeros(15, dtype=int), spread=0.9)

    def neg(mu):
        return -direct_loglik(mu, np.log(0.9), persons, items, responses, slope, difficulty)

    best = optimize.minimize_scalar(neg, bounds=(-3, 3), method="bounded", options={"xatol": 1e-8})
    h = 1e-3
    info = (neg(best.x + h) - 2 * neg(best.x) + neg(best.x - h)) / h**2
    assert got.mean[0] == pytest.approx(best.x, abs=1e-4)
    assert got.se[0] == pytest.approx(1 / np.sqrt(info), rel=1e-3)
    assert np.isnan(got.sd_se[0]) and got.sd[0] == 0.9


def test_persons_far_outside_their_groups_prior_equal_a_log_space_computation():
    # Sharp likelihoods (SD 0.05) and a narrow fixed spread: the outlier's likelihood and the
    # group's prior overlap nowhere in double precision (their product underflows), so its
    # pass falls back from linear to log space; the estimate still maximises the exact
    # log-space objective (without the fallback it is NaN).

    nodes = np.linspace(-6, 6, 241)
    theta = np.array([-0.1, 0.0, 0.05, 0.1, 0.2, 0.3, -0.2, 0.15, 0.0, 0.1, 5.0])
    ll = -0.5 * 400 * (nodes[None, :] - theta[:, None]) ** 2
    lik = irt.Likelihoods(np.arange(len(theta)), nodes, ll, np.full(len(theta), 50))
    got = irt.score_groups(lik, np.zeros(len(theta), dtype=int), spread=0.1)

    def neg(mu):
        z = -0.5 * ((nodes - mu) / 0.1) ** 2
        return -(logsumexp(ll + z[None, :], axis=1).sum() - len(theta) * logsumexp(z))

    best = optimize.minimize_scalar(neg, bounds=(-1, 2), method="bounded", options={"xatol": 1e-9})
    assert got.mean[0] == pytest.approx(best.x, abs=1e-6)
    assert np.isfinite(got.se[0]) and got.converged[0]


def test_simulation_unbiased_with_calibrated_se_and_coverage():
    """40 groups of 8-40 persons with 3-12 items each, 50 repetitions (2,000 intervals)."""
    cal, slope, difficulty = bank(2)
    rng = np.random.default_rng(11)
    z, covered, covered_sample = [], [], []
    for _ in range(50):
        size = rng.integers(8, 41, 40)
        group = np.repeat(np.arange(40), size)
        mu = rng.normal(0.0, 0.5, 40)
        theta = mu[group] + rng.normal(0.0, 0.85, len(group))
        k = int(rng.integers(3, 13))
        persons, items, responses = draw(theta, slope, difficulty, k, rng)
        got = irt.score_groups(irt.likelihoods(cal, persons, items, responses), group)
        z.append((got.mean - mu) / got.se)
        covered.append(np.abs(got.mean - mu) <= 1.96 * got.se)
        own = np.bincount(group, theta) / size  # the mean ability of the group's own persons
        covered_sample.append(np.abs(got.mean - own) <= 1.96 * got.se_sample)
    z = np.concatenate(z)
    assert abs(z.mean()) < 3 / np.sqrt(len(z))  # bias within 3 SEs of its mean
    assert 0.9 < z.std() < 1.1  # the SE matches the spread of the estimates
    assert 0.93 <= np.mean(np.concatenate(covered)) <= 0.97
    assert 0.93 <= np.mean(np.concatenate(covered_sample)) <= 0.97


def test_item_parameter_error_equals_finite_differences():
    # se_items^2 = sum over items and parameters of (d mean / d parameter * its SE)^2
    cal, slope, difficulty = bank(4)
    rng = np.random.default_rng(3)
    group = np.repeat(np.arange(3), [30, 12, 60])
    theta = np.array([0.5, -0.3, 0.0])[group] + rng.normal(0, 0.8, len(group))
    persons, items, responses = draw(theta, slope, difficulty, 6, rng)
    item_se = (np.full(N_ITEMS, 0.1), np.full(N_ITEMS, 0.15))
    lik = irt.likelihoods(cal, persons, items, responses, item_se=item_se)
    for spread in (None, 0.8):
        got = irt.score_groups(lik, group, spread=spread)
        plain = irt.score_groups(lik._replace(item_error=None), group, spread=spread)
        expected, h = np.zeros(3), 1e-4
        for field, se in (("slope", 0.1), ("thresholds", 0.15)):
            for j in range(N_ITEMS):
                means = []
                for sign in (1, -1):
                    values = getattr(cal, field).copy()
                    values[j] += sign * h
                    moved = dataclasses.replace(cal, **{field: values})
                    lik_j = irt.likelihoods(moved, persons, items, responses)
                    means.append(irt.score_groups(lik_j, group, spread=spread, tol=1e-10).mean)
                expected += ((means[0] - means[1]) / (2 * h) * se) ** 2
        assert got.se_items == pytest.approx(np.sqrt(expected), rel=1e-3)
        assert got.se_sample == pytest.approx(np.hypot(plain.se_sample, got.se_items))
        assert got.mean == pytest.approx(plain.mean)


def test_simulation_with_calibration_error_covers_with_the_item_part():
    """Items calibrated with error (slope SE 0.2, difficulty SE 0.4): 25 repetitions of 40
    groups; the intervals of the own persons' mean cover in 93-97% of cases with the
    item-parameter part, and in fewer without it."""
    cal, slope, difficulty = bank(5)
    rng = np.random.default_rng(12)
    item_se = (np.full(N_ITEMS, 0.2), np.full(N_ITEMS, 0.4))
    covered, covered_plain = [], []
    for _ in range(25):
        fitted = dataclasses.replace(
            cal,
            slope=slope + rng.normal(0, 0.2, N_ITEMS),
            thresholds=cal.thresholds + rng.normal(0, 0.4, (N_ITEMS, 1)),
        )
        size = rng.integers(20, 61, 40)
        group = np.repeat(np.arange(40), size)
        theta = rng.normal(0.0, 0.5, 40)[group] + rng.normal(0.0, 0.85, len(group))
        persons, items, responses = draw(theta, slope, difficulty, int(rng.integers(6, 16)), rng)
        lik = irt.likelihoods(fitted, persons, items, responses, item_se=item_se)
        got = irt.score_groups(lik, group)
        own = np.bincount(group, theta) / size
        covered.append(np.abs(got.mean - own) <= 1.96 * got.se_sample)
        plain = np.sqrt(got.se_sample**2 - got.se_items**2)
        covered_plain.append(np.abs(got.mean - own) <= 1.96 * plain)
    assert 0.93 <= np.mean(np.concatenate(covered)) <= 0.97
    assert np.mean(np.concatenate(covered_plain)) < 0.92


def test_groups_share_one_pass_and_empty_groups_are_nan():
    cal, slope, difficulty = bank(3)
    rng = np.random.default_rng(2)
    theta = rng.normal(0, 1, 60)
    persons, items, responses = draw(theta, slope, difficulty, 4, rng)
    items = np.where(persons >= 50, 999, items)  # the last 10 persons: unknown items only
    lik = irt.likelihoods(cal, persons, items, responses)
    group = np.where(np.arange(60) < 50, np.arange(60) % 2, 2)
    got = irt.score_groups(lik, group)
    alone = irt.score_groups(
        irt.likelihoods(
            cal, persons[persons % 2 == 0], items[persons % 2 == 0], responses[persons % 2 == 0]
        ),
        np.zeros(30, dtype=int),
    )
    assert got.mean[0] == pytest.approx(alone.mean[0], abs=1e-6)
    assert list(got.n_persons) == [25, 25, 0]
    assert np.isnan(got.mean[2]) and np.isnan(got.se[2])


def test_bad_arguments_raise():
    cal, slope, difficulty = bank()
    lik = irt.likelihoods(cal, [0, 0, 1], [1, 2, 3], [1, 0, 1])
    with pytest.raises(ValueError, match="groups"):
        irt.score_groups(lik, [0, 1, 2])
    with pytest.raises(ValueError, match="spread"):
        irt.score_groups(lik, [0, 1], spread=0.0)
    with pytest.raises(ValueError, match="likelihoods"):
        irt.score_groups(cal, [0, 1])


def test_no_usable_responses_give_empty_groups():
    cal, _, _ = bank()
    lik = irt.likelihoods(cal, [0, 1], [998, 999], [1, 0])
    assert lik.loglik.shape == (2, 61) and not lik.n_items.any()
    got = irt.score_groups(lik, ["a", "a"])
    assert got.n_persons[0] == 0 and np.isnan(got.mean[0])
    empty = irt.likelihoods(cal, [], [], [])
    assert len(empty.persons) == 0
