"""Starting values for EM: item parameters and the latent moments.

A fixed item has its given parameters; a free item starts from ``init`` when that knows it
(with the same number of categories), otherwise from its category proportions: the
intercepts of the logistic approximation ``d_k = logit P(Y >= k) * sqrt(1 + 0.346)`` (slope
1), nudged to be strictly decreasing.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit

from .bank import ResponseLayout
from .results import Calibration
from .validation import ItemParameters


def item_starts(
    layout: ResponseLayout,
    labels: list,
    is_fixed: np.ndarray,
    slope_free: np.ndarray,
    fixed: dict[object, ItemParameters],
    start: dict[object, ItemParameters],
) -> tuple[np.ndarray, np.ndarray]:
    """Slopes (n_included,) and intercepts (n_included, max_categories - 1, NaN-padded).

    ``is_fixed`` is over the universe, ``slope_free`` over the included items.
    """
    n_included = len(layout.included)
    a = np.ones(n_included)
    d = np.full((n_included, int(layout.n_categories.max()) - 1), np.nan)
    for m, j in enumerate(layout.included):
        lab = labels[j]
        k = layout.n_categories[m]
        if is_fixed[j]:
            a[m], b = fixed[lab][0], fixed[lab][1]
            d[m, : k - 1] = -a[m] * b
            continue
        source = start.get(lab)
        if source is not None and len(source[1]) == k - 1 and np.isfinite(source[0]):
            a[m] = source[0] if slope_free[m] else 1.0
            d[m, : k - 1] = -a[m] * source[1]
            continue
        offset = layout.row_offset[m]
        d[m, : k - 1] = intercepts_from_counts(layout.row_counts[offset : offset + k])
    return a, d


def intercepts_from_counts(counts: np.ndarray) -> np.ndarray:
    """Starting intercepts from an item's responses per category (slope 1)."""
    p_at_least = np.clip(np.cumsum(counts[::-1])[::-1][1:] / counts.sum(), 1e-3, 1 - 1e-3)
    d = logit(p_at_least) * np.sqrt(1.0 + 0.346)
    d -= np.arange(len(counts) - 1) * 1e-3  # strictly decreasing even if ties
    return d


def free_latent_moments(
    included_fixed: np.ndarray, included_models: np.ndarray, answered: np.ndarray
) -> tuple[bool, bool]:
    """Whether the latent mean and variance are estimated (over the included items).

    Answered fixed items put the data on their scale (mean and variance free); Rasch items,
    whose slopes are 1, fix the unit instead of the variance.
    """
    mean_free = bool((included_fixed & answered).any())
    var_free = bool(((included_fixed | (included_models == "rasch")) & answered).any())
    return mean_free, var_free


def latent_start(fixed_items, init, mean_free: bool, var_free: bool) -> tuple[float, float]:
    """Starting latent mean and variance: from ``init`` or ``fixed_items`` when they are
    Calibrations (``init`` first), otherwise N(0, 1); moments that are not free are 0 and 1."""
    mean, var = 0.0, 1.0
    if isinstance(fixed_items, Calibration):
        mean, var = fixed_items.latent_mean, fixed_items.latent_var
    if isinstance(init, Calibration):
        mean, var = init.latent_mean, init.latent_var
    if not mean_free:
        mean = 0.0
    if not var_free:
        var = 1.0
    return mean, var
