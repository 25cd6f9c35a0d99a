"""Sample landing data for skillgap, drawn from a known truth, with faults at known rates.

``python -m sample_data --companies 200 --learners 20000 --days 90 --seed 7``
writes one file per entity per day into the landing folder (docs/landing-contract.md) and the
truth it was drawn from into a sibling ``truth/`` folder, which the landing scan never sees.

The world: companies in industries and countries whose mean ability differs; learners whose
true abilities per skill share a general and a domain factor; courses at three levels whose
items follow a 2PL (quizzes) or a graded response model (assignments, scored 0-10). Learners
pick courses near their own level, so raw percent-correct is biased and IRT is needed, and
they grow by completing courses. The files exercise what the contract allows (CSV and Parquet,
upper- and mixed-case headers, extra columns, UTC offsets, absent optional columns) and carry
faults with the reason codes of docs/interfaces.md, one fault per row, counted exactly in
``truth/faults.json`` so that for every entity
``landed_rows = clean_rows + superseded + sum(rejected) + exact_duplicates``.

Output is byte-identical for a seed. Each day is simulated and written before the next one,
so memory grows with learners, not with attempts.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
DEFAULT_START = date(2026, 6, 1)
# The default sample (`make run`): 100 companies, 10,000 learners, 60 days, about 330k
# attempts: enough reportable learners per company and skill for unsuppressed benchmarks.
DEFAULT_LEARNERS = 10_000
ENTITIES = (
    "companies",
    "learners",
    "courses",
    "course_skills",
    "items",
    "enrollments",
    "attempts",
)

# Industry mean ability offsets (theta units): the between-industry differences benchmarks show.
INDUSTRIES = {
    "technology": 0.45,
    "financial_services": 0.25,
    "consulting": 0.20,
    "telecommunications": 0.10,
    "education": 0.0,
    "healthcare": -0.10,
    "public_sector": -0.20,
    "manufacturing": -0.25,
    "retail": -0.35,
}
COUNTRIES = ("DE", "US", "GB", "FR", "NL", "ES", "IT", "SE", "PL", "IN", "BR", "JP", "CA", "AU")
COUNTRY_WEIGHTS = (
    0.14,
    0.16,
    0.11,
    0.09,
    0.06,
    0.06,
    0.05,
    0.04,
    0.05,
    0.07,
    0.05,
    0.04,
    0.04,
    0.04,
)
BAND_WEIGHTS = (0.28, 0.30, 0.20, 0.13, 0.09)
COMPANY_SD = 0.3

LEVELS = ("beginner", "intermediate", "advanced")
LEVEL_DIFFICULTY = (-1.0, 0.0, 1.2)
LEVEL_DIFFICULTY_SD = 0.5
# Learners pick the level whose centre is near their theta; this is the selection effect.
LEVEL_CENTRE = (-0.8, 0.2, 1.2)
LEVEL_CHOICE_SD = 0.6
COURSES_PER_SKILL_LEVEL = 3
NEW_COURSE_SHARE = 0.1
ASSIGNMENT_SHARE = 0.15
ASSIGNMENT_MAX = 10
# Graded categories 0..3 land as these score ranges; floor(score / 10 * 4) recovers them.
CATEGORY_SCORES = ((0, 2), (3, 4), (5, 7), (8, 10))
UNTAGGED_SHARE = 0.25

# Ability = company offset + role bonus + general + domain + specific (variances sum to 1).
VAR_GENERAL, VAR_DOMAIN, VAR_SPECIFIC = 0.35, 0.25, 0.40
ROLE_BONUS = 0.3
ROLE_SKILL_SHARE = 0.65
GAIN_RANGE = (0.10, 0.20)
RETRY_BOOST = 0.15

# ~50 attempts per learner per 90 days: P(active day) * session size * retries.
ACTIVE_RATE = 0.144
SESSION_MEAN = 4.0
DROPOUT = 0.03
# After finishing a course a learner usually stays with the same skill and takes the next one
# (often a level up, as their ability grew): learning paths, which also give IRT the overlap
# between course levels that links their items on one scale.
STAY_IN_SKILL = 0.75
RETRY_P = (0.4, 0.3)
INITIAL_SHARE = 0.75
LEARNER_UPDATE_RATE = 0.001
COMPANY_UPDATE_EVERY = 10
COMPANY_UPDATE_SHARE = 0.05

ATTEMPT_FAULT_RATE = 0.005
ATTEMPT_FAULTS = {
    "exact_duplicate": 0.24,
    "conflicting_duplicate": 0.14,
    "unknown_learner": 0.10,
    "unknown_item": 0.10,
    "score_out_of_range": 0.10,
    "bad_timestamp": 0.08,
    "future_timestamp": 0.07,
    "missing_key": 0.07,
    "missing_value": 0.06,
    "invalid_value": 0.04,
}
CSV_ONLY_FAULTS = ("bad_timestamp", "invalid_value")
BAD_TIMESTAMPS = ("not-a-date", "2026-13-45", "2026-02-30T10:00:00", "31/06/2026 10:00")
PARQUET_DAY_SHARE = 0.6
OFFSET_SHARE = 0.1
# Format codes of a timestamp in CSV: UTC without offset, Z, and three local offsets (seconds).
TS_OFFSETS = (None, 0, 7200, -18000, 19800)
TS_NULL, TS_TEXT = -1, 9

FLAG_AID_NULL, FLAG_LID_NULL, FLAG_IID_NULL, FLAG_SCORE_NULL, FLAG_SCORE_TEXT = 1, 2, 4, 8, 16
FAKE_LEARNER_BASE = 90_000_000
REJECTED_LEARNER_BASE = 80_000_000
FAKE_ITEM_BASE = 9_000_000
FAKE_COURSE_BASE = 90_000
FAKE_COMPANY_BASE = 900_000
RESERVOIR_PER_DAY = 64

FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloé",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Łukasz",
    "Sofia",
    "Lars",
    "Amara",
    "Joaquín",
    "Mei",
    "Noah",
    "Olga",
    "Pedro",
    "Ravi",
    "Sara",
    "Tomás",
)
LAST_NAMES = (
    "Andersen",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fischer",
    "García",
    "Hansen",
    "Ito",
    "Jansen",
    "Kowalski",
    "López",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Novak",
    "Silva",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Kumar",
    "Moreau",
    "Nowak",
    "Okafor",
    "Smith",
    "Van der Berg",
    "Ahmed",
    "Kim",
)
COMPANY_WORDS = (
    "Northwind",
    "Bluefin",
    "Cobalt",
    "Juniper",
    "Meridian",
    "Orbit",
    "Pioneer",
    "Quarry",
    "Redwood",
    "Summit",
    "Tidal",
    "Umbra",
    "Vertex",
    "Willow",
    "Zenith",
    "Aster",
    "Beacon",
    "Cedar",
    "Delta",
    "Ember",
)
COMPANY_SUFFIXES = ("Group", "Ltd", "GmbH", "Inc.", "& Co", "Partners", "AG", "S.A.", "Holdings")


@dataclass
class Catalog:
    """Courses, course skills and items with their true parameters."""

    course_ids: list[str]
    course_level: np.ndarray  # (n_courses,) 0..2
    course_primary: np.ndarray  # (n_courses,) skill index
    course_release: np.ndarray  # (n_courses,) first day it is offered
    course_titles: list[str]
    course_skills: list[list[tuple[int, float]]]
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


class Ledger:
    """What was landed where, and where every landed row must end up."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.landed: dict[str, int] = defaultdict(int)
        self.rejected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.exact: dict[str, int] = defaultdict(int)
        self.superseded: dict[str, int] = defaultdict(int)
        self.fault_rows: list[tuple[str, str, str, str, str]] = []
        self.corrupt: list[str] = []
        self.files = 0

    def fault(self, entity: str, rel: str, row_number: int, key: str, reason: str) -> None:
        if reason == "exact_duplicate":
            self.exact[entity] += 1
        else:
            self.rejected[entity][reason] += 1
        self.fault_rows.append((entity, rel, str(row_number), key, reason))


