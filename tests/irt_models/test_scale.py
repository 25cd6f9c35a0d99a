"""A stable scale: fixed-item calibration, stored parameters and linking.

Guards that items held fixed put a new calibration on their scale (the latent mean and
variance of a shifted population are recovered, and new items land on the same scale),
that Calibration.from_parameters round-trips stored parameters for scoring and anchoring,
and that Stocking-Lord and mean/sigma linking recover a known linear transformation.
"""

import dataclasses

import numpy as np
import pytest

import irt_models as irt

N = 2000


@pytest.fixture(scope="module")
def bank():
    return irt.simulate_items(30, "2pl", seed=21)


def test_fixed_items_recover_a_shifted_latent_mean_and_variance(bank):
    slope, b, _ = bank
    sim = irt.simulate(N, 30, slope=slope, thresholds=b, latent_mean=0.5, latent_var=1.44, seed=8)
    anchors = {j: (slope[j], b[j, :1]) for j in range(20)}
    cal = irt.calibrate(sim.persons, sim.items, sim.responses, fixed_items=anchors)
    # sampling SEs: mean ~ sd / sqrt(N) = 0.022, variance ~ var * sqrt(2 / N) = 0.037
    assert cal.latent_mean == pytest.approx(0.5, abs=4 * 1.2 / np.sqrt(N))
    assert cal.latent_var == pytest.approx(1.44, abs=4 * 1.44 * np.sqrt(2 / N))
    assert cal.fixed[:20].all() and not cal.fixed[20:].any()
    np.testing.assert_array_equal(cal.slope[:20], slope[:20])
    np.testing.assert_allclose(cal.thresholds[:20, 0], b[:20, 0])
    assert np.isnan(cal.slope_se[:20]).all()
    # the 10 new items are estimated on the anchors' scale
    z = np.concatenate([
        (cal.slope[20:] - slope[20:]) / cal.slope_se[20:],
        (cal.difficulty[20:] - b[20:, 0]) / cal.difficulty_se[20:],
    ])  # fmt: skip
    assert np.abs(z).max() < 4.5


def test_a_calibration_can_anchor_the_next_one_and_unseen_anchors_are_kept(bank):
    slope, b, _ = bank
    first = irt.simulate(N, 30, slope=slope, thresholds=b, seed=1)
    cal1 = irt.calibrate(first.persons, first.items, first.responses)
    later = irt.simulate(N, 30, slope=slope, thresholds=b, latent_mean=-0.4, seed=2)
    keep = later.items >= 5  # items 0-4 are not answered this time
    cal2 = irt.calibrate(
        later.persons[keep], later.items[keep], later.responses[keep], fixed_items=cal1
    )
    assert cal2.n_items == 30
    np.testing.assert_allclose(cal2.slope, cal1.slope)
    assert (cal2.n_responses[:5] == 0).all() and cal2.fixed.all()
    assert cal2.latent_mean == pytest.approx(-0.4, abs=0.1)


def test_stored_parameters_score_exactly_like_the_calibration(bank):
    slope, b, _ = bank
    sim = irt.simulate(1000, 30, slope=slope, thresholds=b, seed=3)
    cal = irt.calibrate(sim.persons, sim.items, sim.responses)
    table = cal.table()
    stored = irt.Calibration.from_parameters(
        table["item"], table["model"], table["slope"], table["thresholds"],
        latent_mean=cal.latent_mean, latent_var=cal.latent_var,
    )  # fmt: skip
    a = irt.score(cal, sim.persons, sim.items, sim.responses)
    s = irt.score(stored, sim.persons, sim.items, sim.responses)
    np.testing.assert_allclose(a.theta, s.theta, atol=1e-12)
    np.testing.assert_allclose(a.se, s.se, atol=1e-12)


def test_graded_parameters_from_a_padded_array_or_a_list_are_the_same():
    thresholds_list = [[-1.0, 0.0, 1.0], [0.5], [-0.5, 0.7]]
    padded = np.array([[-1.0, 0.0, 1.0], [0.5, np.nan, np.nan], [-0.5, 0.7, np.nan]])
    c1 = irt.Calibration.from_parameters(["x", "y", "z"], ["grm", "2pl", "grm"], [1, 2, 1.5],
                                         thresholds_list)  # fmt: skip
    c2 = irt.Calibration.from_parameters(["x", "y", "z"], ["grm", "2pl", "grm"], [1, 2, 1.5],
                                         padded)  # fmt: skip
    np.testing.assert_array_equal(c1.n_categories, [4, 2, 3])
    np.testing.assert_allclose(c1.thresholds, c2.thresholds)
    np.testing.assert_allclose(c1.difficulty, [0.0, 0.5, 0.1])


def transformed(cal, A, B):
    """The same items on a scale where theta_old = A * theta_new + B."""
    k = cal.n_categories
    return irt.Calibration.from_parameters(
        cal.items, cal.model, cal.slope * A,
        [(cal.thresholds[i, : k[i] - 1] - B) / A for i in range(cal.n_items)],
        latent_mean=(cal.latent_mean - B) / A, latent_var=cal.latent_var / A**2,
    )  # fmt: skip


@pytest.mark.parametrize("method", ["stocking-lord", "mean-sigma"])
def test_linking_recovers_a_known_transformation_exactly(bank, method):
    slope, b, _ = bank
    old = irt.Calibration.from_parameters(np.arange(30), "2pl", slope, b)
    new = transformed(old, 1.3, -0.6)
    linking = irt.link(new, old, method=method)
    assert abs(linking.A - 1.3) < 1e-6
    assert abs(linking.B + 0.6) < 1e-6
    back = linking.apply(new)
    np.testing.assert_allclose(back.slope, old.slope, atol=1e-6)
    np.testing.assert_allclose(back.thresholds, old.thresholds, atol=1e-6)
    np.testing.assert_allclose(linking.theta([0.0, 1.0]), [-0.6, 0.7])


def test_stocking_lord_links_two_separate_calibrations(bank):
    slope, b, _ = bank
    g1 = irt.simulate(N, 30, slope=slope, thresholds=b, seed=31)
    g2 = irt.simulate(N, 30, slope=slope, thresholds=b, latent_mean=0.5, latent_var=2.25, seed=32)
    old = irt.calibrate(g1.persons, g1.items, g1.responses)
    new = irt.calibrate(g2.persons, g2.items, g2.responses)  # its own N(0, 1) scale
    linking = irt.link(new, old)
    # truth: theta_old = 1.5 theta_new + 0.5; sampling SD of the latent SD and mean ~0.03
    assert abs(linking.A - 1.5) < 0.12
    assert abs(linking.B - 0.5) < 0.12
    moved = linking.apply(new)
    assert moved.latent_mean == pytest.approx(linking.B)
    assert moved.latent_var == pytest.approx(linking.A**2)


def test_items_with_non_finite_stored_parameters_are_not_common_items(bank):
    """A stored scale from a fit that degenerated to NaN offers nothing to link to: the
    items are not common, and link says so instead of returning NaN."""
    slope, b, _ = bank
    old = irt.Calibration.from_parameters(np.arange(30), "2pl", slope, b)
    new = transformed(old, 1.3, -0.6)
    assert len(irt.common_items(new, old)) == 30
    broken = dataclasses.replace(old, slope=np.full(30, np.nan))
    assert len(irt.common_items(new, broken)) == 0
    with pytest.raises(ValueError, match="at least two common fitted items"):
        irt.link(new, broken)
