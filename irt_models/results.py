"""The Calibration result: item parameters, their standard errors, flags and the fit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import as_labels
from .models import MODELS, intercepts_from_thresholds
from .quadrature import DEFAULT_POINTS

FLAGS = (
    "too_few_responses",
    "single_category",
    "negative_discrimination",
    "low_discrimination",
    "collapsed_categories",
    "misfit",
)


@dataclass(frozen=True, eq=False)
class Calibration:
    """Item parameters on one latent scale, as estimated (or given) for a set of items.

    Per-item arrays have one entry per item, in the order of ``items`` (sorted labels).
    Thresholds are stored as an (n_items, max_categories - 1) array padded with NaN; for a
    binary item the single threshold equals the difficulty.

    Attributes
    ----------
    items : ndarray of shape (n_items,)
        Item labels.
    model : ndarray of shape (n_items,) of str
        ``"rasch"``, ``"2pl"`` or ``"grm"``.
    slope : ndarray of shape (n_items,)
        Discrimination ``a`` (1 for Rasch items). NaN for items that were not fitted.
    difficulty : ndarray of shape (n_items,)
        ``b`` for binary items; the mean of the thresholds for graded items.
    thresholds : ndarray of shape (n_items, max_categories - 1)
        Category boundaries ``b_k`` with ``P(Y >= k) = 1 / (1 + exp(-a (theta - b_k)))``.
    slope_se, difficulty_se : ndarray of shape (n_items,)
        Standard errors (NaN for fixed, Rasch slopes and unfitted items).
    thresholds_se : ndarray of shape (n_items, max_categories - 1)
    n_responses : ndarray of shape (n_items,) of int
        Responses to the item in the calibration data.
    n_categories : ndarray of shape (n_items,) of int
        Categories in the model, after collapsing unobserved ones.
    categories : ndarray of shape (n_items, max_categories) of int
        Response value of each model category (padded with -1). After collapsing, a
        response value maps to the highest model category whose value does not exceed it.
    flag : ndarray of shape (n_items,) of object
        None, or the most serious reason among ``FLAGS`` (in that order of priority).
    fixed : ndarray of shape (n_items,) of bool
        The parameters were given (fixed-item calibration, ``from_parameters``), not estimated.
    infit, outfit : ndarray of shape (n_items,)
        Information-weighted and unweighted mean squares at the persons' EAP estimates.
    latent_mean, latent_var : float
        Latent distribution N(latent_mean, latent_var) on this scale; with groups, the
        mean and variance of the mixture of the group distributions (the population).
    loglik : float
        Marginal log-likelihood at the estimates (without the item priors).
    iterations : int
        EM iterations (E-steps), including those spent on acceleration.
    converged : bool
    n_persons : int
    quadrature : int
        Number of quadrature nodes on [-6, 6] used to fit and, by default, to score.
    groups : ndarray of shape (n_groups,) or None
        Group labels of a multiple-group calibration (``calibrate(..., groups=)``), sorted;
        None without groups.
    group_n : ndarray of shape (n_groups,) of int or None
        Persons per group.
    group_mean, group_var : ndarray of shape (n_groups,) or None
        Each group's latent N(group_mean, group_var) on this scale.
    group_pooled : ndarray of shape (n_groups,) of bool or None
        The group had too few persons (or was the only large one) and has the pooled
        distribution: its mean and variance are ``latent_mean`` and ``latent_var``.
    """

    items: np.ndarray
    model: np.ndarray
    slope: np.ndarray
    difficulty: np.ndarray
    thresholds: np.ndarray
    slope_se: np.ndarray
    difficulty_se: np.ndarray
    thresholds_se: np.ndarray
    n_responses: np.ndarray
    n_categories: np.ndarray
    categories: np.ndarray
    flag: np.ndarray
    fixed: np.ndarray
    infit: np.ndarray
    outfit: np.ndarray
    latent_mean: float = 0.0
    latent_var: float = 1.0
    loglik: float = float("nan")
    iterations: int = 0
    converged: bool = True
    n_persons: int = 0
    quadrature: int = DEFAULT_POINTS
    groups: np.ndarray | None = None
    group_n: np.ndarray | None = None
    group_mean: np.ndarray | None = None
    group_var: np.ndarray | None = None
    group_pooled: np.ndarray | None = None
    _lookup: dict = field(default=None, init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_lookup", {lab: i for i, lab in enumerate(self.items.tolist())})

    # -- derived values -------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def fitted(self) -> np.ndarray:
        """Items with usable parameters (estimated or given)."""
        return np.isfinite(self.slope) & np.isfinite(self.thresholds[:, 0])

    @property
    def intercepts(self) -> np.ndarray:
        """Slope-intercept form ``d_k = -a b_k`` (mirt's ``d``), shape like ``thresholds``."""
        return intercepts_from_thresholds(self.slope, self.thresholds)

    def index(self, items) -> np.ndarray:
        """Positions of the given labels in ``items`` (-1 for unknown labels)."""
        labels = np.asarray(items).tolist()
        return np.array([self._lookup.get(lab, -1) for lab in labels], dtype=np.int64)

    def table(self) -> dict[str, list]:
        """Column-oriented parameter table (one row per item) for storage."""
        rows = range(self.n_items)
        k = self.n_categories
        return {
            "item": self.items.tolist(),
            "model": self.model.tolist(),
            "slope": self.slope.tolist(),
            "difficulty": self.difficulty.tolist(),
            "thresholds": [self.thresholds[i, : k[i] - 1].tolist() for i in rows],
            "slope_se": self.slope_se.tolist(),
            "difficulty_se": self.difficulty_se.tolist(),
            "thresholds_se": [self.thresholds_se[i, : k[i] - 1].tolist() for i in rows],
            "n_responses": self.n_responses.tolist(),
            "n_categories": k.tolist(),
            "flag": self.flag.tolist(),
            "fixed": self.fixed.tolist(),
            "infit": self.infit.tolist(),
            "outfit": self.outfit.tolist(),
        }

    def summary(self) -> str:
        """A plain-text report of the fit and the item parameters."""
        lines = [
            "IRT calibration (marginal ML, Bock-Aitkin EM)",
            f"  items: {self.n_items}   persons: {self.n_persons}   "
            f"responses: {int(self.n_responses.sum())}",
            f"  log-likelihood: {self.loglik:.3f}   iterations: {self.iterations}   "
            f"converged: {self.converged}",
            f"  latent mean: {self.latent_mean:.4f}   latent variance: {self.latent_var:.4f}   "
            f"quadrature: {self.quadrature} points on [-6, 6]",
        ]
        if self.groups is not None:
            lines.append(
                f"  groups: {len(self.groups)} (latent mean and variance above are the mixture's)"
            )
            lines.append(f"  {'group':<16}{'persons':>9}{'mean':>9}{'variance':>10}")
            for g in range(len(self.groups)):
                note = "  pooled" if self.group_pooled[g] else ""
                lines.append(
                    f"  {str(self.groups[g])[:15]:<16}{self.group_n[g]:>9d}"
                    f"{self.group_mean[g]:>9.3f}{self.group_var[g]:>10.3f}{note}"
                )
        lines += [
            "",
            f"  {'item':<16}{'model':<7}{'a':>8}{'se':>8}{'b':>9}{'se':>8}{'K':>3}"
            f"{'n':>9}{'infit':>7}{'outfit':>7}  flag",
        ]
        for i in range(self.n_items):
            flag = self.flag[i] or ""
            if self.fixed[i]:
                flag = (flag + " fixed").strip()
            lines.append(
                f"  {str(self.items[i])[:15]:<16}{self.model[i]:<7}"
                f"{self.slope[i]:>8.3f}{self.slope_se[i]:>8.3f}"
                f"{self.difficulty[i]:>9.3f}{self.difficulty_se[i]:>8.3f}"
                f"{self.n_categories[i]:>3d}{self.n_responses[i]:>9d}"
                f"{self.infit[i]:>7.2f}{self.outfit[i]:>7.2f}  {flag}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Calibration(n_items={self.n_items}, n_persons={self.n_persons}, "
            f"loglik={self.loglik:.3f}, latent_mean={self.latent_mean:.3f}, "
            f"latent_var={self.latent_var:.3f}, converged={self.converged})"
        )

    # -- construction from stored parameters ----------------------------------------------
    @classmethod
    def from_parameters(
        cls,
        items,
        model,
        slope,
        thresholds,
        latent_mean: float = 0.0,
        latent_var: float = 1.0,
        *,
        quadrature: int = DEFAULT_POINTS,
        n_responses=None,
        flag=None,
        categories=None,
    ) -> Calibration:
        """A Calibration from stored item parameters, for scoring or as anchors.

        Parameters
        ----------
        items : array-like of shape (n_items,)
            Item labels (unique).
        model : str or array-like of shape (n_items,)
            ``"rasch"``, ``"2pl"`` or ``"grm"`` per item (one string for all).
        slope : array-like of shape (n_items,)
        thresholds : sequence of array-like, or ndarray of shape (n_items,) or (n_items, m)
            Per item its increasing thresholds ``b_1 < ... < b_{K-1}``: a list of 1-D
            arrays, a 2-D array padded with NaN, or a 1-D array (one threshold, binary items).
        latent_mean, latent_var : float
            The latent distribution on this scale (the scoring prior).
        quadrature : int
            Nodes on [-6, 6] for scoring with this calibration.
        n_responses : array-like of shape (n_items,), optional
        flag : array-like of shape (n_items,), optional
        categories : sequence of array-like, optional
            Per item the response value of each model category, increasing, one per
            category (as ``Calibration.categories`` of the calibration that estimated the
            item, without the padding). Defaults to ``0..K-1``. ``score`` and fixed-item
            ``calibrate`` map a response through these values (see ``model_categories``).

        Returns
        -------
        Calibration
            Every item marked ``fixed``; standard errors and fit statistics are NaN.
        """
        labels = as_labels(items, "items")
        n = len(labels)
        if len(np.unique(labels)) != n:
            raise ValueError("items: labels must be unique")
        models = _as_models(model, n)
        a = np.asarray(slope, dtype=float).reshape(-1)
        if len(a) != n:
            raise ValueError(f"slope: expected {n} values, got {len(a)}")
        b = thresholds_array(thresholds, n)
        k = np.sum(np.isfinite(b), axis=1) + 1
        _check_parameters(labels, a, b, k, latent_mean, latent_var)
        order = np.argsort(labels, kind="stable")
        kmax = int(k.max())
        cats = category_values(categories, k, labels)
        nan = np.full(n, np.nan)
        nr = np.zeros(n, dtype=np.int64) if n_responses is None else np.asarray(n_responses)
        fl = np.full(n, None, dtype=object) if flag is None else np.asarray(flag, dtype=object)
        return cls(
            items=labels[order],
            model=models[order],
            slope=a[order],
            difficulty=np.array([b[i, : k[i] - 1].mean() for i in order]),
            thresholds=b[order][:, : kmax - 1],
            slope_se=nan.copy(),
            difficulty_se=nan.copy(),
            thresholds_se=np.full((n, kmax - 1), np.nan),
            n_responses=nr[order].astype(np.int64),
            n_categories=k[order].astype(np.int64),
            categories=cats[order],
            flag=fl[order],
            fixed=np.ones(n, dtype=bool),
            infit=nan.copy(),
            outfit=nan.copy(),
            latent_mean=float(latent_mean),
            latent_var=float(latent_var),
            quadrature=int(quadrature),
        )


def _check_parameters(labels, a, b, k, latent_mean, latent_var) -> None:
    """The parameters of ``from_parameters``: finite slopes, increasing thresholds, a
    finite latent mean and a positive variance."""
    if np.any(k < 2):
        raise ValueError("thresholds: every item needs at least one finite threshold")
    for i in range(len(labels)):
        bi = b[i, : k[i] - 1]
        if np.any(np.isnan(b[i, : k[i] - 1])) or np.any(np.diff(bi) <= 0):
            raise ValueError(f"thresholds: item {labels[i]!r} needs increasing thresholds")
    if np.any(~np.isfinite(a)):
        raise ValueError("slope: expected finite values")
    if not (np.isfinite(latent_mean) and latent_var > 0):
        raise ValueError(
            f"latent_mean, latent_var: expected finite mean and positive variance, got "
            f"{latent_mean}, {latent_var}"
        )


def _as_models(model, n: int) -> np.ndarray:
    if isinstance(model, str):
        models = np.full(n, model.lower(), dtype=object)
    else:
        models = np.asarray([str(m).lower() for m in model], dtype=object)
        if len(models) != n:
            raise ValueError(f"model: expected {n} entries, got {len(models)}")
    bad = sorted(set(models.tolist()) - set(MODELS))
    if bad:
        raise ValueError(f"model: expected one of {MODELS}, got {bad}")
    return models.astype(str)


def thresholds_array(thresholds, n: int) -> np.ndarray:
    """Thresholds as an (n, m) float array padded with NaN."""
    if isinstance(thresholds, np.ndarray) and thresholds.dtype != object:
        b = thresholds.astype(float)
        if b.ndim == 1:
            b = b[:, None]
        if b.ndim != 2 or b.shape[0] != n:
            raise ValueError(f"thresholds: expected {n} rows, got shape {thresholds.shape}")
        return b
    rows = [np.atleast_1d(np.asarray(t, dtype=float)) for t in thresholds]
    if len(rows) != n:
        raise ValueError(f"thresholds: expected {n} entries, got {len(rows)}")
    m = max(len(r) for r in rows)
    b = np.full((n, m), np.nan)
    for i, r in enumerate(rows):
        b[i, : len(r)] = r
    return b


def category_values(categories, k: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_items, max K) response value of each model category, padded with -1.

    ``categories`` is None (``0..K-1`` for every item) or one increasing sequence of K
    non-negative integers per item; raises ValueError naming the item otherwise.
    """
    n, kmax = len(k), int(k.max()) if len(k) else 2
    values = np.full((n, kmax), -1, dtype=np.int64)
    if categories is None:
        for i in range(n):
            values[i, : k[i]] = np.arange(k[i])
        return values
    if len(categories) != n:
        raise ValueError(f"categories: expected {n} sequences, got {len(categories)}")
    for i, item_values in enumerate(categories):
        v = np.asarray(item_values, dtype=np.int64).reshape(-1)
        if len(v) != k[i] or np.any(v < 0) or np.any(np.diff(v) <= 0):
            raise ValueError(
                f"categories: item {labels[i].item()!r} needs {k[i]} increasing non-negative "
                f"response values, got {v.tolist()}"
            )
        values[i, : k[i]] = v
    return values


def model_categories(values: np.ndarray, item: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Model category of each response from its item's category values.

    The highest category whose response value does not exceed the response: a value
    between collapsed categories counts as the lower one, a value above the highest as the
    highest, and a value below the lowest (nobody scored that low when the item was
    calibrated) as the lowest.

    Parameters
    ----------
    values : ndarray of shape (n_items, max_categories)
        Response value of each model category, padded with -1 (``Calibration.categories``).
    item : ndarray of shape (n_responses,)
        Row of ``values`` of each response.
    response : ndarray of shape (n_responses,)

    Returns
    -------
    ndarray of shape (n_responses,) of int
    """
    padded = np.where(values >= 0, values, np.iinfo(np.int64).max)
    category = np.zeros(len(item), dtype=np.int64)
    for t in range(1, padded.shape[1]):
        category += padded[item, t] <= response
    return category
