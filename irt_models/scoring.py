"""score(): person locations under a calibration, EAP (default) or MAP.

- ``"eap"``: expected a posteriori, the posterior mean over the calibration's quadrature
  grid with the latent N(latent_mean, latent_var) as prior; the standard error is the
  posterior standard deviation (Bock & Mislevy 1982; mirt ``fscores(method = "EAP")``).
- ``"map"``: maximum a posteriori (the posterior mode) by Fisher scoring from the EAP;
  the standard error is ``1 / sqrt(I(theta) + 1 / latent_var)`` at the mode, with the test
  information ``I`` (observed and expected information coincide for 2PL/Rasch items).

Persons need not be in the calibration: only item parameters are used. The prior is the
calibration's single population N(latent_mean, latent_var), also after a multiple-group
calibration, so a person's score does not depend on their group; ``groups=`` scores with
each group's own prior instead, for group-level statistics only.

References
----------
Bock, R. D., & Mislevy, R. J. (1982). Adaptive EAP estimation of ability in a
microcomputer environment. Applied Psychological Measurement, 6, 431-444.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from . import quadrature as quad
from .data import label_codes, long_format
from .estep import Design, block_posterior, group_order
from .groups import person_groups
from .models import log_probs
from .results import Calibration, model_categories
from .validation import check_calibration, check_score_options


class Scores(NamedTuple):
    """Person scores, one row per person in sorted label order.

    Attributes
    ----------
    persons : ndarray of shape (n_persons,)
    theta : ndarray of shape (n_persons,)
    se : ndarray of shape (n_persons,)
    n_items : ndarray of shape (n_persons,) of int
        Responses that entered the score (0: the score is the prior mean).
    """

    persons: np.ndarray
    theta: np.ndarray
    se: np.ndarray
    n_items: np.ndarray


@dataclass
class _Prepared:
    person_labels: np.ndarray
    person: np.ndarray
    item: np.ndarray  # position in the calibration
    category: np.ndarray  # model category
    group: np.ndarray | None = None  # position in calibration.groups of each person


def score(
    calibration: Calibration,
    persons,
    items,
    responses,
    method: str = "eap",
    *,
    unknown_items: str = "ignore",
    quadrature: int | None = None,
    n_jobs: int | None = None,
    groups=None,
) -> Scores:
    """Score persons on the calibration's scale.

    Parameters
    ----------
    calibration : Calibration
        From ``calibrate`` or ``Calibration.from_parameters``.
    persons, items, responses : array-like of shape (n_responses,)
        Long-format responses as for ``calibrate``; persons may be new.
    method : {"eap", "map"}
    unknown_items : {"ignore", "raise"}
        Responses to items the calibration does not know are ignored (default) or raise a
        ValueError. Responses to known items without usable parameters (flagged
        ``"too_few_responses"`` or ``"single_category"``) are always ignored. A response
        above an item's highest calibrated category counts as that category, a value
        between collapsed categories as the lower one, and a value below the lowest as the
        lowest (``model_categories``).
    quadrature : int, optional
        Nodes on [-6, 6] for EAP; defaults to the calibration's.
    n_jobs : int, optional
        Threads; defaults to the number of CPUs.
    groups : array-like of shape (n_responses,), optional
        Group of each response's person (constant within a person), with labels among
        ``calibration.groups``: each person is then scored with their group's prior
        N(group_mean, group_var) instead of the population's. Such scores shrink towards
        the group means, so they suit group-level statistics (group means, distributions),
        not individual reporting, where a score must not depend on the group (entry
        course) a learner chose. None (default): the population prior for everybody.

    Returns
    -------
    Scores
    """
    check_score_options(calibration, method, unknown_items)
    prep = _prepare(calibration, persons, items, responses, unknown_items, groups)
    n_used = np.bincount(prep.person, minlength=len(prep.person_labels))
    theta, se = _score_eap(calibration, prep, quadrature, n_jobs)
    if method == "map":
        theta, se = _score_map(calibration, prep, theta)
    return Scores(prep.person_labels, theta, se, n_used.astype(np.int64))


def marginal_reliability(scores: Scores | None = None, *, theta=None, se=None) -> float:
    """Empirical marginal reliability of EAP scores (mirt ``empirical_rxx``).

    ``var(theta) / (var(theta) + mean(se^2))``. Give either ``scores`` (then over persons
    with at least one response) or the arrays ``theta`` and ``se`` (then over every entry;
    leave out persons without responses first):

        marginal_reliability(score(cal, persons, items, responses))
        marginal_reliability(theta=stored_theta, se=stored_se)

    Parameters
    ----------
    scores : Scores, optional
    theta, se : array-like of shape (n_persons,), optional
        Keyword only, both or neither; not together with ``scores``.

    Returns
    -------
    float
        NaN when fewer than two persons have responses.
    """
    if scores is not None:
        if theta is not None or se is not None:
            raise ValueError("scores, theta, se: give scores or theta and se, not both")
        used = np.asarray(scores.n_items) > 0
        theta, se = scores.theta[used], scores.se[used]
    else:
        if theta is None or se is None:
            raise ValueError("theta, se: expected both (or scores)")
        theta = np.asarray(theta, dtype=float).reshape(-1)
        se = np.asarray(se, dtype=float).reshape(-1)
        if len(theta) != len(se):
            raise ValueError(f"theta, se: expected equal lengths, got {len(theta)}, {len(se)}")
    if len(theta) < 2:
        return float("nan")
    v = float(np.var(theta))
    e = float(np.mean(np.square(se)))
    return v / (v + e) if v + e > 0 else float("nan")


def marginal_loglik(
    calibration: Calibration,
    persons,
    items,
    responses,
    *,
    quadrature: int | None = None,
    n_jobs: int | None = None,
) -> float:
    """Marginal log-likelihood of responses under a calibration's parameters.

    ``sum_p log sum_q w_q prod_j P(y_pj | theta_q)`` over the calibration's quadrature grid
    with N(latent_mean, latent_var) weights; responses to unknown or unfitted items are
    ignored. Useful to compare parameter sets (e.g. from other programs) on the same data.

    Parameters
    ----------
    calibration : Calibration
    persons, items, responses : array-like of shape (n_responses,)
    quadrature : int, optional
    n_jobs : int, optional

    Returns
    -------
    float
    """
    check_calibration(calibration)
    prep = _prepare(calibration, persons, items, responses, "ignore")
    return _posterior_pass(calibration, prep, quadrature, n_jobs, want_scores=False)[2]


def _prepare(cal, persons, items, responses, unknown_items, groups=None) -> _Prepared:
    p, i, r = long_format(persons, items, responses)
    person_labels, person = label_codes(p)
    group = None
    if groups is not None:
        if cal.groups is None:
            raise ValueError("groups: the calibration has no groups (calibrate(..., groups=))")
        pg = person_groups(groups, person, len(person_labels))
        known = {lab: k for k, lab in enumerate(cal.groups.tolist())}
        unknown = [lab for lab in pg.labels.tolist() if lab not in known]
        if unknown:
            raise ValueError(f"groups: labels unknown to the calibration, e.g. {unknown[:5]}")
        group = np.array([known[lab] for lab in pg.labels.tolist()], dtype=np.int64)[pg.person]
    item_labels, item_code = label_codes(i)
    pos = cal.index(item_labels)
    if unknown_items == "raise" and np.any(pos < 0):
        missing = item_labels[pos < 0][:5].tolist()
        raise ValueError(
            f"items: {int(np.sum(pos < 0))} item(s) unknown to the calibration, e.g. {missing}"
        )
    j = pos[item_code]
    keep = j >= 0
    keep[keep] = cal.fitted[j[keep]]
    j, r, person = j[keep], r[keep], person[keep]
    cat = model_categories(cal.categories, j, r)
    return _Prepared(person_labels, person.astype(np.int64), j.astype(np.int64), cat, group)


def _score_eap(cal, prep, quadrature=None, n_jobs=None):
    theta, se, _ = _posterior_pass(cal, prep, quadrature, n_jobs, want_scores=True)
    return theta, se


def item_log_table(cal, theta_q):
    """log P(category | node) of every fitted item: one row per (item, category).

    Returns
    -------
    logT : ndarray of shape (n_rows, Q)
    offsets : ndarray of shape (n_items,)
        First row of each item (a response's row is ``offsets[item] + category``).
    n_rows : int
    """
    k = cal.n_categories
    fitted = cal.fitted
    used = np.nonzero(fitted)[0]
    kk = np.where(fitted, k, 0)
    offsets = np.concatenate([[0], np.cumsum(kk)[:-1]])
    n_rows = int(kk.sum())
    logT = np.empty((max(n_rows, 1), len(theta_q)))
    d_all = cal.intercepts
    for kv in np.unique(k[used]):
        idx = used[k[used] == kv]
        rows = offsets[idx][:, None] + np.arange(kv)[None, :]
        logT[rows] = log_probs(cal.slope[idx], d_all[idx, : kv - 1], theta_q)
    return logT, offsets, n_rows


def _posterior_pass(cal, prep, quadrature, n_jobs, want_scores):
    theta_q = quad.grid(quadrature if quadrature is not None else cal.quadrature)
    logT, offsets, n_rows = item_log_table(cal, theta_q)
    n_persons = len(prep.person_labels)
    row = offsets[prep.item] + prep.category
    if prep.group is None:
        log_prior = quad.log_weights(theta_q, cal.latent_mean, cal.latent_var)
        design = Design(prep.person, row, n_persons, max(n_rows, 1), len(theta_q), n_jobs)
        new = None
    else:
        # one prior row per group; persons recoded so that each group is a run
        log_prior = np.array(
            [
                quad.log_weights(theta_q, m, v)
                for m, v in zip(cal.group_mean, cal.group_var, strict=True)
            ]
        )
        new = group_order(prep.group)
        run_group = np.sort(prep.group, kind="stable")
        design = Design(
            new[prep.person], row, n_persons, max(n_rows, 1), len(theta_q), n_jobs, run_group
        )
    theta = np.empty(n_persons)
    se = np.empty(n_persons)

    def fn(blk):
        post, logp = block_posterior(blk, logT, log_prior)
        if want_scores:
            m = post @ theta_q
            v = post @ theta_q**2 - m**2
            theta[blk.start : blk.stop] = m
            se[blk.start : blk.stop] = np.sqrt(np.maximum(v, 0.0))
        return float(logp.sum())

    loglik = float(sum(design.map(fn)))
    if new is not None:
        theta, se = theta[new], se[new]
    return theta, se, loglik


def _score_map(cal, prep, start, max_iter=50, tol=1e-8):
    """Posterior mode by Fisher scoring, vectorised over persons."""
    a = cal.slope[prep.item]
    d = cal.intercepts[prep.item]
    d = np.where(np.isfinite(d), d, -np.inf)
    y = prep.category
    p = prep.person
    n = len(start)
    mu, var = cal.latent_mean, cal.latent_var
    if prep.group is not None:
        mu, var = cal.group_mean[prep.group], cal.group_var[prep.group]
    theta = start.copy()
    info = np.zeros(n)
    for _ in range(max_iter):
        pstar = expit(a[:, None] * theta[p][:, None] + d)  # P(Y >= k), k = 1..m
        ones = np.ones((len(y), 1))
        zeros = np.zeros((len(y), 1))
        cum = np.hstack([ones, pstar, zeros])
        w = cum * (1.0 - cum)
        prob = np.maximum(cum[:, :-1] - cum[:, 1:], 1e-300)  # P(Y = k)
        dprob = a[:, None] * (w[:, :-1] - w[:, 1:])  # d P(Y = k) / d theta
        g_resp = np.take_along_axis(dprob / prob, y[:, None], axis=1)[:, 0]
        i_resp = np.sum(dprob**2 / prob, axis=1)
        grad = np.bincount(p, g_resp, n) - (theta - mu) / var
        info = np.bincount(p, i_resp, n) + 1.0 / var
        step = np.clip(grad / info, -1.0, 1.0)
        theta += step
        if np.max(np.abs(step), initial=0.0) < tol:
            break
    return theta, 1.0 / np.sqrt(info)
