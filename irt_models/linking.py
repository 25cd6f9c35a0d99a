"""link(): a linear transformation from one calibration's scale to another's.

Two separate calibrations that share items (the common items) measure on scales that
differ by a linear map ``theta_old = A * theta_new + B``. Item parameters follow as
``a_old = a_new / A`` and ``b_old = A * b_new + B``.

- ``"mean-sigma"`` (Marco 1977): A and B match the mean and standard deviation of the
  common items' thresholds.
- ``"stocking-lord"`` (Stocking & Lord 1983): A and B minimise the squared difference of the
  common items' test characteristic curves, integrated over the old latent distribution on
  the old calibration's quadrature grid, starting from mean-sigma.

References
----------
Marco, G. L. (1977). Item characteristic curve solutions to three intractable testing
problems. Journal of Educational Measurement, 14, 139-160.
Stocking, M. L., & Lord, F. M. (1983). Developing a common metric in item response theory.
Applied Psychological Measurement, 7, 201-210.
Kolen, M. J., & Brennan, R. L. (2014). Test Equating, Scaling, and Linking (3rd ed.).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from . import quadrature as quad
from .models import expected_score, intercepts_from_thresholds
from .results import Calibration
from .scoring import Scores

METHODS = ("stocking-lord", "mean-sigma")


@dataclass(frozen=True, eq=False)
class Linking:
    """``theta_old = A * theta_new + B``.

    Attributes
    ----------
    A, B : float
    method : str
    items : ndarray
        Common items used.
    """

    A: float
    B: float
    method: str
    items: np.ndarray

    def theta(self, theta):
        """Thetas from the new scale on the old scale."""
        return self.A * np.asarray(theta, dtype=float) + self.B

    def se(self, se):
        """Standard errors of thetas on the old scale."""
        return self.A * np.asarray(se, dtype=float)

    def scores(self, scores: Scores) -> Scores:
        """Scores from the new scale on the old scale."""
        return Scores(scores.persons, self.theta(scores.theta), self.se(scores.se), scores.n_items)

    def apply(self, calibration: Calibration) -> Calibration:
        """The calibration's item parameters and latent distribution on the old scale."""
        A, B = self.A, self.B
        return dataclasses.replace(
            calibration,
            slope=calibration.slope / A,
            slope_se=calibration.slope_se / A,
            thresholds=A * calibration.thresholds + B,
            thresholds_se=A * calibration.thresholds_se,
            difficulty=A * calibration.difficulty + B,
            difficulty_se=A * calibration.difficulty_se,
            latent_mean=A * calibration.latent_mean + B,
            latent_var=A**2 * calibration.latent_var,
        )


def common_items(calibration_new: Calibration, calibration_old: Calibration) -> np.ndarray:
    """Positions in ``calibration_new`` of the items ``link`` can use: fitted in both, with
    finite parameters and the same number of categories. ``link`` needs at least two."""
    new, old = calibration_new, calibration_old
    pos_old = old.index(new.items)
    known = pos_old >= 0
    usable_old = np.where(known, old.fitted[pos_old] & np.isfinite(old.slope[pos_old]), False)
    same_categories = np.where(known, old.n_categories[pos_old] == new.n_categories, False)
    return np.nonzero(known & new.fitted & np.isfinite(new.slope) & usable_old & same_categories)[0]


def link(
    calibration_new: Calibration, calibration_old: Calibration, method: str = "stocking-lord"
) -> Linking:
    """Linear transformation putting ``calibration_new`` on ``calibration_old``'s scale.

    Parameters
    ----------
    calibration_new, calibration_old : Calibration
        They must share at least two fitted items with the same number of categories.
    method : {"stocking-lord", "mean-sigma"}

    Returns
    -------
    Linking
    """
    for name, cal in (("calibration_new", calibration_new), ("calibration_old", calibration_old)):
        if not isinstance(cal, Calibration):
            raise ValueError(f"{name}: expected a Calibration, got {type(cal).__name__}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    new, old = calibration_new, calibration_old
    pos_old = old.index(new.items)
    common = common_items(new, old)
    if len(common) < 2:
        raise ValueError(
            "calibration_new, calibration_old: expected at least two common fitted items with "
            f"the same categories, got {len(common)}"
        )
    jo = pos_old[common]
    k = new.n_categories[common]
    b_new = np.concatenate([new.thresholds[j, : kk - 1] for j, kk in zip(common, k, strict=True)])
    b_old = np.concatenate([old.thresholds[j, : kk - 1] for j, kk in zip(jo, k, strict=True)])
    sd_new = b_new.std()
    if sd_new == 0:
        raise ValueError("calibration_new: the common items' thresholds do not vary")
    A = b_old.std() / sd_new
    B = b_old.mean() - A * b_new.mean()
    if method == "stocking-lord":
        A, B = _stocking_lord(new, old, common, jo, A, B)
    return Linking(float(A), float(B), method, new.items[common])


def _stocking_lord(new, old, common, jo, A0, B0):
    theta = quad.grid(old.quadrature)
    w = np.exp(quad.log_weights(theta, old.latent_mean, old.latent_var))
    kmax = max(new.thresholds.shape[1], old.thresholds.shape[1])

    def pad(b):
        out = np.full((b.shape[0], kmax), np.nan)
        out[:, : b.shape[1]] = b
        return out

    a_new, b_new = new.slope[common], pad(new.thresholds[common])
    a_old, b_old = old.slope[jo], pad(old.thresholds[jo])
    d_old = np.where(np.isnan(b_old), -np.inf, intercepts_from_thresholds(a_old, b_old))
    target = expected_score(a_old, d_old, theta).sum(axis=0)

    def loss(x):
        A, B = x
        a = a_new / A
        d = np.where(np.isnan(b_new), -np.inf, intercepts_from_thresholds(a, A * b_new + B))
        diff = target - expected_score(a, d, theta).sum(axis=0)
        return float(w @ diff**2)

    res = minimize(
        loss,
        np.array([A0, B0]),
        method="L-BFGS-B",
        bounds=[(1e-3, 1e3), (-50.0, 50.0)],
        options={"ftol": 1e-14, "gtol": 1e-10},
    )
    return res.x
