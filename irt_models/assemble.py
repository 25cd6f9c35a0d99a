"""The Calibration of ``calibrate``: the estimates of the included items spread over the
whole item universe (NaN for items left out), with flags, fit and group moments."""

from __future__ import annotations

import numpy as np

from .bank import ItemBank, ResponseLayout
from .em import EMState
from .final_pass import FinalPass, threshold_standard_errors
from .fit import fit_flags
from .groups import PersonGroups
from .results import FLAGS, Calibration


def calibration_result(
    bank: ItemBank,
    layout: ResponseLayout,
    state: EMState,
    final: FinalPass,
    *,
    iterations: int,
    converged: bool,
    n_persons: int,
    quadrature: int,
    person_groups: PersonGroups | None,
    multi: bool,
) -> Calibration:
    """The Calibration over the whole item universe from the fitted state.

    ``person_groups`` is None without groups; ``multi`` says whether the groups had latent
    moments of their own in the fit (more than one large group) or were all pooled.
    """
    status, included = bank.status, layout.included
    slope_free = state.slope_free
    n_items = len(bank.labels)
    parameters = _item_parameters(n_items, status, layout, state, final.cov, slope_free)
    infit = np.full(n_items, np.nan)
    outfit = np.full(n_items, np.nan)
    infit[included], outfit[included] = final.infit, final.outfit
    fit_flag = np.full(n_items, None, dtype=object)
    fit_flag[included] = fit_flags(state.a, slope_free, final.infit, final.outfit)
    n_categories = np.where(
        status.n_categories > 0, status.n_categories, np.maximum(bank.declared, 1)
    )
    return Calibration(
        items=bank.labels,
        model=bank.models,
        **parameters,
        n_responses=bank.n_responses.astype(np.int64),
        n_categories=n_categories.astype(np.int64),
        categories=status.category_values,
        flag=merge_flags(status.flags, fit_flag),
        fixed=status.is_fixed,
        infit=infit,
        outfit=outfit,
        latent_mean=float(state.latent_mean),
        latent_var=float(state.latent_var),
        loglik=final.loglik,
        iterations=int(iterations),
        converged=bool(converged),
        n_persons=int(n_persons),
        quadrature=int(quadrature),
        **group_fields(person_groups, multi, state),
    )


def _item_parameters(n_items, status, layout, state, cov, slope_free) -> dict[str, np.ndarray]:
    """Slopes, thresholds, difficulties and their standard errors over the universe."""
    included = layout.included
    max_categories = status.category_values.shape[1]
    a, d = state.a, state.d
    slope = np.full(n_items, np.nan)
    thresholds = np.full((n_items, max_categories - 1), np.nan)
    slope_se = np.full(n_items, np.nan)
    thresholds_se = np.full((n_items, max_categories - 1), np.nan)
    difficulty_se = np.full(n_items, np.nan)
    slope[included] = a
    thresholds[included, : d.shape[1]] = -d / a[:, None]
    if cov is not None:
        estimated = status.fitted[included]
        ses = threshold_standard_errors(cov, a, d, layout.n_categories, estimated, slope_free)
        slope_se[included] = ses[0]
        thresholds_se[included, : d.shape[1]] = ses[1]
        difficulty_se[included] = ses[2]
    n_thresholds = np.isfinite(thresholds).sum(axis=1)
    difficulty = np.where(
        n_thresholds > 0,
        np.nansum(thresholds, axis=1) / np.maximum(n_thresholds, 1),
        np.nan,
    )
    return {
        "slope": slope,
        "difficulty": difficulty,
        "thresholds": thresholds,
        "slope_se": slope_se,
        "difficulty_se": difficulty_se,
        "thresholds_se": thresholds_se,
    }


def merge_flags(status: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """One flag per item, the most serious first (in the order of ``results.FLAGS``)."""
    order = {flag: i for i, flag in enumerate(FLAGS)}
    out = status.copy()
    for j in range(len(out)):
        if fit[j] is not None and (out[j] is None or order[fit[j]] < order[out[j]]):
            out[j] = fit[j]
    return out


def group_fields(person_groups: PersonGroups | None, multi: bool, state: EMState) -> dict:
    """The ``group_*`` fields of the Calibration (empty without groups)."""
    if person_groups is None:
        return {}
    n_groups = len(person_groups.labels)
    if multi:
        mean, var = state.group_mean.copy(), state.group_var.copy()
        pooled = ~person_groups.own
    else:
        mean = np.full(n_groups, float(state.latent_mean))
        var = np.full(n_groups, float(state.latent_var))
        pooled = np.ones(n_groups, dtype=bool)
    return {
        "groups": person_groups.labels,
        "group_n": person_groups.n,
        "group_mean": mean,
        "group_var": var,
        "group_pooled": pooled,
    }
