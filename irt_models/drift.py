"""drift(): item parameter drift of anchored items, observed against expected scores.

An anchored item keeps the parameters of an earlier calibration; when its answers leak or
its content goes stale, it becomes easier (or harder) than anchored, and every score it
enters moves with it. For each item and time window ``w`` the responses' observed score
sum is compared with its expectation under the anchored parameters at the persons'
abilities:

    O_iw = sum y,   E_iw = sum E[Y | person],   V_iw = sum Var[Y | person],
    z_iw = (O_iw - E_iw) / sqrt(V_iw)

- ``theta=None`` (default): each response is predicted from its person's posterior of
  theta *without that response* (all their other responses, anchored parameters, the
  calibration's latent N(mean, var) prior): ``E`` and ``Var`` are the posterior predictive
  mean and variance, so the uncertainty of theta is included and the item under test does
  not pull the ability it is judged against;
- ``theta`` given (one value per person, e.g. EAPs from a clean period): plug-in ``E`` and
  ``Var`` at those values. Thetas that include the item under test absorb part of its
  drift, and the z values shrink.

For the flagged items (``theta=None``), a likelihood-ratio test of a freed location: the
item's intercepts re-estimated from its responses since the first flagged window, slope
kept, against the anchored parameters (``difficulty_shift``, ``lr_p``).

Under the anchored model ``z`` is about N(0, 1) (the sum of many independent responses).
An item is flagged from the first window whose ``z`` passes ``threshold``: upwards for
``direction="easier"`` (default: leaked answers make items easier), downwards for
``"harder"``, either way for ``"both"``. Windows are consecutive, ``window`` days long,
from ``start`` (default: the earliest response); windows with fewer than
``min_responses`` responses to an item get NaN. With many items and windows, a threshold
of 3 keeps the chance of a false flag per (item, window) at 0.0013 one-sided.

References
----------
Goldstein, H. (1983). Measuring changes in educational attainment over time: problems
and possibilities. Journal of Educational Measurement, 20, 369-377.
Wells, C. S., Subkoviak, M. J., & Serlin, R. C. (2002). The effect of item parameter drift
on examinee ability estimates. Applied Psychological Measurement, 26, 77-87.
Wright, B. D., & Masters, G. N. (1982). Rating Scale Analysis. MESA Press.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import chi2 as chi2_dist

from . import anchored
from . import quadrature as quad
from .dif import person_theta
from .dif_lr import fit_item

DIRECTIONS = ("easier", "harder", "both")
MIN_RESPONSES = 10
SECONDS_PER_DAY = 86400


class Drift(NamedTuple):
    """Observed and expected scores per item and window.

    Attributes
    ----------
    items : ndarray of shape (n_items,)
        Calibrated items with responses, in the calibration's order.
    window_start : ndarray of shape (n_windows,)
        Start of each window, in the unit of ``times`` (days, or datetime64).
    n : ndarray of shape (n_items, n_windows) of int
        Responses.
    observed, expected, variance, z : ndarray of shape (n_items, n_windows)
        Score sums, the model variance of the observed sum, and the standardised
        difference; NaN where fewer than ``min_responses`` responses.
    flagged : ndarray of shape (n_items,) of bool
    flagged_since : ndarray of shape (n_items,) of object
        Start of the first flagged window, or None.
    difficulty_shift, lr_statistic, lr_df, lr_p : ndarray of shape (n_items,)
        For flagged items (``theta=None`` only; NaN otherwise): the item's location
        re-estimated from its responses since ``flagged_since`` (slope kept) minus the
        anchored one (mean threshold; negative: easier than anchored), and the
        likelihood-ratio test of that freed location against the anchored parameters.
    threshold : float
    direction : str
    """

    items: np.ndarray
    window_start: np.ndarray
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    z: np.ndarray
    flagged: np.ndarray
    flagged_since: np.ndarray
    difficulty_shift: np.ndarray
    lr_statistic: np.ndarray
    lr_df: np.ndarray
    lr_p: np.ndarray
    threshold: float
    direction: str


def drift(
    calibration,
    persons,
    items,
    responses,
    times,
    *,
    theta=None,
    window=7.0,
    threshold: float = 3.0,
    direction: str = "easier",
    start=None,
    min_responses: int = MIN_RESPONSES,
    quadrature: int | None = None,
    relative: bool = False,
    baseline: bool = False,
) -> Drift:
    """Drift of anchored items: observed against expected score sums per time window.

    Parameters
    ----------
    calibration : Calibration
        The anchored parameters (``Calibration.from_parameters`` or a calibration).
    persons, items, responses : array-like of shape (n_responses,)
        Long-format responses; rows of items unknown to the calibration are ignored.
    times : array-like of shape (n_responses,)
        Time of each response: days as numbers, or numpy datetime64.
    theta : Scores or array-like of shape (n_persons,), optional
        Person abilities (a Scores, or one value per person in sorted label order); by
        default each response's leave-it-out posterior (see the module docstring).
    window : float or numpy.timedelta64
        Window length, in days unless a timedelta64.
    threshold : float
        |z| beyond which a window flags the item.
    direction : {"easier", "harder", "both"}
    start : number or datetime64, optional
        Start of the first window; default the earliest time.
    min_responses : int
        Fewer responses in a window: NaN there.
    quadrature : int, optional
        Nodes for the posterior; defaults to the calibration's.
    relative : bool
        Scale each window's expected sums by the observed/expected ratio of the other items
        in the same window: the item is compared with its peers, not with fixed thetas,
        which keeps the persons' own growth over the period out of every item's z. Use it
        when the thetas are one estimate for a period in which the persons learn.
    baseline : bool
        Test each window against the item's own earlier windows instead of against zero:
        ``z`` is the standardised difference between the window's mean residual
        ``(O - E) / n`` and that of all earlier responses to the item (NaN for the first
        window, or with fewer than ``min_responses`` earlier responses). A misfit the item
        has had all along (plug-in thetas shrunk towards the prior for the few-response
        learners who take hard items, a 3PL item fitted as 2PL) then cancels, and what is
        flagged is a change: the jump of a leak. Use it with plug-in ``theta``, whose
        bias is constant over time but large in big samples.

    Returns
    -------
    Drift
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: expected one of {DIRECTIONS}, got {direction!r}")
    if not threshold > 0:
        raise ValueError(f"threshold: expected a positive number, got {threshold!r}")
    coded = anchored.code_responses(calibration, persons, items, responses)
    if np.shape(times) != coded.keep.shape:
        raise ValueError(f"times: expected one time per response ({len(coded.keep)})")
    days, starts = _windows(np.asarray(times)[coded.keep], window, start)
    keep = days >= 0
    post = None if theta is not None else _posterior(calibration, coded, quadrature)
    if post is not None:
        e, v = _posterior_moments(post, coded)
    else:
        t = person_theta(theta, coded.person_labels)[coded.person]
        e, v = anchored.pointwise_moments(calibration, coded.item, t)
    used = np.unique(coded.item)
    row = np.searchsorted(used, coded.item)[keep]
    w = np.floor(days[keep] / _days_of(window)).astype(np.int64)
    n_w = len(starts)
    cell = row * n_w + w
    size = len(used) * n_w

    def total(x):
        return np.bincount(cell, x, minlength=size).reshape(len(used), n_w)

    n = total(None).astype(np.int64)
    observed, expected = total(coded.category[keep].astype(float)), total(e[keep])
    variance = total(v[keep])
    if relative:
        expected = _relative_to_window(observed, expected)
    if baseline:
        z = _change_from_earlier(n, observed - expected, variance, min_responses)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (observed - expected) / np.sqrt(variance)
    for x in (observed, expected, variance, z):
        x[n < min_responses] = np.nan
    flagged, since, first = _flags(z, starts, threshold, direction)
    window_of = np.full(len(coded.item), -1)
    window_of[keep] = w
    lr = freed_location_tests(calibration, coded, post, used, first, window_of)
    return Drift(
        calibration.items[used], starts, n, observed, expected, variance, z, flagged, since,
        *lr, float(threshold), direction,
    )  # fmt: skip


