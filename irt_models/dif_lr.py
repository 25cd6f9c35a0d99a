"""Likelihood-ratio DIF test of one item against anchored items (binary and graded).

For a studied item ``i``, a reference group ``R`` and a focal group ``F``:

1. every other item keeps its anchored parameters; each group ``g`` has its own normal
   latent distribution N(mean_g, var_g), estimated once by EM with the anchored items
   fixed (``anchored.group_moments``; all items, or the unflagged ones when ``dif`` purifies)
   and then held at that estimate;
2. the respondents' posterior weights of theta without item ``i``,
   ``u_p(q) ∝ N(theta_q; mean_g, var_g) prod_{j != i} P(y_pj | theta_q)``, are fixed, so
   the marginal log-likelihood of item ``i``'s responses is, up to a constant,
   ``l(a, d) = sum_p log sum_q u_p(q) P(y_pi | theta_q; a, d)``;
3. model 0: one set of parameters of item ``i`` for both groups; model 1: separate sets
   (free in the focal group). Both are maximised directly by BFGS with the analytic
   gradient (intercepts kept ordered through log gaps; L-BFGS-B was ten times slower here,
   its core spending the time in BLAS threads on a loaded machine), and
   ``LR = 2 (l_1 - l_0)``, chi-square with ``df`` = the item's number of free parameters
   (``K`` for 2PL/graded items, ``K - 1`` for Rasch items, whose slope stays fixed).

Holding the group distributions at their anchored-items estimate instead of re-estimating
them in each model changes the likelihood by the information one item carries about the
group means, small against the other anchors; it makes each test a smooth problem in the
item's own two to a few parameters. This is the "anchor all other items" design of
Thissen, Steinberg & Wainer (1993) and mirt ``DIF(scheme = "drop")`` with fixed anchors.

Effect sizes (focal minus reference, from model 1): ``difficulty_difference``, the
difference of the mean thresholds (positive: harder for the focal group);
``slope_difference``; ``expected_score_difference``, the focal-density-weighted mean of
``E_F(Y | theta) - E_R(Y | theta)`` (signed; negative: the focal group scores lower at
equal theta), a signed area in the spirit of Raju (1988) and Wainer (1993).

References
----------
Thissen, D., Steinberg, L., & Wainer, H. (1993). Detection of differential item
functioning using the parameters of item response models. In P. W. Holland & H. Wainer
(Eds.), Differential Item Functioning (pp. 67-113). Erlbaum.
Raju, N. S. (1988). The area between two item characteristic curves. Psychometrika, 53,
495-502.
Wainer, H. (1993). Model-based standardized measurement of an item's differential impact.
In P. W. Holland & H. Wainer (Eds.), Differential Item Functioning (pp. 123-135).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from scipy.stats import chi2 as chi2_dist

from . import quadrature as quad
from .models import expected_score, probs_and_derivatives


class ItemLR(NamedTuple):
    """Likelihood-ratio DIF test of one item (focal minus reference effects)."""

    statistic: float
    df: int
    p: float
    difficulty_difference: float
    slope_difference: float
    expected_score_difference: float


def _unpack(z, slope, free_slope):
    """Slope and ordered intercepts from the optimiser's vector."""
    a = z[0] if free_slope else slope
    rest = z[1:] if free_slope else z
    d = rest[0] - np.concatenate([[0.0], np.cumsum(np.exp(rest[1:]))])
    return a, d


def _pack(a, d, free_slope):
    gaps = np.log(np.maximum(-np.diff(d), 1e-6))
    z = np.concatenate([[d[0]], gaps])
    return np.concatenate([[a], z]) if free_slope else z


def _negloglik(z, weights, category, nodes, slope, free_slope):
    """Minus the item's marginal log-likelihood and its gradient."""
    a, d = _unpack(z, slope, free_slope)
    P, dP = probs_and_derivatives(np.array([a]), d[None, :], nodes)
    P, dP = P[0], dP[0]  # (K, Q), (K, Q, K)
    m = np.maximum((weights * P[category]).sum(axis=1), 1e-300)
    W = weights / m[:, None]
    Wc = np.stack([W[category == c].sum(axis=0) for c in range(len(P))])
    g = np.einsum("cq,cqk->k", Wc, dP)  # d/da, d/dd_1..d_{K-1}
    gd = g[1:]
    tail = np.cumsum(gd[::-1])[::-1]  # sum over k >= j of d/dd_k
    gz = np.concatenate([[tail[0]], -np.exp(z[-len(d) + 1 :]) * tail[1:]]) if len(d) > 1 else tail
    grad = np.concatenate([[g[0]], gz]) if free_slope else gz
    return -np.log(m).sum(), -grad


def fit_item(weights, category, nodes, slope, intercepts, free_slope):
    """Maximum marginal likelihood of one item's parameters given fixed weights.

    Returns
    -------
    loglik : float
    a : float
    d : ndarray of shape (K-1,)
    """
    z0 = _pack(slope, intercepts, free_slope)
    res = minimize(
        _negloglik, z0, args=(weights, category, nodes, slope, free_slope), jac=True, method="BFGS"
    )
    a, d = _unpack(res.x, slope, free_slope)
    return -float(res.fun), float(a), d


def item_lr(weights, category, focal, nodes, slope, intercepts, free_slope, focal_prior):
    """LR test of one item: common parameters against separate ones per group.

    Parameters
    ----------
    weights : ndarray of shape (n, Q)
        Leave-item-out posterior weights of the item's respondents (rows sum to 1).
    category : ndarray of shape (n,) of int
    focal : ndarray of shape (n,) of bool
    nodes : ndarray of shape (Q,)
    slope : float
    intercepts : ndarray of shape (K-1,)
        Anchored values: starting point, and the slope used when ``free_slope`` is False.
    free_slope : bool
    focal_prior : (float, float)
        Focal group's latent mean and variance, for the expected-score difference.

    Returns
    -------
    ItemLR
    """
    args = (nodes, slope, intercepts, free_slope)
    l0, _, _ = fit_item(weights, category, *args)
    lr_, a_r, d_r = fit_item(weights[~focal], category[~focal], *args)
    lf_, a_f, d_f = fit_item(weights[focal], category[focal], *args)
    statistic = max(2.0 * (lr_ + lf_ - l0), 0.0)
    df = len(intercepts) + int(free_slope)
    w = np.exp(quad.log_weights(nodes, *focal_prior))
    e_f = expected_score(np.array([a_f]), d_f[None], nodes)[0]
    e_r = expected_score(np.array([a_r]), d_r[None], nodes)[0]
    return ItemLR(
        statistic=statistic,
        df=df,
        p=float(chi2_dist.sf(statistic, df)),
        difficulty_difference=float(np.mean(-d_f / a_f) - np.mean(-d_r / a_r)),
        slope_difference=a_f - a_r,
        expected_score_difference=float(w @ (e_f - e_r)),
    )
