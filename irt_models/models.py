"""Item response functions: Rasch, 2PL and the graded response model.

All three are written as one family, the graded response model (Samejima 1969; mirt
``graded``) in slope-intercept form. An item with ``K`` ordered categories has a slope
``a`` and ``K - 1`` decreasing intercepts ``d_1 > ... > d_{K-1}``:

    P(Y >= k | theta) = 1 / (1 + exp(-(a * theta + d_k))),   k = 1 .. K-1
    P(Y = k | theta)  = P(Y >= k | theta) - P(Y >= k + 1 | theta)

with ``P(Y >= 0) = 1`` and ``P(Y >= K) = 0``. In the IRT parameterisation the thresholds
are ``b_k = -d_k / a`` so that ``a * theta + d_k = a * (theta - b_k)``.

- ``"2pl"``: two-parameter logistic model (Birnbaum 1968; mirt ``2PL``), ``K = 2``,
  ``P(Y = 1 | theta) = 1 / (1 + exp(-a (theta - b)))``; the latent trait is N(0, 1).
- ``"rasch"``: the Rasch model (Rasch 1960; mirt ``Rasch``), the 2PL with every slope fixed
  to 1 and the latent variance estimated. For a polytomous item, the graded model with slope 1.
- ``"grm"``: the graded response model (Samejima 1969; mirt ``graded``), ``K >= 2``.

References
----------
Samejima, F. (1969). Estimation of latent ability using a response pattern of graded scores.
Psychometrika Monograph Supplement, 17.
Birnbaum, A. (1968). Some latent trait models and their use in inferring an examinee's ability.
In Lord & Novick, Statistical Theories of Mental Test Scores.
Rasch, G. (1960). Probabilistic Models for Some Intelligence and Attainment Tests.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

MODELS = ("rasch", "2pl", "grm")


def _z(a: np.ndarray, d: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Cumulative logits, shape (n, K-1, Q)."""
    return a[:, None, None] * theta[None, None, :] + d[:, :, None]


def log_probs(a: np.ndarray, d: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Log category probabilities for items sharing one number of categories.

    Parameters
    ----------
    a : ndarray of shape (n,)
        Slopes.
    d : ndarray of shape (n, K-1)
        Intercepts, decreasing along axis 1.
    theta : ndarray of shape (Q,)
        Quadrature nodes or person locations.

    Returns
    -------
    ndarray of shape (n, K, Q)
    """
    z = _z(a, d, theta)
    n, km1, q = z.shape
    out = np.empty((n, km1 + 1, q))
    out[:, 0] = log_expit(-z[:, 0])
    out[:, km1] = log_expit(z[:, km1 - 1])
    if km1 > 1:
        x, y = z[:, :-1], z[:, 1:]
        gap = np.minimum(y - x, -1e-12)
        out[:, 1:km1] = log_expit(x) + log_expit(-y) + np.log(-np.expm1(gap))
    return out


def probs_and_derivatives(
    a: np.ndarray, d: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Category probabilities and their derivatives with respect to (a, d_1..d_{K-1}).

    Parameters
    ----------
    a : ndarray of shape (n,)
    d : ndarray of shape (n, K-1)
    theta : ndarray of shape (Q,)

    Returns
    -------
    P : ndarray of shape (n, K, Q)
    dP : ndarray of shape (n, K, Q, K)
        ``dP[..., 0]`` is the derivative with respect to the slope, ``dP[..., k]`` with
        respect to intercept ``d_k``.
    """
    z = _z(a, d, theta)
    n, km1, q = z.shape
    k = km1 + 1
    pstar = expit(z)
    w = pstar * expit(-z)
    P = np.exp(log_probs(a, d, theta))
    wpad = np.zeros((n, k + 1, q))
    wpad[:, 1:k] = w
    dP = np.zeros((n, k, q, k))
    dP[..., 0] = theta[None, None, :] * (wpad[:, :-1] - wpad[:, 1:])
    for m in range(1, k):
        dP[:, m - 1, :, m] = -w[:, m - 1]
        dP[:, m, :, m] = w[:, m - 1]
    return P, dP


def expected_score(a: np.ndarray, d: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Expected item score sum_k k P(Y = k | theta), shape (n, Q)."""
    return expit(_z(a, d, theta)).sum(axis=1)


def thresholds_from_intercepts(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    """IRT thresholds b_k = -d_k / a (NaN where a is 0 or missing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -d / np.asarray(a, dtype=float)[:, None]


def intercepts_from_thresholds(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Slope-intercept form d_k = -a * b_k."""
    return -np.asarray(a, dtype=float)[:, None] * b
