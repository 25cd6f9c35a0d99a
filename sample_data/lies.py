"""Known lies in the responses: items with differential item functioning, items that leak.

Both are opt-in (``generate(..., dif_items=N, dif_countries=K, leaked_items=M)``, or the
``--dif-items``, ``--dif-countries`` and ``--leaked-items`` flags) and draw only from their own
generator, ``default_rng([LIES_STREAM, seed])``: with none asked for, nothing here runs and the
files are byte-identical to a run without them. With them, the world and the catalog are still
the same; the responses (and, through failed items and retries, the later draws) differ.

DIF: a chosen quiz item is harder by ``shift`` logits, added to its difficulty, for learners of
companies in the chosen countries (the focal group); everyone else answers the item as in
``truth/items.csv``. Under the 2PL, P = 1 / (1 + exp(-a (theta - b))), the log odds of a correct
answer then differ by a * shift at every theta, so the Mantel-Haenszel common odds ratio
(reference over focal) is alpha = exp(a * shift) and the ETS delta is
D-DIF = -2.35 ln(alpha) = -2.35 a shift (2.35 = 4 / 1.7: the delta scale has 4 units per normal
deviate, and a logit is about 1 / 1.7 deviate). ETS classes: A |D| < 1, C |D| >= 1.5, B
between. The items alternate C and B sizes: a target |D| is drawn, then shift = |D| / (2.35 a).

Leak: from 00:00 UTC of a chosen day on, a chosen quiz item's difficulty drops by a known amount
for everybody answering it (first attempts and retries alike).

DIF countries: those with the most learners. Items are chosen where responses are many: a
pilot run of ``behaviour`` over the whole period, with the same world and catalog but the lies'
own generator, counts the responses per item in and outside the DIF countries; the chosen items
are the initial quiz items with a landed skill and a slope of at least ``MIN_SLOPE`` with the
most responses in the smaller group (in all, without DIF), at most ``MAX_PER_COURSE`` per
course. At the S benchmark size (200 companies, 20,000 learners, 91 days generated, seed 7;
countries GB and US) the first nine have 540 to 810 responses in the focal group and 1,040 to
1,300 in the rest, the next few about 490 and 800. The pilot costs about a quarter of the run;
only runs with lies pay it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from sample_data.behaviour import Simulator
from sample_data.catalog import Catalog
from sample_data.world import Companies, Learners

LIES_STREAM = 0x11E5  # the lies' generator is default_rng([LIES_STREAM, seed])
ETS_DELTA_PER_LOGIT = 2.35  # 4 / 1.7: ETS delta units per logit of the odds ratio
C_DELTA_RANGE = (1.8, 2.6)  # |D-DIF| targets of C-level items (C: >= 1.5)
B_DELTA_RANGE = (1.1, 1.35)  # |D-DIF| targets of B-level items (B: 1.0 to 1.5)
LEAK_DROP_RANGE = (1.0, 1.5)  # logits off a leaked item's difficulty
MIN_SLOPE = 0.8  # DIF in ETS units is a * shift: flat items would need very large shifts
MAX_PER_COURSE = 2
NEVER = np.iinfo(np.int64).max


@dataclass
class Lies:
    """The chosen DIF and leaked items, their sizes, and per-item arrays for the responses."""

    dif_item: np.ndarray  # item indexes
    dif_shift: np.ndarray  # logits added to the difficulty for the focal group
    dif_countries: list[str]
    focal: np.ndarray  # (n_learners,) bool: the learner's company is in a DIF country
    leak_item: np.ndarray  # item indexes
    leak_day: np.ndarray  # day index from whose 00:00 UTC the item is leaked
    leak_from: np.ndarray  # the same, epoch seconds
    leak_drop: np.ndarray  # logits subtracted from the difficulty from then on
    item_shift: np.ndarray  # (n_items,) DIF shift, 0 for other items
    item_leak_from: np.ndarray  # (n_items,) epoch seconds, NEVER for other items
    item_drop: np.ndarray  # (n_items,) leak drop, 0 for other items

    def difficulty_offset(self, item, learner, submitted_at) -> np.ndarray:
        """Logits to add to each response's item difficulty: DIF minus leak."""
        dif = np.where(self.focal[learner], self.item_shift[item], 0.0)
        leaked = submitted_at >= self.item_leak_from[item]
        return dif - np.where(leaked, self.item_drop[item], 0.0)


def ets_delta(slope, shift):
    """Expected MH D-DIF of a 2PL item whose difficulty is ``shift`` higher for the focal group."""
    return -ETS_DELTA_PER_LOGIT * np.asarray(slope) * np.asarray(shift)


def ets_class(delta: float) -> str:
    size = abs(delta)
    return "A" if size < 1.0 else ("C" if size >= 1.5 else "B")


