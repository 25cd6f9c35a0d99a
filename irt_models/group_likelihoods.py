"""likelihoods(): each person's log-likelihood on the quadrature nodes, items fixed, for
``score_groups``; with the items' SEs also what the error of the item parameters needs, and
``item_variance``, that error's share of a group mean's variance (delta method).

References
----------
Cheng, Y., & Yuan, K.-H. (2010). The impact of fallible item parameter estimates on latent
trait recovery. Psychometrika, 75, 280-291.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
from scipy import sparse

from . import quadrature as quad
from .estep import Design
from .scoring import _prepare, item_log_table
from .validation import check_calibration

# Persons per chunk in the group passes (n_persons x Q arrays of doubles, about 10 MB each).
CHUNK = 20_000


class Likelihoods(NamedTuple):
    """Each person's log-likelihood on the quadrature nodes, items fixed.

    Attributes
    ----------
    persons : ndarray of shape (n_persons,)
        Person labels in sorted order.
    nodes : ndarray of shape (Q,)
    loglik : ndarray of shape (n_persons, Q)
        ``log P(responses of p | theta_q)``; zeros for a person without usable responses.
    n_items : ndarray of shape (n_persons,) of int
        Responses that entered the likelihood.
    item_error : ItemError, optional
        With ``likelihoods(..., item_se=)``: what the error of the item parameters needs.
    """

    persons: np.ndarray
    nodes: np.ndarray
    loglik: np.ndarray
    n_items: np.ndarray
    item_error: ItemError | None = None


class ItemError(NamedTuple):
    """Each response's person and row of ``d_loglik``, the derivatives of log P(category |
    node) over an item's slope and location (all thresholds shifted together), each times
    its standard error: shape (2, n_rows, Q); ``row_item`` is each row's item."""

    person: np.ndarray
    row: np.ndarray
    d_loglik: np.ndarray
    row_item: np.ndarray


def likelihoods(
    calibration,
    persons,
    items,
    responses,
    *,
    quadrature: int | None = None,
    n_jobs=None,
    item_se=None,
) -> Likelihoods:
    """Log-likelihood of each person's responses on the quadrature nodes.

    Parameters
    ----------
    calibration : Calibration
    persons, items, responses : array-like of shape (n_responses,)
        Long format as for ``score``; responses to unknown or unfitted items are ignored.
    quadrature : int, optional
        Nodes on [-6, 6]; defaults to the calibration's.
    n_jobs : int, optional
    item_se : (ndarray, ndarray), optional
        Standard errors of each item's slope and location (difficulty, or the mean
        threshold), aligned with ``calibration.items``; NaN counts as 0. With them
        ``score_groups`` adds the error of the item parameters to its SEs.

    Returns
    -------
    Likelihoods
    """
    check_calibration(calibration)
    prep = _prepare(calibration, persons, items, responses, "ignore")
    nodes = quad.grid(quadrature if quadrature is not None else calibration.quadrature)
    logT, offsets, n_rows = item_log_table(calibration, nodes)
    n = len(prep.person_labels)
    out = np.zeros((n, len(nodes)))
    if len(prep.person):
        row = offsets[prep.item] + prep.category
        design = Design(prep.person, row, n, max(n_rows, 1), len(nodes), n_jobs)

        def fill(blk):
            out[blk.start : blk.stop] = blk.S @ logT

        design.map(fill)
    n_items = np.bincount(prep.person, minlength=n).astype(np.int64)
    error = None
    if item_se is not None:
        error = _item_error(
            calibration, nodes, item_se, prep.person, offsets[prep.item] + prep.category
        )
    return Likelihoods(prep.person_labels, nodes, out, n_items, error)


