"""IRT in the warehouse: calibrate every skill, assign items to skills, score every learner.

Reads ``intermediate.int_irt_responses`` and writes the ``irt.*`` tables described in
docs/interfaces.md. The mathematics is in ``irt_models``; this module decides what to fit with
what, and keeps the scale stable between runs:

- The first calibration of a skill defines its scale (latent N(0, 1)).
- Later runs hold the parameters of items already calibrated fixed (fixed-item calibration)
  and calibrate only new items onto that scale. With no new item, nothing is refitted.
- ``full_recalibration`` refits every item freely and links the result back to the old scale
  (Stocking-Lord on the common items), so scores stay comparable over time.
- Learners are scored by EAP with the N(0, 1) prior of the base scale. Only learners whose
  responses on a skill changed since they were last scored are re-scored, so a learner without
  new attempts keeps exactly the same theta (after a full recalibration everyone is re-scored).

Pure library over a DuckDB connection: no Dagster import; the assets in
``orchestration/assets/irt.py`` call it and attach the figures it returns as metadata.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np

import irt_models
from irt_models.item_information import test_information
from irt_models.skill_assignment import assign_skill

RESPONSES = "intermediate.int_irt_responses"

IRT_DDL = [
    "create schema if not exists irt",
    """create table if not exists irt.item_parameters (
        skill_id varchar not null, item_id varchar not null, model varchar not null,
        slope double, difficulty double, thresholds double[], categories integer[],
        slope_se double, difficulty_se double, n_responses bigint, n_categories integer,
        infit double, outfit double, flag varchar, anchored boolean not null,
        run_id varchar not null, calibrated_at timestamp not null,
        primary key (skill_id, item_id))""",
    """create table if not exists irt.calibration_runs (
        run_id varchar not null, skill_id varchar not null, run_type varchar not null,
        n_learners bigint, n_items integer, n_new_items integer, n_responses bigint,
        iterations integer, converged boolean, loglik double, latent_mean double,
        latent_var double, marginal_reliability double, seconds double,
        started_at timestamp not null)""",
    """create table if not exists irt.item_skill_assignments (
        item_id varchar primary key, course_id varchar, skill_id varchar, method varchar not null,
        n_candidates integer, n_responses bigint, confidence double, evidence varchar,
        run_id varchar not null)""",
    """create table if not exists irt.learner_abilities (
        learner_id varchar not null, skill_id varchar not null, company_id varchar,
        theta double not null, theta_se double not null, n_items integer not null,
        n_responses bigint not null, last_response_at timestamp, scored_at timestamp not null,
        run_id varchar not null, primary key (learner_id, skill_id))""",
    """create table if not exists irt.learner_ability_history (
        learner_id varchar not null, skill_id varchar not null, as_of timestamp not null,
        theta double not null, theta_se double not null, n_items integer not null,
        run_id varchar not null, scored_at timestamp not null,
        primary key (learner_id, skill_id, as_of))""",
]

# Items whose parameters are not used to score learners: not fitted, or behaving like a
# miskeyed question. They stay listed in irt.item_parameters with their flag.
UNSCORED_FLAGS = ("too_few_responses", "single_category", "negative_discrimination")
INFORMATION_GRID = tuple(float(t) for t in np.arange(-3.0, 3.01, 0.5))


@dataclass(frozen=True)
class IrtSettings:
    """Choices of the IRT stage; every field is also a Dagster run-config option."""

    full_recalibration: bool = False
    quadrature: int = 61
    tol: float = 1e-4
    max_iter: int = 500
    # An item needs this many responses to be calibrated, and to be assigned a skill by data.
    min_item_responses: int = 30
    min_assignment_responses: int = 50
    # One latent distribution per entry level (multiple-group MML): learners choose courses
    # near their own level, so who answers which item depends on ability; within an entry
    # level it no longer does, and item parameters stay unbiased.
    multiple_groups: bool = True
    # Skills calibrated at once; numpy releases the GIL in the heavy parts.
    workers: int = 2
    # Days before the data's latest response at which as-of abilities are kept for gains.
    gain_periods: tuple[int, ...] = (30, 90)


@dataclass
class CalibrationSummary:
    """What one calibration run did, per skill (the rows of irt.calibration_runs)."""

    runs: list[dict] = field(default_factory=list)
    assignments: dict[str, int] = field(default_factory=dict)
    flagged: list[tuple[str, str, str]] = field(default_factory=list)
    # Test information of each skill's scoring items at INFORMATION_GRID.
    information: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class ScoringSummary:
    per_skill: list[dict] = field(default_factory=list)


def ensure_irt_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in IRT_DDL:
        con.execute(statement)


# -- reading ------------------------------------------------------------------------------


# Responses on items whose skill is settled: given, the course's only skill, or assigned by data.
ASSIGNED_RESPONSES = f"""
    select
        responses.skill_id,
        responses.learner_id,
        responses.item_id,
        responses.company_id,
        responses.response,
        responses.n_categories,
        responses.submitted_at,
        responses.entry_level
    from {RESPONSES} as responses
    left join irt.item_skill_assignments as assignments
        on assignments.item_id = responses.item_id
    where not responses.is_candidate
        or (assignments.method = 'data' and assignments.skill_id = responses.skill_id)
