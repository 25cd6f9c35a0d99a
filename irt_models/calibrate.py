"""calibrate(): marginal maximum likelihood by Bock-Aitkin EM, accelerated with SQUAREM.

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

import warnings
from collections.abc import Mapping

import numpy as np
from scipy.special import logit

from . import quadrature as quad
from .data import encode
from .estep import Design, block_posterior, estep, group_order
from .fit import fit_flags, mean_squares, residual_terms
from .groups import mixture_moments, person_groups
from .information import (
    Accumulator,
    choose_method,
    item_covariances,
    node_scores,
)
from .models import MODELS, log_probs
from .mstep import ItemPrior, latent_moments, update_items
from .results import Calibration, model_categories, parameters_from

DEFAULT_PRIOR = ItemPrior()
MIN_RESPONSES = 20


class ConvergenceWarning(UserWarning):
    """EM stopped at max_iter before the parameters settled within tol."""


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
        estimates (they pin the scale locally). None (default): one population.

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
    _check_options(quadrature, tol, max_iter, min_responses, prior)
    theta = quad.grid(quadrature)
    coded = encode(persons, items, responses)
    grp = None if groups is None else person_groups(groups, coded.person, coded.n_persons)
    multi = grp is not None and int(grp.own.sum()) > 1
    fixed = parameters_from(fixed_items, "fixed_items")
    start = parameters_from(init, "init")

    # -- the item universe: data items plus fixed items absent from the data ---------------
    labels = coded.item_labels
    if fixed:
        extra = [lab for lab in fixed if lab not in set(labels.tolist())]
        if extra:
            extra_arr = np.asarray(extra)
            if extra_arr.dtype.kind != labels.dtype.kind and not (
                extra_arr.dtype.kind in "iu" and labels.dtype.kind in "iu"
            ):
                raise ValueError(
                    "fixed_items: labels must be of the same type as items, got "
                    f"{extra_arr.dtype} and {labels.dtype}"
                )
            labels = np.unique(np.concatenate([labels, extra_arr]))
    item_u = np.searchsorted(labels, coded.item_labels)[coded.item]
    n_items = len(labels)
    label_list = labels.tolist()
    resp = _fixed_item_categories(coded.response, item_u, label_list, fixed)
    n_resp = np.bincount(item_u, minlength=n_items)

    # observed categories per item, and each response's rank among them
    top = int(resp.max()) + 1
    key = item_u.astype(np.int64) * top + resp
    pairs, pair_of = np.unique(key, return_inverse=True)
    pair_item = (pairs // top).astype(np.int64)
    pair_cat = pairs % top
    first = np.searchsorted(pair_item, np.arange(n_items))
    k_obs = np.bincount(pair_item, minlength=n_items)
    max_obs = np.full(n_items, -1)
    np.maximum.at(max_obs, pair_item, pair_cat)
    declared = _declared_categories(n_categories, label_list, max_obs)
    models = _resolve_models(model, label_list, coded.item_labels, declared, fixed)

    # -- item status -----------------------------------------------------------------------
    is_fixed = np.array([lab in fixed for lab in label_list], dtype=bool)
    flags = np.full(n_items, None, dtype=object)
    K = np.zeros(n_items, dtype=np.int64)
    for j in np.nonzero(is_fixed)[0]:
        K[j] = len(fixed[label_list[j]].thresholds) + 1
    free = ~is_fixed
    too_few = free & (n_resp < min_responses)
    single = free & ~too_few & (k_obs < 2)
    flags[too_few] = "too_few_responses"
    flags[single] = "single_category"
    fitted = free & ~too_few & ~single
    K[fitted] = k_obs[fitted]
    flags[fitted & (k_obs < declared)] = "collapsed_categories"
    # categories: fixed items use the raw response, free items the rank among observed ones
    rank = np.arange(len(pairs)) - first[pair_item]
    category = np.where(is_fixed[item_u], resp, rank[pair_of])
    kmax_all = int(max(K.max(), 2))
    cat_values = np.full((n_items, kmax_all), -1, dtype=np.int64)
    for j in np.nonzero(is_fixed)[0]:
        cat_values[j, : K[j]] = fixed[label_list[j]].categories
    fit_pairs = fitted[pair_item]
    cat_values[pair_item[fit_pairs], rank[fit_pairs]] = pair_cat[fit_pairs]

    included = is_fixed | fitted
    inc = np.nonzero(included)[0]
    if not fitted.any() and not is_fixed.any():
        raise ValueError(
            f"responses: no item has at least min_responses={min_responses} responses and "
            "two observed categories"
        )
    pos = np.full(n_items, -1)
    pos[inc] = np.arange(len(inc))
    Ki = K[inc]
    offsets = np.concatenate([[0], np.cumsum(Ki)[:-1]])
    n_rows = int(Ki.sum())
    use = included[item_u]
    row = offsets[pos[item_u[use]]] + category[use]
    if multi:
        # persons recoded so that each group is one contiguous run (see estep)
        person = group_order(grp.person)[coded.person[use]]
        run_group = np.sort(grp.person, kind="stable")
        design = Design(person, row, coded.n_persons, n_rows, len(theta), n_jobs, run_group)
        del person
    else:
        design = Design(coded.person[use], row, coded.n_persons, n_rows, len(theta), n_jobs)
    row_item = np.repeat(np.arange(len(inc)), Ki)
    counts_rc = np.bincount(row, minlength=n_rows).astype(float)
    answered = np.zeros(len(inc), dtype=bool)
    answered[row_item[counts_rc > 0]] = True
    n_persons = coded.n_persons
    del coded, key, pair_of, category, use, row, item_u, resp  # free the response-level copies

    # -- parameters of the included items ---------------------------------------------------
    kmax = int(Ki.max())
    a = np.ones(len(inc))
    d = np.full((len(inc), kmax - 1), np.nan)
    est = fitted[inc]
    slope_free = est & (models[inc] != "rasch")
    for m, j in enumerate(inc):
        lab = label_list[j]
        k = Ki[m]
        if is_fixed[j]:
            a[m], b = fixed[lab][0], fixed[lab][1]
            d[m, : k - 1] = -a[m] * b
            continue
        source = start.get(lab)
        if source is not None and len(source[1]) == k - 1 and np.isfinite(source[0]):
            a[m] = source[0] if slope_free[m] else 1.0
            d[m, : k - 1] = -a[m] * source[1]
            continue
        c = counts_rc[offsets[m] : offsets[m] + k]
        p_ge = np.clip(np.cumsum(c[::-1])[::-1][1:] / c.sum(), 1e-3, 1 - 1e-3)
        d[m, : k - 1] = logit(p_ge) * np.sqrt(1.0 + 0.346)
        d[m, : k - 1] -= np.arange(k - 1) * 1e-3  # strictly decreasing even if ties
    mean_free = bool((is_fixed[inc] & answered).any())
    var_free = bool(((is_fixed[inc] | (models[inc] == "rasch")) & answered).any())
    mu, var = 0.0, 1.0
    if isinstance(fixed_items, Calibration):
        mu, var = fixed_items.latent_mean, fixed_items.latent_var
    if isinstance(init, Calibration):
        mu, var = init.latent_mean, init.latent_var
    if not mean_free:
        mu = 0.0
    if not var_free:
        var = 1.0

    groups_all = _groups(Ki, offsets, np.ones(len(inc), dtype=bool))
    groups_est = _groups(Ki, offsets, est)
    state = _State(a, d, mu, var, groups_est, slope_free, mean_free, var_free)
    if multi:
        # identification: "scale" standardises the mixture to N(0, 1), "shift" only centres
        # it (Rasch slopes fix the unit), "none" when answered anchors define the scale
        ident = "none" if mean_free else ("shift" if var_free else "scale")
        state.set_groups(grp, ident, est)

    def em_map(x):
        state.unpack(x)
        logT = _log_table(state.a, state.d, groups_all, theta, n_rows)
        log_prior = (
            state.prior_table(theta) if multi else quad.log_weights(theta, state.mu, state.var)
        )
        ll, counts, mass = estep(design, logT, log_prior)
        objective = ll + _log_prior(state, prior)
        for k, (idx, rows) in groups_est.items():
            state.a[idx], state.d[idx, : k - 1] = update_items(
                counts[rows], state.a[idx], state.d[idx, : k - 1], theta, prior, slope_free[idx]
            )
        if multi:
            state.update_groups(mass, theta)
            return state.pack(), objective
        m, v = latent_moments(mass, theta)
        if mean_free:
            state.mu = m
        if var_free:
            state.var = v if mean_free else v + m**2  # mean held at 0: E[theta^2]
        return state.pack(), objective

    x, iterations, converged, delta = _squarem(em_map, state.pack(), tol, max_iter, state)
    state.unpack(x)
    if not converged:
        warnings.warn(
            f"EM did not converge in max_iter={max_iter} iterations: the largest parameter "
            f"change was {delta:.2g} > tol={tol}",
            ConvergenceWarning,
            stacklevel=2,
        )

    # -- final pass: log-likelihood, EAPs for item fit, person scores for standard errors ---
    final = _final_pass(
        design, state, groups_all, groups_est, theta, n_rows, row_item, Ki, se, prior
    )
    a_f, d_f = state.a, state.d
    b_f = -d_f / a_f[:, None]

    # -- assemble per-item results over the whole universe ---------------------------------
    slope = np.full(n_items, np.nan)
    thresholds = np.full((n_items, kmax_all - 1), np.nan)
    slope_se = np.full(n_items, np.nan)
    thresholds_se = np.full((n_items, kmax_all - 1), np.nan)
    difficulty_se = np.full(n_items, np.nan)
    slope[inc] = a_f
    thresholds[inc, : kmax - 1] = b_f
    cov = final["cov"]
    if cov is not None:
        for m in np.nonzero(est)[0]:
            k = Ki[m]
            C = np.nan_to_num(cov[m, :k, :k]) if slope_free[m] else cov[m, :k, :k].copy()
            if not slope_free[m]:
                C[0, :] = 0.0
                C[:, 0] = 0.0
            # b_k = -d_k / a: gradient with respect to (a, d_1..d_{k-1})
            J = np.zeros((k - 1, k))
            J[:, 0] = d_f[m, : k - 1] / a_f[m] ** 2
            J[np.arange(k - 1), np.arange(1, k)] = -1.0 / a_f[m]
            Cb = J @ C @ J.T
            j = inc[m]
            thresholds_se[j, : k - 1] = np.sqrt(np.diag(Cb))
            w = np.full(k - 1, 1.0 / (k - 1))
            difficulty_se[j] = np.sqrt(w @ Cb @ w)
            if slope_free[m]:
                slope_se[j] = np.sqrt(cov[m, 0, 0])
    n_b = np.isfinite(thresholds).sum(axis=1)
    difficulty = np.where(n_b > 0, np.nansum(thresholds, axis=1) / np.maximum(n_b, 1), np.nan)
    infit = np.full(n_items, np.nan)
    outfit = np.full(n_items, np.nan)
    infit[inc], outfit[inc] = final["infit"], final["outfit"]
    fit_fl = np.full(n_items, None, dtype=object)
    fit_fl[inc] = fit_flags(a_f, slope_free, final["infit"], final["outfit"])
    flags = _merge_flags(flags, fit_fl)
    group_fields = {}
    if grp is not None:
        gm = np.full(len(grp.labels), float(state.mu))
        gv = np.full(len(grp.labels), float(state.var))
        if multi:
            gm, gv = state.group_mean.copy(), state.group_var.copy()
        group_fields = {
            "groups": grp.labels,
            "group_n": grp.n,
            "group_mean": gm,
            "group_var": gv,
            "group_pooled": ~grp.own if multi else np.ones(len(grp.labels), dtype=bool),
        }
    return Calibration(
        items=labels,
        model=models,
        slope=slope,
        difficulty=difficulty,
        thresholds=thresholds,
        slope_se=slope_se,
        difficulty_se=difficulty_se,
        thresholds_se=thresholds_se,
        n_responses=n_resp.astype(np.int64),
        n_categories=np.where(K > 0, K, np.maximum(declared, 1)).astype(np.int64),
        categories=cat_values,
        flag=flags,
        fixed=is_fixed,
        infit=infit,
        outfit=outfit,
        latent_mean=float(state.mu),
        latent_var=float(state.var),
        loglik=final["loglik"],
        iterations=int(iterations),
        converged=bool(converged),
        n_persons=int(n_persons),
        quadrature=int(quadrature),
        **group_fields,
    )


# ---------------------------------------------------------------------------------------
class _State:
    """Current parameters, with packing to and from one vector for SQUAREM."""

    def __init__(self, a, d, mu, var, groups_est, slope_free, mean_free, var_free):
        self.a, self.d, self.mu, self.var = a, d, mu, var
        self.groups = groups_est
        self.slope_free = slope_free
        self.mean_free, self.var_free = mean_free, var_free
        self.slope_idx = np.nonzero(slope_free)[0]
        self.person_groups = None

    # -- multiple groups ----------------------------------------------------------------
    def set_groups(self, person_groups, ident, est):
        """Give every group with enough persons a latent distribution of its own.

        ``ident`` is "scale", "shift" or "none" (see ``standardise``); ``est`` marks the
        estimated items, which the identification transformation moves.
        """
        self.person_groups = person_groups
        self.ident = ident
        self.est = est
        self.own = np.nonzero(person_groups.own)[0]
        self.group_mean = np.full(len(person_groups.labels), float(self.mu))
        self.group_var = np.full(len(person_groups.labels), float(self.var))
        self.mean_free = self.var_free = False  # the group moments take their place
        self.standardise()

    def prior_table(self, theta) -> np.ndarray:
        """Log latent weights per group, shape (n_groups, Q)."""
        return np.array(
            [
                quad.log_weights(theta, m, v)
                for m, v in zip(self.group_mean, self.group_var, strict=True)
            ]
        )

    def update_groups(self, mass, theta) -> None:
        """M-step for the group moments from the groups' posterior node masses."""
        for g in self.own:
            self.group_mean[g], self.group_var[g] = latent_moments(mass[g], theta)
        self.standardise()

    def standardise(self) -> None:
        """Linear transformation to the scale of the mixture of the group distributions.

        ``theta = M + s * theta'`` maps the mixture (weighted by persons per group) to mean 0
        and variance 1 ("scale"), or to mean 0 with ``s = 1`` ("shift"); item parameters
        follow (``a' = a s``, ``d' = d + a M``) so the likelihood is unchanged. Groups that
        are pooled get the mixture's moments.
        """
        own, pg = self.own, self.person_groups
        m, v = mixture_moments(pg.n[own], self.group_mean[own], self.group_var[own])
        if self.ident != "none":
            s = np.sqrt(v) if self.ident == "scale" else 1.0
            e = self.est
            self.d[e] += self.a[e, None] * m
            self.a[e] *= s
            self.group_mean[own] = (self.group_mean[own] - m) / s
            self.group_var[own] /= s * s
            m, v = (0.0, 1.0) if self.ident == "scale" else (0.0, v)
        self.mu, self.var = m, v
        pooled = ~pg.own
        self.group_mean[pooled], self.group_var[pooled] = m, v

    def pack(self) -> np.ndarray:
        parts = [self.a[self.slope_idx]]
        for k, (idx, _) in self.groups.items():
            parts.append(self.d[idx, : k - 1].ravel())
        if self.mean_free:
            parts.append([self.mu])
        if self.var_free:
            parts.append([self.var])
        if self.person_groups is not None:
            parts += [self.group_mean[self.own], self.group_var[self.own]]
        return np.concatenate([np.asarray(p, dtype=float) for p in parts])

    def unpack(self, x: np.ndarray) -> None:
        i = len(self.slope_idx)
        self.a[self.slope_idx] = x[:i]
        for k, (idx, _) in self.groups.items():
            n = len(idx) * (k - 1)
            self.d[idx, : k - 1] = x[i : i + n].reshape(len(idx), k - 1)
            i += n
        if self.mean_free:
            self.mu = float(x[i])
            i += 1
        if self.var_free:
            self.var = float(x[i])
        if self.person_groups is not None:
            n = len(self.own)
            self.group_mean[self.own] = x[i : i + n]
            self.group_var[self.own] = x[i + n : i + 2 * n]
            own, pg = self.own, self.person_groups
            m, v = mixture_moments(pg.n[own], self.group_mean[own], self.group_var[own])
            self.mu, self.var = m, v
            self.group_mean[~pg.own], self.group_var[~pg.own] = m, v

    def valid(self, x: np.ndarray) -> bool:
        if not np.all(np.isfinite(x)):
            return False
        i = len(self.slope_idx)
        for k, (idx, _) in self.groups.items():
            n = len(idx) * (k - 1)
            if k > 2 and np.any(np.diff(x[i : i + n].reshape(len(idx), k - 1), axis=1) >= 0):
                return False
            i += n
        if self.person_groups is not None:
            n = len(self.own)
            v = x[i + n : i + 2 * n]
            return bool(np.all((v > 1e-4) & (v < 1e4)))
        if self.mean_free:
            i += 1
        return not (self.var_free and not (1e-4 < x[i] < 1e4))