# ---------------------------------------------------------------------------------------------
# Writing files


def _header(name: str, style: str) -> str:
    if style == "upper":
        return name.upper()
    if style == "title":
        return "_".join(part.capitalize() for part in name.split("_"))
    return name


def _ts_sql(ts: str, code: str) -> str:
    """SQL text of epoch seconds ``ts`` in CSV format ``code`` (see TS_OFFSETS)."""
    fmt = "'%Y-%m-%dT%H:%M:%S'"
    parts = [f"when {code} = {TS_NULL} then null"]
    for i, offset in enumerate(TS_OFFSETS):
        if offset is None:
            parts.append(f"when {code} = {i} then strftime(make_timestamp({ts} * 1000000), {fmt})")
            continue
        suffix = "Z" if i == 1 else _offset_text(offset)
        parts.append(
            f"when {code} = {i} then strftime(make_timestamp(({ts} + {offset}) * 1000000), {fmt})"
            f" || '{suffix}'"
        )
    return "case " + " ".join(parts) + " end"


def _offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _copy(con, ledger: Ledger, entity: str, day: date, data: dict, columns, fmt: str) -> str:
    """Write ``columns`` [(name, sql)] of ``data`` to ``<entity>/<entity>_<day>.<fmt>``."""
    rel = f"{entity}/{entity}_{day.isoformat()}.{fmt}"
    path = ledger.out_dir / rel
    n = len(next(iter(data.values())))
    con.register("frame", data)
    select = ", ".join(f'{sql} as "{name}"' for name, sql in columns)
    options = "format parquet" if fmt == "parquet" else "format csv, header true"
    # Rows are already in file order; preserve_insertion_order keeps it without a sort.
    con.execute(f"copy (select {select} from frame) to '{path}' ({options})")
    con.unregister("frame")
    ledger.landed[entity] += n
    ledger.files += 1
    return rel


def _csv_text(rows: list[list[str | None]]) -> list[list[str]]:
    return [["" if v is None else v for v in row] for row in rows]


def _write_small_csv(
    ledger: Ledger, entity: str, day: date, header: list[str], rows: list[list[str | None]]
) -> str:
    """A small dimension file written with the csv module (RFC 4180, minimal quoting)."""
    rel = f"{entity}/{entity}_{day.isoformat()}.csv"
    with open(ledger.out_dir / rel, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(_csv_text(rows))
    ledger.landed[entity] += len(rows)
    ledger.files += 1
    return rel


def _iso(ts: int, code: int = 0) -> str:
    """ISO 8601 text of epoch seconds ``ts`` in CSV format ``code`` (see TS_OFFSETS)."""
    offset = TS_OFFSETS[code]
    moment = datetime.fromtimestamp(ts + (offset or 0), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if offset is None:
        return moment
    return moment + ("Z" if code == 1 else _offset_text(offset))


# ---------------------------------------------------------------------------------------------
# The world


def _read_seed(name: str) -> list[dict[str, str]]:
    with open(SEEDS_DIR / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _cover_then_sample(rng, n: int, weights) -> np.ndarray:
    """n category indices drawn by weight, every category present when n allows."""
    p = np.asarray(weights, dtype=float)
    p = p / p.sum()
    out = rng.choice(len(p), size=n, p=p)
    k = min(n, len(p))
    out[:k] = np.arange(k)
    return rng.permutation(out)


def _build_companies(rng, n: int, bands: list[dict[str, str]]):
    industries = list(INDUSTRIES)
    industry = _cover_then_sample(rng, n, [1.0] * len(industries))
    country = _cover_then_sample(rng, n, COUNTRY_WEIGHTS)
    band = _cover_then_sample(rng, n, BAND_WEIGHTS)
    employees = np.empty(n, dtype=np.int64)
    for i, b in enumerate(band):
        lo = max(int(bands[b]["min_employees"]), 8)  # no one-person companies with learners
        hi = int(bands[b]["max_employees"] or 60000)
        employees[i] = int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1))))
    employees = np.clip(employees, 1, None)
    offset = np.array([INDUSTRIES[industries[i]] for i in industry]) + rng.normal(0, COMPANY_SD, n)
    names = [
        f"{COMPANY_WORDS[rng.integers(len(COMPANY_WORDS))]} "
        f"{COMPANY_WORDS[rng.integers(len(COMPANY_WORDS))]} "
        f"{COMPANY_SUFFIXES[rng.integers(len(COMPANY_SUFFIXES))]}"
        for _ in range(n)
    ]
    return {
        "id": [f"CO{i + 1:05d}" for i in range(n)],
        "name": names,
        "industry": [industries[i] for i in industry],
        "country": [COUNTRIES[i] for i in country],
        "employees": employees,
        "offset": offset,
    }