"""


@dataclass
class SkillResponses:
    """One skill's responses as arrays, ready for irt_models."""

    learners: np.ndarray
    items: np.ndarray
    responses: np.ndarray
    n_categories: np.ndarray
    # Each response's learner's entry level in the skill: the design group of the calibration.
    groups: np.ndarray | None = None
    # When each response was submitted (scoring keeps as-of estimates from it).
    submitted_at: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.responses)

    @functools.cached_property
    def item_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct items, each response's position among them), computed once."""
        return np.unique(self.items, return_inverse=True)


def fetch_responses(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | dict
) -> SkillResponses:
    """Responses from ``sql`` (learner_id, item_id, response, n_categories, and optionally
    entry_level and submitted_at) as arrays."""
    data = con.execute(sql, params).fetchnumpy()
    # Fixed-width strings once here: numpy sorts them far faster than Python str objects, and
    # the engine, the scorer and the category remap each take uniques of these arrays.
    return SkillResponses(
        learners=np.asarray(data["learner_id"]).astype(str),
        items=np.asarray(data["item_id"]).astype(str),
        responses=np.asarray(data["response"], dtype=np.int64),
        n_categories=np.asarray(data["n_categories"], dtype=np.int64),
        groups=np.asarray(data["entry_level"]) if "entry_level" in data else None,
        submitted_at=np.asarray(data["submitted_at"]) if "submitted_at" in data else None,
    )


def skill_responses(con: duckdb.DuckDBPyConnection, skill_id: str) -> SkillResponses:
    """Responses of a skill on its settled items (given, only course skill, assigned by data)."""
    return fetch_responses(
        con,
        "select learner_id, item_id, response, n_categories, entry_level "
        f"from ({ASSIGNED_RESPONSES}) where skill_id = ?",
        [skill_id],
    )


@dataclass(frozen=True)
class SkillCensus:
    """Counts of a skill's settled responses, read in SQL without fetching the responses."""

    n_learners: int = 0
    n_responses: int = 0
    n_items: int = 0
    # Items with at least min_item_responses responses in two or more categories.
    ready: frozenset[str] = frozenset()


def skill_census(
    con: duckdb.DuckDBPyConnection, settings: IrtSettings, skills: Iterable[str] | None = None
) -> dict[str, SkillCensus]:
    """Per skill: learners, responses, items, and the items ready to calibrate.

    Two aggregate queries for all skills, so a daily run can decide that a skill has nothing
    new to fit without pulling millions of responses into Python.
    """
    where, params = "", []
    if skills is not None:
        where, params = "where list_contains(?, skill_id)", [list(skills)]
    per_item = con.execute(
        f"""
        select skill_id, count(*) as n_items, sum(n) as n_responses,
               list(item_id) filter (where n >= ? and varied) as ready
        from (
            select skill_id, item_id, count(*) as n, min(response) < max(response) as varied
            from ({ASSIGNED_RESPONSES}) {where}
            group by skill_id, item_id
        )
        group by skill_id
        """,
        [settings.min_item_responses, *params],
    ).fetchall()
    learners = dict(
        con.execute(
            f"select skill_id, count(distinct learner_id) from ({ASSIGNED_RESPONSES}) {where} "
            "group by skill_id",
            params,
        ).fetchall()
    )
    return {
        skill: SkillCensus(
            n_learners=int(learners.get(skill, 0)),
            n_responses=int(n_responses),
            n_items=int(n_items),
            ready=frozenset(ready or ()),
        )
        for skill, n_items, n_responses, ready in per_item
    }


