"""Likelihood pieces under anchored (fixed) item parameters, shared by DIF and drift.

With every item's parameters fixed, a person's likelihood on the quadrature grid is the
product of their responses' category probabilities; leaving one response out of it gives
the posterior of theta "without the item under test", so that the item's own response
does not pull the ability it is compared against (the rest-score idea of Holland & Thayer
1988, on the theta scale).

References
----------
Bock, R. D., & Aitkin, M. (1981). Marginal maximum likelihood estimation of item
parameters: Application of an EM algorithm. Psychometrika, 46, 443-459.
Holland, P. W., & Thayer, D. T. (1988). Differential item performance and the
Mantel-Haenszel procedure. In H. Wainer & H. I. Braun (Eds.), Test Validity (pp. 129-145).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from . import quadrature as quad
from .data import label_codes, long_format
from .models import log_probs
from .results import model_categories

CHUNK = 1 << 16


class Anchored(NamedTuple):
    """Long-format responses coded against a calibration.

    Attributes
    ----------
    person_labels : ndarray of shape (n_persons,)
        Sorted labels of every person in the input (also those without usable responses).
    person : ndarray of shape (n_kept,)
        Person code of each kept response.
    item : ndarray of shape (n_kept,)
        Position of the item in the calibration.
    category : ndarray of shape (n_kept,)
        Model category of the response.
    keep : ndarray of shape (n_responses,) of bool
        Input rows kept: known, fitted items.
    """

    person_labels: np.ndarray
    person: np.ndarray
    item: np.ndarray
    category: np.ndarray
    keep: np.ndarray


def code_responses(calibration, persons, items, responses) -> Anchored:
    """Code responses against a calibration; rows of unknown or unfitted items are left
    out (``keep`` says which rows remain)."""
    p, i, r = long_format(persons, items, responses)
    person_labels, person = label_codes(p)
    item_labels, item_code = label_codes(i)
    pos = calibration.index(item_labels)[item_code] if len(i) else np.zeros(0, dtype=np.int64)
    keep = pos >= 0
    keep[keep] = calibration.fitted[pos[keep]]
    j = pos[keep].astype(np.int64)
    category = model_categories(calibration.categories, j, r[keep])
    return Anchored(person_labels, person[keep].astype(np.int64), j, category, keep)


def item_table(calibration, nodes: np.ndarray) -> np.ndarray:
    """Log category probabilities of every item on the nodes, shape (n_items, K_max, Q);
    categories an item does not have, and unfitted items, are -inf."""
    k = calibration.n_categories
    table = np.full((calibration.n_items, int(k.max()), len(nodes)), -np.inf)
    used = np.nonzero(calibration.fitted)[0]
    for kv in np.unique(k[used]):
        idx = used[k[used] == kv]
        d = calibration.intercepts[idx, : kv - 1]
        table[idx, :kv] = log_probs(calibration.slope[idx], d, nodes)
    return table


def person_loglik(table, person, item, category, n_persons: int) -> np.ndarray:
    """Log-likelihood of each person's responses on the nodes, shape (n_persons, Q)."""
    out = np.zeros((n_persons, table.shape[2]))
    for s in range(0, len(person), CHUNK):
        sl = slice(s, s + CHUNK)
        np.add.at(out, person[sl], table[item[sl], category[sl]])
    return out


def group_moments(loglik, group, n_groups: int, nodes, *, tol=1e-6, max_iter=500):
    """Mean and variance of each group's normal latent distribution, items fixed.

    EM over the grid (Bock & Aitkin 1981): the posterior of each person under their
    group's N(mean, var) prior, then the group's posterior mean and variance.

    Parameters
    ----------
    loglik : ndarray of shape (n_persons, Q)
    group : ndarray of shape (n_persons,) of int
        Group code, or -1 for persons left out.
    n_groups : int
    nodes : ndarray of shape (Q,)

    Returns
    -------
    mean, var : ndarray of shape (n_groups,)
    """
    mean, var = np.zeros(n_groups), np.ones(n_groups)
    use = group >= 0
    ll, g = loglik[use], group[use]
    n = np.maximum(np.bincount(g, minlength=n_groups), 1)
    for _ in range(max_iter):
        prior = np.stack([quad.log_weights(nodes, m, v) for m, v in zip(mean, var, strict=True)])
        post = ll + prior[g]
        post = np.exp(post - logsumexp(post, axis=1, keepdims=True))
        m1 = np.bincount(g, post @ nodes, n_groups) / n
        m2 = np.bincount(g, post @ nodes**2, n_groups) / n
        new_var = np.maximum(m2 - m1**2, 1e-4)
        done = max(np.abs(m1 - mean).max(), np.abs(new_var - var).max()) < tol
        mean, var = m1, new_var
        if done:
            break
    return mean, var


def leave_one_out_weights(loglik, person, own, log_prior) -> np.ndarray:
    """Posterior weights of theta for each response's person without that response,
    shape (n_responses, Q).

    ``own`` is the response's log-probability on the nodes, (n_responses, Q) (zeros for a
    response that is not in ``loglik``); ``log_prior`` is (Q,) or (n_responses, Q).
    """
    logw = loglik[person] - own + log_prior
    logw -= logsumexp(logw, axis=1, keepdims=True)
    return np.exp(logw)


def score_moments(table) -> tuple[np.ndarray, np.ndarray]:
    """Expected score and expected squared score of each item on the nodes, each
    (n_items, Q), from ``item_table``."""
    k = np.arange(table.shape[1], dtype=float)
    p = np.exp(table)
    return np.einsum("k,ikq->iq", k, p), np.einsum("k,ikq->iq", k**2, p)


def pointwise_moments(calibration, item, theta) -> tuple[np.ndarray, np.ndarray]:
    """Expected score and score variance of each response's item at its person's theta.

    Parameters
    ----------
    calibration : Calibration
    item : ndarray of shape (n,)
        Positions in the calibration.
    theta : ndarray of shape (n,)

    Returns
    -------
    expected, variance : ndarray of shape (n,)
    """
    e1, e2 = np.zeros(len(item)), np.zeros(len(item))
    k = calibration.n_categories
    for i in np.unique(item):
        rows = np.nonzero(item == i)[0]
        d = calibration.intercepts[[i], : k[i] - 1]
        p = np.exp(log_probs(calibration.slope[[i]], d, theta[rows])[0])  # (K, n)
        cats = np.arange(k[i], dtype=float)
        e1[rows], e2[rows] = cats @ p, cats**2 @ p
    return e1, np.maximum(e2 - e1**2, 0.0)