def _squarem(em_map, x0, tol, max_iter, state):
    """SQUAREM (Varadhan & Roland 2008, scheme S3) around the EM map.

    Convergence is judged on plain EM steps, as in mirt: the largest change of any
    parameter in one EM iteration below ``tol``.
    """
    it = 0
    step_max = 1.0
    delta = np.inf
    x = x0
    while it < max_iter:
        x1, f0 = em_map(x)
        it += 1
        delta = np.max(np.abs(x1 - x)) if len(x) else 0.0
        if delta < tol or it >= max_iter:
            return x1, it, delta < tol, delta
        x2, f1 = em_map(x1)
        it += 1
        delta = np.max(np.abs(x2 - x1))
        if delta < tol or it >= max_iter:
            return x2, it, delta < tol, delta
        r = x1 - x
        v = x2 - x1 - r
        rn, vn = np.linalg.norm(r), np.linalg.norm(v)
        if vn == 0 or not np.isfinite(vn):
            x = x2
            continue
        alpha = -max(1.0, min(step_max, rn / vn))
        x3 = x - 2 * alpha * r + alpha**2 * v
        if alpha == -step_max:
            step_max *= 4.0
        if not state.valid(x3):
            x = x2
            step_max = max(1.0, step_max / 4.0)
            continue
        x4, f3 = em_map(x3)
        it += 1
        if not np.isfinite(f3) or f3 < f1 - 1e-8 * abs(f1):
            x = x2  # the extrapolation lost ground: fall back to the plain EM point
            step_max = max(1.0, step_max / 4.0)
        else:
            x = x4
    return x, it, False, delta


