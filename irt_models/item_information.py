"""Item and test information curves: where on the ability scale a set of items measures well.

For an item with cumulative category curves ``P*_k(theta) = 1 / (1 + exp(-a (theta - b_k)))``
(``P*_0 = 1``, ``P*_K = 0``; the 2PL is the case K = 2), Fisher information is

    I(theta) = sum_k (P*_k'(theta) - P*_{k+1}'(theta))^2 / P_k(theta),
    P_k = P*_k - P*_{k+1},  P*_k' = a P*_k (1 - P*_k)

which for the 2PL reduces to ``a^2 P (1 - P)``. Test information is the sum over items, and
``1 / sqrt(I(theta))`` approximates the standard error of a maximum-likelihood ability estimate
at ``theta``.

References
----------
Samejima, F. (1969). Estimation of latent ability using a response pattern of graded scores.
Psychometrika Monograph Supplement 17.
"""

from __future__ import annotations

import numpy as np

from .results import Calibration


def item_information(calibration: Calibration, theta) -> np.ndarray:
    """Fisher information of every fitted item at each ``theta``.

    Parameters
    ----------
    calibration : Calibration
    theta : array-like of shape (n_theta,)

    Returns
    -------
    ndarray of shape (n_theta, n_items)
        Zero for items without usable parameters.
    """
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    out = np.zeros((len(theta), calibration.n_items))
    for i in np.nonzero(calibration.fitted)[0]:
        a = float(calibration.slope[i])
        b = calibration.thresholds[i, : int(calibration.n_categories[i]) - 1]
        star = 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b[None, :])))
        ones = np.ones((len(theta), 1))
        zeros = np.zeros((len(theta), 1))
        cumulative = np.hstack([ones, star, zeros])
        derivative = np.hstack([zeros, a * star * (1.0 - star), zeros])
        p = np.clip(cumulative[:, :-1] - cumulative[:, 1:], 1e-300, None)
        dp = derivative[:, :-1] - derivative[:, 1:]
        out[:, i] = np.sum(dp**2 / p, axis=1)
    return out


def test_information(calibration: Calibration, theta) -> np.ndarray:
    """Sum of the item information curves: shape (n_theta,)."""
    return item_information(calibration, theta).sum(axis=1)


test_information.__test__ = False  # a psychometric term, not a pytest test
