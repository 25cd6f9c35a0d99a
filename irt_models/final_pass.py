"""After EM, one more pass over the persons: log-likelihood, item fit, standard errors.

Per block of persons the pass computes the posterior over the nodes once and uses it three
times: for the marginal log-likelihood, for the EAPs at which item fit is measured
(``fit.residual_terms``), and, with ``se=True``, for the persons' scores that the
cross-product information is built from (``information.Accumulator``). Item standard
errors of the thresholds follow from those of the intercepts by the delta method
(``threshold_standard_errors``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .bank import ResponseLayout
from .em import EMState, ItemsByCategories, item_log_table
from .estep import block_posterior
from .fit import mean_squares, residual_terms
from .information import Accumulator, choose_method, item_covariances, node_scores
from .mstep import ItemPrior

# (item, category) scores are gathered in chunks of this many responses in sparse blocks
SCORE_CHUNK = 65536


class FinalPass(NamedTuple):
    """Per included item: fit, and with standard errors the parameter covariances.

    ``cov`` is (n_included, max_categories, max_categories) over (a, d_1, ...) or None.
    """

    loglik: float
    infit: np.ndarray
    outfit: np.ndarray
    cov: np.ndarray | None


def final_pass(
    layout: ResponseLayout,
    state: EMState,
    all_items: ItemsByCategories,
    nodes: np.ndarray,
    se: bool,
    prior: ItemPrior | None,
) -> FinalPass:
    """Log-likelihood, item fit at EAPs and (optionally) the information, in one pass."""
    parts, scores = final_terms(layout, state, all_items, nodes, se)
    loglik = float(sum(p["ll"] for p in parts))
    sq = np.concatenate([p["sq"] for p in parts])
    vv = np.concatenate([p["var"] for p in parts])
    items = np.concatenate([p["item"] for p in parts])
    infit, outfit = mean_squares(sq, vv, items, len(state.a))
    cov = None
    if scores is not None:
        kind, info = scores.information(parts, layout.design)
        cov = information_covariances(state, kind, info, prior)
    return FinalPass(loglik, infit, outfit, cov)


def final_terms(layout, state, all_items, nodes, se: bool, method: str | None = None):
    """The final pass over the blocks of the layout's design, before anything is summed.

    Returns ``(parts, scores)``: per block a dict with the log-likelihood ``"ll"``, the
    response-level fit terms ``"sq"``, ``"var"``, ``"item"`` and, with ``se``, the block's
    information part ``"info"``; ``scores`` is the ``_PersonScores`` (None without ``se``),
    assembling the information with ``method`` (chosen by cost when None).
    """
    design, n_rows, row_item = layout.design, layout.n_rows, layout.row_item
    log_table = item_log_table(state.a, state.d, all_items, nodes, n_rows)
    log_prior = state.log_prior(nodes)
    intercepts = np.where(np.isfinite(state.d), state.d, -np.inf)
    row_category = np.arange(n_rows) - np.repeat(layout.row_offset, layout.n_categories)
    scores = _PersonScores(layout, state, all_items, nodes, log_prior, method) if se else None

    def block(blk):
        post, logp = block_posterior(blk, log_table, log_prior)
        lo, hi = design.indptr[blk.start], design.indptr[blk.stop]
        cols = design.cols[lo:hi]
        local = np.repeat(
            np.arange(blk.stop - blk.start), np.diff(design.indptr[blk.start : blk.stop + 1])
        )
        eap = post @ nodes
        items = row_item[cols]
        sq, vv = residual_terms(
            state.a[items], intercepts[items], eap[local], row_category[cols].astype(float)
        )
        out = {"ll": logp.sum(), "sq": sq, "var": vv, "item": items}
        if scores is not None:
            out["info"] = scores.block(blk, post, local, cols)
        return out

    return design.map(block), scores


def parameter_slots(state: EMState) -> tuple[np.ndarray, int]:
    """Slot of each estimated item parameter (slope in column 0, intercepts after it; -1
    where not estimated), shape (n_included, max_categories), and their number."""
    n_included = len(state.a)
    slot_index = np.full((n_included, state.d.shape[1] + 1), -1, dtype=np.int64)
    slopes = state.slope_idx
    slot_index[slopes, 0] = np.arange(len(slopes))
    n_params = len(slopes)
    for k, (idx, _) in state.estimated.items():
        slot_index[idx, 1:k] = n_params + np.arange(len(idx) * (k - 1)).reshape(len(idx), k - 1)
        n_params += len(idx) * (k - 1)
    return slot_index, n_params


def information_covariances(state: EMState, kind, info, prior: ItemPrior | None):
    """Item parameter covariances from the assembled information plus the priors."""
    slot_index, n_params = parameter_slots(state)
    precision = _prior_precision(slot_index, n_params, prior)
    return item_covariances(kind, info, slot_index, precision)


class _PersonScores:
    """Persons' scores (Fisher's identity) for the cross-product information, by block."""

    def __init__(self, layout, state: EMState, all_items, nodes, log_prior, method=None):
        design, n_rows = layout.design, layout.n_rows
        self.max_categories = max_categories = state.d.shape[1] + 1
        slot_index, n_params = parameter_slots(state)
        self.latent, self.latent_group = latent_scores(state, nodes, log_prior)
        n_latent = self.latent.shape[1]
        if method is None:
            # parameters each person touches, for the choice of how to assemble the matrix
            per_person = np.diff(design.indptr)
            touched_rows = np.zeros(n_rows)
            touched_rows += (slot_index >= 0).sum(axis=1)[layout.row_item]
            touched = np.bincount(
                np.repeat(np.arange(design.n_persons), per_person),
                touched_rows[design.cols],
                minlength=design.n_persons,
            )
            method = choose_method(design.n_persons, n_params + n_latent, float(touched @ touched))
        self.accumulator = Accumulator(method, slot_index, layout.row_item, n_params, n_latent)
        self.node_scores = node_scores(state.a, state.d, all_items, nodes, n_rows, max_categories)
        self.node_scores_flat = self.node_scores.reshape(n_rows * max_categories, len(nodes))

    def information(self, parts, design):
        """The information assembled from the blocks' parts (``Accumulator.finish``)."""
        return self.accumulator.finish(
            [p["info"] for p in parts], [b.start for b in design.blocks], design.n_persons
        )

    def block(self, blk, post, local, cols):
        """The block's contribution to the information (``Accumulator.block``)."""
        n_rows = self.node_scores.shape[0]
        if blk.dense:
            expected = (post @ self.node_scores_flat.T).reshape(
                len(post), n_rows, self.max_categories
            )
            values = expected[local, cols]
        else:
            values = self.sparse_values(post, local, cols)
        latent = post @ self.latent
        if self.latent_group is not None:  # a person scores only their own group's moments
            codes, starts, stops = blk.runs
            latent *= np.repeat(codes, stops - starts)[:, None] == self.latent_group[None, :]
        return self.accumulator.block(blk.stop - blk.start, local, cols, values, latent)

    def sparse_values(self, post, local, cols) -> np.ndarray:
        """Posterior expected scores of each response, (responses, max_categories).

        Responses are taken (item, category) row by row: each row's (K, Q) scores multiply
        the posteriors of the persons who gave it, so no response copies a (K, Q) table. The
        product is einsum's own loop, not BLAS: blocks run on the design's threads, and
        multithreaded BLAS calls from each of them would oversubscribe the cores.
        """
        values = np.empty((len(cols), self.max_categories))
        order = np.argsort(cols, kind="stable")
        bounds = np.flatnonzero(np.diff(cols[order])) + 1
        for seg in np.split(order, bounds):
            for s in range(0, len(seg), SCORE_CHUNK):
                chunk = seg[s : s + SCORE_CHUNK]
                scores = self.node_scores[cols[chunk[0]]]
                values[chunk] = np.einsum("nq,tq->nt", post[local[chunk]], scores)
        return values


