"""Drift of anchored items: observed against expected score sums per time window.

Guards: on 63 days of sparse 2PL responses (40 persons a day, 20 of 40 items each), an
item whose difficulty drops by 1 logit from day 20 is flagged from the window starting on
day 21 (known at the end of that window, day 28: within 8 days of the change), clean
items are not flagged over the period; the freed-location LR test of the flagged item
estimates the 1-logit drop; z is about N(0, 1) for clean items; given thetas,
the "harder" and "both" directions, datetime64 times and argument errors.
"""

import numpy as np
import pytest

import irt_models as irt

N_ITEMS, DAYS, PER_DAY, PER_PERSON = 40, 63, 40, 20
DRIFTING, CHANGE, DROP = 7, 20.0, 1.0


def timeline(seed, drop=DROP):
    """Persons arrive PER_DAY a day; item DRIFTING (a = 1, b = 0) is `drop` logits easier
    from day CHANGE."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.25, N_ITEMS)
    b = rng.normal(0.0, 1.0, N_ITEMS)
    a[DRIFTING], b[DRIFTING] = 1.0, 0.0  # an item of average difficulty and slope
    n = DAYS * PER_DAY
    theta = rng.normal(0.0, 1.0, n)
    day = np.repeat(np.arange(DAYS), PER_DAY) + rng.random(n)
    items = np.argsort(rng.random((n, N_ITEMS)), axis=1)[:, :PER_PERSON].ravel()
    persons = np.repeat(np.arange(n), PER_PERSON)
    times = day[persons]
    bb = b[items] - np.where((items == DRIFTING) & (times >= CHANGE), drop, 0.0)
    p = 1 / (1 + np.exp(-a[items] * (theta[persons] - bb)))
    responses = (rng.random(len(p)) < p).astype(int)
    cal = irt.Calibration.from_parameters(np.arange(N_ITEMS), "2pl", a, b)
    return cal, persons, items, responses, times, theta


def test_drifting_item_flagged_clean_items_not():
    """Over 20 seeds: flagged from day 21 in 20 of 20; 0.9% of clean items flagged at least
    once in 9 windows (0.10% of clean item-windows, nominal 0.13%)."""
    false_flags = 0
    for seed in (1, 2, 3):
        cal, persons, items, responses, times, _ = timeline(seed)
        res = irt.drift(cal, persons, items, responses, times, window=7, threshold=3.0, start=0)
        assert res.z.shape == (N_ITEMS, 9) and res.window_start[3] == 21.0
        assert res.flagged[DRIFTING] and res.flagged_since[DRIFTING] == 21.0
        assert np.all(res.z[DRIFTING, :2] < 3)  # before the change
        assert res.difficulty_shift[DRIFTING] == pytest.approx(-DROP, abs=0.35)
        assert res.lr_p[DRIFTING] < 1e-10 and res.lr_df[DRIFTING] == 1
        assert np.all(np.isnan(res.lr_p[~res.flagged]))
        false_flags += int(res.flagged.sum()) - 1
        clean = np.delete(res.z, DRIFTING, axis=0)
        assert abs(np.nanmean(clean)) < 0.2 and 0.8 < np.nanstd(clean) < 1.2
    assert false_flags <= 2  # of 117 clean item series


def test_given_thetas_directions_and_datetimes():
    cal, persons, items, responses, times, theta = timeline(4, drop=-1.0)  # harder
    res = irt.drift(cal, persons, items, responses, times, theta=theta, direction="harder", start=0)
    assert res.flagged[DRIFTING] and res.flagged.sum() == 1
    assert not irt.drift(cal, persons, items, responses, times, theta=theta).flagged[DRIFTING]
    assert np.all(np.isnan(res.lr_p))  # the LR test needs the posterior (theta=None)
    both = irt.drift(cal, persons, items, responses, times, direction="both", start=0)
    assert both.flagged[DRIFTING] and both.flagged_since[DRIFTING] <= 21.0
    stamps = np.datetime64("2026-01-05T00:00") + (times * 86400).astype("timedelta64[s]")
    dated = irt.drift(
        cal,
        persons,
        items,
        responses,
        stamps,
        window=np.timedelta64(7, "D"),
        direction="both",
        start=np.datetime64("2026-01-05"),
    )
    np.testing.assert_allclose(dated.z, both.z, equal_nan=True)
    assert dated.flagged_since[DRIFTING] == np.datetime64("2026-01-05") + np.timedelta64(21, "D")


def test_drift_errors():
    cal, persons, items, responses, times, _ = timeline(5)
    with pytest.raises(ValueError, match="direction"):
        irt.drift(cal, persons, items, responses, times, direction="up")
    with pytest.raises(ValueError, match="times"):
        irt.drift(cal, persons, items, responses, times[:-1])
    with pytest.raises(ValueError, match="window"):
        irt.drift(cal, persons, items, responses, times, window=0)


def test_baseline_flags_a_change_not_a_misfit_held_all_along():
    """An item easier than its anchored parameters from the first day (a misfit, not a
    drift) is flagged against zero but not against its own earlier windows; the item that
    changes on day 20 is flagged from day 21 either way."""
    misfit = 12
    for seed in (1, 2):
        cal, persons, items, responses, times, theta = timeline(seed)
        wrong = irt.Calibration.from_parameters(
            cal.items,
            "2pl",
            cal.slope,
            np.where(cal.items == misfit, cal.difficulty + 0.8, cal.difficulty),
        )
        opts = {"theta": theta, "window": 7, "threshold": 3.0, "start": 0}
        plain = irt.drift(wrong, persons, items, responses, times, **opts)
        change = irt.drift(wrong, persons, items, responses, times, baseline=True, **opts)
        assert plain.flagged[misfit] and plain.flagged_since[misfit] <= 7.0
        assert not change.flagged[misfit]
        assert change.flagged[DRIFTING] and change.flagged_since[DRIFTING] == 21.0
        assert np.all(np.isnan(change.z[:, 0]))  # no earlier windows to compare with
        assert change.flagged.sum() <= 2
