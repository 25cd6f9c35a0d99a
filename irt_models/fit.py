"""Item fit: infit and outfit mean squares, S-X2, and discrimination flags.

For a response ``y`` of person ``p`` to item ``j`` with expected score ``E = E[Y | theta_p]``
and variance ``W = Var[Y | theta_p]`` at the person's EAP estimate,

    outfit_j = mean over persons of (y - E)^2 / W          (unweighted mean square)
    infit_j  = sum (y - E)^2 / sum W                       (information-weighted)

(Wright & Masters 1982; mirt ``itemfit(fit_stats = "infit")``). Both are near 1 for an
item that fits. Linacre's rule of thumb: above 1.5 a response pattern is noisier than the
model allows (unproductive for measurement, as a miskeyed or ambiguous item is), below 0.5
it is more predictable than the model (less productive, not degrading). The ``"misfit"``
flag is raised for infit or outfit above ``MISFIT_ABOVE`` = 1.5. Mean squares at EAP
estimates on short tests run below 1, because EAPs are shrunk toward the mean. A negative
slope is the signature of a miskeyed item; a slope below 0.35 is "very low" discrimination
in Baker's (2001) classification.

S-X2 (Orlando & Thissen 2000; module ``sx2``) compares observed and model-expected
category proportions within summed-score groups, each person's score taken on their own
form; unlike the mean squares it has a reference distribution (chi-square) and does not
depend on person estimates.

References
----------
Wright, B. D., & Masters, G. N. (1982). Rating Scale Analysis. MESA Press.
Linacre, J. M. (2002). What do infit and outfit, mean-square and standardized mean?
Rasch Measurement Transactions, 16(2), 878.
Baker, F. B. (2001). The Basics of Item Response Theory (2nd ed.). ERIC.
Orlando, M., & Thissen, D. (2000). Likelihood-based item-fit indices for dichotomous item
response theory models. Applied Psychological Measurement, 24, 50-64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

MISFIT_ABOVE = 1.5
LOW_SLOPE = 0.35


class ItemFit(NamedTuple):
    """Per-item fit statistics, in the calibration's item order.

    Attributes
    ----------
    items : ndarray of shape (n_items,)
    infit, outfit : ndarray of shape (n_items,)
        NaN for items without usable responses or parameters.
    n_responses : ndarray of shape (n_items,) of int
        Responses used.
    flag : ndarray of shape (n_items,) of object
        ``"negative_discrimination"``, ``"low_discrimination"``, ``"misfit"`` or None.
    sx2, sx2_df, sx2_p : ndarray of shape (n_items,)
        Orlando & Thissen's S-X2, its degrees of freedom and p-value (``sx2`` module); NaN
        where undefined (no informative responses; p also when df <= 0) or not computed.
        Last, so that positional unpacking of the first five fields keeps working.
    """

    items: np.ndarray
    infit: np.ndarray
    outfit: np.ndarray
    n_responses: np.ndarray
    flag: np.ndarray
    sx2: np.ndarray | None = None
    sx2_df: np.ndarray | None = None
    sx2_p: np.ndarray | None = None


def residual_terms(a, d, theta, y):
    """Squared residual and model variance of each response.

    Parameters
    ----------
    a : ndarray of shape (n,)
        Slope of the item answered.
    d : ndarray of shape (n, m)
        Intercepts of the item answered, padded with -inf.
    theta : ndarray of shape (n,)
        Person location.
    y : ndarray of shape (n,)
        Model category.

    Returns
    -------
    sq, var : ndarray of shape (n,)
    """
    cum = expit(a[:, None] * theta[:, None] + d)  # P(Y >= k), k = 1..m
    expected = cum.sum(axis=1)
    k = np.arange(1, d.shape[1] + 1)
    # E[Y^2] = sum_k k^2 P(Y = k) = sum_k (2k - 1) P(Y >= k)
    second = cum @ (2 * k - 1).astype(float)
    var = np.maximum(second - expected**2, 1e-9)
    return (y - expected) ** 2, var


def mean_squares(sq, var, item, n_items):
    """Infit and outfit per item from response-level terms."""
    return mean_squares_of(fit_sums(sq, var, item, n_items))


def fit_sums(sq, var, item, n_items) -> np.ndarray:
    """Per item: responses, sum of squared residuals, of variances, of their ratios.

    Shape (4, n_items); sums over person partitions add up (``distributed``)."""
    n = np.bincount(item, minlength=n_items).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.bincount(item, sq / var, n_items)
    return np.array([n, np.bincount(item, sq, n_items), np.bincount(item, var, n_items), ratio])


def mean_squares_of(sums: np.ndarray):
    """Infit and outfit per item from ``fit_sums``."""
    n, sq, var, ratio = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        infit = sq / var
        outfit = ratio / n
    infit[n == 0] = np.nan
    outfit[n == 0] = np.nan
    return infit, outfit


def fit_flags(slope, slope_free, infit, outfit) -> np.ndarray:
    """Discrimination and misfit flags (None where the item looks fine)."""
    flags = np.full(len(slope), None, dtype=object)
    mis = (infit > MISFIT_ABOVE) | (outfit > MISFIT_ABOVE)
    flags[np.nan_to_num(mis, nan=0).astype(bool)] = "misfit"
    low = slope_free & (slope >= 0) & (slope < LOW_SLOPE)
    flags[low] = "low_discrimination"
    flags[slope_free & (slope < 0)] = "negative_discrimination"
    return flags


def item_fit(
    calibration, persons, items, responses, *, sx2: bool = True, mincell: float = 1.0
) -> ItemFit:
    """Infit and outfit mean squares and S-X2 per item, with discrimination flags.

    Persons are placed at their EAP estimates (``score(..., method="eap")``) under the
    calibration; responses to items unknown to the calibration, or without usable
    parameters, are ignored.

    Parameters
    ----------
    calibration : Calibration
    persons, items, responses : array-like of shape (n_responses,)
        Long-format responses, as for ``calibrate``.
    sx2 : bool
        Compute S-X2 on each person's own form (``sx2`` module); False leaves it NaN.
        Its cost grows with persons x (form length)^2: about 30 s for 100,000 persons
        answering 20 items each (2PL; 60 s with 30% graded items), 0.1 s on a complete
        20,000 x 30 test, where persons sharing a score share the work.
    mincell : float
        S-X2's minimum expected count per cell after collapsing score groups (mirt's 1).

    Returns
    -------
    ItemFit
    """
    from .scoring import _prepare, _score_eap  # local import: scoring imports this module
    from .sx2 import sx2 as s_x2

    prep = _prepare(calibration, persons, items, responses, "ignore")
    theta, _ = _score_eap(calibration, prep, None)
    cal = calibration
    j, y, p = prep.item, prep.category, prep.person
    d = np.where(np.isfinite(cal.intercepts), cal.intercepts, -np.inf)
    sq, var = residual_terms(cal.slope[j], d[j], theta[p], y.astype(float))
    infit, outfit = mean_squares(sq, var, j, cal.n_items)
    slope_free = (cal.model != "rasch") & cal.fitted
    nan = np.full(cal.n_items, np.nan)
    stat = s_x2(cal, p, j, y, len(prep.person_labels), mincell) if sx2 else (nan, nan, nan)
    return ItemFit(
        items=cal.items,
        infit=infit,
        outfit=outfit,
        n_responses=np.bincount(j, minlength=cal.n_items),
        flag=fit_flags(cal.slope, slope_free, infit, outfit),
        sx2=stat[0],
        sx2_df=stat[1],
        sx2_p=stat[2],
    )
