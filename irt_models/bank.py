"""The items of a calibration and the layout of their responses, before EM.

The steps of ``calibrate`` up to the starting values, in order:

1. ``item_universe``: the data's items plus fixed items absent from the data;
2. ``observed_categories``: the response values each item has in the data;
3. ``item_status``: per item, fixed, fitted or left out (with the reason as a flag), and the
   model categories (the observed values of a free item; a fixed item keeps its own);
4. ``response_layout``: each response of an included item as a row of the (item, category)
   table, and the person-major ``Design`` the E-step runs over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Coded
from .estep import Design, group_order
from .groups import PersonGroups
from .results import model_categories
from .validation import ItemParameters


# -- 1. item universe ---------------------------------------------------------------------
def item_universe(coded: Coded, fixed: dict) -> tuple[np.ndarray, np.ndarray]:
    """Sorted item labels of the calibration, and the item (position) of each response."""
    labels = coded.item_labels
    if fixed:
        extra = [lab for lab in fixed if lab not in set(labels.tolist())]
        if extra:
            extra_labels = np.asarray(extra)
            if extra_labels.dtype.kind != labels.dtype.kind and not (
                extra_labels.dtype.kind in "iu" and labels.dtype.kind in "iu"
            ):
                raise ValueError(
                    "fixed_items: labels must be of the same type as items, got "
                    f"{extra_labels.dtype} and {labels.dtype}"
                )
            labels = np.unique(np.concatenate([labels, extra_labels]))
    item = np.searchsorted(labels, coded.item_labels)[coded.item]
    return labels, item


def fixed_item_categories(response, item, labels: list, fixed: dict) -> np.ndarray:
    """Responses with those of fixed items mapped to the items' model categories.

    A fixed item keeps the categories it was calibrated with: a response value it did not
    see then (below its lowest category, above its highest, between collapsed ones) is
    counted as scoring does (``model_categories``), so new data never breaks an anchor.
    """
    if not fixed:
        return response
    max_categories = max(len(p.categories) for p in fixed.values())
    values = np.full((len(labels), max_categories), -1, dtype=np.int64)
    is_fixed = np.zeros(len(labels), dtype=bool)
    for j, lab in enumerate(labels):
        if lab in fixed:
            is_fixed[j] = True
            cats = fixed[lab].categories
            values[j, : len(cats)] = cats
    on_fixed = is_fixed[item]
    if not on_fixed.any():
        return response
    mapped = response.copy()
    mapped[on_fixed] = model_categories(values, item[on_fixed], response[on_fixed])
    return mapped


# -- 2. observed categories ---------------------------------------------------------------
@dataclass(frozen=True)
class ObservedCategories:
    """The distinct (item, response value) pairs of the data, sorted by item and value.

    Attributes
    ----------
    pair_item, pair_value : ndarray of shape (n_pairs,)
    pair_of_response : ndarray of shape (n_responses,)
        Pair of each response.
    rank : ndarray of shape (n_pairs,)
        Rank of the value among the item's observed values (its model category when free).
    n_observed, max_observed : ndarray of shape (n_items,)
        Distinct values per item, and the largest (-1 for items without responses).
    """

    pair_item: np.ndarray
    pair_value: np.ndarray
    pair_of_response: np.ndarray
    rank: np.ndarray
    n_observed: np.ndarray
    max_observed: np.ndarray


def observed_categories(item, response, n_items: int) -> ObservedCategories:
    top = int(response.max()) + 1
    key = item.astype(np.int64) * top + response
    pairs, pair_of_response = np.unique(key, return_inverse=True)
    pair_item = (pairs // top).astype(np.int64)
    pair_value = pairs % top
    first = np.searchsorted(pair_item, np.arange(n_items))
    n_observed = np.bincount(pair_item, minlength=n_items)
    max_observed = np.full(n_items, -1)
    np.maximum.at(max_observed, pair_item, pair_value)
    rank = np.arange(len(pairs)) - first[pair_item]
    return ObservedCategories(
        pair_item, pair_value, pair_of_response, rank, n_observed, max_observed
    )


# -- 3. item status -----------------------------------------------------------------------
@dataclass(frozen=True)
class ItemStatus:
    """Per item of the universe: what the calibration does with it.

    Attributes
    ----------
    is_fixed, fitted : ndarray of shape (n_items,) of bool
        Parameters given, or estimated; items that are neither are left out.
    flags : ndarray of shape (n_items,) of object
        ``"too_few_responses"``, ``"single_category"``, ``"collapsed_categories"`` or None.
    n_categories : ndarray of shape (n_items,) of int
        Model categories (0 for items left out).
    category_values : ndarray of shape (n_items, max_categories) of int
        Response value of each model category, padded with -1.
    """

    is_fixed: np.ndarray
    fitted: np.ndarray
    flags: np.ndarray
    n_categories: np.ndarray
    category_values: np.ndarray

    @property
    def included(self) -> np.ndarray:
        return self.is_fixed | self.fitted


def item_status(
    labels: list,
    fixed: dict[object, ItemParameters],
    n_responses: np.ndarray,
    observed: ObservedCategories,
    declared: np.ndarray,
    min_responses: int,
) -> ItemStatus:
    n_items = len(labels)
    is_fixed = np.array([lab in fixed for lab in labels], dtype=bool)
    flags = np.full(n_items, None, dtype=object)
    n_categories = np.zeros(n_items, dtype=np.int64)
    for j in np.nonzero(is_fixed)[0]:
        n_categories[j] = len(fixed[labels[j]].thresholds) + 1
    free = ~is_fixed
    too_few = free & (n_responses < min_responses)
    single = free & ~too_few & (observed.n_observed < 2)
    flags[too_few] = "too_few_responses"
    flags[single] = "single_category"
    fitted = free & ~too_few & ~single
    n_categories[fitted] = observed.n_observed[fitted]
    flags[fitted & (observed.n_observed < declared)] = "collapsed_categories"
    # fixed items keep their calibrated values, free items have their observed ones
    max_categories = int(max(n_categories.max(), 2))
    values = np.full((n_items, max_categories), -1, dtype=np.int64)
    for j in np.nonzero(is_fixed)[0]:
        values[j, : n_categories[j]] = fixed[labels[j]].categories
    fit_pairs = fitted[observed.pair_item]
    values[observed.pair_item[fit_pairs], observed.rank[fit_pairs]] = observed.pair_value[fit_pairs]
    return ItemStatus(is_fixed, fitted, flags, n_categories, values)


# -- 4. response layout -------------------------------------------------------------------
@dataclass(frozen=True)
class ResponseLayout:
    """The included items' responses as rows of an (item, category) table.

    Per-item arrays have one entry per included item (in universe order); the rows of item
    ``m`` are ``row_offset[m] .. row_offset[m] + n_categories[m] - 1``.

    Attributes
    ----------
    design : Design
        Responses as person -> rows, for the E-step.
    included : ndarray of shape (n_included,) of int
        Position of each included item in the universe.
    n_categories, row_offset : ndarray of shape (n_included,) of int
    n_rows : int
    row_item : ndarray of shape (n_rows,) of int
        Included item of each row.
    row_counts : ndarray of shape (n_rows,) of float
        Responses per row.
    answered : ndarray of shape (n_included,) of bool
        The item has at least one response.
    """

    design: Design
    included: np.ndarray
    n_categories: np.ndarray
    row_offset: np.ndarray
    n_rows: int
    row_item: np.ndarray
    row_counts: np.ndarray
    answered: np.ndarray


def response_layout(
    coded: Coded,
    item: np.ndarray,
    response: np.ndarray,
    observed: ObservedCategories,
    status: ItemStatus,
    person_groups: PersonGroups | None,
    n_nodes: int,
    n_jobs: int | None,
) -> ResponseLayout:
    """``person_groups`` only for a multiple-group fit: each group's persons are then one
    contiguous run of the design (see ``estep``)."""
    included, n_categories, row_offset, n_rows, use, row = response_rows(
        item, response, observed, status
    )
    if person_groups is not None:
        person = group_order(person_groups.person)[coded.person[use]]
        run_group = np.sort(person_groups.person, kind="stable")
        design = Design(person, row, coded.n_persons, n_rows, n_nodes, n_jobs, run_group)
        del person
    else:
        design = Design(coded.person[use], row, coded.n_persons, n_rows, n_nodes, n_jobs)
    row_item = np.repeat(np.arange(len(included)), n_categories)
    row_counts = np.bincount(row, minlength=n_rows).astype(float)
    answered = np.zeros(len(included), dtype=bool)
    answered[row_item[row_counts > 0]] = True
    return ResponseLayout(
        design, included, n_categories, row_offset, n_rows, row_item, row_counts, answered
    )


def response_rows(item, response, observed: ObservedCategories, status: ItemStatus):
    """The (item, category) table and the row of each response of an included item.

    Returns ``(included, n_categories, row_offset, n_rows, use, row)``: ``use`` marks the
    responses of included items, ``row`` is the table row of each of them.
    """
    # model category: fixed items use the (mapped) response, free ones its observed rank
    category = np.where(status.is_fixed[item], response, observed.rank[observed.pair_of_response])
    included = np.nonzero(status.included)[0]
    position = np.full(len(status.included), -1)
    position[included] = np.arange(len(included))
    n_categories = status.n_categories[included]
    row_offset = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    n_rows = int(n_categories.sum())
    use = status.included[item]
    row = row_offset[position[item[use]]] + category[use]
    return included, n_categories, row_offset, n_rows, use, row


# -- the outcome of steps 1-3 -------------------------------------------------------------
@dataclass(frozen=True)
class ItemBank:
    """The calibration's items (the universe, sorted labels) and what is done with each.

    Attributes
    ----------
    labels : ndarray of shape (n_items,)
    models : ndarray of shape (n_items,) of str
    declared : ndarray of shape (n_items,) of int
        Declared (or default) number of categories.
    n_responses : ndarray of shape (n_items,) of int
    status : ItemStatus
    """

    labels: np.ndarray
    models: np.ndarray
    declared: np.ndarray
    n_responses: np.ndarray
    status: ItemStatus
