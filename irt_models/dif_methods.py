"""The rows of ``dif()`` for one reference/focal pair: Mantel-Haenszel and likelihood ratio.

Each function returns a dict of per-item columns named as the fields of ``dif.DIF``; see
``mantel_haenszel`` and ``dif_lr`` for the statistics and ``dif`` for the choices.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import anchored
from . import mantel_haenszel as mh
from . import quadrature as quad
from .dif_lr import item_lr


def mh_rows(
    person, item_labels, response, person_group, codes, match, theta, n_strata, min_n, exclude=()
):
    """MH statistics of the dichotomous items for the pair ``codes = (ref, focal)``.

    Parameters
    ----------
    person : ndarray of shape (n_responses,)
        Person codes (sorted label order).
    item_labels, response : ndarray of shape (n_responses,)
    person_group : ndarray of shape (n_persons,)
        Group code of each person.
    codes : (int, int)
    match : {"rest", "theta"}
    theta : ndarray of shape (n_persons,) or None
    n_strata, min_n : int
    exclude : sequence of item labels
        Items left out of the rest score (purification).
    """
    in_pair = np.isin(person_group[person], codes)
    m = _matched(person, item_labels, response, in_pair, match, theta, n_strata, exclude)
    f = (person_group[person] == codes[1])[m.rows]
    A, B, C, D = mh.tables(m.item, m.stratum, f.astype(np.int64), m.correct, m.n_items)
    n_ref = np.bincount(m.item[~f], minlength=m.n_items)
    n_foc = np.bincount(m.item[f], minlength=m.n_items)
    return _mh_columns(m.labels, mh.mh_statistics(A, B, C, D), n_ref, n_foc, min_n)


def mh_rest_rows(
    person, item_labels, response, person_group, focal, match, theta, n_strata, min_n, drop=None
):
    """MH statistics of the dichotomous items for each focal group code in ``focal`` against
    every other person, one dict per focal group (as ``mh_rows``). The strata are those of
    all respondents, the same for every focal group, so one count of the responses by
    (group, item, stratum, response) gives every table: the reference cells are the
    stratum's totals minus the focal group's. ``drop`` (bool, n_groups x dichotomous items
    in label order) leaves group g out of every reference for item j (a purified
    reference: groups found to have DIF on the item do not dilute the others' tests)."""
    everyone = np.ones(len(person), dtype=bool)
    m = _matched(person, item_labels, response, everyone, match, theta, n_strata, ())
    n_groups = int(person_group.max()) + 1
    n_cells = m.n_items * m.n_strata * 2
    cell = (m.item * m.n_strata + m.stratum) * 2 + m.correct
    group = person_group[person[m.rows]]
    counts = np.bincount(group * n_cells + cell, minlength=n_groups * n_cells)
    counts = counts.reshape(n_groups, m.n_items, m.n_strata, 2).astype(float)
    focal = np.asarray(focal, dtype=np.int64)
    in_focal = counts[focal]
    in_reference = counts.sum(axis=0)[None] - in_focal
    if drop is not None:
        dropped = (counts * drop[:, :, None, None]).sum(axis=0)[None]
        in_reference -= dropped - in_focal * drop[focal][:, :, None, None]
    stats = mh.mh_statistics(
        in_reference[..., 1], in_reference[..., 0], in_focal[..., 1], in_focal[..., 0]
    )
    n_foc = in_focal.sum(axis=(2, 3)).astype(np.int64)
    n_ref = in_reference.sum(axis=(2, 3)).astype(np.int64)
    return [
        _mh_columns(m.labels, mh.MantelHaenszel(*(s[k] for s in stats)), n_ref[k], n_foc[k], min_n)
        for k in range(len(focal))
    ]


class _Matched(NamedTuple):
    """The dichotomous items' responses of the selected rows with their matching strata."""

    labels: np.ndarray  # labels of the dichotomous items
    n_items: int
    rows: np.ndarray  # bool mask over the responses: selected and dichotomous
    item: np.ndarray  # position among the dichotomous items, per selected row
    correct: np.ndarray  # 0/1 per selected row
    stratum: np.ndarray
    n_strata: int


def _matched(person, item_labels, response, select, match, theta, n_strata, exclude):
    labels, item = np.unique(item_labels, return_inverse=True)
    counted = ~np.isin(labels, exclude)[item]
    top = np.zeros(len(labels), dtype=np.int64)
    np.maximum.at(top, item, response)
    binary = top <= 1
    if match == "rest":
        _check_complete(person[select], item[select], len(labels))
        c = select & counted
        total = np.bincount(person[c], response[c], minlength=int(person.max()) + 1)
        strata = mh.rest_score_strata(total, person, np.where(counted, response, 0))
    rows = select & binary[item]
    code = np.cumsum(binary) - 1  # position among the binary items
    j = code[item[rows]]
    n_binary = int(binary.sum())
    if match == "rest":
        s = strata[rows]
    else:
        s = mh.theta_strata(theta[person[rows]], j, n_binary, n_strata)
    correct = (response[rows] == 1).astype(np.int64)
    n_s = int(s.max()) + 1 if len(s) else 1
    return _Matched(labels[binary], n_binary, rows, j, correct, s, n_s)


def _mh_columns(labels, stats: mh.MantelHaenszel, n_ref, n_foc, min_n) -> dict:
    few = (n_ref < min_n) | (n_foc < min_n)
    out = {
        "item": labels,
        "n_reference": n_ref,
        "n_focal": n_foc,
        "statistic": stats.chi2,
        "df": np.ones(len(labels), dtype=np.int64),
        "p": stats.p,
        "odds_ratio": stats.odds_ratio,
        "delta": stats.delta,
        "delta_se": stats.delta_se,
    }
    for k in ("statistic", "p", "odds_ratio", "delta", "delta_se"):
        out[k] = np.where(few, np.nan, out[k])
    return out


def _check_complete(person, item, n_items: int) -> None:
    pairs = np.unique(person * n_items + item)
    n_persons = len(np.unique(person))
    if len(pairs) != n_persons * n_items:
        raise ValueError(
            "match='rest' needs complete data (every person of the two groups answering every "
            "item); with sparse data use match='theta'"
        )


def lr_rows(
    calibration, persons, items, responses, person_group, codes, min_n, quadrature, exclude=()
):
    """LR tests of the calibrated items answered in both groups of ``codes``.

    ``person_group`` is coded over the sorted labels of ``persons`` (all rows); the items
    ``exclude`` (labels) are left out of the group distributions and posterior weights.
    """
    coded, nodes, table, anchor, loglik, mean, var = _anchored_setup(
        calibration, persons, items, responses, person_group, quadrature, exclude
    )
    log_prior = np.stack([quad.log_weights(nodes, m, v) for m, v in zip(mean, var, strict=True)])
    g = person_group[coded.person]
    in_pair = np.isin(g, codes)
    tested = np.unique(coded.item[in_pair])
    cols = {k: [] for k in ("n_reference", "n_focal", "statistic", "df", "p")}
    cols.update({k: [] for k in ("difficulty_difference", "slope_difference")})
    cols["expected_score_difference"] = []
    for i in tested:
        rows = np.nonzero(in_pair & (coded.item == i))[0]
        focal = g[rows] == codes[1]
        n_f, n_r = int(focal.sum()), int((~focal).sum())
        cols["n_reference"].append(n_r)
        cols["n_focal"].append(n_f)
        k = int(calibration.n_categories[i])
        cols["df"].append(k - int(calibration.model[i] == "rasch"))
        if min(n_f, n_r) < min_n:
            for key in ("statistic", "p", "difficulty_difference", "slope_difference"):
                cols[key].append(np.nan)
            cols["expected_score_difference"].append(np.nan)
            continue
        p, c = coded.person[rows], coded.category[rows]
        own = table[i, c] if anchor[i] else np.zeros((len(c), len(nodes)))
        w = anchored.leave_one_out_weights(loglik, p, own, log_prior[g[rows]])
        res = item_lr(
            w,
            c,
            focal,
            nodes,
            float(calibration.slope[i]),
            calibration.intercepts[i, : k - 1],
            calibration.model[i] != "rasch",
            (mean[codes[1]], var[codes[1]]),
        )
        for key in ("statistic", "p", "difficulty_difference", "slope_difference"):
            cols[key].append(getattr(res, key))
        cols["expected_score_difference"].append(res.expected_score_difference)
    out = {k: np.asarray(v) for k, v in cols.items()}
    out["df"] = out["df"].astype(np.int64)
    out["item"] = calibration.items[tested]
    return out


def _anchored_setup(calibration, persons, items, responses, person_group, quadrature, exclude):
    """Coded responses, nodes, item table, anchor mask, person log-likelihoods over the
    anchor items and the group latent moments, for ``lr_rows``."""
    coded = anchored.code_responses(calibration, persons, items, responses)
    nodes = quad.grid(quadrature if quadrature is not None else calibration.quadrature)
    table = anchored.item_table(calibration, nodes)
    anchor = ~np.isin(calibration.items, exclude)
    a = anchor[coded.item]
    loglik = anchored.person_loglik(
        table, coded.person[a], coded.item[a], coded.category[a], len(coded.person_labels)
    )
    n_groups = int(person_group.max()) + 1
    mean, var = anchored.group_moments(loglik, person_group, n_groups, nodes)
    return coded, nodes, table, anchor, loglik, mean, var
