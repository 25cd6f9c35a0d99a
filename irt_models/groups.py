"""Person groups with latent distributions of their own (multiple-group calibration).

When who answers which item depends on the latent trait itself (learners choose courses
near their level), one N(0, 1) population misstates the data and marginal ML mis-estimates
the items. If the item set a person sees is fixed given a known group (the entry course),
the missing responses are ignorable within each group, and a separate normal latent
distribution per group recovers the items: multiple-group marginal ML (Bock & Zimowski
1997; BILOG-MG; mirt ``multipleGroup`` with free means and variances).

The scale is defined by the whole population: the mixture of the group distributions,
weighted by the groups' numbers of persons, has mean 0 and variance 1 (see ``standardise``).
A group with fewer than ``MIN_GROUP_PERSONS`` persons has too little information for a
distribution of its own; its persons get the pooled distribution, the normal with the
mixture's mean and variance. Pooling (rather than merging into a "neighbouring" group)
needs no order on the group labels, so the result does not depend on how groups are coded.

References
----------
Bock, R. D., & Zimowski, M. F. (1997). Multiple group IRT. In W. J. van der Linden &
R. K. Hambleton (Eds.), Handbook of modern item response theory (pp. 433-448). Springer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import as_labels, label_codes

MIN_GROUP_PERSONS = 20


@dataclass(frozen=True)
class PersonGroups:
    """Group of each person.

    Attributes
    ----------
    labels : ndarray of shape (n_groups,)
        Group labels in sorted order.
    person : ndarray of shape (n_persons,)
        Group code (position in ``labels``) of each person.
    n : ndarray of shape (n_groups,) of int
        Persons per group.
    own : ndarray of shape (n_groups,) of bool
        Groups with at least ``MIN_GROUP_PERSONS`` persons (a distribution of their own).
    """

    labels: np.ndarray
    person: np.ndarray
    n: np.ndarray
    own: np.ndarray


def person_groups(groups, person: np.ndarray, n_persons: int, name: str = "groups"):
    """Validate a per-response group array and reduce it to one group per person.

    Parameters
    ----------
    groups : array-like of shape (n_responses,)
        Group of each response's person (integer codes or string labels).
    person : ndarray of shape (n_responses,)
        Person codes 0..n_persons-1 of the same responses.
    n_persons : int
    name : str
        Argument name for error messages.

    Returns
    -------
    PersonGroups

    Raises
    ------
    ValueError
        When the lengths differ or a person's responses carry different groups.
    """
    g = as_labels(groups, name)
    if len(g) != len(person):
        raise ValueError(f"{name}: expected one group per response ({len(person)}), got {len(g)}")
    labels, code = label_codes(g)
    per = np.full(n_persons, -1, dtype=np.int64)
    per[person] = code
    bad = per[person] != code
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{name}: must be constant within a person, but a person has responses in groups "
            f"{labels[per[person[i]]]!r} and {labels[code[i]]!r}"
        )
    n = np.bincount(per, minlength=len(labels)).astype(np.int64)
    return PersonGroups(labels, per, n, n >= MIN_GROUP_PERSONS)


def mixture_moments(n: np.ndarray, mean: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """Mean and variance of a mixture of normals weighted by group sizes.

    Parameters
    ----------
    n, mean, var : ndarray of shape (n_groups,)

    Returns
    -------
    mean, var : float
    """
    w = n / n.sum()
    m = float(w @ mean)
    return m, float(w @ (var + (mean - m) ** 2))
