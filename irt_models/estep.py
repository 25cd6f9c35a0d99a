"""The E-step as sparse x dense matrix products over person blocks.

Each observed response is a 1 in a persons x (item, category) indicator matrix ``S``. With
``logT[(item, category), q] = log P(category | theta_q)``, the log-likelihood of every
person at every node is ``S @ logT`` (persons x Q), and the expected counts the M-step
needs are ``S.T @ posterior`` ((item, category) x Q). Persons are cut into blocks so that a
block's dense (rows x Q) arrays stay small; a block that is dense enough (a fixed test form)
is stored as a dense indicator block and multiplied with BLAS, a sparse block stays CSR.
No persons x items matrix is ever built. Blocks run on a thread pool: scipy's sparse
products, BLAS and numpy's ufuncs release the GIL.

With several latent populations (multiple-group calibration, or scoring with group
priors) the log-prior is an (n_groups, Q) table; persons are coded so that each group is a
contiguous run, and a block adds each group's row to its run of persons in place, so no
persons x Q prior is ever built.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

BLOCK_BYTES = 16 * 2**20  # dense (rows x Q) float64 work array per block
DENSE_BLOCK_BYTES = 64 * 2**20  # largest dense indicator block
# Blocks at least this dense are multiplied as dense indicator blocks with BLAS. Sparse
# products cost in proportion to the responses, dense ones to persons x rows: at M size (skills
# of 100-140 items, 5-6% dense) the E-steps of a 1.4M-response skill took 14.6 s dense and
# 2.5 s sparse; on 30,000 x 300 blocks the two break even near a density of 0.1.
DENSE_MIN_DENSITY = 0.15


@dataclass
class Block:
    start: int
    stop: int
    S: object  # CSR matrix or dense ndarray (rows x M)
    ST: object  # CSR transpose, or None for dense blocks
    runs: tuple | None = None  # (group codes, starts, stops) of the block's group runs

    @property
    def dense(self) -> bool:
        return isinstance(self.S, np.ndarray)


class Design:
    """Persons x (item, category) indicator matrix cut into person blocks.

    Parameters
    ----------
    person : ndarray of shape (n_responses,)
        Person codes 0..n_persons-1.
    row : ndarray of shape (n_responses,)
        Row of the (item, category) table for each response.
    n_persons : int
    n_rows : int
        Number of (item, category) rows.
    n_quad : int
        Number of quadrature nodes (sizes the blocks).
    n_jobs : int, optional
        Worker threads; defaults to the number of CPUs.
    group : ndarray of shape (n_persons,), optional
        Latent-population code of each person (0..n_groups-1), best sorted so that each
        group is one run of persons (see ``group_order``).
    """

    def __init__(self, person, row, n_persons, n_rows, n_quad, n_jobs=None, group=None):
        self.n_persons = int(n_persons)
        self.n_rows = int(n_rows)
        self.n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
        # by person, then row: one int64 key sorts several times faster than np.lexsort
        order = np.argsort(person.astype(np.int64) * max(1, self.n_rows) + row)
        person = person[order]
        cols = row[order].astype(np.int32)
        counts = np.bincount(person, minlength=self.n_persons)
        indptr = np.zeros(self.n_persons + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        del order, person
        self.indptr = indptr
        self.cols = cols
        self._ones = np.ones(len(cols))
        self.group = None if group is None else np.asarray(group, dtype=np.int64)
        rows_per_block = max(256, BLOCK_BYTES // (8 * max(n_quad, 1)))
        nnz_per_block = 4 * rows_per_block * 16
        density = len(cols) / max(1, self.n_persons * self.n_rows)
        if density >= DENSE_MIN_DENSITY:
            # a fixed form: dense indicator blocks multiplied with BLAS
            rows_per_block = max(64, min(rows_per_block, DENSE_BLOCK_BYTES // (8 * self.n_rows)))
            nnz_per_block = rows_per_block * self.n_rows
        self.blocks: list[Block] = []
        start = 0
        while start < self.n_persons:
            stop = min(self.n_persons, start + rows_per_block)
            # keep sparse blocks bounded in non-zeros as well
            hi = np.searchsorted(indptr, indptr[start] + nnz_per_block, side="right") - 1
            stop = max(start + 1, min(stop, hi))
            self.blocks.append(self._make_block(start, stop))
            start = stop

    def _make_block(self, start: int, stop: int) -> Block:
        a, b = self.indptr[start], self.indptr[stop]
        ptr = (self.indptr[start : stop + 1] - a).astype(np.int64)
        nrow = stop - start
        S = sp.csr_matrix(
            (self._ones[a:b], self.cols[a:b], ptr), shape=(nrow, self.n_rows), copy=False
        )
        density = (b - a) / max(1, nrow * self.n_rows)
        runs = None
        if self.group is not None:
            g = self.group[start:stop]
            starts = np.concatenate([[0], np.flatnonzero(np.diff(g)) + 1])
            stops = np.append(starts[1:], nrow)
            runs = (g[starts], starts, stops)
        if density >= DENSE_MIN_DENSITY and nrow * self.n_rows * 8 <= DENSE_BLOCK_BYTES:
            return Block(start, stop, np.ascontiguousarray(S.toarray()), None, runs)
        return Block(start, stop, S, S.T.tocsr(), runs)

    @property
    def workers(self) -> int:
        # dense blocks go through BLAS, which has its own threads: no second layer
        if any(b.dense for b in self.blocks):
            return 1
        return min(self.n_jobs, len(self.blocks))

    def map(self, fn):
        """Apply ``fn(block)`` to every block on the thread pool; returns the results."""
        if self.workers == 1:
            return [fn(b) for b in self.blocks]
        with ThreadPoolExecutor(self.workers) as ex:
            return list(ex.map(fn, self.blocks))

    def reduce(self, fn):
        """Apply ``fn(block, acc)`` over blocks, one accumulator per worker; returns the list."""
        groups = [self.blocks[i :: self.workers] for i in range(self.workers)]
        groups = [g for g in groups if g]

        def run(group):
            acc: dict = {}
            for blk in group:
                fn(blk, acc)
            return acc

        if len(groups) == 1:
            return [run(groups[0])]
        with ThreadPoolExecutor(len(groups)) as ex:
            return list(ex.map(run, groups))


def group_order(group: np.ndarray) -> np.ndarray:
    """New person codes that make each group a contiguous run (stable within a group).

    Parameters
    ----------
    group : ndarray of shape (n_persons,)
        Group code of each person.

    Returns
    -------
    ndarray of shape (n_persons,)
        ``new[p]`` is person ``p``'s new code; ``group[np.argsort(new)]`` is sorted.
    """
    order = np.argsort(group, kind="stable")
    new = np.empty(len(group), dtype=np.int64)
    new[order] = np.arange(len(group))
    return new


def add_log_prior(block: Block, L: np.ndarray, log_prior: np.ndarray) -> None:
    """Add the log-prior to a block's (rows, Q) log-likelihoods in place.

    ``log_prior`` is one row of shape (Q,) for everybody, or an (n_groups, Q) table whose
    row for each person's group is added run by run.
    """
    if log_prior.ndim == 1:
        L += log_prior[None, :]
        return
    for g, s, e in zip(*block.runs, strict=True):
        L[s:e] += log_prior[g]


def block_posterior(block: Block, logT: np.ndarray, log_prior: np.ndarray):
    """Posterior over the nodes for the persons of one block.

    ``log_prior`` has shape (Q,), or (n_groups, Q) for a design with person groups.

    Returns
    -------
    post : ndarray of shape (rows, Q)
    logp : ndarray of shape (rows,)
        Marginal log-likelihood of each person.
    """
    L = block.S @ logT
    add_log_prior(block, L, log_prior)
    m = L.max(axis=1, keepdims=True)
    L -= m
    np.exp(L, out=L)
    s = L.sum(axis=1, keepdims=True)
    L /= s
    return L, (np.log(s) + m)[:, 0]


def estep(design: Design, logT: np.ndarray, log_prior: np.ndarray):
    """Expected counts and marginal log-likelihood.

    Parameters
    ----------
    design : Design
    logT : ndarray of shape (n_rows, Q)
        Log category probabilities at the nodes.
    log_prior : ndarray of shape (Q,) or (n_groups, Q)
        Log latent weights at the nodes, for everybody or per person group.

    Returns
    -------
    loglik : float
    counts : ndarray of shape (n_rows, Q)
        Expected number of responses in each (item, category) at each node.
    node_mass : ndarray of shape (Q,) or (n_groups, Q)
        Expected number of persons at each node (per group for a table of priors).
    """
    Q = logT.shape[1]

    def node_mass(blk, post):
        if log_prior.ndim == 1:
            return post.sum(axis=0)
        n = np.zeros(log_prior.shape)
        for g, s, e in zip(*blk.runs, strict=True):
            n[g] += post[s:e].sum(axis=0)
        return n

    def fn(blk: Block, acc: dict) -> None:
        post, logp = block_posterior(blk, logT, log_prior)
        r = blk.S.T @ post if blk.dense else blk.ST @ post
        if "r" in acc:
            acc["r"] += r
            acc["n"] += node_mass(blk, post)
            acc["ll"] += logp.sum()
        else:
            acc["r"] = np.asarray(r)
            acc["n"] = node_mass(blk, post)
            acc["ll"] = logp.sum()

    parts = design.reduce(fn)
    counts = np.zeros((design.n_rows, Q))
    mass = np.zeros(log_prior.shape)
    ll = 0.0
    for acc in parts:
        counts += acc["r"]
        mass += acc["n"]
        ll += acc["ll"]
    return float(ll), counts, mass
