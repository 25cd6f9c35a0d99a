"""dif(): differential item functioning between a reference group and focal groups.

Two methods, one result type (``DIF``, one row per item and focal group):

- ``method="mh"``: Mantel-Haenszel for the dichotomous items (``mantel_haenszel``): common
  odds ratio, ETS delta with its standard error, continuity-corrected MH chi-square and the
  ETS A/B/C class. Matching (``match``):

  - ``"rest"`` (complete data): thin strata, one per value of the rest score, the person's
    total score over all items minus the studied item. The rest score rather than the total
    keeps the studied item out of its own criterion; under the Rasch model the total score
    including it is the unbiased criterion (Holland & Thayer 1988; Zwick 1990), so with
    impact the rest score leans slightly towards flagging against the lower group (2PL
    items, impact 0.5 SD, 600 per group, no DIF: 5.9% of items at p < 0.05).
  - ``"theta"`` (sparse data): ``n_strata`` quantile bands (default 10) of the thetas the
    caller passes, among the item's respondents of both groups. Pass EAPs that include the
    studied item and use the common prior (``score(...)``): matching on a criterion that
    includes the item is the Holland-Thayer condition for the null, and leaving it out
    biases towards DIF against the lower-scoring group under impact, as the rest score
    does. Known bias of EAPs: they shrink towards the prior mean, so with impact the
    persons of the lower group sit below their EAPs, and thick bands leave ability
    differences within a band; both lean towards DIF against the lower group. In
    simulation (impact 0.5 SD, 25 of 40 items per person, 1000 per group, no DIF) 5.3% of
    the items had p < 0.05 with common-prior EAPs, 5.6% with 20 bands, but 10% with
    group-prior EAPs (``score(..., groups=)``), which match on a group-dependent criterion:
    do not use those here.

- ``method="lr"``: likelihood-ratio test against anchored items (``dif_lr``), for binary
  and graded items, with group latent distributions of their own; needs ``calibration``
  (items it does not know, or without usable parameters, are not tested). Without DIF
  (same simulation) 4.4% of items had p < 0.05.

p-values are adjusted over all rows of the call (``correction``: Benjamini-Hochberg by
default, ``"holm"``, or None). The ETS class uses the unadjusted MH p-value, as the ETS
rules do. Items with fewer than ``min_responses`` responses in either group get NaN.

References
----------
Holland, P. W., & Thayer, D. T. (1988). Differential item performance and the
Mantel-Haenszel procedure. In H. Wainer & H. I. Braun (Eds.), Test Validity (pp. 129-145).
Zwick, R. (1990). When do item response function and Mantel-Haenszel definitions of
differential item functioning coincide? Journal of Educational Statistics, 15, 185-197.
Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery rate. Journal of the
Royal Statistical Society B, 57, 289-300.
Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian
Journal of Statistics, 6, 65-70.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import mantel_haenszel as mh
from .data import label_codes, long_format
from .dif_methods import lr_rows, mh_rest_rows, mh_rows
from .groups import person_groups

METHODS = ("mh", "lr")
MATCHES = ("rest", "theta")
CORRECTIONS = ("bh", "holm", None)
MIN_RESPONSES = 10
# The reference label of focal-against-all-others results (``reference=None``).
ALL_OTHERS = "all others"
PURIFY_BELOW = 0.05


class DIF(NamedTuple):
    """DIF statistics, one row per (focal group, item), focal groups in the given order
    and items in sorted label order.

    Attributes
    ----------
    item, focal, reference : ndarray of shape (n_rows,)
        Item label, focal group label, reference group label.
    n_reference, n_focal : ndarray of shape (n_rows,) of int
        Responses to the item in each group.
    statistic, df, p, p_adjusted : ndarray of shape (n_rows,)
        MH chi-square (1 df) or LR statistic; p-value; adjusted p-value.
    odds_ratio, delta, delta_se : ndarray of shape (n_rows,)
        MH common odds ratio, ETS delta (MH D-DIF; negative: harder for the focal group)
        and its standard error. NaN for the LR test.
    difficulty_difference, slope_difference, expected_score_difference : ndarray
        LR test: focal minus reference mean threshold (positive: harder for the focal
        group), slope, and focal-weighted expected-score difference. NaN for MH.
    ets_class : ndarray of shape (n_rows,) of object
        ``"A"``, ``"B"``, ``"C"`` (MH), None for the LR test or without a statistic.
    favoured : ndarray of shape (n_rows,) of object
        ``"reference"`` or ``"focal"``: the group the item favours at equal ability.
    method : str
        ``"mh-rest"``, ``"mh-theta"`` or ``"lr"``.
    """

    item: np.ndarray
    focal: np.ndarray
    reference: np.ndarray
    n_reference: np.ndarray
    n_focal: np.ndarray
    statistic: np.ndarray
    df: np.ndarray
    p: np.ndarray
    p_adjusted: np.ndarray
    odds_ratio: np.ndarray
    delta: np.ndarray
    delta_se: np.ndarray
    difficulty_difference: np.ndarray
    slope_difference: np.ndarray
    expected_score_difference: np.ndarray
    ets_class: np.ndarray
    favoured: np.ndarray
    method: str


def dif(
    persons,
    items,
    responses,
    groups,
    *,
    reference,
    focal=None,
    method: str = "mh",
    match: str = "rest",
    theta=None,
    calibration=None,
    n_strata: int = 10,
    correction: str | None = "bh",
    min_responses: int = MIN_RESPONSES,
    quadrature: int | None = None,
    purify: bool = False,
) -> DIF:
    """DIF of each item between a reference group and each focal group.

    Parameters
    ----------
    persons, items, responses : array-like of shape (n_responses,)
        Long-format responses (0/1, or 0..K-1 for graded items).
    groups : array-like of shape (n_responses,)
        Group of each response's person (constant within a person).
    reference : label or None
        The reference group; None tests each focal group against every person outside it
        (reported as ``ALL_OTHERS``; ``method="mh"`` only), in one count of the responses.
    focal : label or sequence of labels, optional
        Focal groups; default every other group.
    method : {"mh", "lr"}
        Mantel-Haenszel (dichotomous items only) or likelihood ratio (needs ``calibration``).
    match : {"rest", "theta"}
        MH matching: rest score (complete data) or quantile bands of ``theta``.
    theta : Scores or array-like of shape (n_persons,), optional
        Matching thetas for ``match="theta"``: a ``Scores`` (persons looked up by label) or
        one value per person in sorted label order.
    calibration : Calibration, optional
        Anchored item parameters, for ``method="lr"``.
    n_strata : int
        Quantile bands for ``match="theta"``.
    correction : {"bh", "holm", None}
        Multiple-comparison adjustment over the rows.
    min_responses : int
        Fewer responses than this in either group: NaN statistics.
    quadrature : int, optional
        Nodes for the LR test; defaults to the calibration's.
    purify : bool
        Two-stage purification (Holland & Thayer 1988): items with an adjusted p below
        0.05 in a first pass leave the matching criterion (rest score, or the LR test's
        group distributions and posterior weights) and every item is tested again. Not for
        ``match="theta"`` (the thetas are the caller's). With ``reference=None`` it purifies
        the reference instead: a group with B- or C-class DIF on an item in the first pass
        is left out of that item's reference for the other focal groups.

    Returns
    -------
    DIF
    """
    _check_options(method, match, correction, theta, calibration, n_strata)
    if purify and method == "mh" and match == "theta" and reference is not None:
        raise ValueError("purify: not for match='theta' (purify the thetas instead)")
    if reference is None and method != "mh":
        raise ValueError("reference=None (all others): method='mh' only")
    p, i, r = long_format(persons, items, responses)
    person_labels, person = label_codes(p)
    pg = person_groups(groups, person, len(person_labels))
    labels = pg.labels.tolist()
    if reference is not None and reference not in labels:
        raise ValueError(f"reference: {reference!r} is not among the groups {labels[:10]}")
    focal_labels = _focal_labels(focal, reference, labels)
    t = None if theta is None or method != "mh" else person_theta(theta, person_labels)
    if reference is None:
        args = (match, t, n_strata, min_responses, correction, purify)
        return _against_all_others(person, i, r, pg, focal_labels, *args)
    ref = labels.index(reference)
    parts = []
    for f in focal_labels:
        codes = (ref, labels.index(f))

        def rows(exclude, codes=codes):
            if method == "mh":
                args = (codes, match, t, n_strata, min_responses, exclude)
                return mh_rows(person, i, r, pg.person, *args)
            args = (codes, min_responses, quadrature, exclude)
            return lr_rows(calibration, p, i, r, pg.person, *args)

        part = rows(())
        if purify:
            part = rows(part["item"][adjust_p(part["p"], correction) < PURIFY_BELOW])
        part["focal"] = np.full(len(part["item"]), f, dtype=object)
        parts.append(part)
    return _assemble(parts, reference, method, match, correction)


def _against_all_others(
    person, item, response, pg, focal_labels, match, theta, n_strata, min_responses, correction,
    purify,
) -> DIF:  # fmt: skip
    labels = pg.labels.tolist()
    codes = [labels.index(f) for f in focal_labels]
    args = (match, theta, n_strata, min_responses)
    parts = mh_rest_rows(person, item, response, pg.person, codes, *args)
    if purify:
        parts = _purified(parts, codes, len(labels), person, item, response, pg, args)
    for part, f in zip(parts, focal_labels, strict=True):
        part["focal"] = np.full(len(part["item"]), f, dtype=object)
    return _assemble(parts, ALL_OTHERS, "mh", match, correction)


def _purified(parts, codes, n_groups, person, item, response, pg, args) -> list[dict]:
    """The second pass of ``reference=None, purify=True``: a focal group with B- or C-class
    DIF on an item in the first pass is tested again without the groups that had C-class DIF
    in the same direction (a second country with the same translation problem would
    otherwise hide part of the first one's DIF). Groups with DIF in the other direction stay:
    next to one large group with DIF, the others look favoured, and dropping them would
    turn that artefact into a flag."""
    n_items = len(parts[0]["item"])
    ets = {
        code: mh.ets_class(p["delta"], p["delta_se"], p["p"])
        for code, p in zip(codes, parts, strict=True)
    }
    sign = {code: np.sign(np.nan_to_num(p["delta"])) for code, p in zip(codes, parts, strict=True)}
    out = []
    for k, code in enumerate(codes):
        drop = np.zeros((n_groups, n_items), dtype=bool)
        for other in codes:
            if other != code:
                drop[other] = (ets[other] == "C") & (sign[other] == sign[code])
        drop &= np.isin(ets[code], ["B", "C"])[None]
        if drop.any():
            focal_only = mh_rest_rows(person, item, response, pg.person, [code], *args, drop)
            out.append(focal_only[0])
        else:
            out.append(parts[k])
    return out


def _check_options(method, match, correction, theta, calibration, n_strata) -> None:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if match not in MATCHES:
        raise ValueError(f"match: expected one of {MATCHES}, got {match!r}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction: expected one of {CORRECTIONS}, got {correction!r}")
    if method == "mh" and match == "theta" and theta is None:
        raise ValueError("theta: needed for match='theta'")
    if method == "lr" and calibration is None:
        raise ValueError("calibration: needed for method='lr' (the anchored parameters)")
    if not (isinstance(n_strata, int | np.integer) and n_strata >= 1):
        raise ValueError(f"n_strata: expected a positive integer, got {n_strata!r}")


def _focal_labels(focal, reference, labels) -> list:
    if focal is None:
        out = [g for g in labels if g != reference]
    elif np.ndim(focal) == 0:
        out = [focal.item() if isinstance(focal, np.generic) else focal]
    else:
        out = list(np.asarray(focal).tolist())
    bad = [g for g in out if g not in labels or g == reference]
    if bad or not out:
        raise ValueError(f"focal: expected groups other than the reference, got {bad or out}")
    return out


def person_theta(theta, person_labels) -> np.ndarray:
    """Thetas in sorted person label order from a Scores or a plain array."""
    if hasattr(theta, "persons") and hasattr(theta, "theta"):
        labels = np.asarray(theta.persons)
        pos = np.searchsorted(labels, person_labels)
        pos = np.minimum(pos, len(labels) - 1)
        if len(labels) == 0 or np.any(labels[pos] != person_labels):
            raise ValueError("theta: the Scores lack some persons of the responses")
        return np.asarray(theta.theta, dtype=float)[pos]
    t = np.asarray(theta, dtype=float).reshape(-1)
    if len(t) != len(person_labels):
        raise ValueError(f"theta: expected {len(person_labels)} values (one per person)")
    if not np.all(np.isfinite(t)):
        raise ValueError("theta: expected finite values")
    return t


def adjust_p(p, correction: str | None = "bh") -> np.ndarray:
    """Benjamini-Hochberg (``"bh"``) or Holm (``"holm"``) adjusted p-values; NaN stays NaN
    and does not count as a test."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.nonzero(~np.isnan(p))[0]
    if correction is None or len(ok) == 0:
        out[ok] = p[ok]
        return out
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    rank = np.arange(1, m + 1)
    if correction == "bh":
        adj = np.minimum.accumulate((p[order] * m / rank)[::-1])[::-1]
    else:
        adj = np.maximum.accumulate(p[order] * (m - rank + 1))
    out[order] = np.minimum(adj, 1.0)
    return out


def _assemble(parts, reference, method, match, correction) -> DIF:
    cols = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    n = len(cols["item"])
    nan = np.full(n, np.nan)
    for k in ("odds_ratio", "delta", "delta_se", "difficulty_difference", "slope_difference"):
        cols.setdefault(k, nan.copy())
    cols.setdefault("expected_score_difference", nan.copy())
    if method == "mh":
        ets = mh.ets_class(cols["delta"], cols["delta_se"], cols["p"])
        sign = -cols["delta"]  # delta < 0: harder for the focal group
    else:
        ets = np.full(n, None, dtype=object)
        sign = cols["expected_score_difference"]
    favoured = np.full(n, None, dtype=object)
    favoured[sign > 0] = "reference" if method == "mh" else "focal"
    favoured[sign < 0] = "focal" if method == "mh" else "reference"
    return DIF(
        reference=np.full(n, reference, dtype=object),
        p_adjusted=adjust_p(cols["p"], correction),
        ets_class=ets,
        favoured=favoured,
        method="lr" if method == "lr" else f"mh-{match}",
        **{k: v for k, v in cols.items() if k in DIF._fields},
    )
