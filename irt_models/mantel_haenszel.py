"""Mantel-Haenszel DIF statistics for dichotomous items, with the ETS A/B/C classes.

Persons are matched into strata ``k``; in each stratum a 2x2 table crosses the group with
the response to the studied item:

                 correct   incorrect
    reference     A_k        B_k        n_Rk
    focal         C_k        D_k        n_Fk
                  m_1k       m_0k       T_k

- common odds ratio (Mantel & Haenszel 1959) ``alpha = sum(A D / T) / sum(B C / T)``; above
  1 the reference group has the higher odds of a correct answer at equal matching score;
- ETS delta ``D = -2.35 ln(alpha)`` (Holland & Thayer 1988): negative when the item is
  harder for the focal group ("MH D-DIF");
- the variance of ``ln(alpha)`` by Robins, Breslow & Greenland (1986), the estimator
  Phillips & Holland (1987) derived for DIF, with ``P = (A + D) / T``,
  ``Q = (B + C) / T``, ``R = A D / T``, ``S = B C / T``:

      Var = sum(P R) / (2 R+^2) + sum(P S + Q R) / (2 R+ S+) + sum(Q S) / (2 S+^2)

  and ``SE(D) = 2.35 sqrt(Var)``;
- the MH chi-square with continuity correction (1 df)
  ``(|sum(A - E(A))| - 1/2)^2 / sum(Var(A))``, ``E(A) = n_R m_1 / T``,
  ``Var(A) = n_R n_F m_1 m_0 / (T^2 (T - 1))``; the correction is 1/2, or 0 when
  ``|sum| < 1/2``, as in R's ``mantelhaen.test``.

Strata with fewer than two persons carry no information and are dropped.

ETS classes (Dorans & Holland 1993; Zwick 2012), from the unadjusted MH p-value:

- ``"C"``: ``|D| >= 1.5`` and ``|D|`` significantly greater than 1, i.e.
  ``(|D| - 1) / SE(D) > 1.645`` (one-sided test at 0.05), and the MH test significant;
- ``"A"``: ``|D| < 1`` or the MH chi-square not significant at 0.05;
- ``"B"``: otherwise.

References
----------
Mantel, N., & Haenszel, W. (1959). Statistical aspects of the analysis of data from
retrospective studies of disease. Journal of the National Cancer Institute, 22, 719-748.
Holland, P. W., & Thayer, D. T. (1988). Differential item performance and the
Mantel-Haenszel procedure. In H. Wainer & H. I. Braun (Eds.), Test Validity (pp. 129-145).
Robins, J., Breslow, N., & Greenland, S. (1986). Estimators of the Mantel-Haenszel variance
consistent in both sparse data and large-strata limiting models. Biometrics, 42, 311-323.
Phillips, A., & Holland, P. W. (1987). Estimators of the variance of the Mantel-Haenszel
log-odds-ratio estimate. Biometrics, 43, 425-431.
Dorans, N. J., & Holland, P. W. (1993). DIF detection and description: Mantel-Haenszel and
standardization. In P. W. Holland & H. Wainer (Eds.), Differential Item Functioning.
Zwick, R. (2012). A review of ETS differential item functioning assessment procedures.
ETS Research Report RR-12-08.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm

DELTA_PER_LOGIT = -2.35
SIGNIFICANCE = 0.05
B_FROM, C_FROM = 1.0, 1.5
Z_ONE_SIDED = float(norm.ppf(1 - SIGNIFICANCE))


class MantelHaenszel(NamedTuple):
    """MH statistics, one entry per table set (the strata axis reduced).

    Attributes
    ----------
    odds_ratio : ndarray
        Common odds ratio alpha_MH (reference over focal).
    log_odds_ratio_se : ndarray
        Robins-Breslow-Greenland standard error of ln(alpha_MH).
    delta, delta_se : ndarray
        ETS delta ``-2.35 ln(alpha_MH)`` and its standard error.
    chi2, p : ndarray
        MH chi-square (continuity-corrected unless asked otherwise) and its p-value.
    """

    odds_ratio: np.ndarray
    log_odds_ratio_se: np.ndarray
    delta: np.ndarray
    delta_se: np.ndarray
    chi2: np.ndarray
    p: np.ndarray


def mh_statistics(A, B, C, D, correction: bool = True) -> MantelHaenszel:
    """Mantel-Haenszel statistics from stratified 2x2 tables.

    Parameters
    ----------
    A, B, C, D : array-like of shape (..., n_strata)
        Reference correct, reference incorrect, focal correct, focal incorrect per stratum.
    correction : bool
        Continuity correction of the chi-square.

    Returns
    -------
    MantelHaenszel
        Arrays of shape ``(...)``; NaN or infinite where a sum is zero.
    """
    A, B, C, D = (np.asarray(x, dtype=float) for x in (A, B, C, D))
    T = A + B + C + D
    use = T >= 2
    Tn = np.where(use, T, 2.0)
    R = np.where(use, A * D / Tn, 0.0)
    S = np.where(use, B * C / Tn, 0.0)
    P, Q = (A + D) / Tn, (B + C) / Tn
    r, s = R.sum(axis=-1), S.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = r / s
        var_log = (
            (P * R).sum(axis=-1) / (2 * r**2)
            + (P * S + Q * R).sum(axis=-1) / (2 * r * s)
            + (Q * S).sum(axis=-1) / (2 * s**2)
        )
        n_r, n_f, m_1, m_0 = A + B, C + D, A + C, B + D
        expected = np.where(use, n_r * m_1 / Tn, A)
        var_a = np.where(use, n_r * n_f * m_1 * m_0 / (Tn**2 * (Tn - 1)), 0.0)
        dev = np.abs((A - expected).sum(axis=-1))
        if correction:
            dev = np.where(dev >= 0.5, dev - 0.5, dev)
        chi2 = dev**2 / var_a.sum(axis=-1)
        se_log = np.sqrt(var_log)
        delta = DELTA_PER_LOGIT * np.log(alpha)
    return MantelHaenszel(
        odds_ratio=alpha,
        log_odds_ratio_se=se_log,
        delta=delta,
        delta_se=-DELTA_PER_LOGIT * se_log,
        chi2=chi2,
        p=chi2_dist.sf(chi2, 1),
    )


def ets_class(delta, delta_se, p) -> np.ndarray:
    """ETS A/B/C classes from MH D-DIF, its standard error and the MH p-value.

    Parameters
    ----------
    delta, delta_se, p : array-like of shape (n,)

    Returns
    -------
    ndarray of shape (n,) of object
        ``"A"``, ``"B"``, ``"C"``, or None where delta or p is NaN.
    """
    d = np.abs(np.asarray(delta, dtype=float))
    se = np.asarray(delta_se, dtype=float)
    p = np.asarray(p, dtype=float)
    significant = p < SIGNIFICANCE
    with np.errstate(divide="ignore", invalid="ignore"):
        above_one = (d - B_FROM) / se > Z_ONE_SIDED
    out = np.full(d.shape, "B", dtype=object)
    out[(d < B_FROM) | ~significant] = "A"
    out[(d >= C_FROM) & above_one & significant] = "C"
    out[np.isnan(d) | np.isnan(p)] = None
    return out


def rest_score_strata(total, person, category):
    """Stratum of each response: the person's total score minus the response (thin
    matching on the rest score; Holland & Thayer 1988 match on the total score, which
    differs by the studied item only).

    Parameters
    ----------
    total : ndarray of shape (n_persons,)
    person, category : ndarray of shape (n_responses,)

    Returns
    -------
    ndarray of shape (n_responses,) of int
    """
    return (total[person] - category).astype(np.int64)


# Decimals of theta kept for the quantile bands: far below any real difference in ability.
THETA_DECIMALS = 9


def theta_strata(theta, item, n_items: int, n_strata: int):
    """Stratum of each response: quantile band of the person's theta among the item's
    respondents (both groups pooled), ``n_strata`` bands of about equal counts; persons
    with equal thetas share a band.

    Parameters
    ----------
    theta : ndarray of shape (n_responses,)
        Matching theta of each response's person.
    item : ndarray of shape (n_responses,)
        Item code 0..n_items-1.
    n_items, n_strata : int

    Returns
    -------
    ndarray of shape (n_responses,) of int
    """
    strata = np.zeros(len(item), dtype=np.int64)
    # Rounded so that equal response patterns share a band whatever the floating-point noise
    # of their EAPs (1e-13 apart when the persons fell in different blocks of a BLAS product):
    # a band edge falls on such tied values, and noise would split the tie at random.
    theta = np.round(np.asarray(theta, dtype=float), THETA_DECIMALS)
    q = np.linspace(0, 1, n_strata + 1)[1:-1]
    # One sort by item, then each item's rows are a slice (a mask per item is O(items x rows)).
    order = np.argsort(item, kind="stable")
    bounds = np.searchsorted(item[order], np.arange(n_items + 1))
    for j in range(n_items):
        rows = order[bounds[j] : bounds[j + 1]]
        if len(rows):
            edges = np.unique(np.quantile(theta[rows], q))
            strata[rows] = np.searchsorted(edges, theta[rows], side="right")
    return strata


def tables(item, stratum, focal, correct, n_items: int):
    """Stratified 2x2 tables per item.

    Parameters
    ----------
    item, stratum : ndarray of shape (n_responses,) of int
    focal, correct : ndarray of shape (n_responses,) of bool
    n_items : int

    Returns
    -------
    A, B, C, D : ndarray of shape (n_items, n_strata)
    """
    n_strata = int(stratum.max()) + 1 if len(stratum) else 1
    cell = ((item * n_strata + stratum) * 2 + focal) * 2 + correct
    counts = np.bincount(cell, minlength=n_items * n_strata * 4).reshape(n_items, n_strata, 2, 2)
    counts = counts.astype(float)
    return counts[:, :, 0, 1], counts[:, :, 0, 0], counts[:, :, 1, 1], counts[:, :, 1, 0]
