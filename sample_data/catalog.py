"""The course catalog and its true parameters: courses, their skills, and items.

Courses come at three levels, several per skill and level, a few released mid-period. Each
course has a primary skill and up to two more (mostly from the same domain); its items follow
a 2PL (quizzes) or a graded response model (assignments, scored 0-10), with difficulty by
course level. Some items of multi-skill courses land without their skill.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

LEVELS = ("beginner", "intermediate", "advanced")
LEVEL_DIFFICULTY = (-1.0, 0.0, 1.2)
LEVEL_DIFFICULTY_SD = 0.5
COURSES_PER_SKILL_LEVEL = 3
NEW_COURSE_SHARE = 0.1
ASSIGNMENT_SHARE = 0.15
ASSIGNMENT_MAX = 10
# Graded categories 0..3 land as these score ranges; floor(score / 10 * 4) recovers them.
CATEGORY_SCORES = ((0, 2), (3, 4), (5, 7), (8, 10))
UNTAGGED_SHARE = 0.25


@dataclass
class Catalog:
    """Courses, course skills and items with their true parameters."""

    course_ids: list[str]
    course_level: np.ndarray  # (n_courses,) 0..2
    course_primary: np.ndarray  # (n_courses,) skill index
    course_release: np.ndarray  # (n_courses,) first day it is offered
    course_titles: list[str]
    course_skills: list[list[tuple[int, float]]]  # (skill index, weight), primary first
    gain_weight: np.ndarray  # (n_courses, n_skills) growth share per skill
    candidates: np.ndarray  # (n_skills, 3, slots) course index or -1
    course_start: np.ndarray  # (n_courses,) first item index
    course_n_items: np.ndarray  # (n_courses,)
    item_ids: list[str]
    item_course: np.ndarray
    item_skill: np.ndarray
    item_tagged: np.ndarray  # bool: skill_id landed
    item_assignment: np.ndarray  # bool
    item_max: np.ndarray  # int
    item_slope: np.ndarray
    item_difficulty: np.ndarray
    item_thresholds: np.ndarray  # (n_items, 3), NaN for quizzes


def release_day(days: int) -> int | None:
    """The day new courses are released (and the catalog re-exported), if the period allows."""
    return days // 2 if days >= 4 else None


def build_catalog(rng, skills: list[dict[str, str]], days: int) -> Catalog:
    specs = _course_specs(rng, len(skills), days)  # (primary skill, level, release day)
    course_skills = _course_skills(rng, skills, specs)
    n_courses = len(specs)
    gain_weight = np.zeros((n_courses, len(skills)))
    for course, pairs in enumerate(course_skills):
        for skill, weight in pairs:
            gain_weight[course, skill] = weight / pairs[0][1]
    course_n = rng.integers(10, 16, n_courses)
    course_start = np.concatenate([[0], np.cumsum(course_n)[:-1]])
    item_course = np.repeat(np.arange(n_courses), course_n)
    item_skill, item_tagged = _item_skills(rng, course_skills, course_start, course_n)
    level = np.array([specs[course][1] for course in item_course])
    difficulty, slope, assignment, thresholds = _item_parameters(rng, level)
    return Catalog(
        course_ids=[f"CRS{course + 1:04d}" for course in range(n_courses)],
        course_level=np.array([spec[1] for spec in specs]),
        course_primary=np.array([spec[0] for spec in specs]),
        course_release=np.array([spec[2] for spec in specs]),
        course_titles=_course_titles(skills, specs),
        course_skills=course_skills,
        gain_weight=gain_weight,
        candidates=_candidates(len(skills), specs),
        course_start=course_start,
        course_n_items=course_n,
        item_ids=[f"ITM{item + 1:06d}" for item in range(len(item_course))],
        item_course=item_course,
        item_skill=item_skill,
        item_tagged=item_tagged,
        item_assignment=assignment,
        item_max=np.where(assignment, ASSIGNMENT_MAX, 1),
        item_slope=slope,
        item_difficulty=difficulty,
        item_thresholds=thresholds,
    )


def _course_specs(rng, n_skills: int, days: int) -> list[tuple[int, int, int]]:
    """(primary skill, level, release day) per course: the initial ones, then the new ones."""
    specs = []
    for skill in range(n_skills):
        for level in range(3):
            specs += [(skill, level, 0)] * COURSES_PER_SKILL_LEVEL
    released = release_day(days)
    if released is not None:
        n_new = max(1, round(NEW_COURSE_SHARE * len(specs)))
        for pick in rng.choice(len(specs), n_new, replace=False):
            specs.append((specs[pick][0], specs[pick][1], released))
    return specs


def _candidates(n_skills: int, specs: list[tuple[int, int, int]]) -> np.ndarray:
    """(n_skills, 3, slots): the courses of each skill and level, padded with -1."""
    slots = max(np.bincount([skill * 3 + level for skill, level, _ in specs]))
    candidates = np.full((n_skills, 3, slots), -1, dtype=np.int64)
    fill = np.zeros((n_skills, 3), dtype=np.int64)
    for course, (skill, level, _) in enumerate(specs):
        candidates[skill, level, fill[skill, level]] = course
        fill[skill, level] += 1
    return candidates


def _course_titles(skills: list[dict[str, str]], specs: list[tuple[int, int, int]]) -> list[str]:
    """ "<skill name>, <level> <n>", numbered within skill and level."""
    titles = []
    sequence: dict[tuple[int, int], int] = defaultdict(int)
    for skill, level, _ in specs:
        sequence[(skill, level)] += 1
        titles.append(f"{skills[skill]['skill_name']}, {LEVELS[level]} {sequence[(skill, level)]}")
    return titles


def _course_skills(
    rng, skills: list[dict[str, str]], specs: list[tuple[int, int, int]]
) -> list[list[tuple[int, float]]]:
    """Each course's skills with weights: the primary, then up to two more, mostly same-domain."""
    n_skills = len(skills)
    domain = [skill["domain"] for skill in skills]
    course_skills = []
    for primary, _, _ in specs:
        n_extra = rng.choice(3, p=(0.5, 0.3, 0.2))
        same = [
            skill
            for skill in range(n_skills)
            if skill != primary and domain[skill] == domain[primary]
        ]
        other = [
            skill
            for skill in range(n_skills)
            if skill != primary and domain[skill] != domain[primary]
        ]
        extra: list[int] = []
        for _ in range(n_extra):
            # rng.random() is drawn even when `same` is empty: the draw order is the output.
            candidates = same if rng.random() < 0.7 and same else other
            pool = [skill for skill in candidates if skill not in extra]
            if pool:
                extra.append(int(pool[rng.integers(len(pool))]))
        if extra:
            primary_weight = round(float(rng.uniform(0.5, 0.8)), 2)
            rest = rng.dirichlet(np.ones(len(extra))) * (1 - primary_weight)
            weights = [primary_weight] + [max(0.05, round(float(weight), 2)) for weight in rest]
        else:
            weights = [1.0]
        course_skills.append(list(zip([primary] + extra, weights, strict=True)))
    return course_skills


