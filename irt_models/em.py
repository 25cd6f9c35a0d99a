"""Bock-Aitkin EM over the included items, accelerated with SQUAREM.

One EM iteration (``em_map``) is an E-step over all responses (``estep``), a Newton M-step
per item (``mstep.update_items``) and the update of the latent moments: the single
population's mean and variance, or each group's (``EMState.update_groups``). SQUAREM
(``squarem``) extrapolates along successive EM steps and falls back to the plain EM point
when the extrapolation loses likelihood.

Parameters travel as one vector (``EMState.pack`` / ``unpack``): estimated slopes, the
estimated items' intercepts (by number of categories), then the free latent moments.

References
----------
Bock, R. D., & Aitkin, M. (1981). Marginal maximum likelihood estimation of item
parameters: Application of an EM algorithm. Psychometrika, 46, 443-459.
Varadhan, R., & Roland, C. (2008). Simple and globally convergent methods for accelerating
the convergence of any EM algorithm. Scandinavian Journal of Statistics, 35, 335-353.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import quadrature as quad
from .bank import ResponseLayout
from .estep import estep
from .groups import PersonGroups, mixture_moments
from .models import log_probs
from .mstep import ItemPrior, latent_moments, update_items

# k -> (positions of the items with k categories, their (n, k) rows of the item table)
ItemsByCategories = dict[int, tuple[np.ndarray, np.ndarray]]


def items_by_categories(
    n_categories: np.ndarray, row_offset: np.ndarray, mask: np.ndarray
) -> ItemsByCategories:
    """The items of ``mask`` grouped by number of categories, with their rows."""
    out = {}
    for k in np.unique(n_categories[mask]):
        idx = np.nonzero(mask & (n_categories == k))[0]
        out[int(k)] = (idx, row_offset[idx][:, None] + np.arange(k)[None, :])
    return out


def item_log_table(a, d, items: ItemsByCategories, nodes, n_rows: int) -> np.ndarray:
    """log P(category | node) for every (item, category) row: shape (n_rows, n_nodes)."""
    table = np.empty((n_rows, len(nodes)))
    for k, (idx, rows) in items.items():
        table[rows] = log_probs(a[idx], d[idx, : k - 1], nodes)
    return table


class EMState:
    """Current parameters of the included items and the latent distribution(s).

    Attributes
    ----------
    a, d : ndarray of shape (n_included,), (n_included, max_categories - 1)
        Slopes and intercepts (NaN-padded), estimated ones updated in place.
    latent_mean, latent_var : float
        The population's latent moments (with groups: those of the mixture).
    estimated : ItemsByCategories
        The estimated items.
    slope_free : ndarray of shape (n_included,) of bool
    mean_free, var_free : bool
        The single population's mean / variance is estimated (False with groups, whose
        moments take their place).
    person_groups : PersonGroups or None
        Set by ``set_groups`` for a multiple-group fit.
    """

    def __init__(
        self,
        a,
        d,
        latent_mean,
        latent_var,
        estimated: ItemsByCategories,
        slope_free,
        mean_free,
        var_free,
    ):
        self.a, self.d = a, d
        self.latent_mean, self.latent_var = latent_mean, latent_var
        self.estimated = estimated
        self.slope_free = slope_free
        self.mean_free, self.var_free = mean_free, var_free
        self.slope_idx = np.nonzero(slope_free)[0]
        self.person_groups: PersonGroups | None = None

    # -- multiple groups ----------------------------------------------------------------
    def set_groups(self, person_groups: PersonGroups, identification, estimated_items) -> None:
        """Give every group with enough persons a latent distribution of its own.

        ``identification`` is "scale", "shift" or "none" (see ``standardise``);
        ``estimated_items`` marks the estimated items, which its transformation moves.
        """
        self.person_groups = person_groups
        self.identification = identification
        self.estimated_items = estimated_items
        self.own_groups = np.nonzero(person_groups.own)[0]
        self.group_mean = np.full(len(person_groups.labels), float(self.latent_mean))
        self.group_var = np.full(len(person_groups.labels), float(self.latent_var))
        self.mean_free = self.var_free = False  # the group moments take their place
        self.standardise()

    def prior_table(self, nodes) -> np.ndarray:
        """Log latent weights per group, shape (n_groups, n_nodes)."""
        return np.array(
            [
                quad.log_weights(nodes, m, v)
                for m, v in zip(self.group_mean, self.group_var, strict=True)
            ]
        )

    def log_prior(self, nodes) -> np.ndarray:
        """Log latent weights at the nodes: (n_nodes,), or (n_groups, n_nodes) with groups."""
        if self.person_groups is not None:
            return self.prior_table(nodes)
        return quad.log_weights(nodes, self.latent_mean, self.latent_var)

    def update_groups(self, node_mass, nodes) -> None:
        """M-step for the group moments from the groups' posterior node masses."""
        for g in self.own_groups:
            self.group_mean[g], self.group_var[g] = latent_moments(node_mass[g], nodes)
        self.standardise()

    def standardise(self) -> None:
        """Linear transformation to the scale of the mixture of the group distributions.

        ``theta = M + s * theta'`` maps the mixture (weighted by persons per group) to mean 0
        and variance 1 ("scale"), or to mean 0 with ``s = 1`` ("shift"); item parameters
        follow (``a' = a s``, ``d' = d + a M``) so the likelihood is unchanged. Groups that
        are pooled get the mixture's moments.
        """
        own, groups = self.own_groups, self.person_groups
        m, v = mixture_moments(groups.n[own], self.group_mean[own], self.group_var[own])
        if self.identification != "none":
            s = np.sqrt(v) if self.identification == "scale" else 1.0
            e = self.estimated_items
            self.d[e] += self.a[e, None] * m
            self.a[e] *= s
            self.group_mean[own] = (self.group_mean[own] - m) / s
            self.group_var[own] /= s * s
            m, v = (0.0, 1.0) if self.identification == "scale" else (0.0, v)
        self.latent_mean, self.latent_var = m, v
        pooled = ~groups.own
        self.group_mean[pooled], self.group_var[pooled] = m, v

    # -- the parameter vector -----------------------------------------------------------
    def pack(self) -> np.ndarray:
        parts = [self.a[self.slope_idx]]
        for k, (idx, _) in self.estimated.items():
            parts.append(self.d[idx, : k - 1].ravel())
        if self.mean_free:
            parts.append([self.latent_mean])
        if self.var_free:
            parts.append([self.latent_var])
        if self.person_groups is not None:
            parts += [self.group_mean[self.own_groups], self.group_var[self.own_groups]]
        return np.concatenate([np.asarray(p, dtype=float) for p in parts])

    def unpack(self, x: np.ndarray) -> None:
        i = len(self.slope_idx)
        self.a[self.slope_idx] = x[:i]
        for k, (idx, _) in self.estimated.items():
            n = len(idx) * (k - 1)
            self.d[idx, : k - 1] = x[i : i + n].reshape(len(idx), k - 1)
            i += n
        if self.mean_free:
            self.latent_mean = float(x[i])
            i += 1
        if self.var_free:
            self.latent_var = float(x[i])
        if self.person_groups is not None:
            own, groups = self.own_groups, self.person_groups
            n = len(own)
            self.group_mean[own] = x[i : i + n]
            self.group_var[own] = x[i + n : i + 2 * n]
            m, v = mixture_moments(groups.n[own], self.group_mean[own], self.group_var[own])
            self.latent_mean, self.latent_var = m, v
            self.group_mean[~groups.own], self.group_var[~groups.own] = m, v

    def valid(self, x: np.ndarray) -> bool:
        """``x`` is a usable parameter vector: finite, ordered intercepts, sane variances."""
        if not np.all(np.isfinite(x)):
            return False
        i = len(self.slope_idx)
        for k, (idx, _) in self.estimated.items():
            n = len(idx) * (k - 1)
            if k > 2 and np.any(np.diff(x[i : i + n].reshape(len(idx), k - 1), axis=1) >= 0):
                return False
            i += n
        if self.person_groups is not None:
            n = len(self.own_groups)
            v = x[i + n : i + 2 * n]
            return bool(np.all((v > 1e-4) & (v < 1e4)))
        if self.mean_free:
            i += 1
        return not (self.var_free and not (1e-4 < x[i] < 1e4))