def stored_calibration(
    con: duckdb.DuckDBPyConnection, skill_id: str, scoring_only: bool = False
) -> irt_models.Calibration | None:
    """The skill's stored, positively discriminating items as a Calibration on the base scale.

    These are the anchors of a fixed-item calibration; with ``scoring_only`` also items flagged
    as unfit for scoring are left out. Items with a negative slope are never anchors: they are
    refitted with the new items (and stay flagged, and unscored, while they misbehave).
    """
    where = "skill_id = ? and slope > 0"
    params: list = [skill_id]
    if scoring_only:
        where += " and (flag is null or not list_contains(?, flag))"
        params.append(list(UNSCORED_FLAGS))
    rows = con.execute(
        "select item_id, model, slope, coalesce(thresholds, [difficulty]), n_responses, flag "
        f"from irt.item_parameters where {where} order by item_id",
        params,
    ).fetchall()
    if not rows:
        return None
    items, models, slopes, thresholds, n_responses, flags = zip(*rows, strict=True)
    return irt_models.Calibration.from_parameters(
        np.array(items, dtype=object),
        list(models),
        np.array(slopes),
        [np.array(t) for t in thresholds],
        n_responses=np.array(n_responses),
        flag=list(flags),
    )


def stored_items(con: duckdb.DuckDBPyConnection, skill_id: str) -> set[str]:
    """Items of the skill calibrated in an earlier run (whatever their flag)."""
    return {
        r[0]
        for r in con.execute(
            "select item_id from irt.item_parameters where skill_id = ? and slope is not null",
            [skill_id],
        ).fetchall()
    }


def stored_categories(con: duckdb.DuckDBPyConnection, skill_id: str) -> dict[str, list[int]]:
    """Response value of each model category of the skill's calibrated items."""
    rows = con.execute(
        # Only fitted items have categories; an unfitted item's are padding (-1).
        "select item_id, categories from irt.item_parameters "
        "where skill_id = ? and slope is not null and categories is not null "
        "and list_min(categories) >= 0",
        [skill_id],
    ).fetchall()
    return {item: list(cats) for item, cats in rows}


def remap_categories(data: SkillResponses, categories: dict[str, list[int]]) -> np.ndarray:
    """Responses mapped to model categories: the highest category whose value <= response.

    A calibrated item keeps the categories it was calibrated with: one nobody used then was
    merged into the category below, and a response in it now is scored in that category.
    Only items whose categories differ from 0..K-1, or with a response above K-1, are touched.
    """
    responses = data.responses.copy()
    if data.n == 0 or not categories:
        return responses
    items, inverse = data.item_index
    highest = np.full(len(items), -1, dtype=np.int64)
    np.maximum.at(highest, inverse, data.responses)
    for position, item in enumerate(items.tolist()):
        values = categories.get(item)
        if values is None:
            continue
        if values == list(range(len(values))) and highest[position] < len(values):
            continue
        mask = inverse == position
        responses[mask] = np.searchsorted(np.asarray(values), responses[mask], side="right") - 1
    return responses


# -- calibration --------------------------------------------------------------------------


def _calibrate(
    data: SkillResponses,
    settings: IrtSettings,
    fixed: irt_models.Calibration | None,
    responses: np.ndarray | None = None,
) -> irt_models.Calibration:
    items, inverse = data.item_index
    highest = np.zeros(len(items), dtype=np.int64)
    np.maximum.at(highest, inverse, data.n_categories)
    item_ncat = dict(zip(items.tolist(), highest.tolist(), strict=True))
    if fixed is not None:
        # Anchors keep the categories they were calibrated with (collapsed ones stay merged).
        for i, item in enumerate(fixed.items.tolist()):
            item_ncat[item] = int(fixed.n_categories[i])
    return irt_models.calibrate(
        data.learners,
        data.items,
        data.responses if responses is None else responses,
        model="mixed",
        n_categories=item_ncat,
        fixed_items=fixed,
        quadrature=settings.quadrature,
        tol=settings.tol,
        max_iter=settings.max_iter,
        min_responses=settings.min_item_responses,
        groups=data.groups if settings.multiple_groups else None,
    )


