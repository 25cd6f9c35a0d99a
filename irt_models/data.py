"""Long-format response data: validation and integer coding.

Responses arrive as three arrays of equal length (person, item, response), one row per
observed response, in any order; a pair that was not observed is simply absent. Labels may
be integers or strings; they are coded in sorted order (``label_codes``), so results are
reported in sorted label order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Coded:
    """Responses with persons and items coded 0..n-1 (sorted label order)."""

    person_labels: np.ndarray
    item_labels: np.ndarray
    person: np.ndarray
    item: np.ndarray
    response: np.ndarray

    @property
    def n_persons(self) -> int:
        return len(self.person_labels)

    @property
    def n_items(self) -> int:
        return len(self.item_labels)


def as_labels(values, name: str) -> np.ndarray:
    """A 1-D label array; raises ValueError naming the argument."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: labels must not be NaN or infinite")
        if np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iuUSO":
        raise ValueError(f"{name}: expected integer codes or string labels, got dtype {arr.dtype}")
    if arr.dtype.kind == "O":
        arr = arr.astype(str)
    return arr


def as_responses(values, name: str = "responses") -> np.ndarray:
    """Integer categories 0..K-1; raises ValueError naming the argument."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: missing responses must be absent rows, not NaN")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: expected integer categories, got non-integer values")
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integer categories 0..K-1, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: categories must be >= 0, got minimum {arr.min()}")
    return arr


def label_codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(labels, return_inverse=True)``, faster for labels that repeat.

    String labels are numbered in one pass through a dict (hashing, no string comparison),
    then the few distinct ones are sorted and the numbers mapped to their ranks: for 1.4M
    responses on 150 item ids 0.23 s instead of 0.70 s for a unique and a binary search, which
    themselves replaced a sort of every label (1.4-2.0 s). Integer labels take numpy's unique
    and a binary search among the distinct ones.
    """
    if labels.dtype.kind in "US" and len(labels):
        first_seen: dict = {}
        number = np.fromiter(
            (first_seen.setdefault(x, len(first_seen)) for x in labels.tolist()),
            dtype=np.int64,
            count=len(labels),
        )
        distinct = np.array(list(first_seen), dtype=labels.dtype)
        order = np.argsort(distinct, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return distinct[order], rank[number]
    distinct = np.unique(labels)
    return distinct, np.searchsorted(distinct, labels)


def long_format(persons, items, responses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person labels, item labels and responses, checked to be 1-D and of equal length."""
    p = as_labels(persons, "persons")
    i = as_labels(items, "items")
    r = as_responses(responses)
    if not (len(p) == len(i) == len(r)):
        raise ValueError(
            f"persons, items, responses: expected equal lengths, got {len(p)}, {len(i)}, {len(r)}"
        )
    return p, i, r


def encode(persons, items, responses) -> Coded:
    """Validate long-format input and code persons and items.

    Parameters
    ----------
    persons : array-like of shape (n_responses,)
        Person labels (integers or strings).
    items : array-like of shape (n_responses,)
        Item labels (integers or strings).
    responses : array-like of shape (n_responses,)
        Categories 0..K-1 (0/1 for binary items).

    Returns
    -------
    Coded
    """
    p, i, r = long_format(persons, items, responses)
    if len(r) == 0:
        raise ValueError("responses: expected at least one response, got none")
    person_labels, person = label_codes(p)
    item_labels, item = label_codes(i)
    ptype = np.int32 if len(person_labels) < 2**31 else np.int64
    return Coded(
        person_labels=person_labels,
        item_labels=item_labels,
        person=person.astype(ptype),
        item=item.astype(np.int32),
        response=r,
    )


def wide_to_long(matrix, persons=None, items=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long-format arrays from a persons x items matrix (NaN for missing).

    For small, complete data sets such as published examples; the engine itself never
    builds such a matrix.

    Parameters
    ----------
    matrix : array-like of shape (n_persons, n_items)
    persons : array-like of shape (n_persons,), optional
        Row labels; defaults to 0..n_persons-1.
    items : array-like of shape (n_items,), optional
        Column labels; defaults to 0..n_items-1.

    Returns
    -------
    persons, items, responses : ndarray of shape (n_observed,)
    """
    x = np.asarray(matrix, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"matrix: expected a 2-D array, got shape {x.shape}")
    rows = np.arange(x.shape[0]) if persons is None else np.asarray(persons)
    cols = np.arange(x.shape[1]) if items is None else np.asarray(items)
    if len(rows) != x.shape[0]:
        raise ValueError(f"persons: expected {x.shape[0]} labels, got {len(rows)}")
    if len(cols) != x.shape[1]:
        raise ValueError(f"items: expected {x.shape[1]} labels, got {len(cols)}")
    r, c = np.nonzero(~np.isnan(x))
    return rows[r], cols[c], x[r, c].astype(np.int64)
