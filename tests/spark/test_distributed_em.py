"""The partitioned EM in numpy (no JVM): persons split into k partitions, statistics summed,
M-step on the driver, gives the Calibration of ``calibrate`` to 1e-6 (items' slopes and
thresholds, their standard errors, latent and group moments, fit), with graded items, groups
and anchored items."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import irt_models as irt
from irt_models.distributed import (
    LocalPartitions,
    Summary,
    calibrate_partitioned,
    summarise,
)

TOL = 1e-6


def split(persons, items, responses, groups, k: int):
    """k partitions by person (a person's responses all in one partition)."""
    part = np.unique(persons, return_inverse=True)[1] % k
    return [
        (persons[m], items[m], responses[m], None if groups is None else groups[m])
        for m in (part == i for i in range(k))
    ]


def assert_same_calibration(base: irt.Calibration, other: irt.Calibration, tol=TOL) -> None:
    for field in dataclasses.fields(base):
        x, y = np.asarray(getattr(base, field.name)), np.asarray(getattr(other, field.name))
        if x.dtype.kind == "f":
            np.testing.assert_allclose(y, x, rtol=0, atol=tol, err_msg=field.name)
        else:
            np.testing.assert_array_equal(y, x, err_msg=field.name)


@pytest.fixture(scope="module")
def grouped():
    s = irt.simulate(1200, 16, "2pl", items_per_person=8, seed=2)
    groups = np.array(["low", "mid", "high"])[s.persons % 3]
    return s.persons, s.items, s.responses, groups


def test_graded_and_binary_items_in_four_partitions_equal_calibrate():
    s = irt.simulate(600, 12, "mixed", seed=1)
    base = irt.calibrate(s.persons, s.items, s.responses, "mixed")
    parts = split(s.persons, s.items, s.responses, None, 4)
    dist = calibrate_partitioned(LocalPartitions(parts), model="mixed")
    assert dist.iterations == base.iterations
    assert np.isfinite(base.thresholds_se[np.isfinite(base.thresholds)]).all()
    assert_same_calibration(base, dist)


def test_multiple_groups_and_anchored_items_equal_calibrate(grouped):
    P, J, R, G = grouped
    first = irt.calibrate(P[J < 6], J[J < 6], R[J < 6])
    base = irt.calibrate(P, J, R, groups=G, fixed_items=first)
    dist = calibrate_partitioned(LocalPartitions(split(P, J, R, G, 3)), fixed_items=first)
    assert base.fixed.sum() == 6 and len(base.groups) == 3 and not base.group_pooled.any()
    assert_same_calibration(base, dist)


def test_multiple_groups_scale_and_rasch_equal_calibrate(grouped):
    P, J, R, G = grouped
    for model in ("2pl", "rasch"):
        base = irt.calibrate(P, J, R, model, groups=G)
        dist = calibrate_partitioned(LocalPartitions(split(P, J, R, G, 5)), model=model)
        assert not base.group_pooled.all()
        assert_same_calibration(base, dist)


def test_summaries_of_partitions_merge_to_the_summary_of_the_whole(grouped):
    P, J, R, G = grouped
    whole = summarise(P, J, R, G)
    merged = Summary.merge([summarise(*part) for part in split(P, J, R, G, 3)])
    for field in dataclasses.fields(whole):
        np.testing.assert_array_equal(getattr(merged, field.name), getattr(whole, field.name))


def test_a_partition_with_a_pair_outside_the_summary_is_refused():
    s = irt.simulate(200, 5, "2pl", seed=3)
    parts = LocalPartitions(split(s.persons, s.items, s.responses, None, 2))
    summary = parts.summary()
    parts.parts[0] = (np.array([0]), np.array([99]), np.array([1]), None)
    with pytest.raises(ValueError, match="pair that the summary does not have"):
        calibrate_partitioned(parts, summary)


@pytest.mark.slow  # 500 EM iterations twice, 5-12 s
def test_a_degenerate_group_fit_falls_back_to_one_population_as_calibrate():
    from tests.irt_models.test_groups import sparse_grouped_responses

    P, J, R, G = sparse_grouped_responses(0)
    with pytest.warns(irt.DegenerateGroupsWarning):
        base = irt.calibrate(P, J, R, groups=G, min_responses=10)
    with pytest.warns(irt.DegenerateGroupsWarning):
        dist = calibrate_partitioned(LocalPartitions(split(P, J, R, G, 3)), min_responses=10)
    assert dist.group_pooled.all()
    assert_same_calibration(base, dist)