def calibrate_skill(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    settings: IrtSettings,
    census: SkillCensus,
    need_responses: bool = False,
) -> tuple[irt_models.Calibration | None, dict, SkillResponses | None]:
    """Calibrate one skill on its stored scale; returns (calibration, run row, responses).

    The responses are read only when something is fitted or ``need_responses`` (the caller
    scores the skill's learners); otherwise they are None.
    """
    started = time.perf_counter()
    stored = stored_calibration(con, skill_id)
    # New items: not calibrated before and now with enough responses to be. Items still short
    # of responses do not trigger a refit on every daily run.
    new_items = census.ready - stored_items(con, skill_id)
    if stored is None and not census.ready:
        # Too little data to define the scale yet: nothing is fitted, nobody scored; the skill
        # is calibrated on a later run once some item has min_item_responses responses.
        run_type, fit = "insufficient_data", None
    elif stored is None:
        run_type, fit = "initial", "free"
    elif settings.full_recalibration:
        run_type, fit = "full_recalibration", "linked"
    else:
        # With nothing new, nothing is fitted: every parameter stays as stored.
        run_type, fit = "anchored", ("anchored" if new_items else None)
    data = skill_responses(con, skill_id) if fit or need_responses else None
    cal = None
    if fit == "free":
        cal = _calibrate(data, settings, None)
    elif fit == "linked":
        free = _calibrate(data, settings, None)
        cal = irt_models.link(free, stored, method="stocking-lord").apply(free)
    elif fit == "anchored":
        cal = _calibrate(
            data, settings, stored, remap_categories(data, stored_categories(con, skill_id))
        )
    run = {
        "skill_id": skill_id,
        "run_type": run_type,
        "n_learners": census.n_learners,
        "n_items": census.n_items,
        "n_new_items": len(new_items) if stored is not None else census.n_items,
        "n_responses": census.n_responses,
        "iterations": cal.iterations if cal is not None else 0,
        "converged": bool(cal.converged) if cal is not None else True,
        "loglik": float(cal.loglik) if cal is not None else None,
        "latent_mean": float(cal.latent_mean) if cal is not None else None,
        "latent_var": float(cal.latent_var) if cal is not None else None,
        "seconds": time.perf_counter() - started,
    }
    return cal, run, data


def marginal_reliability(theta: np.ndarray, se: np.ndarray) -> float:
    """EAP marginal reliability: var(theta) / (var(theta) + mean(se^2))."""
    if len(theta) < 2:
        return float("nan")
    signal = float(np.var(theta))
    return signal / (signal + float(np.mean(se**2)))


def stored_reliability(con: duckdb.DuckDBPyConnection, skill_id: str) -> float | None:
    """Marginal reliability of the skill's current scores (a skill not refitted this run)."""
    value = con.execute(
        "select var_pop(theta) / (var_pop(theta) + avg(theta_se * theta_se)) "
        "from irt.learner_abilities where skill_id = ? having count(*) >= 2",
        [skill_id],
    ).fetchone()
    return None if value is None or value[0] is None else float(value[0])


def scoring_view(cal: irt_models.Calibration) -> irt_models.Calibration:
    """The items of ``cal`` usable for scoring, on the base N(0, 1) prior."""
    keep = cal.fitted & ~np.isin(cal.flag.astype(str), UNSCORED_FLAGS)
    thresholds = [cal.thresholds[i, : cal.n_categories[i] - 1] for i in np.nonzero(keep)[0]]
    return irt_models.Calibration.from_parameters(
        cal.items[keep],
        cal.model[keep],
        cal.slope[keep],
        thresholds,
    )


