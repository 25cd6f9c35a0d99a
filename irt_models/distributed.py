"""calibrate() over persons split into partitions: the E-step runs where the data lives.

The Bock-Aitkin E-step is a sum over persons: each person's posterior over the quadrature
nodes adds to the expected counts per (item, category) and node, to the node masses (per
group with multiple groups: the posterior moments the group M-step needs) and to the
log-likelihood. Split the persons into partitions (every person's responses in one
partition), compute each partition's sums where its responses are (``partition_statistics``),
add them up, and the M-step, SQUAREM and the convergence test run once on the driver exactly
as in ``calibrate``: the same ``em.run_em`` with the summed E-step in place of the in-memory
one. The iterates are those of ``calibrate`` up to the order of floating-point additions
(about 1e-12), so the estimates agree far below ``tol``.

What the driver needs from the whole data before EM is small: the distinct (item, response
value) pairs with their numbers and the persons per group (``Summary``; ``summarise`` and
``Summary.merge`` in numpy, a GROUP BY on a cluster). From it ``make_plan`` builds the item
universe, the item status and the (item, category) table with the steps of ``calibrate``;
each partition maps its responses to table rows with it (``partition_design``). The final
pass (log-likelihood, item fit, cross-product information) is summed over partitions the same
way (``partition_final``).

A backend holds the partitions: ``prepare(plan)`` builds each partition's design and
``total(fn, *args)`` returns the sum over partitions of ``fn(design, *args)`` (tuples added
element by element). ``LocalPartitions`` is the in-process one; ``orchestration.spark.irt``
has the Spark one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import quadrature as quad
from .bank import ResponseLayout, response_rows
from .calibrate import (
    DEFAULT_PRIOR,
    MIN_RESPONSES,
    EMFit,
    fit_with_fallback,
    item_bank,
    starting_state,
)
from .data import Coded, as_labels, long_format
from .em import items_by_categories, run_em
from .estep import Design, estep, group_order
from .final_pass import (
    FinalPass,
    final_terms,
    information_covariances,
    latent_scores,
    parameter_slots,
)
from .fit import fit_sums, mean_squares_of
from .groups import MIN_GROUP_PERSONS, PersonGroups, person_groups
from .information import choose_method
from .mstep import ItemPrior
from .results import Calibration
from .validation import check_calibrate_options, parameters_from


@dataclass(frozen=True)
class Summary:
    """The whole data as the plan needs it.

    Attributes
    ----------
    item, value, count : ndarray of shape (n_pairs,)
        Distinct (item label, response value) pairs and their numbers of responses.
    n_persons : int
    groups, group_n : ndarray of shape (n_groups,) or None
        Group labels (sorted) and persons per group; None without groups.
    """

    item: np.ndarray
    value: np.ndarray
    count: np.ndarray
    n_persons: int
    groups: np.ndarray | None = None
    group_n: np.ndarray | None = None

    @staticmethod
    def merge(parts: list[Summary]) -> Summary:
        """The summary of the union of partitions that share no person."""
        item = np.concatenate([p.item for p in parts])
        value = np.concatenate([p.value for p in parts])
        count = np.concatenate([p.count for p in parts])
        labels, code = np.unique(item, return_inverse=True)
        top = int(value.max()) + 1
        keys, inverse = np.unique(code * top + value, return_inverse=True)
        n_persons = sum(p.n_persons for p in parts)
        pair = (labels[keys // top], keys % top, np.bincount(inverse, count).astype(np.int64))
        if parts[0].groups is None:
            return Summary(*pair, n_persons)
        groups, gcode = np.unique(np.concatenate([p.groups for p in parts]), return_inverse=True)
        group_n = np.bincount(gcode, np.concatenate([p.group_n for p in parts]))
        return Summary(*pair, n_persons, groups, group_n.astype(np.int64))


def summarise(persons, items, responses, groups=None) -> Summary:
    """The Summary of long-format responses (as ``calibrate`` takes them)."""
    p, i, r = long_format(persons, items, responses)
    person_labels, person = np.unique(p, return_inverse=True)
    labels, code = np.unique(i, return_inverse=True)
    top = int(r.max()) + 1 if len(r) else 1
    keys, count = np.unique(code * top + r, return_counts=True)
    pair = (labels[keys // top], keys % top, count.astype(np.int64))
    if groups is None:
        return Summary(*pair, len(person_labels))
    g = person_groups(groups, person, len(person_labels))
    return Summary(*pair, len(person_labels), g.labels, g.n)


@dataclass(frozen=True)
class Plan:
    """What every partition needs to lay out its responses, and the driver to run EM.

    ``layout`` is the ResponseLayout of the whole data without a design; ``pair_key`` (sorted)
    is ``universe position * top + value`` of each distinct pair and ``pair_row`` its row of
    the (item, category) table (-1: the item is left out). ``groups`` are the person groups
    with ``person`` left empty; ``multi``: they have latent moments of their own.
    """

    bank: object
    layout: ResponseLayout
    pair_key: np.ndarray
    pair_row: np.ndarray
    top: int
    groups: PersonGroups | None
    multi: bool
    n_nodes: int
    n_jobs: int | None


def make_plan(summary: Summary, model, n_categories, fixed, min_responses, pool, n_nodes, n_jobs):
    """The Plan of ``calibrate``'s steps 2-3 on a Summary (``pool``: one population)."""
    labels, code = np.unique(summary.item, return_inverse=True)
    coded = Coded(np.zeros(1), labels, np.zeros(len(code), np.int32), code, summary.value)
    bank, item, response, observed = item_bank(
        coded, model, n_categories, fixed, min_responses, summary.count
    )
    included, n_categories, row_offset, n_rows, use, row = response_rows(
        item, response, observed, bank.status
    )
    row_item = np.repeat(np.arange(len(included)), n_categories)
    row_counts = np.bincount(row, summary.count[use], n_rows).astype(float)
    answered = np.zeros(len(included), dtype=bool)
    answered[row_item[row_counts > 0]] = True
    layout = ResponseLayout(
        None, included, n_categories, row_offset, n_rows, row_item, row_counts, answered
    )
    top = int(summary.value.max()) + 1
    key = item.astype(np.int64) * top + summary.value
    pair_row = np.full(len(key), -1, dtype=np.int64)
    pair_row[use] = row
    order = np.argsort(key)
    groups, multi = None, False
    if summary.groups is not None:
        own = (summary.group_n >= MIN_GROUP_PERSONS) & (not pool)
        groups = PersonGroups(summary.groups, np.zeros(0, np.int64), summary.group_n, own)
        multi = int(own.sum()) > 1
    return Plan(bank, layout, key[order], pair_row[order], top, groups, multi, n_nodes, n_jobs)


