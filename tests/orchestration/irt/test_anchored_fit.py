"""An anchored calibration fits new items on their takers: all responses of the learners who
answered a new item, none of anyone else's (``fitting.new_item_takers``).

Learners choose courses near their level, so a new item of an advanced course is answered by
the abler learners. Fitted with the whole skill's population as the prior of its takers, the
item comes out too easy and too flat; fitted on its takers, whose latent distribution the
anchors place on the scale, it is recovered.
"""

from __future__ import annotations

import numpy as np
import pytest

from orchestration.irt.fitting import calibrate_responses, fit_planned, new_item_takers
from orchestration.irt.responses import SkillResponses
from orchestration.irt.settings import IrtSettings

SETTINGS = IrtSettings(multiple_groups=False)
NEW_SLOPE, NEW_DIFFICULTY = 1.3, 1.0


def skill_responses(persons, items, responses) -> SkillResponses:
    return SkillResponses(
        np.array([f"l{p:05d}" for p in persons]),
        np.array([f"i{i:03d}" for i in items]),
        np.asarray(responses, dtype=np.int64),
        np.full(len(responses), 2, dtype=np.int64),
        submitted_at=np.arange(len(responses)).astype("datetime64[s]"),
    )


def answers(rng, theta, slope, difficulty):
    return (rng.random(len(theta)) < 1 / (1 + np.exp(-slope * (theta - difficulty)))).astype(int)


@pytest.fixture(scope="module")
def selected_new_item():
    return selected_new_item_data(seed=3)


def selected_new_item_data(seed: int):
    """30 calibrated items (each of 4,000 learners answered 12), then one new item that only
    the learners above theta 0.3 answered."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, 4000)
    slope, difficulty = rng.uniform(0.8, 2.0, 30), rng.normal(0, 1, 30)
    persons = np.repeat(np.arange(len(theta)), 12)
    items = np.concatenate([rng.choice(30, 12, replace=False) for _ in theta])
    old = answers(rng, theta[persons], slope[items], difficulty[items])
    stored = calibrate_responses(skill_responses(persons, items, old), SETTINGS, None)
    takers = np.flatnonzero(theta > 0.3)
    new = answers(rng, theta[takers], NEW_SLOPE, NEW_DIFFICULTY)
    data = skill_responses(
        np.concatenate([persons, takers]),
        np.concatenate([items, np.full(len(takers), 99)]),
        np.concatenate([old, new]),
    )
    return stored, data, takers


def test_the_fit_reads_every_response_of_the_new_items_takers_and_nothing_else(
    selected_new_item,
):
    stored, data, takers = selected_new_item
    kept = new_item_takers(data, stored)
    expected = np.isin(data.learners, [f"l{p:05d}" for p in takers])
    assert kept.n == expected.sum() < data.n
    assert set(zip(kept.learners, kept.items, kept.submitted_at, strict=True)) == set(
        zip(data.learners[expected], data.items[expected], data.submitted_at[expected], strict=True)
    )
    # Nothing new: the data as it is.
    only_old = new_item_takers(data, calibrate_responses(data, SETTINGS, None))
    assert only_old is data


def test_a_new_item_answered_by_able_learners_is_recovered_on_its_takers(selected_new_item):
    """Over four samples: on the takers the item's difficulty and slope are recovered; with
    the whole population as their prior both come out far too low (mean difficulty 0.83,
    slope 0.79 here), which is what this rule avoids."""
    on_takers, everyone = [], []
    for seed in (1, 2, 3, 4):
        stored, data, _ = selected_new_item_data(seed)
        fitted = fit_planned("anchored", data, SETTINGS, stored)
        new = list(fitted.items).index("i099")
        on_takers.append((fitted.difficulty[new], fitted.slope[new]))
        whole = calibrate_responses(data, SETTINGS, stored)
        same = list(whole.items).index("i099")
        everyone.append((whole.difficulty[same], whole.slope[same]))
        # The anchors stay exactly as stored; their counts are those of all responses.
        counted = dict(zip(*np.unique(data.items, return_counts=True), strict=True))
        for i, item in enumerate(stored.items):
            j = list(fitted.items).index(item)
            assert fitted.slope[j] == stored.slope[i]
            assert fitted.difficulty[j] == stored.difficulty[i]
            assert fitted.n_responses[j] == counted[item]
    difficulty, slope = np.mean(on_takers, axis=0)
    assert difficulty == pytest.approx(NEW_DIFFICULTY, abs=0.1)
    assert slope == pytest.approx(NEW_SLOPE, abs=0.35)
    whole_difficulty, whole_slope = np.mean(everyone, axis=0)
    assert whole_difficulty < NEW_DIFFICULTY - 0.1 and whole_slope < NEW_SLOPE - 0.3