def _final_pass(design, state, groups_all, groups_est, theta, n_rows, row_item, Ki, se, prior):
    """Log-likelihood, item fit at EAPs and (optionally) the information, in one pass."""
    logT = _log_table(state.a, state.d, groups_all, theta, n_rows)
    multi = state.person_groups is not None
    log_prior = state.prior_table(theta) if multi else quad.log_weights(theta, state.mu, state.var)
    n_inc = len(state.a)
    kmax = state.d.shape[1] + 1
    dpad = np.where(np.isfinite(state.d), state.d, -np.inf)
    row_cat = np.arange(n_rows) - np.repeat(np.concatenate([[0], np.cumsum(Ki)[:-1]]), Ki)

    acc = None
    if se:
        slot_index = np.full((n_inc, kmax), -1, dtype=np.int64)
        n_par = 0
        sl = state.slope_idx
        slot_index[sl, 0] = np.arange(len(sl))
        n_par = len(sl)
        for k, (idx, _) in groups_est.items():
            slot_index[idx, 1:k] = n_par + np.arange(len(idx) * (k - 1)).reshape(len(idx), k - 1)
            n_par += len(idx) * (k - 1)
        lat_mat, col_group = _latent_scores(state, theta, log_prior)
        n_latent = lat_mat.shape[1]
        per_person = np.diff(design.indptr)
        touched_rows = np.zeros(n_rows)
        touched_rows += (slot_index >= 0).sum(axis=1)[row_item]
        touched = np.bincount(
            np.repeat(np.arange(design.n_persons), per_person),
            touched_rows[design.cols],
            minlength=design.n_persons,
        )
        method = choose_method(design.n_persons, n_par + n_latent, float(touched @ touched))
        acc = Accumulator(method, slot_index, row_item, n_par, n_latent)
        V = node_scores(state.a, state.d, groups_all, theta, n_rows, kmax)
        Vflat = V.reshape(n_rows * kmax, len(theta))

    def fn(blk):
        post, logp = block_posterior(blk, logT, log_prior)
        lo, hi = design.indptr[blk.start], design.indptr[blk.stop]
        cols = design.cols[lo:hi]
        local = np.repeat(
            np.arange(blk.stop - blk.start), np.diff(design.indptr[blk.start : blk.stop + 1])
        )
        eap = post @ theta
        items = row_item[cols]
        sq, vv = residual_terms(
            state.a[items], dpad[items], eap[local], row_cat[cols].astype(float)
        )
        out = {"ll": logp.sum(), "sq": sq, "var": vv, "item": items}
        if acc is not None:
            if blk.dense:
                U = (post @ Vflat.T).reshape(len(post), n_rows, kmax)
                vals = U[local, cols]
            else:
                vals = np.empty((len(cols), kmax))
                step = 65536
                for s in range(0, len(cols), step):
                    sl_ = slice(s, s + step)
                    vals[sl_] = np.einsum("nq,ntq->nt", post[local[sl_]], V[cols[sl_]])
            latent = post @ lat_mat
            if col_group is not None:  # a person scores only their own group's moments
                codes, starts, stops = blk.runs
                latent *= np.repeat(codes, stops - starts)[:, None] == col_group[None, :]
            out["info"] = acc.block(blk.stop - blk.start, local, cols, vals, latent)
        return out

    parts = design.map(fn)
    loglik = float(sum(p["ll"] for p in parts))
    sq = np.concatenate([p["sq"] for p in parts])
    vv = np.concatenate([p["var"] for p in parts])
    it = np.concatenate([p["item"] for p in parts])
    infit, outfit = mean_squares(sq, vv, it, n_inc)
    cov = None
    if acc is not None:
        kind, info = acc.finish(
            [p["info"] for p in parts], [b.start for b in design.blocks], design.n_persons
        )
        prec = np.zeros(acc.n_params)
        if prior is not None:
            for m in range(n_inc):
                for t in range(kmax):
                    g = acc.slot_index[m, t]
                    if g >= 0:
                        prec[g] = 1 / prior.slope_sd**2 if t == 0 else 1 / prior.intercept_sd**2
        cov = item_covariances(kind, info, acc.slot_index, prec)
    return {"loglik": loglik, "infit": infit, "outfit": outfit, "cov": cov}


