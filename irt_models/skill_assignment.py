"""Which skill an item assesses, when the item does not say: choose by the data.

An item without a skill in a course teaching several skills assesses one of them. Given the
learners' estimated abilities on each candidate skill (from items whose skill is known), the item
assesses the skill whose ability best explains its responses. For each candidate skill we fit a
two-parameter logistic regression of the item response on the ability estimate and compare the
maximised log-likelihoods; with equal prior odds the posterior probability of each candidate is
the softmax of those log-likelihoods (a BIC-style comparison: every candidate model has the same
number of parameters, so the penalty cancels).

Abilities across skills are correlated (a learner strong in SQL tends to be strong in Python), so
every candidate explains the item somewhat; the comparison rewards the skill-specific part, and
needs enough responses to see it. Items with fewer than ``min_responses`` responses, or whose best
slope is not positive, stay unassigned.

References
----------
Schwarz, G. (1978). Estimating the dimension of a model. Annals of Statistics 6(2), 461-464.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class SkillAssignment:
    """The outcome for one item.

    Attributes
    ----------
    best : int or None
        Index of the chosen candidate skill, None when unassigned.
    confidence : float
        Posterior probability of the chosen skill among the candidates (NaN when unassigned).
    loglik : ndarray of shape (n_candidates,)
        Maximised log-likelihood of the logistic regression on each candidate's ability.
    slope : ndarray of shape (n_candidates,)
        Fitted slope on each candidate's ability (ability units).
    n_responses : int
    reason : str or None
        Why the item is unassigned (``too_few_responses``, ``no_positive_slope``).
    """

    best: int | None
    confidence: float
    loglik: NDArray[np.float64]
    slope: NDArray[np.float64]
    n_responses: int
    reason: str | None = None


def _fit_logistic(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    ridge: float = 1e-3,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> tuple[float, float]:
    """Maximum-likelihood ``P(y=1) = 1 / (1 + exp(-(a x + c)))``; returns (slope, loglik).

    A small ridge keeps separable data (every response alike) finite.
    """
    a, c = 0.0, 0.0
    for _ in range(max_iter):
        eta = a * x + c
        p = 1.0 / (1.0 + np.exp(-eta))
        w = p * (1.0 - p)
        grad = np.array([np.dot(x, y - p) - ridge * a, np.sum(y - p) - ridge * c])
        hess = np.array(
            [
                [np.dot(w * x, x) + ridge, np.dot(w, x)],
                [np.dot(w, x), np.sum(w) + ridge],
            ]
        )
        step = np.linalg.solve(hess, grad)
        a, c = a + step[0], c + step[1]
        if np.max(np.abs(step)) < tol:
            break
    eta = a * x + c
    loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    return float(a), loglik


def assign_skill(
    responses: ArrayLike, abilities: ArrayLike, *, n_categories: int = 2, min_responses: int = 50
) -> SkillAssignment:
    """Choose the candidate skill whose ability best explains one item's responses.

    Parameters
    ----------
    responses : array-like of shape (n_responses,)
        The item's responses: 0/1, or ordered categories 0..K-1 (dichotomised at K/2).
    abilities : array-like of shape (n_responses, n_candidates)
        Each responding learner's ability estimate on each candidate skill (EAP from items of
        known skill; learners without one carry the prior mean).
    n_categories : int
        K, the number of response categories of the item.
    min_responses : int
        Fewer responses than this leave the item unassigned.

    Returns
    -------
    SkillAssignment
    """
    y = np.asarray(responses, dtype=np.float64)
    x = np.asarray(abilities, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"abilities must have shape (n_responses, n_candidates) = ({y.shape[0]}, k); "
            f"got {x.shape}"
        )
    if n_categories < 2:
        raise ValueError(f"n_categories must be at least 2; got {n_categories}")
    if n_categories > 2:
        y = (y >= n_categories / 2).astype(np.float64)
    n = int(y.shape[0])
    k = x.shape[1]
    if n < min_responses:
        nan = np.full(k, np.nan)
        return SkillAssignment(None, float("nan"), nan, nan, n, "too_few_responses")
    fits = [_fit_logistic(x[:, j], y) for j in range(k)]
    slope = np.array([f[0] for f in fits])
    loglik = np.array([f[1] for f in fits])
    usable = slope > 0
    if not usable.any():
        return SkillAssignment(None, float("nan"), loglik, slope, n, "no_positive_slope")
    masked = np.where(usable, loglik, -np.inf)
    best = int(np.argmax(masked))
    weights = np.exp(masked - masked[best])
    confidence = float(weights[best] / weights.sum())
    return SkillAssignment(best, confidence, loglik, slope, n)
