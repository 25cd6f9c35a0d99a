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
from orchestration.settings import project_vars

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
    # Columns added after the first release (2026-11-30): existing warehouses gain them here.
    "alter table irt.item_skill_assignments add column if not exists candidate_skills varchar",
    "alter table irt.learner_abilities add column if not exists response_signature hugeint",
    """create table if not exists irt.learner_abilities_period_start (
        learner_id varchar not null, skill_id varchar not null, period_days integer not null,
        period_start timestamp not null, period_end timestamp not null, theta double not null,
        theta_se double not null, n_items integer not null, run_id varchar not null,
        scored_at timestamp not null, primary key (learner_id, skill_id, period_days))""",
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
    # Days before the data's latest response at which as-of abilities are kept for gains: the
    # dbt var gain_periods (dbt_project.yml), which is their one home.
    gain_periods: tuple[int, ...] = field(
        default_factory=lambda: tuple(int(d) for d in project_vars()["gain_periods"])
    )


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
    # The data's latest response: where the gain periods end.
    reference: datetime | None = None


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
    return responses_from(con.execute(sql, params).fetchnumpy())


def responses_from(data: dict, rows: slice = slice(None)) -> SkillResponses:
    """``rows`` of fetched response columns (``fetchnumpy``) as a SkillResponses."""
    # Fixed-width strings once here: numpy sorts them far faster than Python str objects, and
    # the engine, the scorer and the category remap each take uniques of these arrays.
    return SkillResponses(
        learners=np.asarray(data["learner_id"][rows]).astype(str),
        items=np.asarray(data["item_id"][rows]).astype(str),
        responses=np.asarray(data["response"][rows], dtype=np.int64),
        n_categories=np.asarray(data["n_categories"][rows], dtype=np.int64),
        groups=np.asarray(data["entry_level"][rows]) if "entry_level" in data else None,
        submitted_at=np.asarray(data["submitted_at"][rows]) if "submitted_at" in data else None,
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


# The items of a skill whose parameters score learners: fitted, discriminating positively, and
# not flagged as unfit for scoring. Shared by scoring and by the response signature, so that a
# learner is re-scored exactly when something that enters their score changes.
SCORING_ITEMS_WHERE = (
    "skill_id = $skill and slope > 0 and (flag is null or not list_contains($unscored, flag))"
)


def stored_calibration(
    con: duckdb.DuckDBPyConnection, skill_id: str, scoring_only: bool = False
) -> irt_models.Calibration | None:
    """The skill's stored, positively discriminating items as a Calibration on the base scale.

    These are the anchors of a fixed-item calibration; with ``scoring_only`` also items flagged
    as unfit for scoring are left out. Items with a negative slope are never anchors: they are
    refitted with the new items (and stay flagged, and unscored, while they misbehave). Each
    item keeps the response values of the categories it was calibrated with, so a response it
    has not seen before is counted as ``irt_models.score`` counts it (``model_categories``).
    """
    where = SCORING_ITEMS_WHERE if scoring_only else "skill_id = $skill and slope > 0"
    params: dict = {"skill": skill_id}
    if scoring_only:
        params["unscored"] = list(UNSCORED_FLAGS)
    rows = con.execute(
        "select item_id, model, slope, coalesce(thresholds, [difficulty]), categories, "
        f"coalesce(n_responses, 0), flag from irt.item_parameters where {where} order by item_id",
        params,
    ).fetchall()
    if not rows:
        return None
    items, models, slopes, thresholds, categories, n_responses, flags = zip(*rows, strict=True)
    return irt_models.Calibration.from_parameters(
        np.array(items, dtype=object),
        list(models),
        np.array(slopes),
        [np.array(t) for t in thresholds],
        n_responses=np.array(n_responses),
        flag=list(flags),
        categories=[np.array(c) for c in categories],
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


# -- calibration --------------------------------------------------------------------------


def _calibrate(
    data: SkillResponses, settings: IrtSettings, fixed: irt_models.Calibration | None
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
        data.responses,
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
        cal = _calibrate(data, settings, stored)
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


def eap(cal: irt_models.Calibration | None, data: SkillResponses) -> irt_models.Scores | None:
    """EAP scores of every learner in ``data`` from the items ``cal`` can score."""
    if cal is None or data.n == 0:
        return None
    known = cal.index(data.items) >= 0
    if not known.any():
        return None
    return irt_models.score(cal, data.learners[known], data.items[known], data.responses[known])


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


# Each item's candidate skills now: its skill_id, or its course's skills. ``candidate_skills``
# is the sorted list as text; an assignment decided on another list is decided again.
CURRENT_CANDIDATES = """
    select
        item_id,
        any_value(course_id) as course_id,
        bool_or(is_given) as is_given,
        count(*) as n_candidates,
        min(skill_id) as first_skill,
        string_agg(skill_id, ',' order by skill_id) as candidate_skills
    from intermediate.int_item_candidate_skills
    group by item_id
"""

ASSIGNMENT_COLUMNS = (
    "item_id, course_id, skill_id, method, n_candidates, n_responses, confidence, evidence, "
    "run_id, candidate_skills"
)


def refresh_assignments(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Bring item -> skill assignments up to date with the items' candidate skills.

    An assignment stands only while the candidates it was decided on stand: an item whose
    course gained or lost a skill, whose skill_id was set, changed or cleared, or which is gone,
    is decided again (settled at once when it has one candidate, by data otherwise). The
    parameters an item has under a skill it no longer assesses are dropped, so its responses
    count in exactly one skill, as a rebuild would have it.
    """
    con.execute(
        f"""
        delete from irt.item_skill_assignments as assignments
        where not exists (
            select 1 from ({CURRENT_CANDIDATES}) as candidates
            where candidates.item_id = assignments.item_id
              and candidates.candidate_skills = assignments.candidate_skills
        )
        """
    )
    con.execute(
        f"""
        insert or replace into irt.item_skill_assignments ({ASSIGNMENT_COLUMNS})
        select
            item_id, course_id, first_skill,
            case when is_given then 'given' else 'only_course_skill' end,
            n_candidates, null, 1.0,
            case when is_given then 'skill_id landed with the item'
                 else 'the course teaches only this skill' end,
            ?, candidate_skills
        from ({CURRENT_CANDIDATES})
        where is_given or n_candidates = 1
        """,
        [run_id],
    )
    con.execute(
        """
        delete from irt.item_parameters as parameters
        where not exists (
            select 1 from irt.item_skill_assignments as assignments
            where assignments.item_id = parameters.item_id
              and assignments.skill_id = parameters.skill_id
        )
        """
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
            f"insert or replace into irt.item_skill_assignments ({ASSIGNMENT_COLUMNS}) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ",".join(item.candidates),
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
    refresh_assignments(con, run_id)
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
            scores = eap(scoring, data)
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


def signature_sql(moved: str) -> str:
    """Per learner on skill $skill, in one pass over the settled responses: the count, the
    latest, whether one falls in ``moved`` (SQL over ``responses``: the windows the period
    starts moved over), the learner's company, and the response signature.

    The signature sums a hash of each (item, response, submitted_at, parameters of the item if
    it scores). It changes exactly when something that enters the learner's score or as-of
    estimates changes: a new or late earlier attempt, a category moved by a max_score change, an
    item assigned to or taken from the skill, an item calibrated, flagged, unflagged or re-linked.
    """
    return f"""
        with scoring_items as (
            select item_id, hash(model, slope, coalesce(thresholds, [difficulty]), categories)
                as fingerprint
            from irt.item_parameters
            where {SCORING_ITEMS_WHERE}
        )
        select
            responses.learner_id,
            any_value(responses.company_id) as company_id,
            count(*) as n_responses,
            max(responses.submitted_at) as last_response_at,
            bool_or({moved}) as has_moved_response,
            sum(hash(responses.item_id, responses.response, responses.submitted_at,
                     scoring_items.fingerprint)) as response_signature
        from ({ASSIGNED_RESPONSES}) as responses
        left join scoring_items on scoring_items.item_id = responses.item_id
        where responses.skill_id = $skill
        group by responses.learner_id
    """


@dataclass(frozen=True)
class GainPeriod:
    """Where one gain period starts in this run, and where it started in the previous one."""

    days: int
    start: datetime
    previous_start: datetime | None

    def moved_window(self) -> tuple[datetime, datetime] | None:
        """(low, high]: responses in it change estimates as of the start; None: all do."""
        if self.previous_start is None:
            return None
        return min(self.start, self.previous_start), max(self.start, self.previous_start)


def gain_periods(
    con: duckdb.DuckDBPyConnection, skill_id: str, reference: datetime, days: Iterable[int]
) -> list[GainPeriod]:
    previous = dict(
        con.execute(
            "select period_days, max(period_start) from irt.learner_abilities_period_start "
            "where skill_id = ? group by period_days",
            [skill_id],
        ).fetchall()
    )
    return [GainPeriod(d, reference - timedelta(days=d), previous.get(d)) for d in days]


def moved_responses_sql(periods: list[GainPeriod]) -> str:
    """SQL true for a response in a window a period start moved over since the previous run
    (the only way an estimate as of the start changes without the signature); true for every
    response when a period has no previous start."""
    windows = []
    for period in periods:
        window = period.moved_window()
        if window is None:
            windows.append("true")
        elif window[0] < window[1]:
            windows.append(
                f"(responses.submitted_at > '{window[0].isoformat(sep=' ')}'::timestamp "
                f"and responses.submitted_at <= '{window[1].isoformat(sep=' ')}'::timestamp)"
            )
    return " or ".join(windows) or "false"


# Learners of $skill whose current estimate (signature changed: a learner with nothing changed
# keeps the stored theta exactly) or period-start estimates (also a response the starts moved
# over) must be computed.
LEARNERS_TO_SCORE = """
    select signature.learner_id,
           stored.response_signature is distinct from signature.response_signature as is_changed
    from scoring_signature as signature
    left join irt.learner_abilities as stored
        on stored.learner_id = signature.learner_id and stored.skill_id = $skill
    where stored.response_signature is distinct from signature.response_signature
       or signature.has_moved_response
"""


def subset(data: SkillResponses, keep: np.ndarray) -> SkillResponses:
    return SkillResponses(
        data.learners[keep],
        data.items[keep],
        data.responses[keep],
        data.n_categories[keep],
        submitted_at=None if data.submitted_at is None else data.submitted_at[keep],
    )


def _register_scores(con: duckdb.DuckDBPyConnection, name: str, scores: irt_models.Scores):
    con.register(
        name,
        {
            "learner_id": scores.persons,
            "theta": scores.theta,
            "theta_se": scores.se,
            "n_items": scores.n_items,
        },
    )


def score_skill(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    run_id: str,
    now: datetime,
    reference: datetime,
    settings: IrtSettings,
) -> dict:
    """Bring one skill's abilities and period-start estimates up to date, in one transaction.

    Afterwards every learner with a response on a scoring item of the skill has the EAP
    estimate that scoring all their responses from scratch would give, and one estimate as of
    each gain period's start (from the responses submitted by then); nobody else has a row.
    """
    started = time.perf_counter()
    params = {"skill": skill_id, "unscored": list(UNSCORED_FLAGS)}
    cal = stored_calibration(con, skill_id, scoring_only=True)
    periods = gain_periods(con, skill_id, reference, settings.gain_periods)
    con.execute("begin transaction")
    try:
        con.execute(
            "create or replace temp table scoring_signature as "
            + signature_sql(moved_responses_sql(periods)),
            params,
        )
        con.execute(
            f"create or replace temp table learners_to_score as {LEARNERS_TO_SCORE}",
            {"skill": skill_id},
        )
        data = fetch_responses(
            con,
            f"""select responses.learner_id, responses.item_id, responses.response,
                       responses.n_categories, responses.submitted_at
                from ({ASSIGNED_RESPONSES}) as responses
                join learners_to_score on learners_to_score.learner_id = responses.learner_id
                where responses.skill_id = $skill""",
            {"skill": skill_id},
        )
        changed = np.asarray(
            con.execute("select learner_id from learners_to_score where is_changed").fetchnumpy()[
                "learner_id"
            ]
        ).astype(str)
        current = eap(cal, subset(data, np.isin(data.learners, changed)))
        write_current(con, skill_id, current, run_id, now, reference, params)
        for period in periods:
            write_period_start(con, skill_id, period, cal, data, reference, run_id, now)
        con.execute(
            "delete from irt.learner_abilities_period_start where skill_id = ? "
            "and not list_contains(?, period_days)",
            [skill_id, list(settings.gain_periods)],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return {
        "skill_id": skill_id,
        "rescored": 0 if current is None else len(current.persons),
        "seconds": time.perf_counter() - started,
    }


def write_current(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    current: irt_models.Scores | None,
    run_id: str,
    now: datetime,
    reference: datetime,
    params: dict,
) -> None:
    """Replace the changed learners' abilities; drop those of learners with nothing to score.

    The history keeps each new estimate as of the data's latest response.
    """
    con.execute(
        """
        delete from irt.learner_abilities
        where skill_id = $skill
          and (learner_id in (select learner_id from learners_to_score where is_changed)
               or learner_id not in (select learner_id from scoring_signature))
        """,
        {"skill": skill_id},
    )
    if current is None:
        return
    _register_scores(con, "current_scores", current)
    con.execute(
        """
        insert into irt.learner_abilities (
            learner_id, skill_id, company_id, theta, theta_se, n_items, n_responses,
            last_response_at, scored_at, run_id, response_signature)
        select current_scores.learner_id, $skill, signature.company_id, current_scores.theta,
               current_scores.theta_se, current_scores.n_items, signature.n_responses,
               signature.last_response_at, $now, $run_id, signature.response_signature
        from current_scores
        join scoring_signature as signature
            on signature.learner_id = current_scores.learner_id
        """,
        {"skill": skill_id, "now": now, "run_id": run_id},
    )
    con.execute(
        "insert or replace into irt.learner_ability_history "
        "(learner_id, skill_id, as_of, theta, theta_se, n_items, run_id, scored_at) "
        "select learner_id, ?, ?, theta, theta_se, n_items, ?, ? from current_scores",
        [skill_id, reference, run_id, now],
    )
    con.unregister("current_scores")


def write_period_start(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    period: GainPeriod,
    cal: irt_models.Calibration | None,
    data: SkillResponses,
    reference: datetime,
    run_id: str,
    now: datetime,
) -> None:
    """Estimates as of the period start: recomputed for the learners in ``data`` (changed, or
    with responses in the window the start moved over), carried over for everyone else."""
    recompute = (
        "true"
        if period.previous_start is None
        else "learner_id in (select learner_id from learners_to_score)"
    )
    con.execute(
        f"""
        delete from irt.learner_abilities_period_start
        where skill_id = $skill and period_days = $days
          and ({recompute}
               or learner_id not in (
                   select learner_id from irt.learner_abilities where skill_id = $skill))
        """,
        {"skill": skill_id, "days": period.days},
    )
    con.execute(
        "update irt.learner_abilities_period_start set period_start = ?, period_end = ? "
        "where skill_id = ? and period_days = ?",
        [period.start, reference, skill_id, period.days],
    )
    if data.submitted_at is None or data.n == 0:
        return
    before = data.submitted_at <= np.datetime64(period.start)
    snapshot = eap(cal, subset(data, before))
    if snapshot is None:
        return
    _register_scores(con, "snapshot", snapshot)
    con.execute(
        "insert into irt.learner_abilities_period_start (learner_id, skill_id, period_days, "
        "period_start, period_end, theta, theta_se, n_items, run_id, scored_at) "
        "select snapshot.learner_id, ?, ?, ?, ?, snapshot.theta, snapshot.theta_se, "
        "snapshot.n_items, ?, ? from snapshot "
        "semi join irt.learner_abilities as abilities "
        "on abilities.learner_id = snapshot.learner_id and abilities.skill_id = ?",
        [skill_id, period.days, period.start, reference, run_id, now, skill_id],
    )
    con.unregister("snapshot")


def run_scoring(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, settings: IrtSettings
) -> ScoringSummary:
    """Bring every skill's abilities up to date with the responses and item parameters."""
    ensure_irt_schema(con)
    reference = data_reference_time(con)
    summary = ScoringSummary(reference=reference)
    skills = skills_with_responses(con) if reference is not None else []
    for skill_id in skills:
        summary.per_skill.append(score_skill(con, skill_id, run_id, now, reference, settings))
    for table in ("learner_abilities", "learner_abilities_period_start"):
        con.execute(f"delete from irt.{table} where not list_contains(?, skill_id)", [skills])
    # A learner who moved company: every row follows them, re-scored or not.
    con.execute(
        f"""
        update irt.learner_abilities as abilities
        set company_id = learners.company_id
        from (
            select learner_id, any_value(company_id) as company_id
            from {RESPONSES} group by learner_id
        ) as learners
        where learners.learner_id = abilities.learner_id
          and abilities.company_id is distinct from learners.company_id
        """
    )
    return summary


# -- verification -------------------------------------------------------------------------


@dataclass
class ScoringCheck:
    """Stored estimates compared with a re-scoring from scratch (``verify_scoring``)."""

    n_checked: int = 0
    # (skill_id, learner_id, what, stored, expected); what: current or period_<days>
    mismatches: list[tuple] = field(default_factory=list)


def _expected(scores: irt_models.Scores | None) -> dict[str, tuple[float, float, int]]:
    if scores is None:
        return {}
    return {
        learner: (float(theta), float(se), int(n))
        for learner, theta, se, n in zip(
            scores.persons.tolist(), scores.theta, scores.se, scores.n_items, strict=True
        )
    }


def _compare(check, skill_id, what, stored, expected, tol) -> None:
    for learner in sorted(set(stored) | set(expected)):
        got, want = stored.get(learner), expected.get(learner)
        same = (
            got is not None
            and want is not None
            and got[2] == want[2]
            and abs(got[0] - want[0]) <= tol
            and abs(got[1] - want[1]) <= tol
        )
        if not same:
            check.mismatches.append((skill_id, learner, what, got, want))


def verify_scoring(
    con: duckdb.DuckDBPyConnection, sample_per_skill: int | None = None, tol: float = 1e-9
) -> ScoringCheck:
    """Re-score learners from scratch and compare with ``irt.learner_abilities`` and
    ``irt.learner_abilities_period_start``.

    The incremental scoring must equal scoring every learner anew from the settled responses
    and the stored item parameters: same learners, theta and SE within ``tol``, same item
    counts, at the current time and at each stored period start. None for
    ``sample_per_skill`` checks every learner with a response or a stored row; a number checks
    that many stored rows per skill, a fixed pseudo-random sample read in one pass over the
    responses (the asset check).
    """
    if sample_per_skill is None:
        pairs = (
            f"select skill_id, learner_id from ({ASSIGNED_RESPONSES}) "
            "union select skill_id, learner_id from irt.learner_abilities"
        )
    else:
        pairs = (
            "select skill_id, learner_id from irt.learner_abilities "
            "qualify row_number() over (partition by skill_id order by hash(learner_id), "
            f"learner_id) <= {int(sample_per_skill)}"
        )
    con.execute(f"create or replace temp table verified_pairs as {pairs}")
    data = con.execute(
        f"""select responses.skill_id, responses.learner_id, responses.item_id,
                   responses.response, responses.n_categories, responses.submitted_at
            from ({ASSIGNED_RESPONSES}) as responses
            semi join verified_pairs as pairs
                on pairs.skill_id = responses.skill_id and pairs.learner_id = responses.learner_id
            order by responses.skill_id"""
    ).fetchnumpy()
    response_skills = np.asarray(data["skill_id"]).astype(str)
    check = ScoringCheck()
    skills = [r[0] for r in con.execute("select distinct skill_id from verified_pairs").fetchall()]
    for skill_id in sorted(skills):
        rows = slice(
            int(np.searchsorted(response_skills, skill_id, side="left")),
            int(np.searchsorted(response_skills, skill_id, side="right")),
        )
        _verify_skill(con, skill_id, responses_from(data, rows), check, tol)
    return check


def _stored_estimates(con, table: str, skill_id: str, days: int | None = None) -> dict:
    where = "" if days is None else "and period_days = $days"
    params = {"skill": skill_id} if days is None else {"skill": skill_id, "days": days}
    return {
        learner: (theta, se, n)
        for learner, theta, se, n in con.execute(
            f"select learner_id, theta, theta_se, n_items from irt.{table} "
            f"where skill_id = $skill {where} and learner_id in "
            "(select learner_id from verified_pairs where skill_id = $skill)",
            params,
        ).fetchall()
    }


def _verify_skill(con, skill_id: str, data: SkillResponses, check: ScoringCheck, tol: float):
    cal = stored_calibration(con, skill_id, scoring_only=True)
    current = _expected(eap(cal, data))
    stored = _stored_estimates(con, "learner_abilities", skill_id)
    check.n_checked += len(set(stored) | set(current))
    _compare(check, skill_id, "current", stored, current, tol)
    periods = con.execute(
        "select period_days, min(period_start), max(period_start) "
        "from irt.learner_abilities_period_start where skill_id = ? group by all",
        [skill_id],
    ).fetchall()
    for days, start, latest in periods:
        if start != latest:
            check.mismatches.append((skill_id, None, f"period_{days}", start, latest))
        before = data.submitted_at <= np.datetime64(start)
        expected = {
            learner: estimate
            for learner, estimate in _expected(eap(cal, subset(data, before))).items()
            if learner in current
        }
        stored_start = _stored_estimates(con, "learner_abilities_period_start", skill_id, days)
        _compare(check, skill_id, f"period_{days}", stored_start, expected, tol)
