"""The synthetic world and its true parameters: companies, learners, skills and roles.

Companies sit in industries and countries whose mean ability differs; learners' true
abilities per skill share a general and a domain factor, plus their company's offset and a
bonus on their role's skills. The world also changes over the period: companies change size,
learners change role or name. Courses and items are in ``catalog``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"

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

# Ability = company offset + role bonus + general + domain + specific (variances sum to 1).
VAR_GENERAL, VAR_DOMAIN, VAR_SPECIFIC = 0.35, 0.25, 0.40
ROLE_BONUS = 0.3
# Learners active on a day, on average (gamma-distributed per learner).
ACTIVE_RATE = 0.144
# Share of learners present on day 0; the rest join over the period.
INITIAL_SHARE = 0.75
LEARNER_UPDATE_RATE = 0.001
COMPANY_UPDATE_EVERY = 10
COMPANY_UPDATE_SHARE = 0.05

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
class Seeds:
    """The seed files the world is built on: skills, company size bands, roles' target skills."""

    skills: list[dict[str, str]]
    size_bands: list[dict[str, str]]
    skill_ids: list[str]
    roles: list[str]
    role_skills: np.ndarray  # (n_roles, n_skills) 1 where the skill is a target of the role


def read_seed(name: str) -> list[dict[str, str]]:
    with open(SEEDS_DIR / name, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def read_seeds() -> Seeds:
    skills = read_seed("skills.csv")
    size_bands = read_seed("company_size_bands.csv")
    targets = read_seed("role_targets.csv")
    skill_ids = [skill["skill_id"] for skill in skills]
    roles = sorted({target["job_role"] for target in targets})
    role_skills = np.zeros((len(roles), len(skills)))
    for target in targets:
        role_skills[roles.index(target["job_role"]), skill_ids.index(target["skill_id"])] = 1.0
    return Seeds(skills, size_bands, skill_ids, roles, role_skills)


def cover_then_sample(rng, n: int, weights) -> np.ndarray:
    """n category indices drawn by weight, every category present when n allows."""
    p = np.asarray(weights, dtype=float)
    p = p / p.sum()
    out = rng.choice(len(p), size=n, p=p)
    k = min(n, len(p))
    out[:k] = np.arange(k)
    return rng.permutation(out)


@dataclass
class Companies:
    ids: list[str]
    names: list[str]
    industries: list[str]
    countries: list[str]
    employees: np.ndarray  # changes over the period (resize_companies)
    offsets: np.ndarray  # true mean ability offset (theta units)


def build_companies(rng, n: int, size_bands: list[dict[str, str]]) -> Companies:
    industries = list(INDUSTRIES)
    industry = cover_then_sample(rng, n, [1.0] * len(industries))
    country = cover_then_sample(rng, n, COUNTRY_WEIGHTS)
    band = cover_then_sample(rng, n, BAND_WEIGHTS)
    employees = np.empty(n, dtype=np.int64)
    for company, band_index in enumerate(band):
        # no one-person companies with learners
        low = max(int(size_bands[band_index]["min_employees"]), 8)
        high = int(size_bands[band_index]["max_employees"] or 60000)
        employees[company] = int(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
    employees = np.clip(employees, 1, None)
    offsets = np.array([INDUSTRIES[industries[i]] for i in industry]) + rng.normal(0, COMPANY_SD, n)
    names = [
        f"{COMPANY_WORDS[rng.integers(len(COMPANY_WORDS))]} "
        f"{COMPANY_WORDS[rng.integers(len(COMPANY_WORDS))]} "
        f"{COMPANY_SUFFIXES[rng.integers(len(COMPANY_SUFFIXES))]}"
        for _ in range(n)
    ]
    return Companies(
        ids=[f"CO{i + 1:05d}" for i in range(n)],
        names=names,
        industries=[industries[i] for i in industry],
        countries=[COUNTRIES[i] for i in country],
        employees=employees,
        offsets=offsets,
    )


@dataclass
class Learners:
    company: np.ndarray  # company index
    role: np.ndarray  # role index, changes over the period (change_learners)
    first_name: np.ndarray  # index into FIRST_NAMES
    last_name: np.ndarray  # index into LAST_NAMES, changes over the period
    comma_style: np.ndarray  # bool: display name "Last, First"
    join_end: np.ndarray  # (days,) learners 0..join_end[d]-1 have joined by day d
    activity: np.ndarray  # probability of being active on a day
    theta: np.ndarray  # (n, n_skills), grows
    theta_start: np.ndarray


def build_learners(rng, n: int, days: int, companies: Companies, seeds: Seeds) -> Learners:
    n_companies = len(companies.ids)
    weights = companies.employees.astype(float) ** 0.6
    company = rng.choice(n_companies, n, p=weights / weights.sum())
    k = min(n, n_companies)
    company[:k] = np.arange(k)
    company = rng.permutation(company)
    n_initial = n if days == 1 else int(round(INITIAL_SHARE * n))
    join_day = np.concatenate(
        [np.zeros(n_initial, dtype=np.int64), np.sort(rng.integers(1, max(days, 2), n - n_initial))]
    )
    join_end = np.searchsorted(join_day, np.arange(days), side="right")
    role = rng.choice(len(seeds.roles), n)
    domains = sorted({skill["domain"] for skill in seeds.skills})
    domain_of = np.array([domains.index(skill["domain"]) for skill in seeds.skills])
    general = rng.normal(0, 1, (n, 1))
    domain_factor = rng.normal(0, 1, (n, len(domains)))[:, domain_of]
    specific = rng.normal(0, 1, (n, len(seeds.skills)))
    theta = (
        companies.offsets[company][:, None]
        + ROLE_BONUS * seeds.role_skills[role]
        + math.sqrt(VAR_GENERAL) * general
        + math.sqrt(VAR_DOMAIN) * domain_factor
        + math.sqrt(VAR_SPECIFIC) * specific
    )
    activity = np.clip(rng.gamma(2.0, ACTIVE_RATE / 2.0, n), 0.005, 0.9)
    return Learners(
        company=company,
        role=role,
        first_name=rng.integers(len(FIRST_NAMES), size=n),
        last_name=rng.integers(len(LAST_NAMES), size=n),
        comma_style=rng.random(n) < 0.1,
        join_end=join_end,
        activity=activity,
        theta=theta,
        theta_start=theta.copy(),
    )


def display_name(first_name: int, last_name: int, comma: bool) -> str:
    if comma:
        return f"{LAST_NAMES[last_name]}, {FIRST_NAMES[first_name]}"
    return f"{FIRST_NAMES[first_name]} {LAST_NAMES[last_name]}"


def resize_companies(rng, companies: Companies) -> np.ndarray:
    """Change the size of a few companies, at least one across a size band; their indexes."""
    n_companies = len(companies.ids)
    n_resized = max(1, int(round(COMPANY_UPDATE_SHARE * n_companies)))
    resized = np.sort(rng.choice(n_companies, min(n_resized, n_companies), replace=False))
    factor = rng.lognormal(0.0, 0.5, len(resized))
    factor[0] = 6.0  # at least one company changes size band
    companies.employees[resized] = np.maximum(1, np.round(companies.employees[resized] * factor))
    return resized


def change_learners(rng, learners: Learners, n_joined: int, n_roles: int) -> np.ndarray:
    """Give a few of the first ``n_joined`` learners a new role or last name; their indexes."""
    n_changed = rng.binomial(n_joined, LEARNER_UPDATE_RATE)
    changed = np.sort(rng.choice(n_joined, n_changed, replace=False))
    n_last_names = len(LAST_NAMES)
    for learner in changed:
        if rng.random() < 0.5:
            shift = 1 + rng.integers(n_roles - 1)
            learners.role[learner] = (learners.role[learner] + shift) % n_roles
        else:
            shift = 1 + rng.integers(n_last_names - 1)
            learners.last_name[learner] = (learners.last_name[learner] + shift) % n_last_names
    return changed