def _item_error(cal, nodes, item_se, person, row) -> ItemError:
    """Central differences of the item table over each item's slope and location."""
    se = [np.nan_to_num(np.asarray(x, dtype=float)) for x in item_se]
    h = 1e-4
    tables = [
        item_log_table(dataclasses.replace(cal, **change), nodes)[0]
        for change in (
            {"slope": cal.slope + h},
            {"slope": cal.slope - h},
            {"thresholds": cal.thresholds + h},
            {"thresholds": cal.thresholds - h},
        )
    ]
    _, offsets, n_rows = item_log_table(cal, nodes)
    k = np.where(cal.fitted, cal.n_categories, 0)
    row_item = np.repeat(np.arange(len(k)), k)
    d = np.stack([tables[0] - tables[1], tables[2] - tables[3]])[:, :n_rows] / (2 * h)
    d *= np.stack([se[0][row_item], se[1][row_item]])[:, :, None]
    return ItemError(person, row, d, row_item)


def item_variance(fit, error: ItemError, fit_row) -> np.ndarray:
    """Per group, the variance of the mean from the error of the item parameters (delta
    method, items independent): mu-hat's derivative over an item parameter is V (the
    inverse observed information) times the score's derivative, a sum over the item's
    responses of the posterior covariance of the prior's score with the response's
    log-probability (Cheng & Yuan 2010)."""
    keep = fit_row[error.person] >= 0
    who, row = fit_row[error.person[keep]], error.row[keep]
    n_rows = error.d_loglik.shape[1]
    pairs, pair = _pair_index(fit.code[who] * n_rows + row, fit.G * n_rows)
    # responses summed per (group, row): one sparse product per prior score
    incidence = sparse.csc_matrix(
        (np.ones(len(who)), (pair, who)), shape=(len(pairs), len(fit.code))
    )
    g, r = pairs // n_rows, pairs % n_rows
    summed = np.zeros((2, len(pairs), len(fit.nodes)))
    for lo in range(0, len(fit.code), CHUNK):
        hi = min(lo + CHUNK, len(fit.code))
        for a, h in enumerate(_centred_posteriors(fit, np.arange(lo, hi))):
            summed[a] += incidence[:, lo:hi] @ h
    # (mu or log sigma, slope or location, pair); each row's derivatives gathered once
    d_score = np.einsum("apq,bpq->abp", summed, error.d_loglik[:, r], optimize=True)
    a, b, c = -fit.hess
    if fit.free:
        det = np.where(a * c - b * b > 0, a * c - b * b, np.nan)
        v_mu = (c / det, -b / det)
    else:
        v_mu = (1.0 / np.where(a > 0, a, np.nan), np.zeros(fit.G))
    d_mean = v_mu[0][g] * d_score[0] + v_mu[1][g] * d_score[1]
    n_items = int(error.row_item.max()) + 1 if len(error.row_item) else 1
    per_item = np.bincount(g * n_items + error.row_item[r], d_mean[0], fit.G * n_items)
    per_item = (
        per_item**2 + np.bincount(g * n_items + error.row_item[r], d_mean[1], fit.G * n_items) ** 2
    )
    return per_item.reshape(fit.G, n_items).sum(axis=1)


def _pair_index(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for keys in [0, n_keys): by a table of the
    keys present instead of a sort of every response (the keys are few: groups x rows)."""
    if n_keys > 50 * max(len(keys), 1):
        return np.unique(keys, return_inverse=True)
    present = np.zeros(n_keys, dtype=bool)
    present[keys] = True
    index = np.cumsum(present) - 1
    return np.flatnonzero(present), index[keys]


def _centred_posteriors(fit, rows):
    """Posterior weights of the persons ``rows`` under their group's prior, times their
    prior scores over mu and log sigma, centred: (u - E u) / sigma and u^2 - E u^2."""
    c = fit.code[rows]
    sig = np.exp(fit.t)[c][:, None]
    u = (fit.nodes[None, :] - fit.mu[c][:, None]) / sig
    z = fit.ll[rows] - 0.5 * u * u
    w = np.exp(z - z.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    u2 = u * u
    e1, e2 = (w * u).sum(axis=1, keepdims=True), (w * u2).sum(axis=1, keepdims=True)
    return w * (u - e1) / sig, w * (u2 - e2)