def choose_lies(
    seed: int,
    catalog: Catalog,
    companies: Companies,
    learners: Learners,
    role_skills: np.ndarray,
    counts: tuple[int, int, int],
    days: int,
    first_midnight: int,
) -> Lies:
    """The lies for ``counts`` = (DIF items, DIF countries, leaked items) of a run.

    ``first_midnight`` is 00:00 UTC of the first day, in epoch seconds. Raises ValueError when
    the run cannot hold them (too few courses or countries, a single day with leaks).
    """
    n_dif, n_countries, n_leaked = counts
    _check(n_dif, n_countries, n_leaked, days, companies, learners)
    rng = np.random.default_rng([LIES_STREAM, seed])
    countries = _largest_countries(companies, learners, n_countries) if n_dif else []
    focal = np.isin(np.array(companies.countries), countries)[learners.company]
    candidates = _candidate_items(rng, catalog, learners, role_skills, focal, days)
    if n_dif + n_leaked > len(candidates):
        raise ValueError(
            f"{n_dif + n_leaked} DIF and leaked items asked for, the catalog has "
            f"{len(candidates)} eligible ones"
        )
    chosen = rng.permutation(candidates[: n_dif + n_leaked])
    dif_item, leak_item = np.sort(chosen[:n_dif]), np.sort(chosen[n_dif:])
    target = np.where(
        np.arange(n_dif) % 2 == 0,
        rng.uniform(*C_DELTA_RANGE, n_dif),
        rng.uniform(*B_DELTA_RANGE, n_dif),
    )
    dif_shift = np.round(target / (ETS_DELTA_PER_LOGIT * catalog.item_slope[dif_item]), 4)
    leak_drop = np.round(rng.uniform(*LEAK_DROP_RANGE, n_leaked), 4)
    low = max(1, days // 3)
    leak_day = rng.integers(low, max(low + 1, 2 * days // 3), n_leaked)
    leak_from = first_midnight + leak_day * 86400
    n_items = len(catalog.item_ids)
    item_shift, item_drop = np.zeros(n_items), np.zeros(n_items)
    item_leak_from = np.full(n_items, NEVER, dtype=np.int64)
    item_shift[dif_item], item_drop[leak_item] = dif_shift, leak_drop
    item_leak_from[leak_item] = leak_from
    return Lies(
        dif_item=dif_item,
        dif_shift=dif_shift,
        dif_countries=countries,
        focal=focal,
        leak_item=leak_item,
        leak_day=leak_day,
        leak_from=leak_from,
        leak_drop=leak_drop,
        item_shift=item_shift,
        item_leak_from=item_leak_from,
        item_drop=item_drop,
    )


def _check(n_dif, n_countries, n_leaked, days, companies: Companies, learners: Learners):
    if min(n_dif, n_countries, n_leaked) < 0:
        raise ValueError(f"lie counts must be >= 0, got {n_dif}, {n_countries}, {n_leaked}")
    present = len(set(np.array(companies.countries)[learners.company]))
    if n_dif and not 1 <= n_countries < present:
        raise ValueError(
            f"DIF needs 1 to {present - 1} countries (a reference group), got {n_countries}"
        )
    if n_leaked and days < 2:
        raise ValueError("leaked items need at least 2 days: a day before the leak")


def _largest_countries(companies: Companies, learners: Learners, n: int) -> list[str]:
    """The ``n`` countries with the most learners, ties by name."""
    countries = np.array(companies.countries)[learners.company]
    names, counts = np.unique(countries, return_counts=True)  # names sorted
    order = np.argsort(-counts, kind="stable")
    return sorted(str(name) for name in names[order[:n]])


def _candidate_items(rng, catalog: Catalog, learners: Learners, role_skills, focal, days):
    """Eligible items, most responses in the smaller group first, at most MAX_PER_COURSE each."""
    responses = _pilot_responses(rng, catalog, learners, role_skills, focal, days)
    fewest = responses.min(axis=0) if focal.any() else responses.sum(axis=0)
    eligible = (
        ~catalog.item_assignment
        & catalog.item_tagged
        & (catalog.item_slope >= MIN_SLOPE)
        & (catalog.course_release[catalog.item_course] == 0)
    )
    items, per_course = [], np.zeros(len(catalog.course_ids), dtype=np.int64)
    for item in np.argsort(-fewest, kind="stable"):
        course = catalog.item_course[item]
        if eligible[item] and fewest[item] > 0 and per_course[course] < MAX_PER_COURSE:
            items.append(int(item))
            per_course[course] += 1
    return np.array(items, dtype=np.int64)


def _pilot_responses(rng, catalog: Catalog, learners: Learners, role_skills, focal, days):
    """(2, n_items) responses outside and inside the focal group in a pilot of the period.

    The pilot simulates on a copy of the learners (abilities grow) and draws from ``rng``.
    """
    simulator = Simulator(rng, catalog, copy.deepcopy(learners), role_skills)
    n_items = len(catalog.item_ids)
    responses = np.zeros((2, n_items), dtype=np.int64)
    for day_index in range(days):
        attempts = simulator.day(day_index, day_index * 86400).attempts
        group = focal[attempts.learner].astype(np.int64)
        responses += np.bincount(group * n_items + attempts.item, minlength=2 * n_items).reshape(
            2, n_items
        )
    return responses