def eap(
    cal: irt_models.Calibration | None, data: SkillResponses, responses: np.ndarray | None = None
) -> irt_models.Scores | None:
    """EAP scores of every learner in ``data`` from the items ``cal`` can score."""
    if cal is None or data.n == 0:
        return None
    responses = data.responses if responses is None else responses
    known = cal.index(data.items) >= 0
    if not known.any():
        return None
    return irt_models.score(cal, data.learners[known], data.items[known], responses[known])


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def parameter_rows(
    skill_id: str,
    cal: irt_models.Calibration,
    run_id: str,
    now: datetime,
    previous: dict[str, tuple],
) -> list[tuple]:
    """Rows of irt.item_parameters.

    An item held fixed (anchored) keeps what its own calibration established: categories,
    standard errors, flag and calibration time (``previous``: item -> (categories, slope_se,
    difficulty_se, flag, calibrated_at)); its fit statistics are refreshed on the new data.
    """
    rows = []
    for i, item in enumerate(cal.items.tolist()):
        k = int(cal.n_categories[i])
        graded = str(cal.model[i]) == "grm"
        fitted = bool(np.isfinite(cal.slope[i]))
        fixed = bool(cal.fixed[i]) and item in previous
        established = (
            previous[item]
            if fixed
            else (
                [int(c) for c in cal.categories[i, :k]],
                _finite(cal.slope_se[i]),
                _finite(cal.difficulty_se[i]),
                cal.flag[i],
                now,
            )
        )
        categories, slope_se, difficulty_se, flag, calibrated_at = established
        rows.append(
            (
                skill_id,
                item,
                str(cal.model[i]),
                _finite(cal.slope[i]),
                _finite(cal.difficulty[i]),
                [float(b) for b in cal.thresholds[i, : k - 1]] if fitted and graded else None,
                categories,
                slope_se,
                difficulty_se,
                int(cal.n_responses[i]),
                k,
                _finite(cal.infit[i]),
                _finite(cal.outfit[i]),
                flag,
                fixed,
                run_id,
                calibrated_at,
            )
        )
    return rows


def write_parameters(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    cal: irt_models.Calibration,
    run_id: str,
    now: datetime,
) -> None:
    previous = {
        item: tuple(rest)
        for item, *rest in con.execute(
            "select item_id, categories, slope_se, difficulty_se, flag, calibrated_at "
            "from irt.item_parameters where skill_id = ?",
            [skill_id],
        ).fetchall()
    }
    rows = parameter_rows(skill_id, cal, run_id, now, previous)
    con.execute("delete from irt.item_parameters where skill_id = ?", [skill_id])
    # Multi-row VALUES in chunks: executemany costs milliseconds per row in DuckDB.
    placeholders = "(" + ", ".join(["?"] * 17) + ")"
    for start in range(0, len(rows), 200):
        chunk = rows[start : start + 200]
        con.execute(
            "insert into irt.item_parameters values " + ", ".join([placeholders] * len(chunk)),
            [value for row in chunk for value in row],
        )