def partition_design(plan: Plan, persons, items, responses, groups=None) -> Design:
    """One partition's responses as an E-step design on the plan's (item, category) table.

    Persons get partition-local codes; with multiple groups each group is a run of persons
    coded with its global group code, so node masses add up across partitions.
    """
    p, i, r = long_format(persons, items, responses)
    person_labels, person = np.unique(p, return_inverse=True)
    labels = plan.bank.labels
    position = np.minimum(np.searchsorted(labels, i), len(labels) - 1)
    key = position.astype(np.int64) * plan.top + r
    found = np.minimum(np.searchsorted(plan.pair_key, key), len(plan.pair_key) - 1)
    if np.any(labels[position] != i) or np.any(plan.pair_key[found] != key):
        raise ValueError("responses: an (item, response) pair that the summary does not have")
    row = plan.pair_row[found]
    use = row >= 0
    n, n_rows = len(person_labels), plan.layout.n_rows
    if not plan.multi:
        return Design(person[use], row[use], n, n_rows, plan.n_nodes, plan.n_jobs)
    code = np.searchsorted(plan.groups.labels, as_labels(groups, "groups"))
    local = person_groups(code, person, n)
    group = local.labels[local.person]
    new = group_order(group)
    run_group = np.sort(group, kind="stable")
    return Design(new[person[use]], row[use], n, n_rows, plan.n_nodes, plan.n_jobs, run_group)


def partition_statistics(design: Design, log_table: np.ndarray, log_prior: np.ndarray):
    """One partition's E-step sufficient statistics at the current parameters.

    ``log_table`` is log P(category | node) per (item, category) row, ``log_prior`` the log
    latent weights per node (per group with multiple groups). Returns ``(loglik, counts,
    node_mass)``: the log-likelihood, the expected counts per (item, category) row and node,
    and the expected persons per node (per group: their posterior moments); sums over
    partitions are the whole data's E-step (``estep.estep``).
    """
    return estep(design, log_table, log_prior)


