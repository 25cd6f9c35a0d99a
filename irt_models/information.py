"""Standard errors from the cross-product (empirical) information.

By Fisher's identity, person ``p``'s score for the marginal likelihood is the posterior
expectation of the complete-data score, ``g_p = E[d log f(y_p, theta) / d psi | y_p]``, and
the information is estimated by ``sum_p g_p g_p'`` (mirt ``SE.type = "crossprod"``). The
item priors add their precision. The matrix is assembled in one of three ways, chosen by
cost:

- ``"dense"``: person blocks of ``g`` as dense arrays and BLAS cross-products;
- ``"sparse"``: ``g`` as a sparse persons x parameters matrix and ``G.T @ G``;
- ``"block"``: only the within-item blocks, for very large banks. Cross-item covariance is
  then ignored, which understates standard errors slightly.

References
----------
Bock, R. D., & Lieberman, M. (1970). Fitting a response model for n dichotomously scored
items. Psychometrika, 35, 179-197.
Chalmers, R. P. (2012). mirt: A multidimensional item response theory package for the R
environment. Journal of Statistical Software, 48(6).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from .models import probs_and_derivatives

DENSE_COST = 4e10  # persons * n_params^2 multiply-adds
SPARSE_COST = 3e9  # sum over persons of (parameters touched)^2
# A sparse cross-product costs about this many dense (BLAS) multiply-adds per product of two
# touched parameters: "dense" is chosen only while it does less work than that. At M size a
# skill of 77,760 persons, 320 parameters and 40 touched per person (density 0.06) took
# 12.5 s dense and 5.0 s sparse (2 shared cores).
SPARSE_OVER_DENSE = 20.0
MAX_FULL_PARAMS = 6000
DENSE_ENTRIES = 1 << 22  # persons x parameters per dense block of scores


def node_scores(a, d, groups, theta, n_rows, kmax):
    """Complete-data scores d log P(category | theta_q) / d(a, d_1, ..) per (item, category).

    Returns
    -------
    ndarray of shape (n_rows, kmax, Q)
    """
    V = np.zeros((n_rows, kmax, len(theta)))
    for k, (idx, rows) in groups.items():
        P, dP = probs_and_derivatives(a[idx], d[idx, : k - 1], theta)
        V[rows, :k, :] = np.moveaxis(dP / np.maximum(P, 1e-300)[..., None], 3, 2)
    return V


def choose_method(n_persons: int, n_params: int, touched_sq_sum: float | None) -> str:
    """The method ("dense", "sparse" or "block") by cost; ``touched_sq_sum`` (the sum over
    persons of the squared number of parameters they touch) None when unknown: dense
    whenever affordable."""
    dense_cost = n_persons * n_params**2
    cheaper_sparse = touched_sq_sum is not None and (
        touched_sq_sum * SPARSE_OVER_DENSE < dense_cost and touched_sq_sum <= SPARSE_COST
    )
    if n_params <= MAX_FULL_PARAMS and dense_cost <= DENSE_COST and not cheaper_sparse:
        return "dense"
    if n_params <= MAX_FULL_PARAMS and (touched_sq_sum or 0.0) <= SPARSE_COST:
        return "sparse"
    return "block"


class Accumulator:
    """Collects person scores block by block and assembles the information.

    Parameters
    ----------
    method : {"dense", "sparse", "block"}
    slot_index : ndarray of shape (n_items, kmax) of int
        Global parameter index of each item slot (slope, intercepts), -1 if not estimated.
    row_item : ndarray of shape (n_rows,)
        Item of each (item, category) row.
    n_params : int
        Number of item parameters.
    n_latent : int
        Number of estimated latent parameters (columns after the item parameters).
    """

    def __init__(self, method, slot_index, row_item, n_params, n_latent):
        self.method = method
        self.slot_index = slot_index
        self.row_item = row_item
        self.n_params = n_params
        self.n_latent = n_latent
        self.n = n_params + n_latent

    def block(self, rows, person_local, row, vals, latent):
        """Contribution of one person block.

        Parameters
        ----------
        rows : int
            Persons in the block.
        person_local : ndarray of shape (m,)
            Person (within the block) of each response.
        row : ndarray of shape (m,)
            (item, category) row of each response.
        vals : ndarray of shape (m, kmax)
            Posterior expected score of each response for each item slot.
        latent : ndarray of shape (rows, n_latent)
        """
        item = self.row_item[row]
        if self.method == "block":
            kmax = vals.shape[1]
            n_items = self.slot_index.shape[0]
            out = np.zeros((n_items, kmax, kmax))
            for t in range(kmax):
                for s in range(t, kmax):
                    out[:, t, s] = np.bincount(item, vals[:, t] * vals[:, s], n_items)
                    out[:, s, t] = out[:, t, s]
            return out, latent.T @ latent
        pidx = self.slot_index[item]
        ok = pidx >= 0
        pl = np.broadcast_to(person_local[:, None], pidx.shape)[ok].astype(np.int32)
        pi, v = pidx[ok].astype(np.int32), vals[ok]
        if self.method == "dense":
            out = np.zeros((self.n, self.n))
            step = max(1, DENSE_ENTRIES // self.n)
            for lo in range(0, rows, step):
                hi = min(rows, lo + step)
                a, b = np.searchsorted(pl, [lo, hi])
                G = np.bincount(
                    (pl[a:b] - lo) * self.n + pi[a:b], v[a:b], (hi - lo) * self.n
                ).reshape(hi - lo, self.n)
                if self.n_latent:
                    G[:, self.n_params :] = latent[lo:hi]
                out += G.T @ G
            return out
        return pl, pi, v, latent

    def finish(self, parts, block_starts, n_persons):
        """Returns ("full", matrix) or ("block", (per-item matrices, latent matrix))."""
        if self.method == "dense":
            return "full", sum(parts)
        if self.method == "block":
            items = sum(p[0] for p in parts)
            lat = sum(p[1] for p in parts)
            return "block", (items, lat)
        rr, cc, vv, lat = [], [], [], []
        for (pl, pi, v, latent), start in zip(parts, block_starts, strict=True):
            rr.append((pl + start).astype(np.int32 if n_persons < 2**31 else np.int64))
            cc.append(pi)
            vv.append(v)
            lat.append(latent)
        G = sp.csr_matrix(
            (np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))),
            shape=(n_persons, self.n_params),
        )
        del rr, cc, vv
        info = np.zeros((self.n, self.n))
        step = max(1, n_persons // 8)
        for lo in range(0, n_persons, step):
            Gc = G[lo : lo + step]
            info[: self.n_params, : self.n_params] += (Gc.T @ Gc).toarray()
        if self.n_latent:
            L = np.concatenate(lat, axis=0)
            cross = np.asarray(G.T @ L)
            info[: self.n_params, self.n_params :] = cross
            info[self.n_params :, : self.n_params] = cross.T
            info[self.n_params :, self.n_params :] = L.T @ L
        return "full", info


def item_covariances(kind, info, slot_index, prior_precision):
    """Covariance of each item's (slope, intercepts) slots.

    Parameters
    ----------
    kind : {"full", "block"}
    info : ndarray or tuple
        From ``Accumulator.finish``.
    slot_index : ndarray of shape (n_items, kmax)
    prior_precision : ndarray of shape (n_params,)

    Returns
    -------
    ndarray of shape (n_items, kmax, kmax)
        NaN where a slot is not estimated.
    """
    n_items, kmax = slot_index.shape
    cov = np.full((n_items, kmax, kmax), np.nan)
    n_params = len(prior_precision)
    if kind == "full":
        M = info.copy()
        M[np.arange(n_params), np.arange(n_params)] += prior_precision
        S = _inverse(M)
        ok = slot_index >= 0
        for t in range(kmax):
            for s in range(kmax):
                both = ok[:, t] & ok[:, s]
                cov[both, t, s] = S[slot_index[both, t], slot_index[both, s]]
        return cov
    per_item, _ = info
    for j in range(n_items):
        slots = np.nonzero(slot_index[j] >= 0)[0]
        if slots.size == 0:
            continue
        M = per_item[j][np.ix_(slots, slots)].copy()
        M[np.arange(len(slots)), np.arange(len(slots))] += prior_precision[slot_index[j, slots]]
        cov[j][np.ix_(slots, slots)] = _inverse(M)
    return cov


def _inverse(M: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix (Cholesky), pseudo-inverse otherwise."""
    c, info = lapack.dpotrf(M, lower=1)
    if info == 0:
        S, info = lapack.dpotri(c, lower=1)
        if info == 0:
            S = np.tril(S) + np.tril(S, -1).T
            if np.all(np.isfinite(S)) and np.all(np.diag(S) > 0):
                return S
    if not np.all(np.isfinite(M)):
        # An item or latent parameter at a degenerate optimum (e.g. a slope near 0 with an
        # unbounded intercept): its standard errors are unknown, not an error of the fit.
        return np.full_like(M, np.nan)
    try:
        S = np.linalg.pinv(M)
    except np.linalg.LinAlgError:
        return np.full_like(M, np.nan)
    d = np.diag(S).copy()
    d[d <= 0] = np.nan
    S[np.arange(len(d)), np.arange(len(d))] = d
    return S
