"""The M-step: Fisher scoring for all items at once, and the latent moments.

Items are grouped by their number of categories; within a group every array carries an
item axis, so one Newton (Fisher scoring) step updates every item with a batched K x K
solve. The expected information ``sum_q n_q sum_k dP_k dP_k' / P_k`` is positive
definite, which keeps the steps ascending; a step is halved, item by item, if it would
break the order of the intercepts or lower the item's expected complete-data
log-posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models import log_probs, probs_and_derivatives

TINY = 1e-300


@dataclass(frozen=True)
class ItemPrior:
    """Weak normal priors on item parameters (slope-intercept form).

    ``a ~ N(slope_mean, slope_sd^2)`` and ``d_k ~ N(0, intercept_sd^2)``. They keep items
    with few or extreme responses finite while moving well-measured items by far less than
    a standard error. ``calibrate(..., prior=None)`` gives plain marginal maximum likelihood
    (mirt's default).

    Parameters
    ----------
    slope_mean : float
    slope_sd : float
    intercept_sd : float
    """

    slope_mean: float = 1.0
    slope_sd: float = 3.0
    intercept_sd: float = 6.0

    def __post_init__(self):
        if not (self.slope_sd > 0 and self.intercept_sd > 0):
            raise ValueError(f"prior: standard deviations must be > 0, got {self}")


def _objective(r, a, d, theta, prior, slope_free):
    lp = log_probs(a, d, theta)
    f = np.einsum("nkq,nkq->n", r, lp)
    if prior is not None:
        f -= np.where(slope_free, 0.5 * ((a - prior.slope_mean) / prior.slope_sd) ** 2, 0.0)
        f -= 0.5 * np.sum((d / prior.intercept_sd) ** 2, axis=1)
    return f


def _ordered(d: np.ndarray) -> np.ndarray:
    if d.shape[1] < 2:
        return np.isfinite(d).all(axis=1)
    return np.all(np.diff(d, axis=1) < -1e-8, axis=1) & np.isfinite(d).all(axis=1)


def fisher_step(r, a, d, theta, prior, slope_free):
    """Gradient and expected information of the expected complete-data log-posterior.

    Parameters
    ----------
    r : ndarray of shape (n, K, Q)
        Expected counts.
    a : ndarray of shape (n,)
    d : ndarray of shape (n, K-1)
    theta : ndarray of shape (Q,)
    prior : ItemPrior or None
    slope_free : ndarray of shape (n,) of bool

    Returns
    -------
    grad : ndarray of shape (n, K)
    info : ndarray of shape (n, K, K)
    """
    P, dP = probs_and_derivatives(a, d, theta)
    P = np.maximum(P, TINY)
    grad = np.einsum("nkq,nkqt->nt", r / P, dP)
    nq = r.sum(axis=1)
    info = np.einsum("nkqs,nkqt->nst", dP * (nq[:, None, :] / P)[..., None], dP)
    if prior is not None:
        grad[:, 0] -= (a - prior.slope_mean) / prior.slope_sd**2
        info[:, 0, 0] += 1.0 / prior.slope_sd**2
        grad[:, 1:] -= d / prior.intercept_sd**2
        k = d.shape[1]
        info[:, np.arange(1, k + 1), np.arange(1, k + 1)] += 1.0 / prior.intercept_sd**2
    fixed = ~slope_free
    if fixed.any():
        grad[fixed, 0] = 0.0
        info[fixed, 0, :] = 0.0
        info[fixed, :, 0] = 0.0
        info[fixed, 0, 0] = 1.0
    return grad, info


def update_items(r, a, d, theta, prior, slope_free, max_steps=6, tol=1e-7):
    """Maximise the expected complete-data log-posterior of a group of items.

    Parameters
    ----------
    r : ndarray of shape (n, K, Q)
    a : ndarray of shape (n,)
    d : ndarray of shape (n, K-1)
    theta : ndarray of shape (Q,)
    prior : ItemPrior or None
    slope_free : ndarray of shape (n,) of bool
    max_steps : int
        Fisher scoring steps (a partial M-step still gives a monotone EM).
    tol : float
        Stop when no parameter moves by more than this.

    Returns
    -------
    a, d : updated copies
    """
    a = a.copy()
    d = d.copy()
    f = _objective(r, a, d, theta, prior, slope_free)
    active = np.ones(len(a), dtype=bool)
    for _ in range(max_steps):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        grad, info = fisher_step(r[idx], a[idx], d[idx], theta, prior, slope_free[idx])
        info[:, range(info.shape[1]), range(info.shape[1])] += 1e-10
        try:
            step = np.linalg.solve(info, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.einsum("nst,nt->ns", np.linalg.pinv(info), grad)
        big = np.abs(step).max(axis=1)
        step *= np.minimum(1.0, 2.0 / np.maximum(big, 1e-300))[:, None]
        scale = np.ones(len(idx))
        pending = np.ones(len(idx), dtype=bool)
        new_a, new_d = a[idx].copy(), d[idx].copy()
        for _ in range(12):
            sub = np.nonzero(pending)[0]
            ca = a[idx[sub]] + scale[sub] * step[sub, 0]
            cd = d[idx[sub]] + scale[sub, None] * step[sub, 1:]
            ok = _ordered(cd)
            fc = np.full(len(sub), -np.inf)
            if ok.any():
                fc[ok] = _objective(
                    r[idx[sub[ok]]], ca[ok], cd[ok], theta, prior, slope_free[idx[sub[ok]]]
                )
            good = ok & (fc >= f[idx[sub]] - 1e-9 * np.abs(f[idx[sub]]))
            new_a[sub[good]] = ca[good]
            new_d[sub[good]] = cd[good]
            f[idx[sub[good]]] = np.where(good, fc, 0.0)[good]
            pending[sub[good]] = False
            scale[sub[~good]] *= 0.5
            if not pending.any():
                break
        moved = np.maximum(np.abs(new_a - a[idx]), np.abs(new_d - d[idx]).max(axis=1))
        a[idx], d[idx] = new_a, new_d
        active[idx[moved < tol]] = False
    return a, d


def latent_moments(node_mass: np.ndarray, theta: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the expected latent distribution over the nodes."""
    n = node_mass.sum()
    mean = float(node_mass @ theta / n)
    var = float(node_mass @ (theta - mean) ** 2 / n)
    return mean, var
