"""Argument checks of ``calibrate`` and ``score``, in one place.

Every check raises ValueError naming the argument. The response arrays themselves (labels,
categories, equal lengths) are checked by ``data.long_format``; here are the options, the
item parameters given as ``fixed_items`` or ``init``, and the per-item ``model`` and
``n_categories`` of ``calibrate``, which are resolved against the data's items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from . import quadrature as quad
from .models import MODELS
from .mstep import ItemPrior
from .results import Calibration

MODEL_NAMES = MODELS + ("mixed",)


# -- options ------------------------------------------------------------------------------
def check_calibrate_options(quadrature, tol, max_iter, min_responses, prior) -> None:
    """The scalar options of ``calibrate``."""
    quad.grid(quadrature)
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol: expected a positive number, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter: expected a positive integer, got {max_iter!r}")
    if (
        isinstance(min_responses, bool)
        or not isinstance(min_responses, (int, np.integer))
        or min_responses < 0
    ):
        raise ValueError(f"min_responses: expected a non-negative integer, got {min_responses!r}")
    if prior is not None and not isinstance(prior, ItemPrior):
        raise ValueError(f"prior: expected an ItemPrior or None, got {prior!r}")


def check_calibration(calibration) -> None:
    """The ``calibration`` argument of ``score``, ``marginal_loglik``."""
    if not isinstance(calibration, Calibration):
        raise ValueError(f"calibration: expected a Calibration, got {type(calibration).__name__}")


def check_score_options(calibration, method, unknown_items) -> None:
    """The options of ``score``."""
    check_calibration(calibration)
    if method not in ("eap", "map"):
        raise ValueError(f"method: expected 'eap' or 'map', got {method!r}")
    if unknown_items not in ("ignore", "raise"):
        raise ValueError(f"unknown_items: expected 'ignore' or 'raise', got {unknown_items!r}")


# -- item parameters given as fixed_items or init ---------------------------------------
class ItemParameters(NamedTuple):
    """One item's parameters as given for a fixed-item calibration or a warm start."""

    slope: float
    thresholds: np.ndarray
    model: str | None
    # Response value of each model category (0..K-1 unless categories were collapsed).
    categories: np.ndarray


def parameters_from(source, name: str) -> dict[object, ItemParameters]:
    """Item parameters keyed by label from a Calibration or a mapping.

    Returns a dict label -> ItemParameters; a mapping's items get categories ``0..K-1``.
    """
    if source is None:
        return {}
    if isinstance(source, Calibration):
        out = {}
        labels = source.items.tolist()
        for i in np.nonzero(source.fitted)[0]:
            k = source.n_categories[i]
            out[labels[i]] = ItemParameters(
                float(source.slope[i]),
                source.thresholds[i, : k - 1].astype(float),
                str(source.model[i]),
                source.categories[i, :k].astype(np.int64),
            )
        return out
    if isinstance(source, Mapping):
        out = {}
        for lab, val in source.items():
            try:
                a, b = val[0], val[1]
            except (TypeError, IndexError, KeyError) as exc:
                raise ValueError(
                    f"{name}: expected item -> (slope, thresholds), got {val!r} for {lab!r}"
                ) from exc
            b = np.atleast_1d(np.asarray(b, dtype=float))
            if not np.isfinite(a) or b.size == 0 or not np.all(np.isfinite(b)):
                raise ValueError(f"{name}: item {lab!r} needs a finite slope and thresholds")
            if np.any(np.diff(b) <= 0):
                raise ValueError(f"{name}: item {lab!r} needs increasing thresholds")
            out[lab] = ItemParameters(float(a), b, None, np.arange(len(b) + 1))
        return out
    raise ValueError(
        f"{name}: expected a Calibration or a mapping item -> (slope, thresholds), "
        f"got {type(source).__name__}"
    )


# -- per-item n_categories and model, resolved against the data ---------------------------
def declared_categories(n_categories, labels: list, max_observed: np.ndarray) -> np.ndarray:
    """Declared number of categories per item (default: largest observed value + 1, >= 2)."""
    if n_categories is None:
        return np.maximum(max_observed + 1, 2)
    if isinstance(n_categories, Mapping):
        out = np.maximum(max_observed + 1, 2)
        for j, lab in enumerate(labels):
            if lab in n_categories:
                out[j] = _category_count(n_categories[lab], lab, max_observed[j])
        return out
    return np.array(
        [_category_count(n_categories, lab, m) for lab, m in zip(labels, max_observed, strict=True)]
    )


def _category_count(value, label, max_observed) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"n_categories: expected an integer >= 2, got {value!r}")
    if max_observed >= value:
        raise ValueError(
            f"n_categories: item {label!r} has response {max_observed} but {value} categories "
            f"(0..{value - 1}) were declared"
        )
    return int(value)


def resolve_models(model, labels: list, data_labels: np.ndarray, declared, fixed) -> np.ndarray:
    """The model of every item: ``"rasch"``, ``"2pl"`` or ``"grm"`` (str array).

    ``"mixed"`` becomes 2PL or GRM by the number of categories; a fixed item keeps the model
    it was calibrated with (or one that fits its given parameters).
    """
    requested = _requested_models(model, labels, data_labels, fixed)
    out = np.empty(len(labels), dtype=object)
    for j, (lab, name) in enumerate(zip(labels, requested, strict=True)):
        if name not in MODEL_NAMES:
            raise ValueError(f"model: expected one of {MODEL_NAMES}, got {name!r}")
        n_categories = declared[j]
        if lab in fixed:
            slope, thresholds, source_model, _ = fixed[lab]
            n_categories = len(thresholds) + 1
            if source_model is not None:
                name = source_model
            elif name == "rasch" and slope != 1.0:
                name = "mixed"
            elif name == "2pl" and n_categories > 2:
                name = "grm"
        if name == "mixed":
            name = "2pl" if n_categories == 2 else "grm"
        if name == "2pl" and n_categories > 2:
            raise ValueError(
                f"model: item {lab!r} has {n_categories} categories but '2pl' is for binary "
                "items; use model='grm' or model='mixed'"
            )
        out[j] = name
    return out.astype(str)


def _requested_models(model, labels: list, data_labels: np.ndarray, fixed) -> list[str]:
    """The ``model`` argument as one lower-case name per item of the universe."""
    if isinstance(model, str):
        name = model.lower()
        if name not in MODEL_NAMES:
            raise ValueError(f"model: expected one of {MODEL_NAMES}, got {model!r}")
        return [name] * len(labels)
    if isinstance(model, Mapping):
        requested = []
        for lab in labels:
            if lab in model:
                requested.append(str(model[lab]).lower())
            elif lab in fixed:
                requested.append("mixed")
            else:
                raise ValueError(f"model: no model given for item {lab!r}")
        return requested
    per_data_item = [str(m).lower() for m in np.asarray(model).ravel()]
    if len(per_data_item) != len(data_labels):
        raise ValueError(
            f"model: expected one model per item ({len(data_labels)} items, in sorted "
            f"label order), got {len(per_data_item)}"
        )
    position = {lab: i for i, lab in enumerate(data_labels.tolist())}
    return [per_data_item[position[lab]] if lab in position else "mixed" for lab in labels]