def _latent_scores(state, theta, log_prior):
    """Complete-data scores of the estimated latent moments at the nodes, centred.

    Returns ``(lat_mat, col_group)``: the (Q, n_latent) scores and, with groups, the group
    of each column (None otherwise). With groups, the largest group's moments that the
    identification fixes (mean and variance for "scale", the mean for "shift") are held at
    their estimates, which pins the scale locally.
    """
    funcs, col_group = [], []

    def add(mu, var, w, mean, variance, g):
        if mean:
            f = (theta - mu) / var
            funcs.append(f - w @ f)
            col_group.append(g)
        if variance:
            f = ((theta - mu) ** 2 - var) / (2 * var**2)
            funcs.append(f - w @ f)
            col_group.append(g)

    if state.person_groups is None:
        add(state.mu, state.var, np.exp(log_prior), state.mean_free, state.var_free, -1)
        col_group = None
    else:
        pinned = state.own[np.argmax(state.person_groups.n[state.own])]
        for g in state.own:
            mean = state.ident == "none" or g != pinned
            variance = state.ident != "scale" or g != pinned
            add(state.group_mean[g], state.group_var[g], np.exp(log_prior[g]), mean, variance, g)
        col_group = np.array(col_group, dtype=np.int64)
    lat_mat = np.array(funcs).T if funcs else np.zeros((len(theta), 0))
    return lat_mat, col_group


