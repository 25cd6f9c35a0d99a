"""Multiple-group calibration: item recovery when who answers what depends on the trait.

Learners choose an entry course near their own level and answer its items and those of the
next course, so the items a person sees depend on theta and one N(0, 1) population (plain
MML) distorts the items. Given the entry course (the group) the item set is fixed, so a
normal latent distribution per group (Bock & Zimowski 1997; mirt ``multipleGroup`` with
free means and variances) recovers them. Guards: recovery of difficulties, slopes, group
means and EAP scores on that scenario (binary and graded items), with tolerances from the
standard errors; groups=None and a single group change nothing; row order and group label
coding change nothing; small groups are pooled; fixed items define the scale with groups;
scoring uses the population prior unless group priors are asked for; bad ``groups`` raise.
"""

import numpy as np
import pytest

import irt_models as irt

N = 3000
CENTRES = np.linspace(-2, 2, 9)


def course_choice(n, seed, graded=False):
    """The scenario: entry course near theta + noise, items of that course and the next."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, n)
    b = np.repeat(CENTRES, 8) + rng.normal(0, 0.4, 72)
    a = rng.lognormal(np.log(1.3), 0.2, 72)
    steps = np.where(np.arange(72) % 2 == 1, 1, 0) if graded else np.zeros(72, dtype=int)
    entry = np.abs(CENTRES[None, :] - (theta + rng.normal(0, 0.7, n))[:, None]).argmin(axis=1)
    P, J, G = [], [], []
    for i in range(n):
        c = int(entry[i])
        for course in sorted({c, min(c + 1, 8)}):
            P += [i] * 8
            J += range(course * 8, course * 8 + 8)
            G += [c] * 8
    P, J, G = np.array(P), np.array(J), np.array(G)
    # graded items (odd ones, if asked): three categories, thresholds b -/+ 0.5
    lo = 1 / (1 + np.exp(-a[J] * (theta[P] - (b[J] - 0.5 * steps[J]))))
    hi = 1 / (1 + np.exp(-a[J] * (theta[P] - (b[J] + 0.5 * steps[J]))))
    u = rng.random(len(P))
    R = (u < lo).astype(int) + ((u < hi) & (steps[J] == 1)).astype(int)
    return {"theta": theta, "a": a, "b": b, "P": P, "J": J, "R": R, "G": G, "entry": entry}


@pytest.fixture(scope="module")
def data():
    return course_choice(N, seed=21)


@pytest.fixture(scope="module")
def plain(data):
    return irt.calibrate(data["P"], data["J"], data["R"], "2pl")


@pytest.fixture(scope="module")
def grouped(data):
    return irt.calibrate(data["P"], data["J"], data["R"], "2pl", groups=data["G"])


def test_plain_mml_distorts_the_items_and_groups_recover_the_difficulties(data, plain, grouped):
    b = data["b"]
    assert np.corrcoef(plain.difficulty, b)[0, 1] < 0.95
    assert np.corrcoef(grouped.difficulty, b)[0, 1] > 0.95
    z = (grouped.difficulty - b) / grouped.difficulty_se
    assert np.mean(np.abs(z) < 4) >= 0.97
    assert np.mean(np.abs((plain.difficulty - b) / plain.difficulty_se) < 4) < 0.9


def test_slopes_are_not_attenuated_with_groups(data, plain, grouped):
    a = data["a"]
    se_mean = np.sqrt(np.sum(grouped.slope_se**2)) / len(a)
    assert grouped.slope.mean() == pytest.approx(a.mean(), abs=4 * se_mean)
    assert plain.slope.mean() < 0.75 * a.mean()
    assert np.mean(np.abs((grouped.slope - a) / grouped.slope_se) < 4) >= 0.97


def test_group_means_are_near_the_true_conditional_means(data, grouped):
    theta, entry = data["theta"], data["entry"]
    true_mean = np.array([theta[entry == g].mean() for g in range(9)])
    true_var = np.array([theta[entry == g].var() for g in range(9)])
    np.testing.assert_array_equal(grouped.groups, np.arange(9))
    np.testing.assert_array_equal(grouped.group_n, np.bincount(entry, minlength=9))
    # the sampling error of a group mean, plus the scale's own (mixture moments ~ 1/sqrt(N))
    tol = 4 * np.sqrt(true_var / grouped.group_n) + 4 / np.sqrt(N)
    assert np.all(np.abs(grouped.group_mean - true_mean) < tol)
    assert np.all(grouped.group_var < 3 * true_var) and np.all(grouped.group_var > true_var / 3)
    assert not grouped.group_pooled.any()
    assert grouped.latent_mean == pytest.approx(0.0, abs=1e-9)
    assert grouped.latent_var == pytest.approx(1.0, abs=1e-9)
    w = grouped.group_n / grouped.group_n.sum()
    assert w @ grouped.group_mean == pytest.approx(0.0, abs=1e-9)
    assert w @ (grouped.group_var + grouped.group_mean**2) == pytest.approx(1.0, abs=1e-9)
    assert "groups: 9" in grouped.summary()


def test_eap_scores_correlate_with_theta_as_with_the_true_parameters(data, plain, grouped):
    P, J, R, theta = data["P"], data["J"], data["R"], data["theta"]
    truth = irt.Calibration.from_parameters(np.arange(72), "2pl", data["a"], data["b"])
    best = np.corrcoef(irt.score(truth, P, J, R).theta, theta)[0, 1]
    with_groups = np.corrcoef(irt.score(grouped, P, J, R).theta, theta)[0, 1]
    without = np.corrcoef(irt.score(plain, P, J, R).theta, theta)[0, 1]
    assert with_groups > best - 0.02
    assert without < best - 0.1


def test_graded_and_binary_items_are_recovered_with_groups():
    d = course_choice(N, seed=5, graded=True)
    cal = irt.calibrate(d["P"], d["J"], d["R"], "mixed", groups=d["G"])
    assert list(cal.model[:2]) == ["2pl", "grm"]
    assert np.corrcoef(cal.difficulty, d["b"])[0, 1] > 0.95
    z_b = (cal.difficulty - d["b"]) / cal.difficulty_se
    z_a = (cal.slope - d["a"]) / cal.slope_se
    assert np.mean(np.abs(z_b) < 4) >= 0.97 and np.mean(np.abs(z_a) < 4) >= 0.97


def test_rasch_with_groups_fixes_only_the_mixture_mean(data):
    d = data
    cal = irt.calibrate(d["P"], d["J"], d["R"], "rasch", groups=d["G"])
    assert np.all(cal.slope == 1.0)
    w = cal.group_n / cal.group_n.sum()
    assert w @ cal.group_mean == pytest.approx(0.0, abs=1e-9) == cal.latent_mean
    # slopes ~1.3 absorbed into the scale: the population variance is ~ mean(a)^2, not 1
    assert cal.latent_var == pytest.approx(w @ (cal.group_var + cal.group_mean**2), rel=1e-9)
    assert cal.latent_var > 1.3
    assert np.corrcoef(cal.difficulty, d["b"])[0, 1] > 0.95


def test_without_groups_the_result_has_no_group_fields():
    s = irt.simulate(500, 10, "2pl", seed=4)
    none = irt.calibrate(s.persons, s.items, s.responses, groups=None)
    default = irt.calibrate(s.persons, s.items, s.responses)
    np.testing.assert_array_equal(none.slope, default.slope)
    np.testing.assert_array_equal(none.thresholds, default.thresholds)
    assert none.groups is None and none.group_mean is None and none.group_n is None
    assert "groups" not in none.summary()


def test_a_single_group_gives_the_same_fit_as_no_groups():
    s = irt.simulate(500, 10, "2pl", seed=4)
    alone = irt.calibrate(s.persons, s.items, s.responses)
    one = irt.calibrate(s.persons, s.items, s.responses, groups=np.full(len(s.persons), "all"))
    np.testing.assert_array_equal(one.slope, alone.slope)
    np.testing.assert_array_equal(one.thresholds, alone.thresholds)
    np.testing.assert_array_equal(one.slope_se, alone.slope_se)
    assert one.loglik == alone.loglik
    assert list(one.groups) == ["all"] and list(one.group_n) == [500]
    assert one.group_mean[0] == one.latent_mean and one.group_var[0] == one.latent_var


@pytest.fixture(scope="module")
def small():
    return course_choice(1000, seed=3)


def test_row_order_and_group_label_coding_do_not_change_the_fit(small):
    d = small
    base = irt.calibrate(d["P"], d["J"], d["R"], groups=d["G"], se=False)
    order = np.random.default_rng(0).permutation(len(d["P"]))
    labels = np.array([f"course-{9 - g}" for g in range(9)])  # sorts in reverse
    other = irt.calibrate(
        d["P"][order], d["J"][order], d["R"][order], groups=labels[d["G"][order]], se=False
    )
    np.testing.assert_allclose(other.slope, base.slope, atol=1e-8)
    np.testing.assert_allclose(other.thresholds, base.thresholds, atol=1e-8)
    assert other.loglik == pytest.approx(base.loglik, abs=1e-6)
    pos = {lab: k for k, lab in enumerate(other.groups.tolist())}
    back = np.array([pos[lab] for lab in labels])
    np.testing.assert_allclose(other.group_mean[back], base.group_mean, atol=1e-8)
    np.testing.assert_allclose(other.group_var[back], base.group_var, atol=1e-8)
    np.testing.assert_array_equal(other.group_n[back], base.group_n)


def test_groups_with_too_few_persons_get_the_pooled_distribution(small):
    d = small
    G = d["G"].copy()
    few = np.isin(d["P"], np.unique(d["P"][G == 4])[:10])  # ten persons form group 99
    G[few] = 99
    cal = irt.calibrate(d["P"], d["J"], d["R"], groups=G, se=False)
    assert cal.groups[-1] == 99 and cal.group_n[-1] == 10 and cal.group_pooled[-1]
    assert not cal.group_pooled[:-1].any()
    assert cal.group_mean[-1] == cal.latent_mean and cal.group_var[-1] == cal.latent_var
    assert cal.latent_mean == pytest.approx(0.0, abs=1e-9)


def test_fixed_items_define_the_scale_and_every_group_moment_is_free(data):
    d = data
    anchors = {j: (d["a"][j], d["b"][j : j + 1]) for j in range(24, 48)}  # courses 3-5
    cal = irt.calibrate(d["P"], d["J"], d["R"], groups=d["G"], fixed_items=anchors)
    assert cal.fixed[24:48].all() and not cal.fixed[:24].any()
    # on the true scale: the mixture has the sample's moments, and the new items recovered
    theta = d["theta"]
    assert cal.latent_mean == pytest.approx(theta.mean(), abs=0.1)
    assert cal.latent_var == pytest.approx(theta.var(), abs=0.2)
    free = ~cal.fixed
    z = (cal.difficulty[free] - d["b"][free]) / cal.difficulty_se[free]
    assert np.mean(np.abs(z) < 4) >= 0.97


def test_scores_use_the_population_prior_unless_group_priors_are_asked_for(data, grouped):
    P, J, R, G = data["P"], data["J"], data["R"], data["G"]
    default = irt.score(grouped, P, J, R)
    group_prior = irt.score(grouped, P, J, R, groups=G)
    lone = np.equal(P, P[0])  # one learner scored alone gets the same score
    assert irt.score(grouped, P[lone], J[lone], R[lone]).theta[0] == pytest.approx(
        default.theta[0], abs=1e-12
    )
    entry = data["entry"]
    # group priors pull towards the group means and shrink the posterior spread
    assert np.mean(group_prior.se) < np.mean(default.se)
    for g in (0, 8):
        assert abs(group_prior.theta[entry == g].mean() - grouped.group_mean[g]) < abs(
            default.theta[entry == g].mean() - grouped.group_mean[g]
        )
    mapped = irt.score(grouped, P, J, R, "map", groups=G)
    assert np.corrcoef(mapped.theta, group_prior.theta)[0, 1] > 0.99


def test_bad_groups_raise_value_errors_naming_the_argument(small):
    d = small
    P, J, R, G = d["P"], d["J"], d["R"], d["G"]
    with pytest.raises(ValueError, match="groups"):
        irt.calibrate(P, J, R, groups=G[:-1])
    mixed = G.copy()
    mixed[np.flatnonzero(np.equal(P, P[0]))[-1]] += 1
    with pytest.raises(ValueError, match="groups: must be constant within a person"):
        irt.calibrate(P, J, R, groups=mixed)
    with pytest.raises(ValueError, match="groups"):
        irt.calibrate(P, J, R, groups=np.where(G == 0, np.nan, G))
    plain = irt.Calibration.from_parameters(np.arange(72), "2pl", d["a"], d["b"])
    with pytest.raises(ValueError, match="groups: the calibration has no groups"):
        irt.score(plain, P, J, R, groups=G)
    with pytest.warns(irt.ConvergenceWarning):  # a rough fit is enough here
        cal = irt.calibrate(P, J, R, groups=G, se=False, max_iter=3)
    with pytest.raises(ValueError, match="groups: labels unknown"):
        irt.score(cal, P, J, R, groups=G + 100)


def sparse_grouped_responses(seed: int):
    """330 persons in 3 groups answering 1-3 of 60 items each: far too little information
    per group to identify its latent variance."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, 330)
    theta = rng.normal(group * 0.5 - 0.5, 1.0)
    difficulty, slope = rng.normal(0, 1, 60), rng.lognormal(0, 0.3, 60)
    rows = []
    for person in range(330):
        for item in rng.choice(60, size=rng.integers(1, 4), replace=False):
            p = 1 / (1 + np.exp(-slope[item] * (theta[person] - difficulty[item])))
            rows.append((person, item, int(rng.random() < p), group[person]))
    return map(np.array, zip(*rows, strict=True))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_degenerate_group_fit_falls_back_to_one_population(seed):
    """The multiple-group EM of such data drove a group variance to 0 and the parameters to
    NaN (skills with few responses per learner in the warehouse): the result is now the
    one-population fit, with a warning, instead of NaN."""
    persons, items, responses, groups = sparse_grouped_responses(seed)
    # 100 EM cycles: the one-population fit converges in about 40, the grouped one degenerates
    # all the same (at the default 500 this test took 3 s of the inner loop).
    with pytest.warns(irt.DegenerateGroupsWarning):
        grouped = irt.calibrate(
            persons, items, responses, groups=groups, min_responses=10, max_iter=100
        )
    single = irt.calibrate(persons, items, responses, min_responses=10, max_iter=100)
    assert grouped.converged
    assert grouped.group_pooled.all()
    fitted = ~np.isnan(single.slope)
    assert fitted.sum() > 10
    np.testing.assert_array_equal(grouped.slope[fitted], single.slope[fitted])
    np.testing.assert_array_equal(grouped.difficulty[fitted], single.difficulty[fitted])
