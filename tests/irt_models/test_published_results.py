"""calibrate() and score() reproduce published marginal-ML results on the LSAT data.

Data: Bock & Lieberman (1970), LSAT sections 6 and 7, 1000 examinees x 5 items each, as the
32 response-pattern frequencies of R psych's ``bock.table`` (columns Ob6, Ob7), which are
mirt's ``LSAT6``/``LSAT7`` and ltm's ``LSAT``.

Reference values (within 0.01 on every parameter, 0.05 on the log-likelihood):

- LSAT7, 2PL: mirt's documentation, ``mod <- mirt(expand.table(LSAT7), 1); coef(mod)``
  (mirt 1.45-1.47 LSAT7 and anova examples): a = .988 1.081 1.706 .765 .736,
  d = 1.856 .808 1.804 .486 1.855, log-likelihood -2658.805 (61 quadrature points).
  EAP/MAP scores of the first six patterns: mirt ``tests/testthat/test-01-mirtOne.R``.
- LSAT6, 2PL: Rizopoulos (2006), ltm, J. Stat. Softw. 17(5): ``ltm(LSAT ~ z1)``,
  difficulties -3.3597 -1.3696 -.2799 -1.8659 -3.1236, discriminations .8254 .7229 .8905
  .6886 .6575, log-likelihood -2466.653; its empirical Bayes (posterior mode) scores as
  printed by ``factor.scores``.
- LSAT6, Rasch: mirt ``test-01-mirtOne.R`` (``itemtype = 'Rasch'``: d = 2.73 .999 .24 1.306
  2.099, latent variance .57) and Rizopoulos (2006) ``rasch(LSAT)``: common discrimination
  .7551 (= the latent SD), difficulties -3.6153 -1.3224 -.3176 -1.7301 -2.7802,
  log-likelihood -2466.938 (also mirt's documentation for the equal-slopes model).

The published fits are plain maximum likelihood, so these run with ``prior=None``.
"""

import itertools

import numpy as np
import pytest

import irt_models as irt

PATTERNS = np.array(list(itertools.product([0, 1], repeat=5)))
# psych::bock.table, Ob6 and Ob7, patterns in the order of PATTERNS (item 1 slowest)
LSAT6 = [3, 6, 2, 11, 1, 1, 3, 4, 1, 8, 0, 16, 0, 3, 2, 15,
         10, 29, 14, 81, 3, 28, 15, 80, 16, 56, 21, 173, 11, 61, 28, 298]  # fmt: skip
LSAT7 = [12, 19, 1, 7, 3, 19, 3, 17, 10, 5, 3, 7, 7, 23, 8, 28,
         7, 39, 11, 34, 14, 51, 15, 90, 6, 25, 7, 35, 18, 136, 32, 308]  # fmt: skip


def expand(freq):
    return irt.wide_to_long(np.repeat(PATTERNS, freq, axis=0))


@pytest.fixture(scope="module")
def lsat7_2pl():
    return irt.calibrate(*expand(LSAT7), "2pl", prior=None)


@pytest.fixture(scope="module")
def lsat6_2pl():
    return irt.calibrate(*expand(LSAT6), "2pl", prior=None)


def test_the_embedded_tables_have_the_published_item_means():
    for freq, means in ((LSAT6, [0.924, 0.709, 0.553, 0.763, 0.870]),
                        (LSAT7, [0.828, 0.658, 0.772, 0.606, 0.843])):  # fmt: skip
        assert sum(freq) == 1000
        np.testing.assert_allclose(np.repeat(PATTERNS, freq, axis=0).mean(axis=0), means)


def test_lsat7_2pl_matches_mirt(lsat7_2pl):
    cal = lsat7_2pl
    assert cal.converged
    np.testing.assert_allclose(cal.slope, [0.988, 1.081, 1.706, 0.765, 0.736], atol=0.01)
    np.testing.assert_allclose(cal.intercepts[:, 0], [1.856, 0.808, 1.804, 0.486, 1.855], atol=0.01)
    assert cal.loglik == pytest.approx(-2658.805, abs=0.05)
    assert cal.latent_mean == 0.0 and cal.latent_var == 1.0