def _log_table(a, d, groups, theta, n_rows):
    logT = np.empty((n_rows, len(theta)))
    for k, (idx, rows) in groups.items():
        logT[rows] = log_probs(a[idx], d[idx, : k - 1], theta)
    return logT


def _groups(Ki, offsets, mask):
    """Items grouped by number of categories: k -> (item positions, (n, k) row indices)."""
    out = {}
    for k in np.unique(Ki[mask]):
        idx = np.nonzero(mask & (Ki == k))[0]
        out[int(k)] = (idx, offsets[idx][:, None] + np.arange(k)[None, :])
    return out


def _log_prior(state, prior):
    if prior is None:
        return 0.0
    total = 0.0
    a = state.a[state.slope_idx]
    total -= 0.5 * np.sum(((a - prior.slope_mean) / prior.slope_sd) ** 2)
    for k, (idx, _) in state.groups.items():
        total -= 0.5 * np.sum((state.d[idx, : k - 1] / prior.intercept_sd) ** 2)
    return float(total)


def _merge_flags(status, fit):
    """One flag per item, the most serious first (see ``results.FLAGS``)."""
    order = {
        "too_few_responses": 0,
        "single_category": 1,
        "negative_discrimination": 2,
        "low_discrimination": 3,
        "collapsed_categories": 4,
        "misfit": 5,
    }
    out = status.copy()
    for j in range(len(out)):
        if fit[j] is not None and (out[j] is None or order[fit[j]] < order[out[j]]):
            out[j] = fit[j]
    return out


