"""simulate(): seedable response data from known parameters, for tests and benchmarks."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

from .models import MODELS


class Simulation(NamedTuple):
    """Simulated long-format responses with the parameters that generated them.

    Attributes
    ----------
    persons, items, responses : ndarray of shape (n_responses,)
        Long format, sorted by person; labels are integer codes.
    theta : ndarray of shape (n_persons,)
    slope : ndarray of shape (n_items,)
    thresholds : ndarray of shape (n_items, max_categories - 1)
        Increasing thresholds, padded with NaN.
    model : ndarray of shape (n_items,) of str
    """

    persons: np.ndarray
    items: np.ndarray
    responses: np.ndarray
    theta: np.ndarray
    slope: np.ndarray
    thresholds: np.ndarray
    model: np.ndarray


def simulate_items(
    n_items: int,
    model: str = "2pl",
    *,
    n_categories: int = 4,
    polytomous_share: float = 0.3,
    seed=None,
):
    """Draw item parameters.

    Slopes are log-normal(0, 0.3) (1 for Rasch), difficulties N(0, 1); graded items get
    ``n_categories - 1`` thresholds spread around a N(0, 0.8) centre with gaps of 0.5 to 1.2.

    Parameters
    ----------
    n_items : int
    model : {"rasch", "2pl", "grm", "mixed"}
        ``"mixed"``: a share ``polytomous_share`` of graded items, the rest 2PL.
    n_categories : int
        Categories of graded items.
    polytomous_share : float
    seed : int or numpy Generator, optional

    Returns
    -------
    slope : ndarray of shape (n_items,)
    thresholds : ndarray of shape (n_items, m)
    models : ndarray of shape (n_items,) of str
    """
    if model not in MODELS + ("mixed",):
        raise ValueError(f"model: expected one of {MODELS + ('mixed',)}, got {model!r}")
    if n_categories < 2:
        raise ValueError(f"n_categories: expected >= 2, got {n_categories}")
    rng = np.random.default_rng(seed)
    if model == "mixed":
        models = np.where(rng.random(n_items) < polytomous_share, "grm", "2pl")
    else:
        models = np.full(n_items, model)
    slope = np.where(models == "rasch", 1.0, rng.lognormal(0.0, 0.3, n_items))
    m = n_categories - 1 if np.any(models == "grm") else 1
    thresholds = np.full((n_items, m), np.nan)
    binary = models != "grm"
    thresholds[binary, 0] = rng.normal(0.0, 1.0, binary.sum())
    g = np.nonzero(~binary)[0]
    if len(g):
        centre = rng.normal(0.0, 0.8, len(g))
        steps = np.cumsum(rng.uniform(0.5, 1.2, (len(g), m)), axis=1)
        thresholds[g] = centre[:, None] + steps - steps.mean(axis=1, keepdims=True)
    return slope, thresholds, models.astype(str)


def simulate(
    n_persons: int,
    n_items: int,
    model: str = "2pl",
    *,
    n_categories: int = 4,
    items_per_person: int | None = None,
    latent_mean: float = 0.0,
    latent_var: float = 1.0,
    slope=None,
    thresholds=None,
    polytomous_share: float = 0.3,
    seed=None,
) -> Simulation:
    """Simulate responses under the Rasch, 2PL, graded or mixed model.

    Parameters
    ----------
    n_persons, n_items : int
    model : {"rasch", "2pl", "grm", "mixed"}
        Used to draw parameters when ``slope`` and ``thresholds`` are not given.
    n_categories : int
        Categories of graded items.
    items_per_person : int, optional
        Sparse design: each person answers this many distinct items drawn at random. By
        default every person answers every item (dense design).
    latent_mean, latent_var : float
        theta ~ N(latent_mean, latent_var).
    slope : array-like of shape (n_items,), optional
    thresholds : array-like of shape (n_items,) or (n_items, m), optional
        Given parameters (NaN-padded rows for fewer categories).
    polytomous_share : float
        Share of graded items when ``model="mixed"``.
    seed : int or numpy Generator, optional

    Returns
    -------
    Simulation
    """
    rng = np.random.default_rng(seed)
    if (slope is None) != (thresholds is None):
        raise ValueError("slope, thresholds: give both or neither")
    if slope is None:
        a, b, models = simulate_items(
            n_items, model, n_categories=n_categories, polytomous_share=polytomous_share, seed=rng
        )
    else:
        a = np.asarray(slope, dtype=float)
        b = np.asarray(thresholds, dtype=float)
        b = b[:, None] if b.ndim == 1 else b
        if len(a) != n_items or b.shape[0] != n_items:
            raise ValueError(f"slope, thresholds: expected {n_items} items")
        k = np.isfinite(b).sum(axis=1) + 1
        models = np.where(k > 2, "grm", np.where(a == 1.0, "rasch", "2pl")).astype(str)
    theta = rng.normal(latent_mean, np.sqrt(latent_var), n_persons)
    if items_per_person is None:
        persons = np.repeat(np.arange(n_persons), n_items)
        items = np.tile(np.arange(n_items), n_persons)
    else:
        m = int(items_per_person)
        if not 1 <= m <= n_items:
            raise ValueError(f"items_per_person: expected 1..{n_items}, got {items_per_person}")
        persons = np.repeat(np.arange(n_persons), m)
        items = _distinct_items(rng, n_persons, n_items, m).ravel()
    responses = np.empty(len(items), dtype=np.int64)
    step = 1 << 21
    for s in range(0, len(items), step):
        j, p = items[s : s + step], persons[s : s + step]
        cum = expit(a[j, None] * (theta[p, None] - b[j]))
        cum = np.where(np.isnan(b[j]), 0.0, cum)
        u = rng.random(len(j))
        responses[s : s + step] = (u[:, None] < cum).sum(axis=1)
    return Simulation(persons, items, responses, theta, a, b, models)


def _distinct_items(rng, n_persons, n_items, m):
    if 3 * m >= n_items:
        out = np.empty((n_persons, m), dtype=np.int64)
        step = max(1, (1 << 22) // n_items)
        for s in range(0, n_persons, step):
            rows = min(step, n_persons - s)
            out[s : s + rows] = np.argsort(rng.random((rows, n_items)), axis=1)[:, :m]
        return out
    x = np.sort(rng.integers(0, n_items, (n_persons, m)), axis=1)
    while True:
        dup = np.zeros_like(x, dtype=bool)
        dup[:, 1:] = x[:, 1:] == x[:, :-1]
        if not dup.any():
            return x
        x[dup] = rng.integers(0, n_items, int(dup.sum()))
        x.sort(axis=1)
