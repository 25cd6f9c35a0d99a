"""Fixed rectangular quadrature for the latent trait.

mirt's default for unidimensional models is 61 evenly spaced points on [-6, 6]; the
latent density is the normal density evaluated on those points and renormalised, so the
grid stays fixed while the latent mean and variance move (Bock & Aitkin 1981).

References
----------
Bock, R. D., & Aitkin, M. (1981). Marginal maximum likelihood estimation of item
parameters: Application of an EM algorithm. Psychometrika, 46, 443-459.
"""

from __future__ import annotations

import numpy as np

THETA_LIMITS = (-6.0, 6.0)
DEFAULT_POINTS = 61


def grid(n_points: int = DEFAULT_POINTS, limits: tuple[float, float] = THETA_LIMITS) -> np.ndarray:
    """Evenly spaced quadrature nodes.

    Parameters
    ----------
    n_points : int
        Number of nodes (mirt's default is 61).
    limits : tuple of float
        Lowest and highest node (mirt's default is (-6, 6)).

    Returns
    -------
    ndarray of shape (n_points,)
    """
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 5:
        raise ValueError(f"quadrature: expected an integer >= 5, got {n_points!r}")
    return np.linspace(limits[0], limits[1], int(n_points))


def log_weights(nodes: np.ndarray, mean: float, var: float) -> np.ndarray:
    """Log of the normal density on the nodes, renormalised to sum to one.

    Parameters
    ----------
    nodes : ndarray of shape (Q,)
    mean, var : float
        Latent mean and variance.

    Returns
    -------
    ndarray of shape (Q,)
    """
    z = -0.5 * (nodes - mean) ** 2 / var
    z -= z.max()
    return z - np.log(np.exp(z).sum())