def _item_skills(
    rng, course_skills, course_start: np.ndarray, course_n: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's skill (every course skill has items) and whether its skill_id lands."""
    n_items = int(course_n.sum())
    item_skill = np.empty(n_items, dtype=np.int64)
    item_tagged = np.ones(n_items, dtype=bool)
    for course, pairs in enumerate(course_skills):
        first, n = course_start[course], course_n[course]
        skills = [skill for skill, _ in pairs]
        weights = np.array([weight for _, weight in pairs])
        draw = rng.choice(len(skills), n, p=weights / weights.sum())
        draw[: len(skills)] = np.arange(len(skills))  # every course skill has items
        item_skill[first : first + n] = np.array(skills)[rng.permutation(draw)]
        if len(skills) > 1:
            item_tagged[first : first + n] = rng.random(n) >= UNTAGGED_SHARE
    return item_skill, item_tagged


def _item_parameters(rng, level: np.ndarray):
    """True difficulty, slope, assignment flag and graded thresholds (NaN for quizzes)."""
    n_items = len(level)
    difficulty = rng.normal(np.array(LEVEL_DIFFICULTY)[level], LEVEL_DIFFICULTY_SD)
    slope = np.clip(rng.lognormal(math.log(1.2), 0.3, n_items), 0.35, 3.5)
    assignment = rng.random(n_items) < ASSIGNMENT_SHARE
    spread = rng.uniform(0.5, 1.1, n_items)
    steps = np.sort(rng.normal(0, 1, (n_items, 3)), axis=1)
    steps = (steps - steps.mean(axis=1, keepdims=True)) * spread[:, None]
    steps[:, 1] = np.clip(steps[:, 1], steps[:, 0] + 0.2, None)
    steps[:, 2] = np.clip(steps[:, 2], steps[:, 1] + 0.2, None)
    steps -= steps.mean(axis=1, keepdims=True)
    thresholds = np.where(assignment[:, None], difficulty[:, None] + steps, np.nan)
    return difficulty, slope, assignment, thresholds