def _prior_precision(slot_index, n_params: int, prior: ItemPrior | None) -> np.ndarray:
    """Precision the item priors add to each parameter's information (0 without priors)."""
    precision = np.zeros(n_params)
    if prior is not None:
        for m in range(slot_index.shape[0]):
            for t in range(slot_index.shape[1]):
                g = slot_index[m, t]
                if g >= 0:
                    precision[g] = 1 / prior.slope_sd**2 if t == 0 else 1 / prior.intercept_sd**2
    return precision


def latent_scores(state: EMState, nodes, log_prior):
    """Complete-data scores of the estimated latent moments at the nodes, centred.

    Returns ``(scores, column_group)``: the (n_nodes, n_latent) scores and, with groups, the
    group of each column (None otherwise). With groups, the largest group's moments that the
    identification fixes (mean and variance for "scale", the mean for "shift") are held at
    their estimates, which pins the scale locally.
    """
    funcs, column_group = [], []

    def add(mean, var, weights, with_mean, with_variance, group):
        if with_mean:
            f = (nodes - mean) / var
            funcs.append(f - weights @ f)
            column_group.append(group)
        if with_variance:
            f = ((nodes - mean) ** 2 - var) / (2 * var**2)
            funcs.append(f - weights @ f)
            column_group.append(group)

    if state.person_groups is None:
        add(
            state.latent_mean,
            state.latent_var,
            np.exp(log_prior),
            state.mean_free,
            state.var_free,
            -1,
        )
        column_group = None
    else:
        own = state.own_groups
        pinned = own[np.argmax(state.person_groups.n[own])]
        for g in own:
            with_mean = state.identification == "none" or g != pinned
            with_variance = state.identification != "scale" or g != pinned
            weights = np.exp(log_prior[g])
            add(state.group_mean[g], state.group_var[g], weights, with_mean, with_variance, g)
        column_group = np.array(column_group, dtype=np.int64)
    scores = np.array(funcs).T if funcs else np.zeros((len(nodes), 0))
    return scores, column_group


def threshold_standard_errors(cov, a, d, n_categories, estimated, slope_free):
    """Standard errors of the thresholds ``b_k = -d_k / a`` and of their mean, by the delta
    method, and of the slope, for the estimated included items (NaN elsewhere).

    Returns (slope_se (n,), thresholds_se (n, max_categories - 1), difficulty_se (n,)) over
    the included items.
    """
    n_included = len(a)
    slope_se = np.full(n_included, np.nan)
    thresholds_se = np.full((n_included, d.shape[1]), np.nan)
    difficulty_se = np.full(n_included, np.nan)
    for m in np.nonzero(estimated)[0]:
        k = n_categories[m]
        if slope_free[m]:
            C = np.nan_to_num(cov[m, :k, :k])
        else:
            C = cov[m, :k, :k].copy()
            C[0, :] = 0.0
            C[:, 0] = 0.0
        # gradient of b_k with respect to (a, d_1..d_{k-1})
        J = np.zeros((k - 1, k))
        J[:, 0] = d[m, : k - 1] / a[m] ** 2
        J[np.arange(k - 1), np.arange(1, k)] = -1.0 / a[m]
        Cb = J @ C @ J.T
        thresholds_se[m, : k - 1] = np.sqrt(np.diag(Cb))
        w = np.full(k - 1, 1.0 / (k - 1))
        difficulty_se[m] = np.sqrt(w @ Cb @ w)
        if slope_free[m]:
            slope_se[m] = np.sqrt(cov[m, 0, 0])
    return slope_se, thresholds_se, difficulty_se