def item_log_prior(state: EMState, prior: ItemPrior | None) -> float:
    """Log density of the item priors at the estimated parameters (0 without priors)."""
    if prior is None:
        return 0.0
    total = 0.0
    a = state.a[state.slope_idx]
    total -= 0.5 * np.sum(((a - prior.slope_mean) / prior.slope_sd) ** 2)
    for k, (idx, _) in state.estimated.items():
        total -= 0.5 * np.sum((state.d[idx, : k - 1] / prior.intercept_sd) ** 2)
    return float(total)


def em_map(
    state: EMState,
    layout: ResponseLayout,
    all_items: ItemsByCategories,
    nodes: np.ndarray,
    prior: ItemPrior | None,
    estep_fn=estep,
) -> Callable[[np.ndarray], tuple[np.ndarray, float]]:
    """One EM iteration as a map x -> (x', penalised log-likelihood at x).

    ``estep_fn(design, log_table, log_prior)`` is the E-step (``estep.estep``; the sum of
    partitions' statistics in ``distributed``)."""
    multi = state.person_groups is not None

    def step(x):
        state.unpack(x)
        log_table = item_log_table(state.a, state.d, all_items, nodes, layout.n_rows)
        loglik, counts, node_mass = estep_fn(layout.design, log_table, state.log_prior(nodes))
        objective = loglik + item_log_prior(state, prior)
        for k, (idx, rows) in state.estimated.items():
            state.a[idx], state.d[idx, : k - 1] = update_items(
                counts[rows],
                state.a[idx],
                state.d[idx, : k - 1],
                nodes,
                prior,
                state.slope_free[idx],
            )
        if multi:
            state.update_groups(node_mass, nodes)
            return state.pack(), objective
        m, v = latent_moments(node_mass, nodes)
        if state.mean_free:
            state.latent_mean = m
        if state.var_free:
            # with the mean held at 0 the variance is E[theta^2]
            state.latent_var = v if state.mean_free else v + m**2
        return state.pack(), objective

    return step