def _build_catalog(rng, skills: list[dict[str, str]], days: int) -> Catalog:
    n_skills = len(skills)
    domain = [s["domain"] for s in skills]
    release_day = days // 2 if days >= 4 else None
    specs = []  # (primary, level, release)
    for s in range(n_skills):
        for lev in range(3):
            specs += [(s, lev, 0)] * COURSES_PER_SKILL_LEVEL
    if release_day is not None:
        n_new = max(1, round(NEW_COURSE_SHARE * len(specs)))
        for pick in rng.choice(len(specs), n_new, replace=False):
            specs.append((specs[pick][0], specs[pick][1], release_day))
    n_courses = len(specs)
    slots = max(np.bincount([s * 3 + lev for s, lev, _ in specs]))
    candidates = np.full((n_skills, 3, slots), -1, dtype=np.int64)
    fill = np.zeros((n_skills, 3), dtype=np.int64)
    course_skills: list[list[tuple[int, float]]] = []
    gain_weight = np.zeros((n_courses, n_skills))
    titles = []
    seq: dict[tuple[int, int], int] = defaultdict(int)
    for c, (s, lev, _) in enumerate(specs):
        candidates[s, lev, fill[s, lev]] = c
        fill[s, lev] += 1
        seq[(s, lev)] += 1
        titles.append(f"{skills[s]['skill_name']}, {LEVELS[lev]} {seq[(s, lev)]}")
        n_extra = rng.choice(3, p=(0.5, 0.3, 0.2))
        same = [t for t in range(n_skills) if t != s and domain[t] == domain[s]]
        other = [t for t in range(n_skills) if t != s and domain[t] != domain[s]]
        extra: list[int] = []
        for _ in range(n_extra):
            pool = [t for t in (same if rng.random() < 0.7 and same else other) if t not in extra]
            if pool:
                extra.append(int(pool[rng.integers(len(pool))]))
        if extra:
            primary_w = round(float(rng.uniform(0.5, 0.8)), 2)
            rest = rng.dirichlet(np.ones(len(extra))) * (1 - primary_w)
            weights = [primary_w] + [max(0.05, round(float(w), 2)) for w in rest]
        else:
            weights = [1.0]
        pairs = list(zip([s] + extra, weights, strict=True))
        course_skills.append(pairs)
        for t, w in pairs:
            gain_weight[c, t] = w / weights[0]
    course_n = rng.integers(10, 16, n_courses)
    course_start = np.concatenate([[0], np.cumsum(course_n)[:-1]])
    item_course = np.repeat(np.arange(n_courses), course_n)
    n_items = len(item_course)
    item_skill = np.empty(n_items, dtype=np.int64)
    item_tagged = np.ones(n_items, dtype=bool)
    for c in range(n_courses):
        first, n = course_start[c], course_n[c]
        skills_c = [t for t, _ in course_skills[c]]
        weights_c = np.array([w for _, w in course_skills[c]])
        draw = rng.choice(len(skills_c), n, p=weights_c / weights_c.sum())
        draw[: len(skills_c)] = np.arange(len(skills_c))  # every course skill has items
        item_skill[first : first + n] = np.array(skills_c)[rng.permutation(draw)]
        if len(skills_c) > 1:
            item_tagged[first : first + n] = rng.random(n) >= UNTAGGED_SHARE
    level = np.array([specs[c][1] for c in item_course])
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
    return Catalog(
        course_ids=[f"CRS{c + 1:04d}" for c in range(n_courses)],
        course_level=np.array([sp[1] for sp in specs]),
        course_primary=np.array([sp[0] for sp in specs]),
        course_release=np.array([sp[2] for sp in specs]),
        course_titles=titles,
        course_skills=course_skills,
        gain_weight=gain_weight,
        candidates=candidates,
        course_start=course_start,
        course_n_items=course_n,
        item_ids=[f"ITM{i + 1:06d}" for i in range(n_items)],
        item_course=item_course,
        item_skill=item_skill,
        item_tagged=item_tagged,
        item_assignment=assignment,
        item_max=np.where(assignment, ASSIGNMENT_MAX, 1),
        item_slope=slope,
        item_difficulty=difficulty,
        item_thresholds=thresholds,
    )


@dataclass
class Learners:
    company: np.ndarray
    role: np.ndarray
    first: np.ndarray
    last: np.ndarray
    comma_style: np.ndarray
    join_end: np.ndarray  # (days,) learners 0..join_end[d]-1 have joined by day d
    activity: np.ndarray
    theta: np.ndarray  # (n, n_skills), grows
    theta_start: np.ndarray


def _build_learners(rng, n, days, companies, skills, roles, role_skills) -> Learners:
    n_companies = len(companies["id"])
    weights = companies["employees"].astype(float) ** 0.6
    company = rng.choice(n_companies, n, p=weights / weights.sum())
    k = min(n, n_companies)
    company[:k] = np.arange(k)
    company = rng.permutation(company)
    n_initial = n if days == 1 else int(round(INITIAL_SHARE * n))
    join_day = np.concatenate(
        [np.zeros(n_initial, dtype=np.int64), np.sort(rng.integers(1, max(days, 2), n - n_initial))]
    )
    join_end = np.searchsorted(join_day, np.arange(days), side="right")
    role = rng.choice(len(roles), n)
    domains = sorted({s["domain"] for s in skills})
    domain_of = np.array([domains.index(s["domain"]) for s in skills])
    general = rng.normal(0, 1, (n, 1))
    domain_f = rng.normal(0, 1, (n, len(domains)))[:, domain_of]
    specific = rng.normal(0, 1, (n, len(skills)))
    theta = (
        companies["offset"][company][:, None]
        + ROLE_BONUS * role_skills[role]
        + math.sqrt(VAR_GENERAL) * general
        + math.sqrt(VAR_DOMAIN) * domain_f
        + math.sqrt(VAR_SPECIFIC) * specific
    )
    activity = np.clip(rng.gamma(2.0, ACTIVE_RATE / 2.0, n), 0.005, 0.9)
    return Learners(
        company=company,
        role=role,
        first=rng.integers(len(FIRST_NAMES), size=n),
        last=rng.integers(len(LAST_NAMES), size=n),
        comma_style=rng.random(n) < 0.1,
        join_end=join_end,
        activity=activity,
        theta=theta,
        theta_start=theta.copy(),
    )


def _display_name(first: int, last: int, comma: bool) -> str:
    if comma:
        return f"{LAST_NAMES[last]}, {FIRST_NAMES[first]}"
    return f"{FIRST_NAMES[first]} {LAST_NAMES[last]}"


# ---------------------------------------------------------------------------------------------
# Learning activity


