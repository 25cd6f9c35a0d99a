"""Summed-score likelihoods by the Lord-Wingersky recursion.

For items with ``K_i`` ordered categories scored ``0..K_i-1``, the likelihood of the summed
score ``s`` at ``theta`` is built one item at a time (Lord & Wingersky 1984; Thissen,
Pommerich, Billeaud & Williams 1995 for graded items):

    f_0(0 | theta) = 1
    f_l(s | theta) = sum_x P_l(x | theta) f_{l-1}(s - x | theta)

so ``f_L(s | theta)`` sums the likelihood of every response pattern with total ``s``
without enumerating them. ``lord_wingersky_steps`` keeps every intermediate ``f_l``: run
forwards and backwards over a person's form, it gives the likelihood of the form without
any one item by a single convolution (``sx2.form_expectations``).

References
----------
Lord, F. M., & Wingersky, M. S. (1984). Comparison of IRT true-score and equipercentile
observed-score "equatings". Applied Psychological Measurement, 8, 453-461.
Thissen, D., Pommerich, M., Billeaud, K., & Williams, V. S. L. (1995). Item response theory
for scores on tests including polytomous items with ordered responses. Applied
Psychological Measurement, 19, 39-49.
"""

from __future__ import annotations

import numpy as np

from . import quadrature as quad
from .models import log_probs


def category_probs(calibration, theta: np.ndarray) -> np.ndarray:
    """P(Y_i = x | theta) for every item of a calibration, padded with zeros.

    Parameters
    ----------
    calibration : Calibration
    theta : ndarray of shape (Q,)

    Returns
    -------
    ndarray of shape (n_items, max_categories, Q)
        Zero for categories an item does not have and for items without usable parameters.
    """
    cal = calibration
    k = cal.n_categories
    out = np.zeros((cal.n_items, int(k.max()) if cal.n_items else 2, len(theta)))
    used = np.nonzero(cal.fitted)[0]
    d = cal.intercepts
    for kv in np.unique(k[used]):
        idx = used[k[used] == kv]
        out[idx, :kv] = np.exp(log_probs(cal.slope[idx], d[idx, : kv - 1], theta))
    return out


def lord_wingersky(probs: np.ndarray) -> np.ndarray:
    """Summed-score likelihood f(s | theta) of a set of items.

    Parameters
    ----------
    probs : ndarray of shape (L, K, ...)
        Category probabilities of L items (zero-padded categories allowed); the trailing
        axes (nodes, or persons' forms and nodes) are carried along elementwise.

    Returns
    -------
    ndarray of shape (L * (K - 1) + 1, ...)
    """
    return lord_wingersky_steps(probs)[-1]


def lord_wingersky_steps(probs: np.ndarray, max_score: int | None = None) -> np.ndarray:
    """Every step of the recursion: ``out[l, s]`` is f over the first l items.

    Parameters
    ----------
    probs : ndarray of shape (L, K, ...)
    max_score : int, optional
        Keep scores up to this one only (no lower score depends on a higher one); by
        default every reachable score, ``L * (K - 1)``.

    Returns
    -------
    ndarray of shape (L + 1, max_score + 1, ...)
        Zero beyond the highest score reachable after l items.
    """
    n_items, k, *rest = probs.shape
    cap = n_items * (k - 1) if max_score is None else min(max_score, n_items * (k - 1))
    out = np.zeros((n_items + 1, cap + 1, *rest))
    out[0, 0] = 1.0
    for step in range(n_items):
        m = min(step * (k - 1), cap)  # highest score after `step` items
        prev = out[step, : m + 1]
        for x in range(min(k, cap + 1)):
            if x > 0 and not probs[step, x].any():
                continue  # a padding category (an item with fewer categories)
            n = min(m + 1, cap + 1 - x)
            out[step + 1, x : x + n] += probs[step, x] * prev[:n]
    return out


def summed_score_likelihood(calibration, items=None, theta=None) -> np.ndarray:
    """f(s | theta): the likelihood of each summed score of a set of items.

    Scores count model categories, 0..K_i-1 per item. Items without usable parameters
    contribute nothing (always score 0).

    Parameters
    ----------
    calibration : Calibration
    items : array-like, optional
        Item labels; defaults to every item of the calibration.
    theta : array-like of shape (Q,), optional
        Defaults to the calibration's quadrature nodes.

    Returns
    -------
    ndarray of shape (max_score + 1, Q)
        ``max_score`` is the sum of ``K_i - 1`` over the usable items; each column sums to 1.
    """
    theta = quad.grid(calibration.quadrature) if theta is None else np.asarray(theta, float)
    idx = np.arange(calibration.n_items) if items is None else calibration.index(items)
    if np.any(idx < 0):
        raise ValueError("items: labels unknown to the calibration")
    idx = idx[calibration.fitted[idx]]
    probs = category_probs(calibration, theta)[idx]
    f = lord_wingersky(probs)
    top = int(np.sum(calibration.n_categories[idx] - 1))
    return f[: top + 1]