def _relative_to_window(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Expected sums scaled by the window's observed/expected ratio over the OTHER items.

    When the persons' abilities move over time (learning) while their thetas are one
    estimate for the whole period, every item looks harder early and easier late; scaling
    by the other items of the same window takes that common movement out, so what is left is
    the item's own change.
    """
    others_observed = observed.sum(axis=0) - observed
    others_expected = expected.sum(axis=0) - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(others_expected > 0, others_observed / others_expected, 1.0)
    return expected * ratio


def _change_from_earlier(n, residual, variance, min_responses: int) -> np.ndarray:
    """z of each window's mean residual against the mean residual of the item's earlier
    windows: ``(r_w / n_w - R_<w / N_<w) / sqrt(V_w / n_w^2 + V_<w / N_<w^2)``."""
    earlier = [np.cumsum(x, axis=1) - x for x in (n, residual, variance)]
    n_before, r_before, v_before = earlier
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = residual / n - r_before / n_before
        z = diff / np.sqrt(variance / n.astype(float) ** 2 + v_before / n_before.astype(float) ** 2)
    z[n_before < min_responses] = np.nan
    return z


def _days_of(window) -> float:
    if isinstance(window, np.timedelta64):
        return float(window / np.timedelta64(1, "s")) / SECONDS_PER_DAY
    if not float(window) > 0:
        raise ValueError(f"window: expected a positive length, got {window!r}")
    return float(window)


def _windows(times, window, start):
    """Days since the start of each response, and the start of each window."""
    width = _days_of(window)
    if times.dtype.kind == "M":
        t0 = times.min() if start is None else np.datetime64(start)
        days = (times - t0) / np.timedelta64(1, "s") / SECONDS_PER_DAY
        n_w = int(np.floor(days.max() / width)) + 1 if len(days) else 0
        secs = np.round(np.arange(n_w) * width * SECONDS_PER_DAY).astype(np.int64)
        return days, t0 + secs.astype("timedelta64[s]")
    t = times.astype(float)
    t0 = float(t.min()) if start is None else float(start)
    days = t - t0
    n_w = int(np.floor(days.max() / width)) + 1 if len(days) else 0
    return days, t0 + np.arange(n_w) * width


class _Posterior(NamedTuple):
    nodes: np.ndarray
    table: np.ndarray  # (n_items, K_max, Q) log category probabilities
    loglik: np.ndarray  # (n_persons, Q)
    prior: np.ndarray  # (Q,) log prior


def _posterior(calibration, coded, quadrature) -> _Posterior:
    nodes = quad.grid(quadrature if quadrature is not None else calibration.quadrature)
    table = anchored.item_table(calibration, nodes)
    n_persons = len(coded.person_labels)
    loglik = anchored.person_loglik(table, coded.person, coded.item, coded.category, n_persons)
    prior = quad.log_weights(nodes, calibration.latent_mean, calibration.latent_var)
    return _Posterior(nodes, table, loglik, prior)


def _weights(post, coded, rows):
    own = post.table[coded.item[rows], coded.category[rows]]
    return anchored.leave_one_out_weights(post.loglik, coded.person[rows], own, post.prior)


def _posterior_moments(post, coded):
    """Posterior predictive mean and variance of each response without itself."""
    m1, m2 = anchored.score_moments(post.table)
    e, e2 = np.empty(len(coded.item)), np.empty(len(coded.item))
    for s in range(0, len(coded.item), anchored.CHUNK):
        sl = np.arange(s, min(s + anchored.CHUNK, len(coded.item)))
        w, j = _weights(post, coded, sl), coded.item[sl]
        e[sl], e2[sl] = (w * m1[j]).sum(axis=1), (w * m2[j]).sum(axis=1)
    return e, np.maximum(e2 - e**2, 0.0)


def freed_location_tests(calibration, coded, post, used, first, window_of):
    """Per item: location shift since its first flagged window and the LR test of it.

    The slope stays anchored and the intercepts are re-estimated (``dif_lr.fit_item``)
    from the responses since the first flagged window, each weighted by its person's
    leave-it-out posterior; ``LR = 2 (l_free - l_anchored)``, ``K - 1`` df.
    """
    out = np.full((4, len(used)), np.nan)
    for k in np.nonzero((first >= 0) & (post is not None))[0]:
        i = used[k]
        rows = np.nonzero((coded.item == i) & (window_of >= first[k]))[0]
        w, c = _weights(post, coded, rows), coded.category[rows]
        n_cat = int(calibration.n_categories[i])
        a, d = float(calibration.slope[i]), calibration.intercepts[i, : n_cat - 1]
        l0 = float(np.log((w * np.exp(post.table[i, c])).sum(axis=1)).sum())
        l1, _, d1 = fit_item(w, c, post.nodes, a, d, free_slope=False)
        stat = max(2.0 * (l1 - l0), 0.0)
        shift = float(np.mean(-d1 / a) - np.mean(-d / a))
        out[:, k] = shift, stat, n_cat - 1, chi2_dist.sf(stat, n_cat - 1)
    return out[0], out[1], out[2], out[3]


def _flags(z, starts, threshold, direction):
    if direction == "easier":
        hit = z > threshold
    elif direction == "harder":
        hit = z < -threshold
    else:
        hit = np.abs(z) > threshold
    flagged = hit.any(axis=1)
    first = np.where(flagged, np.argmax(hit, axis=1), -1)
    since = np.full(len(z), None, dtype=object)
    for i in np.nonzero(flagged)[0]:
        since[i] = starts[first[i]]
    return flagged, since, first