def _check_options(quadrature, tol, max_iter, min_responses, prior):
    quad.grid(quadrature)
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol: expected a positive number, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter: expected a positive integer, got {max_iter!r}")
    if (
        isinstance(min_responses, bool)
        or not isinstance(min_responses, (int, np.integer))
        or min_responses < 0
    ):
        raise ValueError(f"min_responses: expected a non-negative integer, got {min_responses!r}")
    if prior is not None and not isinstance(prior, ItemPrior):
        raise ValueError(f"prior: expected an ItemPrior or None, got {prior!r}")


def _fixed_item_categories(response, item_u, labels, fixed) -> np.ndarray:
    """Responses with those of fixed items mapped to the items' model categories.

    A fixed item keeps the categories it was calibrated with: a response value it did not
    see then (below its lowest category, above its highest, between collapsed ones) is
    counted as scoring does (``model_categories``), so new data never breaks an anchor.
    """
    if not fixed:
        return response
    kmax = max(len(p.categories) for p in fixed.values())
    values = np.full((len(labels), kmax), -1, dtype=np.int64)
    is_fixed = np.zeros(len(labels), dtype=bool)
    for j, lab in enumerate(labels):
        if lab in fixed:
            is_fixed[j] = True
            cats = fixed[lab].categories
            values[j, : len(cats)] = cats
    on_fixed = is_fixed[item_u]
    if not on_fixed.any():
        return response
    mapped = response.copy()
    mapped[on_fixed] = model_categories(values, item_u[on_fixed], response[on_fixed])
    return mapped