def test_lsat6_2pl_matches_ltm(lsat6_2pl):
    cal = lsat6_2pl
    np.testing.assert_allclose(
        cal.difficulty, [-3.3597, -1.3696, -0.2799, -1.8659, -3.1236], atol=0.01
    )
    np.testing.assert_allclose(cal.slope, [0.8254, 0.7229, 0.8905, 0.6886, 0.6575], atol=0.01)
    assert cal.loglik == pytest.approx(-2466.653, abs=0.05)


def test_lsat6_rasch_matches_mirt_and_ltm():
    cal = irt.calibrate(*expand(LSAT6), "rasch", prior=None)
    np.testing.assert_allclose(cal.slope, 1.0)
    np.testing.assert_allclose(-cal.difficulty, [2.73, 0.999, 0.24, 1.306, 2.099], atol=0.01)
    assert cal.latent_var == pytest.approx(0.57, abs=0.01)
    sd = np.sqrt(cal.latent_var)
    assert sd == pytest.approx(0.7551, abs=0.01)
    np.testing.assert_allclose(
        cal.difficulty / sd, [-3.6153, -1.3224, -0.3176, -1.7301, -2.7802], atol=0.01
    )
    assert cal.loglik == pytest.approx(-2466.938, abs=0.05)


def test_lsat7_scores_match_mirt_fscores(lsat7_2pl):
    persons, items, responses = irt.wide_to_long(PATTERNS[:6])
    eap = irt.score(lsat7_2pl, persons, items, responses)
    mirt_eap = [-1.8665957, -1.5266920, -1.5134024, -1.1852276, -1.0946830, -0.7666992]
    np.testing.assert_allclose(eap.theta, mirt_eap, atol=0.01)
    map_ = irt.score(lsat7_2pl, persons, items, responses, method="map")
    mirt_map = [-1.8165552, -1.4946906, -1.4822982, -1.1789899, -1.0958928, -0.7951026]
    np.testing.assert_allclose(map_.theta, mirt_map, atol=0.01)


def test_lsat6_posterior_modes_match_ltm_factor_scores(lsat6_2pl):
    persons, items, responses = irt.wide_to_long(PATTERNS[:8])
    s = irt.score(lsat6_2pl, persons, items, responses, method="map")
    ltm_z1 = [-1.895, -1.479, -1.460, -1.041, -1.331, -0.911, -0.891, -0.463]
    ltm_se = [0.795, 0.796, 0.796, 0.800, 0.797, 0.802, 0.803, 0.812]
    np.testing.assert_allclose(s.theta, ltm_z1, atol=0.01)
    np.testing.assert_allclose(s.se, ltm_se, atol=0.01)


def test_default_weak_priors_move_lsat7_estimates_by_a_small_fraction_of_their_se(lsat7_2pl):
    with_prior = irt.calibrate(*expand(LSAT7), "2pl")
    shift = np.abs(with_prior.slope - lsat7_2pl.slope) / lsat7_2pl.slope_se
    assert shift.max() < 0.1
    shift_b = np.abs(with_prior.difficulty - lsat7_2pl.difficulty) / lsat7_2pl.difficulty_se
    assert shift_b.max() < 0.1


def test_lsat7_slope_standard_errors_match_mirt(lsat7_2pl):
    # mirt test-01-mirtOne.R, SE.type = 'Richardson': 95% intervals for a1; SE = half-width / 1.96
    lower = np.array([0.6406, 0.7501, 1.0779, 0.5022, 0.4395])
    upper = np.array([1.3354, 1.4119, 2.334, 1.028, 1.032])
    np.testing.assert_allclose(lsat7_2pl.slope_se, (upper - lower) / (2 * 1.959964), atol=0.01)


def test_marginal_loglik_of_the_estimates_is_the_reported_loglik(lsat7_2pl):
    assert irt.marginal_loglik(lsat7_2pl, *expand(LSAT7)) == pytest.approx(-2658.805, abs=0.05)