def run_em(
    state, layout, all_items, nodes, prior, tol, max_iter, estep_fn=estep
) -> tuple[int, bool, float]:
    """EM with SQUAREM from the state's parameters, leaving the estimates in ``state``.

    Returns (iterations, converged, largest parameter change of the last EM step).
    """
    step = em_map(state, layout, all_items, nodes, prior, estep_fn)
    x, iterations, converged, delta = squarem(step, state.pack(), tol, max_iter, state.valid)
    state.unpack(x)
    return iterations, converged, delta


def squarem(step, x0, tol, max_iter, valid):
    """SQUAREM (Varadhan & Roland 2008, scheme S3) around the EM map ``step``.

    Convergence is judged on plain EM steps, as in mirt: the largest change of any
    parameter in one EM iteration below ``tol``. ``valid(x)`` rejects extrapolated points
    outside the parameter space. Returns (x, iterations, converged, last change).
    """
    it = 0
    step_max = 1.0
    delta = np.inf
    x = x0
    while it < max_iter:
        x1, f0 = step(x)
        it += 1
        delta = np.max(np.abs(x1 - x)) if len(x) else 0.0
        if delta < tol or it >= max_iter:
            return x1, it, delta < tol, delta
        x2, f1 = step(x1)
        it += 1
        delta = np.max(np.abs(x2 - x1))
        if delta < tol or it >= max_iter:
            return x2, it, delta < tol, delta
        r = x1 - x
        v = x2 - x1 - r
        r_norm, v_norm = np.linalg.norm(r), np.linalg.norm(v)
        if v_norm == 0 or not np.isfinite(v_norm):
            x = x2
            continue
        alpha = -max(1.0, min(step_max, r_norm / v_norm))
        x3 = x - 2 * alpha * r + alpha**2 * v
        if alpha == -step_max:
            step_max *= 4.0
        if not valid(x3):
            x = x2
            step_max = max(1.0, step_max / 4.0)
            continue
        x4, f3 = step(x3)
        it += 1
        if not np.isfinite(f3) or f3 < f1 - 1e-8 * abs(f1):
            x = x2  # the extrapolation lost ground: fall back to the plain EM point
            step_max = max(1.0, step_max / 4.0)
        else:
            x = x4
    return x, it, False, delta