def partition_final(design: Design, plan: Plan, state, all_items, nodes, method):
    """One partition's part of the final pass: ``(loglik, fit_sums, information)``.

    ``method`` assembles the information (``information.Accumulator``); None: no standard
    errors (the information part is then 0).
    """
    layout = dataclasses.replace(plan.layout, design=design)
    parts, scores = final_terms(layout, state, all_items, nodes, method is not None, method)
    loglik = float(sum(p["ll"] for p in parts))
    terms = [np.concatenate([p[name] for p in parts]) for name in ("sq", "var", "item")]
    sums = fit_sums(*terms, len(state.a))
    info = 0.0 if scores is None else scores.information(parts, design)[1]
    return loglik, sums, info


def add(x, y):
    """Element-wise sum of nested tuples of arrays and numbers (partition statistics)."""
    if isinstance(x, tuple):
        return tuple(add(a, b) for a, b in zip(x, y, strict=True))
    return x + y


class LocalPartitions:
    """Partitions held in this process: a list of ``(persons, items, responses, groups)``."""

    def __init__(self, parts):
        self.parts = list(parts)
        self.designs: list[Design] = []

    def summary(self) -> Summary:
        return Summary.merge([summarise(*part) for part in self.parts])

    def prepare(self, plan: Plan) -> None:
        self.designs = [partition_design(plan, *part) for part in self.parts]

    def total(self, fn, *args):
        out = None
        for design in self.designs:
            value = fn(design, *args)
            out = value if out is None else add(out, value)
        return out


def calibrate_partitioned(
    partitions,
    summary: Summary | None = None,
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
) -> Calibration:
    """``calibrate`` with the persons in partitions; the same arguments and result.

    ``partitions`` is a backend (``LocalPartitions``, or the Spark one); ``summary`` its
    Summary (computed through the backend when None); groups come with the partitions'
    responses and the summary. The E-step and the final pass are sums over the partitions;
    the M-step and SQUAREM run here, on the summed statistics, as in ``calibrate``, so the
    estimates equal ``calibrate``'s up to the order of additions. One difference: the
    information is assembled in full (``"dense"`` or ``"sparse"``) where ``calibrate``
    falls back to within-item blocks because persons touch too many parameters.
    """
    check_calibrate_options(quadrature, tol, max_iter, min_responses, prior)
    summary = partitions.summary() if summary is None else summary
    nodes = quad.grid(quadrature)
    fixed, start = parameters_from(fixed_items, "fixed_items"), parameters_from(init, "init")
    plans: list[Plan] = []

    def summed_estep(_design, log_table, log_prior):
        return partitions.total(partition_statistics, log_table, log_prior)

    def fit(pool_groups: bool) -> EMFit:
        plan = make_plan(
            summary, model, n_categories, fixed, min_responses, pool_groups, len(nodes), n_jobs
        )
        plans.append(plan)
        layout = plan.layout
        multi_groups = plan.groups if plan.multi else None
        state = starting_state(plan.bank, layout, fixed, start, fixed_items, init, multi_groups)
        every = np.ones(len(layout.included), dtype=bool)
        all_items = items_by_categories(layout.n_categories, layout.row_offset, every)
        partitions.prepare(plan)
        run = run_em(state, layout, all_items, nodes, prior, tol, max_iter, summed_estep)
        return EMFit(
            plan.bank, layout, state, all_items, *run, summary.n_persons, plan.groups, plan.multi
        )

    em = fit_with_fallback(fit, tol, max_iter)
    final = _final_pass(partitions, plans[-1], em, nodes, se, prior)
    return em.result(final, quadrature)


def _final_pass(partitions, plan: Plan, em: EMFit, nodes, se: bool, prior) -> FinalPass:
    """``final_pass.final_pass`` as a sum over the partitions."""
    state = em.state
    method = None
    if se:
        _, n_params = parameter_slots(state)
        n_latent = latent_scores(state, nodes, state.log_prior(nodes))[0].shape[1]
        method = choose_method(em.n_persons, n_params + n_latent, None)
    loglik, sums, info = partitions.total(partition_final, plan, state, em.all_items, nodes, method)
    infit, outfit = mean_squares_of(sums)
    cov = None
    if se:
        kind = "block" if method == "block" else "full"
        cov = information_covariances(state, kind, info, prior)
    return FinalPass(loglik, infit, outfit, cov)