def refresh_settled_assignments(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Record items whose skill needs no inference (given, or their course's only skill)."""
    con.execute(
        """
        insert or replace into irt.item_skill_assignments
        select
            item_id, course_id, skill_id,
            case when is_given then 'given' else 'only_course_skill' end,
            n_candidates, null, 1.0,
            case when is_given then 'skill_id landed with the item'
                 else 'the course teaches only this skill' end,
            ?
        from intermediate.int_item_candidate_skills
        where is_given or n_candidates = 1
        """,
        [run_id],
    )


@dataclass(frozen=True)
class UndecidedItem:
    item_id: str
    course_id: str
    candidates: list[str]
    n_responses: int  # learners who answered it


def undecided_items(con: duckdb.DuckDBPyConnection) -> list[UndecidedItem]:
    """Items whose skill is still to be decided, with their candidate skills.

    An item left unassigned is looked at again only once it has more responses than when it
    was last decided, so a refresh without new data changes no assignment.
    """
    rows = con.execute(
        f"""
        with responding as (
            select item_id, count(distinct learner_id) as n_responses
            from {RESPONSES} where is_candidate group by item_id
        )
        select candidates.item_id, any_value(candidates.course_id),
               list(candidates.skill_id order by candidates.skill_id),
               coalesce(any_value(responding.n_responses), 0)
        from intermediate.int_item_candidate_skills as candidates
        left join irt.item_skill_assignments as assignments
            on assignments.item_id = candidates.item_id
        left join responding on responding.item_id = candidates.item_id
        where not candidates.is_given and candidates.n_candidates > 1
          and (
              assignments.method is null
              or (assignments.method = 'unassigned'
                  and coalesce(responding.n_responses, 0)
                      > coalesce(assignments.n_responses, -1))
          )
        group by candidates.item_id
        order by candidates.item_id
        """
    ).fetchall()
    return [UndecidedItem(*row) for row in rows]


def skills_to_assign_with(undecided: list[UndecidedItem], settings: IrtSettings) -> set[str]:
    """Candidate skills of the undecided items with enough responses to be assigned."""
    return {
        skill
        for item in undecided
        if item.n_responses >= settings.min_assignment_responses
        for skill in item.candidates
    }


def assign_undecided(
    con: duckdb.DuckDBPyConnection,
    undecided: list[UndecidedItem],
    abilities: dict[str, dict[str, float]],
    settings: IrtSettings,
    run_id: str,
) -> dict[str, list[str]]:
    """Assign undecided items by data; returns the newly assigned items per skill.

    ``abilities[skill][learner]`` is the EAP estimate from items of settled skill; a learner
    without one carries the prior mean 0. The responses of all undecided items come in one
    query (one per item took most of a calibration run at 200 items and 10M responses).
    """
    newly: dict[str, list[str]] = {}
    if not undecided:
        return newly
    data = con.execute(
        f"select item_id, learner_id, any_value(response) as response, "
        f"any_value(n_categories) as n_categories from {RESPONSES} "
        "where list_contains(?, item_id) group by item_id, learner_id "
        "order by item_id, learner_id",
        [[item.item_id for item in undecided]],
    ).fetchnumpy()
    item_ids = np.asarray(data["item_id"])
    starts = np.searchsorted(item_ids, [item.item_id for item in undecided], side="left")
    ends = np.searchsorted(item_ids, [item.item_id for item in undecided], side="right")
    for item, start, end in zip(undecided, starts, ends, strict=True):
        learners = np.asarray(data["learner_id"][start:end]).tolist()
        responses = np.asarray(data["response"][start:end], dtype=float)
        n_categories = int(np.max(data["n_categories"][start:end], initial=2))
        x = np.array(
            [
                [abilities.get(skill, {}).get(learner, 0.0) for skill in item.candidates]
                for learner in learners
            ],
            dtype=float,
        ).reshape(len(learners), len(item.candidates))
        result = assign_skill(
            responses, x, n_categories=n_categories, min_responses=settings.min_assignment_responses
        )
        if result.best is None:
            skill, method, confidence = None, "unassigned", None
            evidence = (
                f"{result.n_responses} responses, fewer than "
                f"{settings.min_assignment_responses} needed"
                if result.reason == "too_few_responses"
                else "no candidate skill's ability predicts the item (slopes <= 0)"
            )
        else:
            skill, method, confidence = item.candidates[result.best], "data", result.confidence
            newly.setdefault(skill, []).append(item.item_id)
            evidence = "; ".join(
                f"{c}: loglik {ll:.1f}, slope {a:.2f}"
                for c, ll, a in zip(item.candidates, result.loglik, result.slope, strict=True)
            )
        con.execute(
            "insert or replace into irt.item_skill_assignments values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                item.item_id,
                item.course_id,
                skill,
                method,
                len(item.candidates),
                result.n_responses,
                confidence,
                evidence,
                run_id,
            ],
        )
    return newly


def skills_with_responses(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            f"select distinct skill_id from {RESPONSES} order by skill_id"
        ).fetchall()
    ]


