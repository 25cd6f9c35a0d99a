"""Who enrolls, attempts and answers what: the day-by-day learning activity.

Active learners without a course pick one: a skill of their role (or, after finishing a
course, usually the same skill again) and the level nearest their ability, which is the
selection effect that makes raw percent-correct biased. Each session attempts the next items
of the course; failed items are retried, a little better each time. Finishing a course
raises the learner's ability in the course's skills. Opt-in ``lies`` (see ``lies``) shift the
difficulty of a few quiz items for some learners or from some day on: the simulator takes
anything with a ``difficulty_offset`` (``DifficultyOffsets``), so this module does not import
``lies``, which imports it for its pilot run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sample_data.catalog import CATEGORY_SCORES, Catalog
from sample_data.formats import OFFSET_SHARE, TIMESTAMP_OFFSETS
from sample_data.world import Learners

# Learners pick the level whose centre is near their theta; this is the selection effect.
LEVEL_CENTRE = (-0.8, 0.2, 1.2)
LEVEL_CHOICE_SD = 0.6
# Share of skill choices among the role's target skills; the rest are uniform over all skills.
ROLE_SKILL_SHARE = 0.65
GAIN_RANGE = (0.10, 0.20)
RETRY_BOOST = 0.15
# ~50 attempts per learner per 90 days: P(active day) * session size * retries.
SESSION_MEAN = 4.0
DROPOUT = 0.03
# After finishing a course a learner usually stays with the same skill and takes the next one
# (often a level up, as their ability grew): learning paths, which also give IRT the overlap
# between course levels that links their items on one scale.
STAY_IN_SKILL = 0.75
RETRY_P = (0.4, 0.3)
LAST_SECOND = 86399


@dataclass
class Attempts:
    learner: np.ndarray  # learner index
    item: np.ndarray  # item index
    submitted_at: np.ndarray  # epoch seconds
    score: np.ndarray  # 0/1 for quizzes, 0-10 for assignments
    attempt_number: np.ndarray


@dataclass
class Enrollments:
    learner: np.ndarray
    course: np.ndarray
    enrolled_at: np.ndarray  # epoch seconds
    time_format: np.ndarray  # see formats.TIMESTAMP_OFFSETS


@dataclass
class Completions:
    learner: np.ndarray
    course: np.ndarray
    enrolled_at: np.ndarray
    enrolled_format: np.ndarray
    completed_at: np.ndarray  # the learner's last attempt of the day
    grade: np.ndarray  # mean score share over the course's items


@dataclass
class DayActivity:
    attempts: Attempts  # in time order
    enrolled: Enrollments
    completed: Completions


def _concatenate_by_time(parts: list[Attempts]) -> Attempts:
    columns = {
        name: np.concatenate([getattr(part, name) for part in parts])
        for name in ("learner", "item", "submitted_at", "score", "attempt_number")
    }
    order = np.argsort(columns["submitted_at"], kind="stable")
    return Attempts(**{name: column[order] for name, column in columns.items()})


class DifficultyOffsets(Protocol):
    """What the simulator asks of the lies (``lies.Lies``): per response, logits to add to the
    item's difficulty."""

    def difficulty_offset(
        self, item: np.ndarray, learner: np.ndarray, submitted_at: np.ndarray
    ) -> np.ndarray: ...