def _declared_categories(n_categories, labels, max_obs):
    if n_categories is None:
        return np.maximum(max_obs + 1, 2)
    if isinstance(n_categories, Mapping):
        out = np.maximum(max_obs + 1, 2)
        for j, lab in enumerate(labels):
            if lab in n_categories:
                out[j] = _category_count(n_categories[lab], lab, max_obs[j])
        return out
    return np.array(
        [_category_count(n_categories, lab, m) for lab, m in zip(labels, max_obs, strict=True)]
    )


def _category_count(value, label, max_obs):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"n_categories: expected an integer >= 2, got {value!r}")
    if max_obs >= value:
        raise ValueError(
            f"n_categories: item {label!r} has response {max_obs} but {value} categories "
            f"(0..{value - 1}) were declared"
        )
    return int(value)


def _resolve_models(model, labels, data_labels, declared, fixed):
    n = len(labels)
    data_set = {lab: i for i, lab in enumerate(data_labels.tolist())}
    if isinstance(model, str):
        name = model.lower()
        if name not in MODELS + ("mixed",):
            raise ValueError(f"model: expected one of {MODELS + ('mixed',)}, got {model!r}")
        per = [name] * n
    elif isinstance(model, Mapping):
        per = []
        for lab in labels:
            if lab in model:
                per.append(str(model[lab]).lower())
            elif lab in fixed:
                per.append("mixed")
            else:
                raise ValueError(f"model: no model given for item {lab!r}")
    else:
        arr = [str(m).lower() for m in np.asarray(model).ravel()]
        if len(arr) != len(data_labels):
            raise ValueError(
                f"model: expected one model per item ({len(data_labels)} items, in sorted "
                f"label order), got {len(arr)}"
            )
        per = [arr[data_set[lab]] if lab in data_set else "mixed" for lab in labels]
    out = np.empty(n, dtype=object)
    for j, (lab, name) in enumerate(zip(labels, per, strict=True)):
        if name not in MODELS + ("mixed",):
            raise ValueError(f"model: expected one of {MODELS + ('mixed',)}, got {name!r}")
        k = declared[j]
        if lab in fixed:
            slope, b, src, _ = fixed[lab]
            k = len(b) + 1
            if src is not None:
                name = src
            elif name == "rasch" and slope != 1.0:
                name = "mixed"
            elif name == "2pl" and k > 2:
                name = "grm"
        if name == "mixed":
            name = "2pl" if k == 2 else "grm"
        if name == "2pl" and k > 2:
            raise ValueError(
                f"model: item {lab!r} has {k} categories but '2pl' is for binary items; "
                "use model='grm' or model='mixed'"
            )
        out[j] = name
    return out.astype(str)