def run_calibration(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, settings: IrtSettings
) -> CalibrationSummary:
    """Calibrate every skill, assign undecided items to skills, calibrate those onto the scale.

    1. per skill, items of settled skill (and items assigned by data in earlier runs), on the
       stored scale (initial, anchored or full recalibration);
    2. undecided items (no skill_id, several course skills) assigned by data, using the EAP
       abilities from step 1;
    3. per skill with newly assigned items, a fixed-item calibration that adds them.
    """
    ensure_irt_schema(con)
    refresh_settled_assignments(con, run_id)
    skills = skills_with_responses(con)
    census = skill_census(con, settings)
    undecided = undecided_items(con)
    # Skills whose learners' abilities the assignment needs: their responses are read even
    # when nothing of theirs is refitted.
    assigning_with = skills_to_assign_with(undecided, settings)
    summary = CalibrationSummary()
    abilities: dict[str, dict[str, float]] = {}
    runs: dict[str, dict] = {}

    # Step 1 fits skills in parallel threads: each reads its own cursor, and the heavy numpy
    # work releases the GIL. Writes happen afterwards, in this thread.
    def fit(skill_id: str):
        return calibrate_skill(
            con.cursor(),
            skill_id,
            settings,
            census.get(skill_id, SkillCensus()),
            need_responses=skill_id in assigning_with,
        )

    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        fitted = list(pool.map(fit, skills))
    for skill_id, (cal, run, data) in zip(skills, fitted, strict=True):
        if cal is not None:
            write_parameters(con, skill_id, cal, run_id, now)
        if data is not None:
            scoring = stored_calibration(con, skill_id, scoring_only=True)
            scores = eap(scoring, data, remap_categories(data, stored_categories(con, skill_id)))
            if scores is not None:
                abilities[skill_id] = dict(
                    zip(scores.persons.tolist(), scores.theta.tolist(), strict=True)
                )
                run["marginal_reliability"] = marginal_reliability(scores.theta, scores.se)
        else:
            run["marginal_reliability"] = stored_reliability(con, skill_id)
        runs[skill_id] = run

    newly = assign_undecided(con, undecided, abilities, settings, run_id)
    anchored_only = dataclasses.replace(settings, full_recalibration=False)
    # Step 3: the newly assigned items are now settled; their skill's census changed.
    recounted = skill_census(con, settings, newly) if newly else {}
    for skill_id in newly:
        cal, added, _ = calibrate_skill(con, skill_id, anchored_only, recounted[skill_id])
        if cal is None:
            continue
        write_parameters(con, skill_id, cal, run_id, now)
        first = runs[skill_id]
        runs[skill_id] = {
            **added,
            "run_type": first["run_type"],
            "n_new_items": first["n_new_items"] + added["n_new_items"],
            "iterations": first["iterations"] + added["iterations"],
            "converged": first["converged"] and added["converged"],
            "seconds": first["seconds"] + added["seconds"],
            "marginal_reliability": first.get("marginal_reliability"),
        }

    for skill_id in skills:
        run = runs[skill_id]
        con.execute(
            "insert into irt.calibration_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                skill_id,
                run["run_type"],
                run["n_learners"],
                run["n_items"],
                run["n_new_items"],
                run["n_responses"],
                run["iterations"],
                run["converged"],
                run["loglik"],
                run["latent_mean"],
                run["latent_var"],
                run.get("marginal_reliability"),
                run["seconds"],
                now,
            ],
        )
        summary.runs.append({"run_id": run_id, **run})
    for skill_id in skills:
        scoring = stored_calibration(con, skill_id, scoring_only=True)
        if scoring is not None:
            summary.information[skill_id] = test_information(
                scoring, np.array(INFORMATION_GRID)
            ).tolist()
    summary.assignments = dict(
        con.execute(
            "select method, count(*) from irt.item_skill_assignments group by method"
        ).fetchall()
    )
    summary.flagged = con.execute(
        "select skill_id, item_id, flag from irt.item_parameters where flag is not null "
        "order by skill_id, item_id"
    ).fetchall()
    return summary


# -- scoring ------------------------------------------------------------------------------


