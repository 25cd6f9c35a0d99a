"""calibrate(): marginal maximum likelihood by Bock-Aitkin EM, accelerated with SQUAREM.

``calibrate`` runs these steps, each in its own module:

1. argument checks (``validation``);
2. item universe, observed categories, item status, response layout (``bank``);
3. starting values (``start``);
4. EM with SQUAREM (``em``);
5. final pass: log-likelihood, item fit, standard errors (``final_pass``);
6. assembly of the Calibration over the item universe (``assemble``).

References
----------
Bock, R. D., & Aitkin, M. (1981). Marginal maximum likelihood estimation of item
parameters: Application of an EM algorithm. Psychometrika, 46, 443-459.
Varadhan, R., & Roland, C. (2008). Simple and globally convergent methods for accelerating
the convergence of any EM algorithm. Scandinavian Journal of Statistics, 35, 335-353.
Kim, S. (2006). A comparative study of IRT fixed parameter calibration methods. Journal of
Educational Measurement, 43, 355-381.
Bock, R. D., & Zimowski, M. F. (1997). Multiple group IRT. In W. J. van der Linden &
R. K. Hambleton (Eds.), Handbook of modern item response theory (pp. 433-448). Springer.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from . import quadrature as quad
from .assemble import calibration_result
from .bank import (
    ItemBank,
    ResponseLayout,
    fixed_item_categories,
    item_status,
    item_universe,
    observed_categories,
    response_layout,
)
from .data import encode
from .em import EMState, items_by_categories, run_em
from .final_pass import final_pass
from .groups import PersonGroups, person_groups
from .mstep import ItemPrior
from .results import Calibration
from .start import free_latent_moments, item_starts, latent_start
from .validation import (
    check_calibrate_options,
    declared_categories,
    parameters_from,
    resolve_models,
)

DEFAULT_PRIOR = ItemPrior()
MIN_RESPONSES = 20
# A group variance below this (SD 0.22 on the population's unit scale) in a fit that did not
# converge means the group's persons carry too little information to identify it.
MIN_GROUP_VAR = 0.05


class ConvergenceWarning(UserWarning):
    """EM stopped at max_iter before the parameters settled within tol."""


class DegenerateGroupsWarning(UserWarning):
    """A multiple-group fit degenerated and was replaced by the one-population fit."""


def calibrate(
    persons,
    items,
    responses,
    model="2pl",
    *,
    n_categories=None,
    fixed_items=None,
    quadrature: int = quad.DEFAULT_POINTS,
    tol: float = 1e-4,
    max_iter: int = 500,
    init=None,
    prior: ItemPrior | None = DEFAULT_PRIOR,
    min_responses: int = MIN_RESPONSES,
    se: bool = True,
    n_jobs: int | None = None,
    groups=None,
) -> Calibration:
    """Calibrate items by marginal maximum likelihood (Bock-Aitkin EM).

    The latent trait is integrated over a fixed grid of ``quadrature`` evenly spaced
    points on [-6, 6], and EM stops when no parameter moves by more than ``tol`` in one
    iteration: mirt's defaults (``quadpts = 61``, ``TOL = 1e-4``, ``NCYCLES = 500``).

    Parameters
    ----------
    persons : array-like of shape (n_responses,)
        Person of each response (integer codes or string labels).
    items : array-like of shape (n_responses,)
        Item of each response (integer codes or string labels).
    responses : array-like of shape (n_responses,)
        0/1 for binary items, ordered categories 0..K-1 for graded items. Long format, any
        order; unobserved (person, item) pairs are simply absent.
    model : str, mapping or array-like
        ``"2pl"`` (latent N(0, 1)), ``"rasch"`` (slopes 1, latent variance estimated),
        ``"grm"`` (graded response model), or ``"mixed"``: 2PL for binary items and GRM for
        polytomous ones. Per item: a mapping item label -> model, or an array with one model
        per item in sorted label order. See ``irt_models.models``.
    n_categories : int or mapping, optional
        Declared number of categories (all items, or per item label). Defaults to the
        largest observed category + 1. Declared categories that nobody used are collapsed:
        the item is fitted on its observed categories and flagged ``"collapsed_categories"``.
    fixed_items : mapping or Calibration, optional
        Item parameters held fixed, which puts the calibration on their scale (fixed-item
        calibration; Kim 2006): a mapping item label -> (slope, thresholds) with increasing
        thresholds (one for a binary item), or a Calibration (its fitted items are used,
        with their category values). The latent mean is then estimated, and so is the latent
        variance. Fixed items that do not occur in the data are carried into the result
        unchanged. Their responses are mapped to model categories as ``score`` maps them
        (a value below the lowest calibrated category counts as the lowest).
    quadrature : int
        Number of quadrature points on [-6, 6].
    tol : float
        Convergence tolerance on the largest parameter change per EM iteration.
    max_iter : int
        Maximum number of EM iterations (E-steps).
    init : mapping or Calibration, optional
        Warm start: starting parameters for the items it knows (same form as
        ``fixed_items``); when it is a Calibration, also the latent mean and variance.
    prior : ItemPrior or None
        Weak normal priors on slopes and intercepts (defaults: a ~ N(1, 3^2),
        d ~ N(0, 6^2)) that keep sparse items finite. None gives plain marginal ML.
    min_responses : int
        Items with fewer responses are not fitted: their parameters are NaN, their
        responses are left out, and they are flagged ``"too_few_responses"``.
    se : bool
        Compute standard errors (cross-product information; see ``irt_models.information``).
    n_jobs : int, optional
        Threads for the E-step; defaults to the number of CPUs.
    groups : array-like of shape (n_responses,), optional
        Group of each response's person (integer codes or labels, constant within a
        person), for multiple-group calibration (Bock & Zimowski 1997; mirt
        ``multipleGroup`` with free means and variances): each group has its own latent
        N(group_mean, group_var), estimated with the items. Use it when who answers which
        items depends on the trait through a known group (learners choose courses near
        their level): given the group, the item set is fixed and the missing responses are
        ignorable. The scale is that of the whole population: the mixture of the group
        distributions, weighted by persons per group, has mean 0 and variance 1 (for Rasch
        items only the mean is fixed, at 0; with answered ``fixed_items`` the anchors
        define the scale and every group's mean and variance are free). Groups with fewer
        than 20 persons (``groups.MIN_GROUP_PERSONS``) get the pooled distribution (the
        mixture's mean and variance); with at most one larger group the fit is the
        single-population one. Standard errors hold the largest group's moments at their
        estimates (they pin the scale locally). A multiple-group fit that degenerates (a
        non-finite parameter, or no convergence with a group variance below
        ``MIN_GROUP_VAR``: the groups' persons carry too little information on the fitted
        items) is replaced by the one-population fit, with a ``DegenerateGroupsWarning``;
        the result then has every group pooled. None (default): one population.

    Returns
    -------
    Calibration

    Raises
    ------
    ValueError
        On a bad argument, naming it.

    Warns
    -----
    ConvergenceWarning
        When EM stops at ``max_iter``; the result then has ``converged=False``.
    """
    check_calibrate_options(quadrature, tol, max_iter, min_responses, prior)
    nodes = quad.grid(quadrature)
    fixed = parameters_from(fixed_items, "fixed_items")
    start = parameters_from(init, "init")
    options = dict(model=model, n_categories=n_categories, fixed_items=fixed_items, init=init)
    options.update(fixed=fixed, start=start, min_responses=min_responses, n_jobs=n_jobs)

    def fit(pool_groups: bool) -> EMFit:
        return _fit_em(
            persons, items, responses, groups, pool_groups, nodes, options, prior, tol, max_iter
        )

    em = fit_with_fallback(fit, tol, max_iter)
    # -- log-likelihood, item fit, standard errors; the result -------------------------------
    final = final_pass(em.layout, em.state, em.all_items, nodes, se, prior)
    return em.result(final, quadrature)


def fit_with_fallback(fit, tol: float, max_iter: int) -> EMFit:
    """``fit(pool_groups)``, refitted with one population when a multiple-group fit
    degenerates; warns about that and about EM stopping at ``max_iter``."""
    # NaNs of a degenerating group fit are caught below; numpy need not warn about each.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        em = fit(pool_groups=False)
    if em.multi and em.degenerate():
        warnings.warn(
            "multiple-group calibration degenerated (a group's latent variance collapsed or a "
            "parameter became non-finite: its persons carry too little information on the "
            "fitted items); fitted with one population instead",
            DegenerateGroupsWarning,
            stacklevel=3,
        )
        em = fit(pool_groups=True)
    if not em.converged:
        warnings.warn(
            f"EM did not converge in max_iter={max_iter} iterations: the largest parameter "
            f"change was {em.delta:.2g} > tol={tol}",
            ConvergenceWarning,
            stacklevel=3,
        )
    return em


@dataclass
class EMFit:
    """Steps 2-4 done: the items, the response layout and the EM estimates."""

    bank: ItemBank
    layout: ResponseLayout
    state: EMState
    all_items: object
    iterations: int
    converged: bool
    delta: float
    n_persons: int
    person_groups: PersonGroups | None
    multi: bool

    def degenerate(self) -> bool:
        """A multiple-group fit that went wrong: a non-finite parameter, or no convergence
        with a group variance collapsing below MIN_GROUP_VAR."""
        x = self.state.pack()
        if not np.all(np.isfinite(x)):
            return True
        own = self.state.own_groups
        collapsed = np.any(self.state.group_var[own] < MIN_GROUP_VAR)
        return bool(not self.converged and collapsed)

    def result(self, final, quadrature: int) -> Calibration:
        """The Calibration from this fit and its final pass."""
        return calibration_result(
            self.bank,
            self.layout,
            self.state,
            final,
            iterations=self.iterations,
            converged=self.converged,
            n_persons=self.n_persons,
            quadrature=quadrature,
            person_groups=self.person_groups,
            multi=self.multi,
        )


def _fit_em(persons, items, responses, groups, pool_groups, nodes, options, prior, tol, max_iter):
    """Steps 2-4: encode, lay out, start and run EM; ``pool_groups`` gives every person group
    the pooled distribution (one population), keeping the groups in the result."""
    coded = encode(persons, items, responses)
    groups_of = None if groups is None else person_groups(groups, coded.person, coded.n_persons)
    if groups_of is not None and pool_groups:
        groups_of = dataclasses.replace(groups_of, own=np.zeros_like(groups_of.own))
    multi = groups_of is not None and int(groups_of.own.sum()) > 1
    multi_groups = groups_of if multi else None
    fixed, start = options["fixed"], options["start"]
    bank, layout = _items_and_layout(
        coded,
        options["model"],
        options["n_categories"],
        fixed,
        options["min_responses"],
        multi_groups,
        len(nodes),
        options["n_jobs"],
    )
    n_persons = coded.n_persons
    del coded  # the response-level arrays are in layout.design from here on
    state = starting_state(
        bank, layout, fixed, start, options["fixed_items"], options["init"], multi_groups
    )
    all_items = items_by_categories(
        layout.n_categories, layout.row_offset, np.ones(len(layout.included), dtype=bool)
    )
    iterations, converged, delta = run_em(state, layout, all_items, nodes, prior, tol, max_iter)
    return EMFit(
        bank, layout, state, all_items, iterations, converged, delta, n_persons, groups_of, multi
    )


def _items_and_layout(
    coded,
    model,
    n_categories,
    fixed: dict,
    min_responses: int,
    multi_groups: PersonGroups | None,
    n_nodes: int,
    n_jobs: int | None,
) -> tuple[ItemBank, ResponseLayout]:
    """Item universe, observed categories, item status and the response layout.

    ``multi_groups``: the person groups when they have latent moments of their own.
    """
    bank, item, response, observed = item_bank(coded, model, n_categories, fixed, min_responses)
    layout = response_layout(
        coded, item, response, observed, bank.status, multi_groups, n_nodes, n_jobs
    )
    return bank, layout


def item_bank(coded, model, n_categories, fixed: dict, min_responses: int, counts=None):
    """Item universe, observed categories and item status of coded responses.

    ``counts``: when each coded response stands for that many (distinct pairs with their
    numbers, as in ``distributed``). Returns ``(bank, item, response, observed)``: the
    ItemBank, each response's item in the universe, its (mapped) value, the observed
    categories.
    """
    labels, item = item_universe(coded, fixed)
    label_list = labels.tolist()
    response = fixed_item_categories(coded.response, item, label_list, fixed)
    if counts is None:
        n_responses = np.bincount(item, minlength=len(labels))
    else:
        n_responses = np.bincount(item, counts, len(labels)).astype(np.int64)
    observed = observed_categories(item, response, len(labels))
    declared = declared_categories(n_categories, label_list, observed.max_observed)
    models = resolve_models(model, label_list, coded.item_labels, declared, fixed)
    status = item_status(label_list, fixed, n_responses, observed, declared, min_responses)
    if not status.included.any():
        raise ValueError(
            f"responses: no item has at least min_responses={min_responses} responses and "
            "two observed categories"
        )
    return ItemBank(labels, models, declared, n_responses, status), item, response, observed


def starting_state(
    bank: ItemBank,
    layout: ResponseLayout,
    fixed: dict,
    start: dict,
    fixed_items,
    init,
    multi_groups: PersonGroups | None,
) -> EMState:
    """Starting values of the included items and the latent moments, as an EMState."""
    included = layout.included
    estimated = bank.status.fitted[included]
    included_models = bank.models[included]
    slope_free = estimated & (included_models != "rasch")
    labels = bank.labels.tolist()
    a, d = item_starts(layout, labels, bank.status.is_fixed, slope_free, fixed, start)
    mean_free, var_free = free_latent_moments(
        bank.status.is_fixed[included], included_models, layout.answered
    )
    latent_mean, latent_var = latent_start(fixed_items, init, mean_free, var_free)
    estimated_items = items_by_categories(layout.n_categories, layout.row_offset, estimated)
    state = EMState(a, d, latent_mean, latent_var, estimated_items, slope_free, mean_free, var_free)
    if multi_groups is not None:
        # identification: "scale" standardises the mixture to N(0, 1), "shift" only centres
        # it (Rasch slopes fix the unit), "none" when answered anchors define the scale
        identification = "none" if mean_free else ("shift" if var_free else "scale")
        state.set_groups(multi_groups, identification, estimated)
    return state