class Simulator:
    """Per-learner state (current course, progress) and the day's attempts, vectorised."""

    def __init__(self, rng, cat: Catalog, lrn: Learners, skill_choice: np.ndarray):
        self.rng, self.cat, self.lrn = rng, cat, lrn
        n = len(lrn.company)
        self.skill_cdf = np.cumsum(skill_choice, axis=1)
        self.cur = np.full(n, -1, dtype=np.int64)
        self.last_skill = np.full(n, -1, dtype=np.int64)
        self.pos = np.zeros(n, dtype=np.int64)
        self.score_sum = np.zeros(n)
        self.taken = np.zeros((n, len(cat.course_ids)), dtype=bool)
        self.enrolled_ts = np.zeros(n, dtype=np.int64)
        self.enrolled_code = np.zeros(n, dtype=np.int64)

    def _choose(self, learners: np.ndarray, day: int) -> np.ndarray:
        rng, cat = self.rng, self.cat
        chosen = np.full(len(learners), -1, dtype=np.int64)
        todo = np.arange(len(learners))
        centre = np.array(LEVEL_CENTRE)
        for _ in range(4):
            if len(todo) == 0:
                break
            who = learners[todo]
            cdf = self.skill_cdf[self.lrn.role[who]]
            skill = np.minimum((rng.random((len(who), 1)) > cdf).sum(axis=1), cdf.shape[1] - 1)
            stay = (self.last_skill[who] >= 0) & (rng.random(len(who)) < STAY_IN_SKILL)
            skill = np.where(stay, self.last_skill[who], skill)
            th = self.lrn.theta[who, skill]
            logit = -((th[:, None] - centre) ** 2) / (2 * LEVEL_CHOICE_SD**2)
            p = np.exp(logit - logit.max(axis=1, keepdims=True))
            p_cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
            level = np.minimum((rng.random((len(who), 1)) > p_cdf).sum(axis=1), 2)
            slots = cat.candidates[skill, level]
            safe = np.maximum(slots, 0)
            valid = (
                (slots >= 0) & (cat.course_release[safe] <= day) & ~self.taken[who[:, None], safe]
            )
            keys = np.where(valid, rng.random(slots.shape), 2.0)
            j = keys.argmin(axis=1)
            ok = keys[np.arange(len(who)), j] < 2.0
            chosen[todo[ok]] = slots[np.arange(len(who)), j][ok]
            todo = todo[~ok]
        return chosen

    def _respond(self, item: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (0/1 for quizzes, 0-10 for assignments) and whether the attempt failed."""
        cat, rng = self.cat, self.rng
        a = cat.item_slope[item]
        u = rng.random(len(item))
        score = (u < 1 / (1 + np.exp(-a * (theta - cat.item_difficulty[item])))).astype(float)
        failed = score < 1
        graded = np.flatnonzero(cat.item_assignment[item])
        if len(graded):
            thr = cat.item_thresholds[item[graded]]
            p_at_least = 1 / (1 + np.exp(-a[graded, None] * (theta[graded, None] - thr)))
            category = (u[graded, None] < p_at_least).sum(axis=1)
            lo = np.array([lo for lo, _ in CATEGORY_SCORES])[category]
            width = np.array([hi - lo + 1 for lo, hi in CATEGORY_SCORES])[category]
            score[graded] = lo + np.floor(rng.random(len(graded)) * width)
            failed[graded] = category <= 1
        return score, failed

    def day(self, d: int, day_ts: int) -> dict:
        rng, cat, lrn = self.rng, self.cat, self.lrn
        joined = lrn.join_end[d]
        active = np.flatnonzero(rng.random(joined) < lrn.activity[:joined])
        busy = active[self.cur[active] >= 0]
        self.cur[busy[rng.random(len(busy)) < DROPOUT]] = -1
        free = active[self.cur[active] < 0]
        chosen = self._choose(free, d)
        enr_l, enr_c = free[chosen >= 0], chosen[chosen >= 0]
        self.cur[enr_l], self.pos[enr_l], self.score_sum[enr_l] = enr_c, 0, 0.0
        self.taken[enr_l, enr_c] = True

        sess = active[self.cur[active] >= 0]
        start = day_ts + rng.integers(6 * 3600, 21 * 3600, len(sess))
        enr_at = start[np.searchsorted(sess, enr_l)] - rng.integers(30, 600, len(enr_l))
        enr_code = np.where(
            rng.random(len(enr_l)) < OFFSET_SHARE, rng.integers(1, len(TS_OFFSETS), len(enr_l)), 0
        )
        self.enrolled_ts[enr_l], self.enrolled_code[enr_l] = enr_at, enr_code

        course = self.cur[sess]
        n = np.minimum(
            1 + rng.poisson(SESSION_MEAN - 1, len(sess)),
            cat.course_n_items[course] - self.pos[sess],
        )
        first_row = np.cumsum(n) - n
        learner = np.repeat(sess, n)
        offset = np.arange(n.sum()) - np.repeat(first_row, n)
        item = cat.course_start[self.cur[learner]] + self.pos[learner] + offset
        gap = 45 + rng.exponential(180, len(item))
        elapsed = np.cumsum(gap)
        elapsed -= np.repeat(elapsed[first_row] - gap[first_row], n)
        ts = np.minimum(np.repeat(start, n) + elapsed.astype(np.int64), day_ts + 86399)
        theta = lrn.theta[learner, cat.item_skill[item]]
        score, failed = self._respond(item, theta)
        self.score_sum += np.bincount(learner, score / cat.item_max[item], len(self.cur))

        parts = [(learner, item, ts, score, np.ones(len(item), dtype=np.int64))]
        prev_l, prev_i, prev_t, prev_th, prev_failed = learner, item, ts, theta, failed
        for number, p_retry in enumerate(RETRY_P, start=2):
            again = np.flatnonzero(prev_failed & (rng.random(len(prev_failed)) < p_retry))
            r_l, r_i, r_th = prev_l[again], prev_i[again], prev_th[again] + RETRY_BOOST
            r_t = np.minimum(
                prev_t[again] + 30 + rng.exponential(90, len(again)).astype(np.int64),
                day_ts + 86399,
            )
            r_score, r_failed = self._respond(r_i, r_th)
            parts.append((r_l, r_i, r_t, r_score, np.full(len(again), number, dtype=np.int64)))
            prev_l, prev_i, prev_t, prev_th, prev_failed = r_l, r_i, r_t, r_th, r_failed
        att = [np.concatenate(cols) for cols in zip(*parts, strict=True)]
        order = np.argsort(att[2], kind="stable")
        att = [col[order] for col in att]

        self.pos[sess] += n
        done = sess[self.pos[sess] == cat.course_n_items[course]]
        done_course = self.cur[done]
        last = np.zeros(len(self.cur), dtype=np.int64)
        np.maximum.at(last, att[0], att[2])
        grade = self.score_sum[done] / cat.course_n_items[done_course]
        gain = rng.uniform(*GAIN_RANGE, len(done))
        lrn.theta[done] += gain[:, None] * cat.gain_weight[done_course]
        self.last_skill[done] = cat.course_primary[done_course]
        self.cur[done] = -1
        return {
            "attempts": att,
            "enrolled": (enr_l, enr_c, enr_at, enr_code),
            "completed": (
                done,
                done_course,
                self.enrolled_ts[done],
                self.enrolled_code[done],
                last[done],
                grade,
            ),
        }


# ---------------------------------------------------------------------------------------------
# Attempts: faults and files


LOGICAL = ("aid", "lid", "iid", "ts", "code", "score", "attn", "flags")


def _attempt_sql(fmt: str, with_number: bool) -> dict[str, str]:
    def nullable(flag: int, expr: str) -> str:
        return f"case when flags & {flag} <> 0 then null else {expr} end"

    sql = {
        "attempt_id": nullable(FLAG_AID_NULL, "printf('A%010d', aid)"),
        "learner_id": nullable(FLAG_LID_NULL, "printf('L%07d', lid)"),
        "item_id": nullable(FLAG_IID_NULL, "printf('ITM%06d', iid)"),
    }
    if fmt == "parquet":
        sql["submitted_at"] = (
            f"case when code = {TS_NULL} then null else make_timestamp(ts * 1000000) end"
        )
        sql["score"] = nullable(FLAG_SCORE_NULL, "score")
        sql["attempt_number"] = "attn::integer"
    else:
        sql["submitted_at"] = (
            f"case when code = {TS_TEXT} then ts_text else {_ts_sql('ts', 'code')} end"
        )
        number = (
            "case when score = floor(score) then (score::bigint)::varchar else score::varchar end"
        )
        sql["score"] = (
            f"case when flags & {FLAG_SCORE_NULL} <> 0 then null "
            f"when flags & {FLAG_SCORE_TEXT} <> 0 then score_text else {number} end"
        )
        sql["attempt_number"] = "attn::varchar"
    if not with_number:
        del sql["attempt_number"]
    return sql


class AttemptWriter:
    """Adds the day's faults to the simulated attempts and writes the day's attempts file."""

    def __init__(self, rng, con, ledger: Ledger, cat: Catalog, days: int):
        self.rng, self.con, self.ledger, self.cat = rng, con, ledger, cat
        self.next_aid = 1
        self.reservoir: dict[str, list[tuple]] = {"csv": [], "parquet": []}
        self.fake = 0
        self.is_parquet = rng.random(days) < PARQUET_DAY_SHARE
        self.is_parquet[0] = False
        if days > 1:
            self.is_parquet[1] = True
        csv_days = [d for d in range(2, days) if not self.is_parquet[d]]
        self.no_number_day = csv_days[0] if csv_days else None
        self.corrupt_day = days // 3

    def _fake_id(self) -> int:
        self.fake += 1
        return self.fake

    def write(self, d: int, day: date, att: list[np.ndarray]) -> int:
        rng, cat = self.rng, self.cat
        learner, item, ts, score, attn = att
        n = len(learner)
        fmt = "parquet" if self.is_parquet[d] else "csv"
        with_number = d != self.no_number_day
        rows = {
            "aid": np.arange(self.next_aid, self.next_aid + n, dtype=np.int64),
            "lid": learner + 1,
            "iid": item + 1,
            "ts": ts,
            "code": np.zeros(n, dtype=np.int64)
            if fmt == "parquet"
            else np.where(rng.random(n) < OFFSET_SHARE, rng.integers(1, len(TS_OFFSETS), n), 0),
            "score": score,
            "attn": attn,
            "flags": np.zeros(n, dtype=np.int64),
        }
        self.next_aid += n

        reasons = list(ATTEMPT_FAULTS)
        counts = rng.multinomial(
            rng.binomial(n, ATTEMPT_FAULT_RATE) if n else 0, list(ATTEMPT_FAULTS.values())
        )
        faults: list[tuple[dict, str, int]] = []  # (logical row, reason, earliest position)
        text: dict[int, tuple[str | None, str | None]] = {}
        used = set()

        def real_row(i: int) -> dict:
            return {k: rows[k][i] for k in LOGICAL}

        def pick() -> int:
            while True:
                i = int(rng.integers(n))
                if i not in used:
                    used.add(i)
                    return i

        same_format = fmt if with_number else None
        for reason, count in zip(reasons, counts, strict=True):
            for _ in range(count):
                if fmt == "parquet" and reason in CSV_ONLY_FAULTS:
                    reason = "missing_value"
                i = pick()
                row = real_row(i)
                earliest = 0
                if reason == "exact_duplicate":
                    pool = self.reservoir.get(same_format or "", [])
                    if pool and rng.random() < 0.5:
                        row = pool.pop(int(rng.integers(len(pool))))
                    else:
                        earliest = i + 1
                    faults.append((row, reason, earliest))
                    continue
                if reason == "conflicting_duplicate":
                    pool = self.reservoir["csv"] + self.reservoir["parquet"]
                    if not pool:
                        reason = "unknown_learner"
                    else:
                        j = int(rng.integers(len(pool)))
                        n_csv = len(self.reservoir["csv"])
                        source, j = ("csv", j) if j < n_csv else ("parquet", j - n_csv)
                        row = dict(self.reservoir[source].pop(j))
                        maxs = cat.item_max[row["iid"] - 1]
                        row["score"] = (
                            1 - row["score"]
                            if maxs == 1
                            else (row["score"] + rng.integers(1, maxs)) % (maxs + 1)
                        )
                        row["code"] = 0 if fmt == "parquet" else row["code"]
                        faults.append((row, reason, 0))
                        continue
                row["aid"] = self.next_aid
                self.next_aid += 1
                maxs = cat.item_max[row["iid"] - 1]
                if reason == "unknown_learner":
                    row["lid"] = FAKE_LEARNER_BASE + self._fake_id()
                elif reason == "unknown_item":
                    row["iid"] = FAKE_ITEM_BASE + self._fake_id()
                    row["score"] = float(min(row["score"], 1))
                elif reason == "score_out_of_range":
                    bad = (1.5, 2.0, -1.0) if maxs == 1 else (-1.0, maxs + 1.0, maxs + 0.5)
                    row["score"] = bad[int(rng.integers(3))]
                elif reason == "bad_timestamp":
                    row["code"] = TS_TEXT
                    text[id(row)] = (BAD_TIMESTAMPS[int(rng.integers(len(BAD_TIMESTAMPS)))], None)
                elif reason == "future_timestamp":
                    row["ts"] = row["ts"] + (2099 - 2026) * 365 * 86400
                elif reason == "missing_key":
                    which = int(rng.integers(3))
                    row["flags"] = (FLAG_AID_NULL, FLAG_LID_NULL, FLAG_IID_NULL)[which]
                elif reason == "missing_value":
                    if rng.random() < 0.5:
                        row["flags"] = FLAG_SCORE_NULL
                    else:
                        row["code"] = TS_NULL
                elif reason == "invalid_value":
                    row["flags"] = FLAG_SCORE_TEXT
                    text[id(row)] = (None, "abc")
                faults.append((row, reason, 0))

        # Fault rows go at random positions among the real rows (after their original).
        positions = np.array([int(rng.integers(e, n + 1)) for _, _, e in faults], dtype=np.int64)
        key = np.concatenate([np.arange(n) * 2, positions * 2 - 1])
        order = np.argsort(key, kind="stable")
        data = {
            k: np.concatenate([rows[k], np.array([f[0][k] for f in faults], dtype=rows[k].dtype)])[
                order
            ]
            for k in LOGICAL
        }
        ts_text = np.full(n + len(faults), None, dtype=object)
        score_text = np.full(n + len(faults), None, dtype=object)
        where = np.empty(n + len(faults), dtype=np.int64)
        where[order] = np.arange(n + len(faults))
        for j, (row, _, _) in enumerate(faults):
            if id(row) in text:
                ts_text[where[n + j]], score_text[where[n + j]] = text[id(row)]
        data["ts_text"], data["score_text"] = ts_text, score_text

        sql = _attempt_sql(fmt, with_number)
        names = list(sql)
        style = "lower" if fmt == "parquet" else ("lower", "upper", "title")[d % 3]
        if fmt == "csv" and d % 4 == 3:
            names = [names[i] for i in rng.permutation(len(names))]
        columns = [(_header(c, style), sql[c]) for c in names]
        if d % 5 == 2:
            columns.append(("source_system", "'lms-export'"))
        rel = _copy(self.con, self.ledger, "attempts", day, data, columns, fmt)
        for j, (row, reason, _) in enumerate(faults):
            key = "" if row["flags"] & FLAG_AID_NULL else f"A{row['aid']:010d}"
            self.ledger.fault("attempts", rel, int(where[n + j]) + 1, key, reason)

        if with_number and n:
            keep = rng.choice(n, min(n, RESERVOIR_PER_DAY), replace=False)
            pool = self.reservoir[fmt]
            pool.extend(real_row(int(i)) for i in np.sort(keep) if int(i) not in used)
            del pool[: max(0, len(pool) - 20 * RESERVOIR_PER_DAY)]
        if d == self.corrupt_day:
            rel = f"attempts/attempts_{day.isoformat()}_corrupt.parquet"
            garbage = b"PAR1" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
            (self.ledger.out_dir / rel).write_bytes(garbage)
            self.ledger.corrupt.append(rel)
            self.ledger.fault_rows.append(("attempts", rel, "", "", "corrupt_file"))
        return n


# ---------------------------------------------------------------------------------------------
# Dimension files


def _write_companies(
    ledger, companies, day, rows_idx, ts, faults=(), dup=None, style="lower"
) -> None:
    header = [
        _header(c, style)
        for c in (
            "company_id",
            "company_name",
            "industry",
            "country",
            "employee_count",
            "updated_at",
        )
    ]
    rows = [
        [
            companies["id"][i],
            companies["name"][i],
            companies["industry"][i],
            companies["country"][i],
            str(companies["employees"][i]),
            _iso(int(t)),
        ]
        for i, t in zip(rows_idx, ts, strict=True)
    ]
    if dup is not None:
        rows.insert(dup + 1, list(rows[dup]))
    first_fault = len(rows)
    rows += [list(r) for r, _ in faults]
    rel = _write_small_csv(ledger, "companies", day, header, rows)
    if dup is not None:
        ledger.fault("companies", rel, dup + 2, rows[dup][0], "exact_duplicate")
    for j, (r, reason) in enumerate(faults):
        ledger.fault("companies", rel, first_fault + j + 1, r[0], reason)


def _iso_many(ts: np.ndarray, codes: np.ndarray) -> list[str]:
    """``_iso`` for many timestamps: vectorised for plain UTC, row by row for offsets."""
    text = np.datetime_as_string(np.asarray(ts, dtype=np.int64).astype("datetime64[s]")).tolist()
    for j in np.flatnonzero(codes):
        text[j] = _iso(int(ts[j]), int(codes[j]))
    return text


def _learner_rows(lrn: Learners, companies, roles, idx, ts, codes) -> list[list[str | None]]:
    return [
        [
            f"L{i + 1:07d}",
            companies["id"][lrn.company[i]],
            roles[lrn.role[i]],
            _display_name(lrn.first[i], lrn.last[i], lrn.comma_style[i]),
            t,
        ]
        for i, t in zip(idx, _iso_many(ts, codes), strict=True)
    ]


def _enrollment_rows(cat: Catalog, enrolled, completed) -> list[list[str | None]]:
    """New enrollments (open) by time, then completions (the same key, now completed)."""
    enr_l, enr_c, enr_at, enr_code = enrolled
    order = np.argsort(enr_at, kind="stable")
    rows: list[list[str | None]] = [
        [f"L{lid + 1:07d}", cat.course_ids[c], at, None, None]
        for lid, c, at in zip(
            enr_l[order], enr_c[order], _iso_many(enr_at[order], enr_code[order]), strict=True
        )
    ]
    done, course, at, code, last, grade = completed
    order = np.argsort(last, kind="stable")
    rows += [
        [f"L{lid + 1:07d}", cat.course_ids[c], a, end, f"{g:.3f}"]
        for lid, c, a, end, g in zip(
            done[order],
            course[order],
            _iso_many(at[order], code[order]),
            _iso_many(last[order], np.zeros(len(order), dtype=int)),
            grade[order],
            strict=True,
        )
    ]
    return rows


# ---------------------------------------------------------------------------------------------
# Entry point


def _clear(out_dir: Path) -> None:
    """Remove files this generator wrote before (``<entity>/<entity>_YYYY-MM-DD*``)."""
    for entity in ENTITIES:
        folder = out_dir / entity
        folder.mkdir(parents=True, exist_ok=True)
        pattern = re.compile(rf"{entity}_\d{{4}}-\d{{2}}-\d{{2}}.*\.(csv|parquet)$")
        for path in folder.iterdir():
            if path.is_file() and pattern.match(path.name):
                path.unlink()


def generate(
    out_dir,
    truth_dir,
    companies: int = 100,
    learners: int = DEFAULT_LEARNERS,
    days: int = 60,
    seed: int = 7,
    start_date: date | str = DEFAULT_START,
) -> dict:
    """Write landing files to ``out_dir`` and the truth to ``truth_dir``; return a summary.

    Deterministic for a seed: the same arguments write byte-identical files.
    """
    started = time.perf_counter()
    if companies < 1 or learners < 1 or days < 1:
        raise ValueError(
            f"companies, learners and days must be >= 1, got {companies}, {learners}, {days}"
        )
    if isinstance(start_date, str):
        start_date = date.fromisoformat(start_date)
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    _clear(out_dir)
    truth_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    con.execute("set enable_progress_bar = false")
    ledger = Ledger(out_dir)

    skills = _read_seed("skills.csv")
    bands = _read_seed("company_size_bands.csv")
    targets = _read_seed("role_targets.csv")
    skill_ids = [s["skill_id"] for s in skills]
    roles = sorted({t["job_role"] for t in targets})
    role_skills = np.zeros((len(roles), len(skills)))
    for t in targets:
        role_skills[roles.index(t["job_role"]), skill_ids.index(t["skill_id"])] = 1.0
    skill_choice = ROLE_SKILL_SHARE * role_skills / role_skills.sum(axis=1, keepdims=True) + (
        1 - ROLE_SKILL_SHARE
    ) / len(skills)

    comp = _build_companies(rng, companies, bands)
    cat = _build_catalog(rng, skills, days)
    lrn = _build_learners(rng, learners, days, comp, skills, roles, role_skills)
    sim = Simulator(rng, cat, lrn, skill_choice)
    attempts = AttemptWriter(rng, con, ledger, cat, days)
    base_ts = (start_date - date(1970, 1, 1)).days * 86400
    release_day = days // 2 if days >= 4 else None
    learner_fault_day = 1 if days > 1 else 0
    enrollment_fault_day = min(2, days - 1)
    n_enrollments = n_attempts = 0
    superseded_companies = 0

    for d in range(days):
        day = date.fromordinal(start_date.toordinal() + d)
        day_ts = base_ts + d * 86400

        # companies: the initial population with a few invalid rows, later size changes
        if d == 0:
            fake = [FAKE_COMPANY_BASE + k for k in range(1, 5)]
            faults = [
                (
                    [f"CO{fake[0]}", "Faultline Ltd", "retail", "XX1", "120", _iso(day_ts)],
                    "invalid_country",
                ),
                (
                    [
                        f"CO{fake[1]}",
                        "Grenzwert GmbH",
                        "manufacturing",
                        "Germany",
                        "800",
                        _iso(day_ts),
                    ],
                    "invalid_country",
                ),
                (
                    [f"CO{fake[2]}", "Nullpunkt AG", "technology", "DE", "0", _iso(day_ts)],
                    "invalid_value",
                ),
                (
                    [f"CO{fake[3]}", "Abacus Inc.", "education", "US", "abc", _iso(day_ts)],
                    "invalid_value",
                ),
            ]
            _write_companies(ledger, comp, day, range(companies), [day_ts] * companies, faults)
        elif d % COMPANY_UPDATE_EVERY == COMPANY_UPDATE_EVERY // 2:
            n_upd = max(1, int(round(COMPANY_UPDATE_SHARE * companies)))
            idx = np.sort(rng.choice(companies, min(n_upd, companies), replace=False))
            factor = rng.lognormal(0.0, 0.5, len(idx))
            factor[0] = 6.0  # at least one company changes size band
            comp["employees"][idx] = np.maximum(1, np.round(comp["employees"][idx] * factor))
            ts = day_ts + np.sort(rng.integers(8 * 3600, 18 * 3600, len(idx)))
            dup = 0 if superseded_companies == 0 else None
            _write_companies(ledger, comp, day, idx, ts, dup=dup, style="title")
            superseded_companies += len(idx)
            ledger.superseded["companies"] += len(idx)

        # learners: joiners, a few role or name changes, a few rows for unknown companies
        start_idx = lrn.join_end[d - 1] if d else 0
        joiners = np.arange(start_idx, lrn.join_end[d])
        ts = day_ts + (
            np.zeros(len(joiners), dtype=np.int64)
            if d == 0
            else np.sort(rng.integers(0, 6 * 3600, len(joiners)))
        )
        codes = np.where(
            rng.random(len(joiners)) < OFFSET_SHARE,
            rng.integers(1, len(TS_OFFSETS), len(joiners)),
            0,
        )
        rows = _learner_rows(lrn, comp, roles, joiners, ts, codes)
        upd: np.ndarray = np.array([], dtype=np.int64)
        if d > 0 and start_idx:
            n_upd = rng.binomial(start_idx, LEARNER_UPDATE_RATE)
            upd = np.sort(rng.choice(start_idx, n_upd, replace=False))
            for i in upd:
                if rng.random() < 0.5:
                    lrn.role[i] = (lrn.role[i] + 1 + rng.integers(len(roles) - 1)) % len(roles)
                else:
                    lrn.last[i] = (lrn.last[i] + 1 + rng.integers(len(LAST_NAMES) - 1)) % len(
                        LAST_NAMES
                    )
            ts_upd = day_ts + np.sort(rng.integers(6 * 3600, 20 * 3600, len(upd)))
            rows += _learner_rows(lrn, comp, roles, upd, ts_upd, np.zeros(len(upd), dtype=int))
            ledger.superseded["learners"] += len(upd)
        learner_faults: list[tuple[int, str, str]] = []
        if len(rows) and d in (0, learner_fault_day):
            dup_at = int(rng.integers(len(rows)))
            rows.insert(dup_at + 1, list(rows[dup_at]))
            learner_faults.append((dup_at + 2, rows[dup_at][0], "exact_duplicate"))
        if d == learner_fault_day:
            for k in range(1, 5):
                lid = f"L{REJECTED_LEARNER_BASE + k:08d}"
                if k < 4:
                    rows.append(
                        [
                            lid,
                            f"CO{FAKE_COMPANY_BASE + 10 + k}",
                            roles[0],
                            "Ghost User",
                            _iso(day_ts + 3600),
                        ]
                    )
                    learner_faults.append((len(rows), lid, "unknown_company"))
                else:
                    rows.append(
                        [None, comp["id"][0], roles[0], "Nameless User", _iso(day_ts + 3600)]
                    )
                    learner_faults.append((len(rows), "", "missing_key"))
        if rows:
            style = ("lower", "upper", "title")[d % 3]
            header = [
                _header(c, style)
                for c in ("learner_id", "company_id", "job_role", "display_name", "updated_at")
            ]
            if d % 7 == 3:
                header.append("source_system")
                rows = [r + ["hris"] for r in rows]
            rel = _write_small_csv(ledger, "learners", day, header, rows)
            for row_number, key, reason in learner_faults:
                ledger.fault("learners", rel, row_number, key, reason)

        # catalog: the initial catalog, then a full re-export with new courses mid-period
        if d == 0 or d == release_day:
            _write_catalog(ledger, con, cat, skill_ids, day, d)

        # activity
        result = sim.day(d, day_ts)
        rows = _enrollment_rows(cat, result["enrolled"], result["completed"])
        n_enrollments += len(result["enrolled"][0])
        ledger.superseded["enrollments"] += len(result["completed"][0])
        enrollment_faults = []
        if d == enrollment_fault_day:
            for k in range(1, 7):
                if k <= 3:
                    key = (f"L{FAKE_LEARNER_BASE + 900 + k:08d}", cat.course_ids[k - 1])
                    reason = "unknown_learner"
                else:
                    key = ("L0000001", f"CRS{FAKE_COURSE_BASE + k}")
                    reason = "unknown_course"
                at = int(rng.integers(len(rows) + 1))
                rows.insert(at, [key[0], key[1], _iso(day_ts + 7200), None, None])
                enrollment_faults = [
                    (r + (1 if r >= at + 1 else 0), kk, rs) for r, kk, rs in enrollment_faults
                ]
                enrollment_faults.append((at + 1, "|".join(key), reason))
        if rows:
            header = ["learner_id", "course_id", "enrolled_at", "completed_at", "grade"]
            if d % 6 == 4:
                header = [_header(c, "upper") for c in header]
            rel = _write_small_csv(ledger, "enrollments", day, header, rows)
            for row_number, key, reason in enrollment_faults:
                ledger.fault("enrollments", rel, row_number, key, reason)
        n_attempts += attempts.write(d, day, result["attempts"])

    clean = {
        "companies": companies,
        "learners": learners,
        "courses": len(cat.course_ids),
        "course_skills": sum(len(s) for s in cat.course_skills),
        "items": len(cat.item_ids),
        "attempts": n_attempts,
        "enrollments": n_enrollments,
    }
    faults = _write_truth(con, truth_dir, ledger, clean, comp, cat, lrn, skill_ids, learners)
    con.close()
    seconds = time.perf_counter() - started
    rows_total = sum(ledger.landed.values())
    return {
        "out_dir": str(out_dir),
        "truth_dir": str(truth_dir),
        "files": ledger.files,
        "landed_rows": dict(faults["landed_rows"]),
        "rows": rows_total,
        "attempts": ledger.landed["attempts"],
        "seconds": seconds,
        "rows_per_second": rows_total / seconds if seconds else float("inf"),
    }


def _write_catalog(ledger, con, cat: Catalog, skill_ids, day, d) -> None:
    """Day 0: the catalog. Mid-period: a full re-export of courses plus the new courses' rows."""
    courses = [c for c in range(len(cat.course_ids)) if cat.course_release[c] <= d]
    new = [c for c in courses if cat.course_release[c] == d]
    rows = [[cat.course_ids[c], cat.course_titles[c], LEVELS[cat.course_level[c]]] for c in courses]
    rel = _write_small_csv(ledger, "courses", day, ["course_id", "title", "level"], rows)
    for j, c in enumerate(courses):
        if c not in new:  # the re-export repeats unchanged courses
            ledger.fault("courses", rel, j + 1, cat.course_ids[c], "exact_duplicate")

    rows = [
        [cat.course_ids[c], skill_ids[s], f"{w:.2f}"] for c in new for s, w in cat.course_skills[c]
    ]
    if d == 0:
        rows.append([cat.course_ids[0], "quantum_computing", "0.50"])
    style = "lower" if d == 0 else "title"
    rel = _write_small_csv(
        ledger,
        "course_skills",
        day,
        [_header(c, style) for c in ("course_id", "skill_id", "weight")],
        rows,
    )
    if d == 0:
        ledger.fault(
            "course_skills",
            rel,
            len(rows),
            f"{cat.course_ids[0]}|quantum_computing",
            "unknown_skill",
        )

    items = np.flatnonzero(np.isin(cat.item_course, new))
    item_type = np.where(cat.item_assignment[items], "assignment", "quiz")
    skill = np.array(
        [
            skill_ids[s] if tag else None
            for s, tag in zip(cat.item_skill[items], cat.item_tagged[items], strict=True)
        ],
        dtype=object,
    )
    if d == 0:
        data = {
            "item_id": np.array([cat.item_ids[i] for i in items], dtype=object),
            "course_id": np.array(
                [cat.course_ids[cat.item_course[i]] for i in items], dtype=object
            ),
            "max_score": cat.item_max[items].astype(np.int32),
            "item_type": item_type.astype(object),
            "skill_id": skill,
        }
        columns = [(c, c) for c in ("item_id", "course_id", "max_score", "item_type", "skill_id")]
        _copy(con, ledger, "items", day, data, columns, "parquet")
    else:
        # a later export without the optional item_type column, with one invalid max_score
        rows = [
            [cat.item_ids[i], cat.course_ids[cat.item_course[i]], str(cat.item_max[i]), s]
            for i, s in zip(items, skill, strict=True)
        ]
        bad_id = f"ITM{FAKE_ITEM_BASE + 999_999}"
        rows.append([bad_id, cat.course_ids[new[0]], "0", None])
        rel = _write_small_csv(
            ledger, "items", day, ["ITEM_ID", "COURSE_ID", "MAX_SCORE", "SKILL_ID"], rows
        )
        ledger.fault("items", rel, len(rows), bad_id, "invalid_value")


def _write_truth(
    con,
    truth_dir: Path,
    ledger: Ledger,
    clean: dict,
    comp,
    cat: Catalog,
    lrn: Learners,
    skill_ids: list[str],
    n_learners: int,
) -> dict:
    n_skills = len(skill_ids)
    data = {
        "lid": np.repeat(np.arange(1, n_learners + 1), n_skills),
        "cid": np.repeat(lrn.company + 1, n_skills),
        "sid": np.tile(np.arange(n_skills), n_learners),
        "theta_start": lrn.theta_start.ravel(),
        "theta_end": lrn.theta.ravel(),
    }
    con.register("frame", data)
    skill_list = "[" + ", ".join(f"'{s}'" for s in skill_ids) + "]"
    # Rows are already in (learner, skill) order: no join or sort, so 15M rows stay cheap.
    con.execute(f"""
        copy (
            select printf('L%07d', lid) as learner_id,
                   printf('CO%05d', cid) as company_id,
                   {skill_list}[sid + 1] as skill_id,
                   round(theta_start, 4)::decimal(12, 4) as theta_start,
                   round(theta_end, 4)::decimal(12, 4) as theta_end
            from frame
        ) to '{truth_dir / "learner_skills.csv"}' (format csv, header true)
    """)
    con.unregister("frame")

    with open(truth_dir / "items.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            [
                "item_id",
                "course_id",
                "skill_id",
                "skill_id_landed",
                "item_type",
                "max_score",
                "slope",
                "difficulty",
                "thresholds",
                "course_level",
            ]
        )
        for i, item_id in enumerate(cat.item_ids):
            c = cat.item_course[i]
            thresholds = (
                ";".join(f"{t:.4f}" for t in cat.item_thresholds[i])
                if cat.item_assignment[i]
                else ""
            )
            writer.writerow(
                [
                    item_id,
                    cat.course_ids[c],
                    skill_ids[cat.item_skill[i]],
                    str(bool(cat.item_tagged[i])).lower(),
                    "assignment" if cat.item_assignment[i] else "quiz",
                    int(cat.item_max[i]),
                    f"{cat.item_slope[i]:.4f}",
                    f"{cat.item_difficulty[i]:.4f}",
                    thresholds,
                    LEVELS[cat.course_level[c]],
                ]
            )

    with open(truth_dir / "companies.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["company_id", "industry", "country", "employee_count", "ability_offset"])
        for i, company_id in enumerate(comp["id"]):
            writer.writerow(
                [
                    company_id,
                    comp["industry"][i],
                    comp["country"][i],
                    int(comp["employees"][i]),
                    f"{comp['offset'][i]:.4f}",
                ]
            )

    with open(truth_dir / "fault_rows.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["entity", "source_file", "row_number", "key", "reason"])
        writer.writerows(ledger.fault_rows)

    faults = {
        "landed_rows": {e: ledger.landed[e] for e in ENTITIES},
        "rejected": {e: dict(sorted(ledger.rejected[e].items())) for e in ENTITIES},
        "exact_duplicates": {e: ledger.exact[e] for e in ENTITIES},
        "corrupt_files": list(ledger.corrupt),
        "clean_rows": clean,
        "superseded": {e: ledger.superseded[e] for e in ENTITIES},
    }
    for e in ENTITIES:
        accounted = (
            clean[e]
            + faults["superseded"][e]
            + sum(faults["rejected"][e].values())
            + faults["exact_duplicates"][e]
        )
        if accounted != faults["landed_rows"][e]:
            raise RuntimeError(
                f"accounting for {e}: landed {faults['landed_rows'][e]}, accounted {accounted}"
            )
    (truth_dir / "faults.json").write_text(json.dumps(faults, indent=2) + "\n", encoding="utf-8")
    return faults


def main(argv: list[str] | None = None) -> None:
    from orchestration.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--learners", type=int, default=DEFAULT_LEARNERS)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="landing folder (default $SKILLGAP_LANDING_DIR or data/landing)",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="truth folder (default: truth/ beside the landing folder)",
    )
    parser.add_argument("--start-date", type=date.fromisoformat, default=DEFAULT_START)
    args = parser.parse_args(argv)
    out = args.out or load_settings().landing_dir
    truth = args.truth or Path(out).resolve().parent / "truth"
    summary = generate(
        out, truth, args.companies, args.learners, args.days, args.seed, args.start_date
    )
    print(
        f"sample data: {summary['rows']:,} rows ({summary['attempts']:,} attempts) in "
        f"{summary['files']} files, {summary['seconds']:.1f} s, "
        f"{summary['rows_per_second']:,.0f} rows/s -> {out} (truth: {truth})"
    )


if __name__ == "__main__":
    main()