def data_reference_time(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The latest response in the warehouse: 'now' for gains, so backfilled data works."""
    return con.execute(f"select max(submitted_at) from {RESPONSES}").fetchone()[0]


# A learner's response signature on a skill: how many responses, and the latest. It counts
# every response filed under the skill, including those on items whose skill is still being
# decided, so that assigning an item later changes nobody's signature: only new attempts do.
SIGNATURE = f"""
    select learner_id, any_value(company_id) as company_id,
           count(*) as n_responses, max(submitted_at) as last_response_at
    from {RESPONSES} where skill_id = $skill group by learner_id
"""


def changed_learners_sql(rescore_all: bool) -> str:
    """Responses of the learners to (re)score on one skill.

    A learner whose signature equals the stored one has no new response and keeps the stored
    theta exactly; after a full recalibration everyone is re-scored.
    """
    changed = (
        "true"
        if rescore_all
        else (
            "stored.learner_id is null or stored.n_responses <> signature.n_responses "
            "or stored.last_response_at is distinct from signature.last_response_at"
        )
    )
    return f"""
        with skill_responses as (
            select * from ({ASSIGNED_RESPONSES}) where skill_id = $skill
        ),
        signature as ({SIGNATURE}),
        changed as (
            select signature.learner_id
            from signature
            left join irt.learner_abilities as stored
                on stored.learner_id = signature.learner_id and stored.skill_id = $skill
            where {changed}
        )
        select skill_responses.learner_id, skill_responses.item_id, skill_responses.response,
               skill_responses.n_categories, skill_responses.submitted_at
        from skill_responses
        join changed on changed.learner_id = skill_responses.learner_id
    """


def score_skill(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    run_id: str,
    now: datetime,
    reference: datetime,
    settings: IrtSettings,
    rescore_all: bool,
) -> dict:
    """Re-score the learners of one skill whose responses changed; write abilities and history."""
    started = time.perf_counter()
    cal = stored_calibration(con, skill_id, scoring_only=True)
    data = fetch_responses(con, changed_learners_sql(rescore_all), {"skill": skill_id})
    submitted = data.submitted_at
    responses = remap_categories(data, stored_categories(con, skill_id))
    current = eap(cal, data, responses)
    figures = {"skill_id": skill_id, "rescored": 0, "seconds": 0.0}
    if current is None:
        return figures
    scores = {
        "learner_id": current.persons,
        "theta": current.theta,
        "theta_se": current.se,
        "n_items": current.n_items,
    }
    con.register("current_scores", scores)
    con.execute(
        f"""
        insert or replace into irt.learner_abilities
        select current_scores.learner_id, $skill, signature.company_id, current_scores.theta,
               current_scores.theta_se, current_scores.n_items, signature.n_responses,
               signature.last_response_at, $now, $run_id
        from current_scores
        join ({SIGNATURE}) as signature on signature.learner_id = current_scores.learner_id
        """,
        {"skill": skill_id, "now": now, "run_id": run_id},
    )
    con.unregister("current_scores")
    # History: the estimate as of the data's latest response, and as of each gain period's
    # start from the responses submitted before it (so gains are measurable from day one).
    as_of_dates = [reference] + [reference - timedelta(days=d) for d in settings.gain_periods]
    for as_of in as_of_dates:
        before = submitted <= np.datetime64(as_of)
        if as_of == reference:
            snapshot = current
        else:
            snapshot = eap(
                cal,
                SkillResponses(
                    data.learners[before],
                    data.items[before],
                    data.responses[before],
                    data.n_categories[before],
                ),
                responses[before],
            )
        if snapshot is None:
            continue
        con.register(
            "snapshot",
            {
                "learner_id": snapshot.persons,
                "theta": snapshot.theta,
                "theta_se": snapshot.se,
                "n_items": snapshot.n_items,
            },
        )
        con.execute(
            "insert or replace into irt.learner_ability_history "
            "select learner_id, ?, ?, theta, theta_se, n_items, ?, ? from snapshot",
            [skill_id, as_of, run_id, now],
        )
        con.unregister("snapshot")
    figures.update(rescored=len(current.persons), seconds=time.perf_counter() - started)
    return figures


def run_scoring(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, settings: IrtSettings
) -> ScoringSummary:
    """Score every learner whose responses changed, on every calibrated skill."""
    ensure_irt_schema(con)
    reference = data_reference_time(con)
    summary = ScoringSummary()
    if reference is None:
        return summary
    recalibrated = {
        r[0]
        for r in con.execute(
            "select skill_id from irt.calibration_runs where run_id = ? "
            "and run_type = 'full_recalibration'",
            [run_id],
        ).fetchall()
    }
    for skill_id in skills_with_responses(con):
        summary.per_skill.append(
            score_skill(con, skill_id, run_id, now, reference, settings, skill_id in recalibrated)
        )
    return summary