class Simulator:
    """Per-learner state (current course, progress) and the day's attempts, vectorised.

    Every method draws from the one generator of the run: the order of the draws is part of
    the output, so reordering statements here changes every file after them.
    """

    def __init__(
        self,
        rng,
        catalog: Catalog,
        learners: Learners,
        role_skills: np.ndarray,
        lies: DifficultyOffsets | None = None,
    ):
        self.rng, self.catalog, self.learners, self.lies = rng, catalog, learners, lies
        n = len(learners.company)
        skill_choice = (
            ROLE_SKILL_SHARE * role_skills / role_skills.sum(axis=1, keepdims=True)
            + (1 - ROLE_SKILL_SHARE) / role_skills.shape[1]
        )
        self.skill_cdf = np.cumsum(skill_choice, axis=1)
        self.current_course = np.full(n, -1, dtype=np.int64)
        self.last_skill = np.full(n, -1, dtype=np.int64)
        self.position = np.zeros(n, dtype=np.int64)
        self.score_sum = np.zeros(n)
        self.taken = np.zeros((n, len(catalog.course_ids)), dtype=bool)
        self.enrolled_at = np.zeros(n, dtype=np.int64)
        self.enrolled_format = np.zeros(n, dtype=np.int64)

    def day(self, day_index: int, midnight: int) -> DayActivity:
        """Simulate day ``day_index``, whose 00:00 UTC is ``midnight`` (epoch seconds)."""
        rng, learners = self.rng, self.learners
        joined = learners.join_end[day_index]
        active = np.flatnonzero(rng.random(joined) < learners.activity[:joined])
        busy = active[self.current_course[active] >= 0]
        self.current_course[busy[rng.random(len(busy)) < DROPOUT]] = -1
        new_learner, new_course = self._enroll(active, day_index)
        in_session = active[self.current_course[active] >= 0]
        start = midnight + rng.integers(6 * 3600, 21 * 3600, len(in_session))
        enrolled = self._enrollment_times(in_session, start, new_learner, new_course)
        course = self.current_course[in_session]
        first, theta, failed, n_items = self._session_attempts(in_session, start, midnight)
        attempts = _concatenate_by_time(self._with_retries(first, theta, failed, midnight))
        self.position[in_session] += n_items
        completed = self._complete(in_session, course, attempts)
        return DayActivity(attempts=attempts, enrolled=enrolled, completed=completed)

    def _enroll(self, active: np.ndarray, day_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Active learners without a course start one; (learners, courses) that did."""
        free = active[self.current_course[active] < 0]
        chosen = self._choose(free, day_index)
        learner, course = free[chosen >= 0], chosen[chosen >= 0]
        self.current_course[learner], self.position[learner] = course, 0
        self.score_sum[learner] = 0.0
        self.taken[learner, course] = True
        return learner, course

    def _enrollment_times(self, in_session, start, learner, course) -> Enrollments:
        """Enrolled a few minutes before the session starts, some with a UTC offset."""
        rng = self.rng
        enrolled_at = start[np.searchsorted(in_session, learner)] - rng.integers(
            30, 600, len(learner)
        )
        time_format = np.where(
            rng.random(len(learner)) < OFFSET_SHARE,
            rng.integers(1, len(TIMESTAMP_OFFSETS), len(learner)),
            0,
        )
        self.enrolled_at[learner], self.enrolled_format[learner] = enrolled_at, time_format
        return Enrollments(learner, course, enrolled_at, time_format)

    def _choose(self, learners: np.ndarray, day_index: int) -> np.ndarray:
        """A course for each learner (or -1): skill by role or path, level by ability."""
        rng, catalog = self.rng, self.catalog
        chosen = np.full(len(learners), -1, dtype=np.int64)
        todo = np.arange(len(learners))
        centre = np.array(LEVEL_CENTRE)
        for _ in range(4):
            if len(todo) == 0:
                break
            who = learners[todo]
            cdf = self.skill_cdf[self.learners.role[who]]
            skill = np.minimum((rng.random((len(who), 1)) > cdf).sum(axis=1), cdf.shape[1] - 1)
            stay = (self.last_skill[who] >= 0) & (rng.random(len(who)) < STAY_IN_SKILL)
            skill = np.where(stay, self.last_skill[who], skill)
            theta = self.learners.theta[who, skill]
            logit = -((theta[:, None] - centre) ** 2) / (2 * LEVEL_CHOICE_SD**2)
            p = np.exp(logit - logit.max(axis=1, keepdims=True))
            p_cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
            level = np.minimum((rng.random((len(who), 1)) > p_cdf).sum(axis=1), 2)
            slots = catalog.candidates[skill, level]
            safe = np.maximum(slots, 0)
            valid = (
                (slots >= 0)
                & (catalog.course_release[safe] <= day_index)
                & ~self.taken[who[:, None], safe]
            )
            keys = np.where(valid, rng.random(slots.shape), 2.0)
            best = keys.argmin(axis=1)
            found = keys[np.arange(len(who)), best] < 2.0
            chosen[todo[found]] = slots[np.arange(len(who)), best][found]
            todo = todo[~found]
        return chosen

    def _session_attempts(self, in_session, start, midnight):
        """First attempts at the next items of each session; with abilities, failures, sizes."""
        rng, catalog = self.rng, self.catalog
        course = self.current_course[in_session]
        n_items = np.minimum(
            1 + rng.poisson(SESSION_MEAN - 1, len(in_session)),
            catalog.course_n_items[course] - self.position[in_session],
        )
        first_row = np.cumsum(n_items) - n_items
        learner = np.repeat(in_session, n_items)
        offset = np.arange(n_items.sum()) - np.repeat(first_row, n_items)
        item = catalog.course_start[self.current_course[learner]] + self.position[learner] + offset
        gap = 45 + rng.exponential(180, len(item))
        elapsed = np.cumsum(gap)
        elapsed -= np.repeat(elapsed[first_row] - gap[first_row], n_items)
        submitted_at = np.minimum(
            np.repeat(start, n_items) + elapsed.astype(np.int64), midnight + LAST_SECOND
        )
        theta = self.learners.theta[learner, catalog.item_skill[item]]
        score, failed = self._respond(item, theta, learner, submitted_at)
        self.score_sum += np.bincount(
            learner, score / catalog.item_max[item], len(self.current_course)
        )
        first = Attempts(learner, item, submitted_at, score, np.ones(len(item), dtype=np.int64))
        return first, theta, failed, n_items

    def _with_retries(self, first: Attempts, theta, failed, midnight: int) -> list[Attempts]:
        """The first attempts, then retries of failed ones (RETRY_P per round)."""
        rng = self.rng
        parts = [first]
        previous, previous_theta, previous_failed = first, theta, failed
        for number, p_retry in enumerate(RETRY_P, start=2):
            again = np.flatnonzero(previous_failed & (rng.random(len(previous_failed)) < p_retry))
            retry_theta = previous_theta[again] + RETRY_BOOST
            submitted_at = np.minimum(
                previous.submitted_at[again]
                + 30
                + rng.exponential(90, len(again)).astype(np.int64),
                midnight + LAST_SECOND,
            )
            item, learner = previous.item[again], previous.learner[again]
            score, retry_failed = self._respond(item, retry_theta, learner, submitted_at)
            retry = Attempts(
                learner,
                item,
                submitted_at,
                score,
                np.full(len(again), number, dtype=np.int64),
            )
            parts.append(retry)
            previous, previous_theta, previous_failed = retry, retry_theta, retry_failed
        return parts

    def _complete(self, in_session, course, attempts: Attempts) -> Completions:
        """Sessions that reached the course's end: grade, growth, and free for the next."""
        rng, catalog = self.rng, self.catalog
        done = in_session[self.position[in_session] == catalog.course_n_items[course]]
        done_course = self.current_course[done]
        last = np.zeros(len(self.current_course), dtype=np.int64)
        np.maximum.at(last, attempts.learner, attempts.submitted_at)
        grade = self.score_sum[done] / catalog.course_n_items[done_course]
        gain = rng.uniform(*GAIN_RANGE, len(done))
        self.learners.theta[done] += gain[:, None] * catalog.gain_weight[done_course]
        self.last_skill[done] = catalog.course_primary[done_course]
        self.current_course[done] = -1
        return Completions(
            learner=done,
            course=done_course,
            enrolled_at=self.enrolled_at[done],
            enrolled_format=self.enrolled_format[done],
            completed_at=last[done],
            grade=grade,
        )

    def _respond(self, item, theta, learner, submitted_at) -> tuple[np.ndarray, np.ndarray]:
        """Scores (0/1 for quizzes, 0-10 for assignments) and whether the attempt failed."""
        catalog, rng = self.catalog, self.rng
        slope = catalog.item_slope[item]
        u = rng.random(len(item))
        difficulty = catalog.item_difficulty[item]
        if self.lies is not None:  # only quiz items lie: the graded thresholds stay
            difficulty = difficulty + self.lies.difficulty_offset(item, learner, submitted_at)
        p_correct = 1 / (1 + np.exp(-slope * (theta - difficulty)))
        score = (u < p_correct).astype(float)
        failed = score < 1
        graded = np.flatnonzero(catalog.item_assignment[item])
        if len(graded):
            thresholds = catalog.item_thresholds[item[graded]]
            p_at_least = 1 / (1 + np.exp(-slope[graded, None] * (theta[graded, None] - thresholds)))
            category = (u[graded, None] < p_at_least).sum(axis=1)
            low = np.array([low for low, _ in CATEGORY_SCORES])[category]
            width = np.array([high - low + 1 for low, high in CATEGORY_SCORES])[category]
            score[graded] = low + np.floor(rng.random(len(graded)) * width)
            failed[graded] = category <= 1
        return score, failed
