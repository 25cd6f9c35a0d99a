"""DIF: Mantel-Haenszel and the likelihood-ratio test against anchored items.

Guards: the MH statistics equal a plainly written computation (loops over strata and 2x2
tables) to 1e-12; a published MH example (R ``mantelhaen.test``, Agresti's penicillin
data); the ETS A/B/C rules on constructed tables; recovery on simulated data with impact
(reference N(0, 1), focal N(-0.5, 1)) and four items 0.9 logits harder for the focal
group, for MH with rest-score and theta matching and for the LR test, with and without
purification (detection >= 90%, false positives <= 5%, after Benjamini-Hochberg); a
graded item with DIF found by the LR test; multiple-comparison adjustments; errors.
"""

import math

import numpy as np
import pytest

import irt_models as irt
from irt_models.dif import adjust_p
from irt_models.mantel_haenszel import ets_class, mh_statistics

N_ITEMS = 40
DIF_ITEMS = np.array([3, 11, 22, 35])
SHIFT = 0.9


def two_groups(seed, n=600, items_per_person=None, graded=()):
    """Reference N(0, 1) and focal N(-0.5, 1); DIF_ITEMS shifted by SHIFT for the focal
    group (all thresholds of a graded item)."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.25, N_ITEMS)
    b = np.full((N_ITEMS, 3), np.nan)
    b[:, 0] = rng.normal(0.0, 1.0, N_ITEMS)
    for j in graded:
        b[j] = b[j, 0] + np.array([-0.8, 0.0, 0.8])
    shifted = b.copy()
    shifted[DIF_ITEMS] += SHIFT
    out = []
    for g, (mean, thr) in enumerate([(0.0, b), (-0.5, shifted)]):
        sim = irt.simulate(
            n, N_ITEMS, slope=a, thresholds=thr, latent_mean=mean,
            items_per_person=items_per_person, seed=rng,
        )  # fmt: skip
        out.append((sim.persons + g * n, sim.items, sim.responses, np.full(len(sim.items), g)))
    persons, items, responses, groups = (np.concatenate(x) for x in zip(*out, strict=True))
    cal = irt.Calibration.from_parameters(
        np.arange(N_ITEMS), ["grm" if j in graded else "2pl" for j in range(N_ITEMS)], a, b
    )
    return persons, items, responses, groups, cal


def plain_mh(X, focal, j):
    """MH statistics of item j on rest-score strata, written out with loops."""
    rest = X.sum(axis=1) - X[:, j]
    num = den = dev = var_a = 0.0
    rows = []
    for s in np.unique(rest):
        inside = rest == s
        a = float(np.sum(inside & ~focal & (X[:, j] == 1)))
        b = float(np.sum(inside & ~focal & (X[:, j] == 0)))
        c = float(np.sum(inside & focal & (X[:, j] == 1)))
        d = float(np.sum(inside & focal & (X[:, j] == 0)))
        t = a + b + c + d
        if t < 2:
            continue
        num += a * d / t
        den += b * c / t
        dev += a - (a + b) * (a + c) / t
        var_a += (a + b) * (c + d) * (a + c) * (b + d) / (t * t * (t - 1))
        rows.append(((a + d) / t, (b + c) / t, a * d / t, b * c / t))
    alpha = num / den
    v = sum(p * r for p, q, r, s in rows) / (2 * num**2)
    v += sum(p * s + q * r for p, q, r, s in rows) / (2 * num * den)
    v += sum(q * s for p, q, r, s in rows) / (2 * den**2)
    yates = 0.5 if abs(dev) >= 0.5 else 0.0  # R's mantelhaen.test
    chi2 = (abs(dev) - yates) ** 2 / var_a
    p = math.erfc(math.sqrt(chi2 / 2))  # chi-square(1) survival function
    return alpha, -2.35 * math.log(alpha), 2.35 * math.sqrt(v), chi2, p


def test_mh_equals_a_plain_computation():
    persons, items, responses, groups, _ = two_groups(seed=5, n=300)
    X = np.zeros((600, N_ITEMS), dtype=int)
    X[persons, items] = responses
    focal = np.arange(600) >= 300
    res = irt.dif(persons, items, responses, groups, reference=0)
    for j in range(N_ITEMS):
        alpha, delta, se, chi2, p = plain_mh(X, focal, j)
        got = (res.odds_ratio[j], res.delta[j], res.delta_se[j], res.statistic[j], res.p[j])
        np.testing.assert_allclose(got, (alpha, delta, se, chi2, p), rtol=1e-12, atol=1e-12)
    assert np.all(res.n_reference == 300) and np.all(res.n_focal == 300)


def test_published_penicillin_example():
    """R ``mantelhaen.test(Rabbits)`` (Agresti 1990, pp. 231-237): p = 0.047 with the
    continuity correction. By hand: sum(AD/T) = 1.5 + 2 = 3.5, sum(BC/T) = 0.5, so
    alpha = 7; sum(A - E) = 3, sum(Var) = 35/22, chi2 = 2.5^2 / (35/22) = 3.92857."""
    # per penicillin level: (immediate cured, immediate died, delayed cured, delayed died)
    t = np.array([[0, 6, 0, 5], [3, 3, 0, 6], [6, 0, 2, 4], [5, 1, 6, 0], [2, 0, 5, 0]])
    res = mh_statistics(t[:, 0], t[:, 1], t[:, 2], t[:, 3])
    assert res.odds_ratio == pytest.approx(7.0, rel=1e-12)
    assert res.chi2 == pytest.approx(6.25 * 22 / 35, rel=1e-12)
    assert round(float(res.p), 3) == 0.047


def test_ets_classes_on_constructed_tables():
    def cls(ref_right, foc_right, n):
        a, c = ref_right * n, foc_right * n
        st = mh_statistics([a], [n - a], [c], [n - c])
        return ets_class(np.atleast_1d(st.delta), np.atleast_1d(st.delta_se), np.atleast_1d(st.p))[
            0
        ]

    assert cls(0.80, 0.40, 1000) == "C"  # alpha 6, D = -4.2
    assert cls(0.63, 0.50, 1000) == "B"  # alpha 1.70, D = -1.25, significant
    assert cls(0.55, 0.50, 1000) == "A"  # |D| < 1
    assert cls(0.63, 0.50, 20) == "A"  # |D| >= 1 but not significant
    # |D| >= 1.5 but not significantly above 1: B; then significantly above 1: C
    assert ets_class([-1.6], [0.5], [0.001])[0] == "B"
    assert ets_class([1.6], [0.3], [0.001])[0] == "C"
    assert ets_class([np.nan], [np.nan], [np.nan])[0] is None


def rates(results, significant=0.05):
    hit, false = [], []
    clean = np.setdiff1d(np.arange(N_ITEMS), DIF_ITEMS)
    for res in results:
        flag = res.p_adjusted < significant
        pos = {int(i): k for k, i in enumerate(res.item)}
        hit += [flag[pos[j]] for j in DIF_ITEMS]
        false += [flag[pos[j]] for j in clean]
    return float(np.mean(hit)), float(np.mean(false))


SEEDS = (11, 12, 13)


def test_recovery_mh_rest_score():
    runs = [irt.dif(*two_groups(s)[:4], reference=0) for s in SEEDS]
    hit, false = rates(runs)
    assert hit >= 0.9 and false <= 0.05, (hit, false)
    assert all(set(r.favoured[np.isin(r.item, DIF_ITEMS)]) == {"reference"} for r in runs)
    assert np.mean([r.ets_class[np.isin(r.item, DIF_ITEMS)] == "C" for r in runs]) >= 0.75


def test_recovery_mh_theta_sparse():
    """25 of 40 items per person, 1000 per group; EAPs including the item, common prior."""
    runs = []
    for s in SEEDS:
        persons, items, responses, groups, cal = two_groups(s, n=1000, items_per_person=25)
        theta = irt.score(cal, persons, items, responses)
        runs.append(
            irt.dif(persons, items, responses, groups, reference=0, match="theta", theta=theta)
        )
    hit, false = rates(runs)
    assert hit >= 0.9 and false <= 0.05, (hit, false)


# Many simulated calibrations: `make test` runs it, the inner loop does not.
@pytest.mark.slow
def test_recovery_lr():
    runs, purified = [], []
    for s in SEEDS:
        persons, items, responses, groups, cal = two_groups(s)
        args = (persons, items, responses, groups)
        runs.append(irt.dif(*args, reference=0, method="lr", calibration=cal))
        purified.append(irt.dif(*args, reference=0, method="lr", calibration=cal, purify=True))
    for results in (runs, purified):
        hit, false = rates(results)
        assert hit >= 0.9 and false <= 0.05, (hit, false)
    d = np.concatenate([r.difficulty_difference[DIF_ITEMS] for r in purified])
    assert np.all(d > 0.3) and abs(d.mean() - SHIFT) < 0.2 and np.all(runs[0].df == 2)


def test_lr_finds_dif_in_a_graded_item():
    graded = (DIF_ITEMS[0], 5, 6)  # the first DIF item and two clean ones are graded
    persons, items, responses, groups, cal = two_groups(21, graded=graded)
    res = irt.dif(persons, items, responses, groups, reference=0, method="lr", calibration=cal)
    g = DIF_ITEMS[0]
    assert res.df[g] == 4 and res.p_adjusted[g] < 1e-4
    assert res.difficulty_difference[g] == pytest.approx(SHIFT, abs=0.4)
    assert res.expected_score_difference[g] < 0 and res.favoured[g] == "reference"
    assert res.p_adjusted[5] > 0.05 and res.p_adjusted[6] > 0.05
    mh = irt.dif(persons, items, responses, groups, reference=0)
    assert not np.isin(graded, mh.item).any()  # MH covers the dichotomous items only


def test_adjusted_p_values():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    np.testing.assert_allclose(adjust_p(p, "bh"), [0.02, 0.04, 0.04, np.nan, 0.02])
    np.testing.assert_allclose(adjust_p(p, "holm"), [0.03, 0.06, 0.06, np.nan, 0.02])
    np.testing.assert_allclose(adjust_p(p, None), p)


def test_several_focal_groups_and_errors():
    persons, items, responses, groups, _ = two_groups(3, n=200)
    groups = np.where((groups == 1) & (persons % 2 == 0), 2, groups)
    res = irt.dif(persons, items, responses, groups, reference=0)
    assert len(res.item) == 2 * N_ITEMS and set(res.focal) == {1, 2}
    assert res.method == "mh-rest"
    keep = ~((items == 0) & (persons == 1))
    args = (persons[keep], items[keep], responses[keep], groups[keep])
    with pytest.raises(ValueError, match="complete data"):
        irt.dif(*args, reference=0)
    with pytest.raises(ValueError, match="theta"):
        irt.dif(*args, reference=0, match="theta")
    with pytest.raises(ValueError, match="calibration"):
        irt.dif(*args, reference=0, method="lr")
    with pytest.raises(ValueError, match="purify"):
        irt.dif(*args, reference=0, match="theta", theta=np.zeros(400), purify=True)
    with pytest.raises(ValueError, match="reference"):
        irt.dif(*args, reference=7)


@pytest.mark.parametrize("match", ["rest", "theta"])
def test_against_all_others_equals_one_pair_per_focal_group(match):
    """reference=None: each focal group against everybody else in one count, equal to a
    separate call per focal group with the others relabelled as the reference."""
    persons, items, responses, groups, cal = two_groups(5, n=300)
    groups = np.where(persons % 3 == 0, 2, groups)  # three groups, each focal in turn
    theta = irt.score(cal, persons, items, responses) if match == "theta" else None
    opts = {"match": match, "theta": theta, "correction": None, "min_responses": 20}
    together = irt.dif(persons, items, responses, groups, reference=None, **opts)
    assert set(together.reference) == {irt.ALL_OTHERS}
    for focal in (0, 1, 2):
        relabelled = np.where(groups == focal, focal, -1)
        alone = irt.dif(persons, items, responses, relabelled, reference=-1, **opts)
        rows = together.focal == focal
        assert np.array_equal(together.item[rows], alone.item)
        for field in ("n_reference", "n_focal", "statistic", "p", "delta", "delta_se"):
            np.testing.assert_allclose(
                getattr(together, field)[rows], getattr(alone, field), rtol=1e-12, err_msg=field
            )
        assert list(together.ets_class[rows]) == list(alone.ets_class)
    bh = irt.dif(persons, items, responses, groups, reference=None, **{**opts, "correction": "bh"})
    np.testing.assert_allclose(bh.p_adjusted, adjust_p(together.p), rtol=1e-12)
    with pytest.raises(ValueError, match="all others"):
        irt.dif(persons, items, responses, groups, reference=None, method="lr", calibration=cal)


def test_purified_reference_undoes_the_dilution_by_a_second_dif_group():
    """Two focal groups with the same DIF: against all others, each one's reference holds
    the other, and its delta shrinks towards 0; purify=True leaves a group with C-class DIF
    in the same direction out of the other's reference, and the delta comes back towards the
    clean group alone (closer by a quarter at least)."""
    persons, items, responses, groups, cal = two_groups(8, n=1500)
    groups = np.where((groups == 1) & (persons % 2 == 0), 2, groups)
    theta = irt.score(cal, persons, items, responses)
    opts = {"reference": None, "match": "theta", "theta": theta, "focal": [1, 2]}
    plain = irt.dif(persons, items, responses, groups, **opts)
    purified = irt.dif(persons, items, responses, groups, purify=True, **opts)
    alone = irt.dif(persons, items, responses, groups, reference=0, match="theta", theta=theta)
    for focal in (1, 2):
        dif_rows = [(r.focal == focal) & np.isin(r.item, DIF_ITEMS) for r in (plain, purified)]
        clean_alone = alone.delta[(alone.focal == focal) & np.isin(alone.item, DIF_ITEMS)]
        gap_plain = np.mean(np.abs(plain.delta[dif_rows[0]] - clean_alone))
        gap_purified = np.mean(np.abs(purified.delta[dif_rows[1]] - clean_alone))
        assert gap_purified < 0.75 * gap_plain, (gap_purified, gap_plain)
        clean = (purified.focal == focal) & ~np.isin(purified.item, DIF_ITEMS)
        assert np.mean(purified.p_adjusted[clean] < 0.05) <= 0.1


def test_equal_thetas_share_a_band_whatever_their_floating_point_noise():
    """Equal response patterns can get EAPs 1e-13 apart (persons in different blocks of a BLAS
    product); a band edge that falls on such a tie must not split it at random."""
    from irt_models.mantel_haenszel import theta_strata

    rng = np.random.default_rng(3)
    theta = np.repeat(np.round(rng.normal(size=40), 3), 25)  # 40 patterns, 25 persons each
    noisy = theta + rng.choice([-1e-13, 0.0, 1e-13], size=len(theta))
    item = np.zeros(len(theta), dtype=np.int64)
    clean = theta_strata(theta, item, 1, 10)
    assert len(np.unique(clean)) > 5
    assert np.array_equal(theta_strata(noisy, item, 1, 10), clean)
