"""S-X2 item fit (Orlando & Thissen 2000; Kang & Chen 2008), on each person's own form.

For item ``i`` and summed score ``s``, S-X2 compares the observed proportion of persons
with score ``s`` answering in category ``x`` with the model's

    E_i(x | s) = sum_q P_i(x | theta_q) f_{-i}(s - x | theta_q) g_q / sum_q f(s | theta_q) g_q

where ``f`` is the summed-score likelihood of the test (``summed_score``), ``f_{-i}`` that of
the test without item ``i`` and ``g`` the latent density on the quadrature grid. The
statistic is ``X2_i = sum_s sum_x (O_isx - E_isx)^2 / E_isx`` over counts
(``N_s`` times proportions), a chi-square with
``df_i = sum_s (categories possible at s - 1) - (estimated parameters of item i)``.

Sparse data. Persons answer different subsets (forms) of the items. Person ``p`` with
summed score ``S_p`` on form ``F_p`` (their responses to items with usable parameters)
contributes to item ``i``'s table, in score group ``S_p``, the observed indicator
``[y_pi = x]`` and the expectation ``E_pi(x)``: the formula above with ``f`` and ``f_{-i}``
taken over ``F_p``. Score groups are the raw summed scores ``S_p`` as they are, whatever
the form's length. Pairs whose category the score implies (``S_p`` is 0 or the form's
maximum, or ``i`` is alone on the form) carry no information and are left out; on complete
data this leaves the groups ``1..max - 1`` of the standard statistic and, since every
person with the same score then has the same expectation, S-X2 reduces exactly to it. A
cell ``(s, x)`` is structurally empty when ``x`` is impossible at ``s`` for every
contributing person (``x > s`` or the rest of the form cannot reach ``s - x``); it is left
out of the sum and of the degrees of freedom (as mirt does).

Collapsing. Within an item, while some cell that is not structurally empty expects fewer
than ``mincell`` responses, the lowest score group with such a cell is merged into its
neighbour (the first into the second, the last into the one before, otherwise into the
neighbour with fewer persons), as mirt's ``itemfit(mincell = 1)`` does for score groups.
mirt also collapses adjacent categories of polytomous items first; this module does not.

Latent density: the calibration's N(latent_mean, latent_var) on its quadrature grid; with
groups, the mixture of the group normals weighted by group size (the population density).

Algorithm. Per person, forward and backward Lord-Wingersky arrays over the form give
``f_{-i}(S_p - x) = sum_u F_{i-1}(u) B_{i+1}(S_p - x - u)`` at the K needed scores only, so
the cost is O(L^2 K^2 Q) per person for a form of L items, vectorised over chunks of
persons with forms of equal length; persons sharing a form and a score share the work.

References
----------
Orlando, M., & Thissen, D. (2000). Likelihood-based item-fit indices for dichotomous item
response theory models. Applied Psychological Measurement, 24, 50-64.
Kang, T., & Chen, T. T. (2008). Performance of the generalized S-X2 item fit index for
polytomous IRT models. Journal of Educational Measurement, 45, 391-406.
Chalmers, R. P. (2012). mirt: A multidimensional item response theory package for the R
environment. Journal of Statistical Software, 48(6).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import chi2

from . import quadrature as quad
from .summed_score import category_probs, lord_wingersky_steps

CHUNK_BYTES = 32 << 20  # per forward/backward array of one chunk of persons


class SX2(NamedTuple):
    """S-X2 per item (NaN where undefined: no informative responses, or df <= 0 for p)."""

    sx2: np.ndarray
    df: np.ndarray
    p: np.ndarray


def latent_weights(calibration, theta: np.ndarray) -> np.ndarray:
    """Latent density on the nodes, summing to one (the group mixture with groups)."""
    cal = calibration
    if cal.groups is None:
        return np.exp(quad.log_weights(theta, cal.latent_mean, cal.latent_var))
    share = np.asarray(cal.group_n, float) / np.sum(cal.group_n)
    w = sum(
        s * np.exp(quad.log_weights(theta, m, v))
        for s, m, v in zip(share, cal.group_mean, cal.group_var, strict=True)
    )
    return w / w.sum()


def form_expectations(probs, score, weights, max_score: int | None = None) -> np.ndarray:
    """E_pl(x) = P(Y_l = x | S = score_p) under the model, for forms of equal length.

    Parameters
    ----------
    probs : ndarray of shape (B, L, K, Q)
        Category probabilities of each person's L items (zero-padded categories).
    score : ndarray of shape (B,) of int
        Summed score of each person on the form.
    weights : ndarray of shape (Q,)
        Latent density on the nodes.
    max_score : int, optional
        The highest score any of the forms can reach (default ``L * (K - 1)``).

    Returns
    -------
    ndarray of shape (B, L, K)
    """
    n, n_items, k, _ = probs.shape
    p = np.ascontiguousarray(probs.transpose(1, 2, 0, 3))  # (L, K, B, Q): persons inside
    fwd = lord_wingersky_steps(p, max_score)  # fwd[l]: the first l items
    cap = fwd.shape[1] - 1
    rows = np.arange(n)
    denom = fwd[n_items, score, rows] @ weights
    # aligned[m, v, b] = f over the last m items of b's form at score_b - v (0 below 0)
    t = score[None, :] - np.arange(fwd.shape[1])[:, None]
    aligned = lord_wingersky_steps(p[::-1], max_score)[:, np.maximum(t, 0), rows]
    aligned *= (t >= 0)[None, :, :, None]
    out = np.empty((n, n_items, k))
    for pos in range(n_items):
        top = min(pos * (k - 1), cap)  # highest score of the items before this one
        head = fwd[pos, : top + 1] * weights  # (U, B, Q)
        tail = aligned[n_items - pos - 1]  # the items after this one
        out[:, pos] = 0.0
        for x in range(min(k, cap + 1)):
            if not p[pos, x].any():
                continue  # nobody's item here has category x
            hi = min(x + top + 1, cap + 1)
            rest = (head[: hi - x] * tail[x:hi]).sum(axis=0)  # f_{-l}(score - x) g
            out[:, pos, x] = np.einsum("bq,bq->b", rest, p[pos, x])
    return out / denom[:, None, None]


def sx2_tables(calibration, person, item, category, n_persons, theta=None):
    """Observed and expected counts, and possible cells, per item, score and category.

    Persons with the same form (set of items) and score share their expectations, which
    are computed once.

    Parameters
    ----------
    calibration : Calibration
    person, item, category : ndarray of shape (n_responses,) of int
        Responses to items with usable parameters (person and item codes, model category).
    n_persons : int
    theta : ndarray of shape (Q,), optional
        Defaults to the calibration's quadrature nodes.

    Returns
    -------
    observed, expected : ndarray of shape (n_items, max_score + 1, max_categories)
    possible : ndarray of the same shape of bool
        Some contributing person could respond ``x`` with score ``s``.
    """
    cal = calibration
    theta = quad.grid(cal.quadrature) if theta is None else theta
    w = latent_weights(cal, theta)
    table = category_probs(cal, theta)
    k = table.shape[1]
    top_item = cal.n_categories - 1
    length = np.bincount(person, minlength=n_persons)
    # by form length, person, then items with fewer categories first: a chunk of forms
    # with equal highest scores then has items of equal categories at each position
    order = np.lexsort((item, top_item[item], person, length[person]))
    item, category = item[order], category[order]
    blocks = []
    for ell in np.unique(length[length > 0]):
        sl = slice(*np.searchsorted(length[person[order]], [ell, ell + 1]))
        blocks.append((item[sl].reshape(-1, ell), category[sl].reshape(-1, ell)))
    max_score = max((int(top_item[f].sum(axis=1).max()) for f, _ in blocks), default=0)
    shape = (cal.n_items, max_score + 1, k)
    tables = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool)
    for forms, y in blocks:
        score = y.sum(axis=1)
        key, inverse = np.unique(np.column_stack([score, forms]), axis=0, return_inverse=True)
        e = _expectations(table, key[:, 1:], key[:, 0], w, top_item)[inverse.reshape(-1)]
        _add_block(tables, forms, y, score, e, top_item)
    return tables


def _expectations(table, forms, score, w, top_item) -> np.ndarray:
    """``form_expectations`` over chunks of persons within the memory budget, forms
    ordered by their highest score so that each chunk's recursion stops early."""
    n, ell = forms.shape
    k, q = table.shape[1:]
    per_person = 8 * (ell + 1) * (ell * (k - 1) + 1) * q
    step = max(1, CHUNK_BYTES // per_person)
    form_max = top_item[forms].sum(axis=1)
    order = np.argsort(form_max, kind="stable")
    out = np.empty((n, ell, k))
    for lo in range(0, n, step):
        sel = order[lo : lo + step]
        cap = int(form_max[sel].max())
        out[sel] = form_expectations(table[forms[sel]], score[sel], w, cap)
    return out


def _add_block(tables, forms, y, score, e, top_item) -> None:
    """Add persons with forms of one length to the tables (pairs the score implies left out)."""
    obs, exp, poss = tables
    k = obs.shape[2]
    top = top_item[forms]  # (B, L) highest category of each item
    rest_max = top.sum(axis=1, keepdims=True) - top
    x = np.arange(k)
    s = score[:, None, None]
    possible = (x <= top[..., None]) & (s - x >= 0) & (s - x <= rest_max[..., None])
    informative = possible.sum(axis=2) > 1  # (B, L)
    j, r = forms[informative], np.broadcast_to(score[:, None], forms.shape)[informative]
    flat = (j * obs.shape[1] + r) * k
    size = obs.size
    obs.reshape(-1)[:] += np.bincount(flat + y[informative], minlength=size)
    cells = (flat[:, None] + x).ravel()
    exp.reshape(-1)[:] += np.bincount(cells, e[informative].ravel(), size)
    poss.reshape(-1)[np.bincount(cells, possible[informative].ravel(), size) > 0] = True


def collapse(obs: np.ndarray, exp: np.ndarray, poss: np.ndarray, mincell: float):
    """Merge adjacent score groups of one item until possible cells expect >= mincell.

    Parameters
    ----------
    obs, exp : ndarray of shape (n_groups, K)
        Counts per score group (rows without persons already removed).
    poss : ndarray of shape (n_groups, K) of bool
    mincell : float

    Returns
    -------
    obs, exp, poss : the collapsed tables
    """
    obs, exp, poss = obs.copy(), exp.copy(), poss.copy()
    while len(obs) > 1:
        low = np.any(poss & (exp < mincell), axis=1)
        if not low.any():
            break
        g = int(np.argmax(low))
        if g == 0:
            into = 1
        elif g == len(obs) - 1:
            into = g - 1
        else:
            into = g - 1 if obs[g - 1].sum() <= obs[g + 1].sum() else g + 1
        obs[into] += obs[g]
        exp[into] += exp[g]
        poss[into] |= poss[g]
        keep = np.arange(len(obs)) != g
        obs, exp, poss = obs[keep], exp[keep], poss[keep]
    return obs, exp, poss


def sx2_statistic(obs, exp, poss, n_parameters, mincell: float = 1.0) -> SX2:
    """S-X2, its degrees of freedom and p-value per item from the count tables.

    Parameters
    ----------
    obs, exp, poss : ndarray of shape (n_items, n_scores, K)
        From ``sx2_tables``.
    n_parameters : ndarray of shape (n_items,) of int
        Estimated parameters of each item (0 for fixed items).
    mincell : float
        Minimum expected count of a cell after collapsing (mirt's default 1).

    Returns
    -------
    SX2
    """
    n_items = obs.shape[0]
    x2, df = np.full(n_items, np.nan), np.full(n_items, np.nan)
    for i in range(n_items):
        rows = obs[i].sum(axis=1) > 0
        if not rows.any():
            continue
        o, e, m = collapse(obs[i][rows], exp[i][rows], poss[i][rows], mincell)
        with np.errstate(divide="ignore", invalid="ignore"):
            x2[i] = np.sum(np.where(m, (o - e) ** 2 / e, 0.0))
        df[i] = np.sum(m.sum(axis=1) - 1) - n_parameters[i]
    p = np.full(n_items, np.nan)
    ok = np.isfinite(x2) & (df > 0)
    p[ok] = chi2.sf(x2[ok], df[ok])
    return SX2(x2, df, p)


def n_parameters(calibration) -> np.ndarray:
    """Estimated parameters per item: K - 1 (Rasch), 2 (2PL), K (graded); 0 when fixed."""
    cal = calibration
    k = cal.n_categories
    n = np.where(cal.model == "rasch", k - 1, np.where(cal.model == "2pl", 2, k))
    return np.where(cal.fixed, 0, n).astype(np.int64)


def sx2(calibration, person, item, category, n_persons, mincell: float = 1.0) -> SX2:
    """S-X2 per item of a calibration on coded responses (see the module docstring)."""
    tables = sx2_tables(calibration, person, item, category, n_persons)
    return sx2_statistic(*tables, n_parameters(calibration), mincell)
