"""What a skill's responses are, and which of its learners changed since they were scored.

A response counts in a skill when its item's skill is settled (``is_candidate`` false in
``intermediate.int_irt_responses``, computed by dbt in ``int_item_candidate_skills``) or the
item was assigned to that skill by data. Of those, the responses on the skill's scoring items
enter learners' scores; the response signature tells which learners' scores moved.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from irt_models.data import label_codes
from orchestration.irt.settings import IrtSettings

if TYPE_CHECKING:
    from orchestration.irt.periods import GainPeriod

RESPONSES = "intermediate.int_irt_responses"

# Responses on items whose skill is settled: given, the course's only skill, or assigned by data.
# item_id is the item's version valid when the response was submitted (irt.item_versions: the
# responses of a drifting item from its drift on are a new item); the ranges of one item's
# versions do not overlap, so the join is an equi-join with a range filter, not an ASOF join
# (which sorts every response: 10 times slower at M).
ASSIGNED_RESPONSES = f"""
    select
        responses.skill_id,
        responses.learner_id,
        coalesce(versions.version_id, responses.item_id) as item_id,
        responses.company_id,
        responses.response,
        responses.n_categories,
        responses.submitted_at,
        responses.entry_level
    from {RESPONSES} as responses
    left join irt.item_versions as versions
        on versions.skill_id = responses.skill_id
        and versions.item_id = responses.item_id
        and responses.submitted_at >= versions.valid_from
        and (versions.valid_to is null or responses.submitted_at < versions.valid_to)
    left join irt.item_skill_assignments as assignments
        on assignments.item_id = responses.item_id
    where not responses.is_candidate
        or (assignments.method = 'data' and assignments.skill_id = responses.skill_id)
"""

# Items whose parameters are not used to score learners: not fitted, behaving like a miskeyed
# question, unfair to a group of learners or drifting from their calibration (item_health).
# They stay listed in irt.item_parameters with their flag.
HEALTH_FLAGS = ("dif", "drift")
UNSCORED_FLAGS = ("too_few_responses", "single_category", "negative_discrimination", *HEALTH_FLAGS)

# The items of a skill whose parameters score learners: fitted, discriminating positively, and
# not flagged as unfit for scoring. Shared by scoring and by the response signature, so that a
# learner is re-scored exactly when something that enters their score changes.
SCORING_ITEMS_WHERE = (
    "skill_id = $skill and slope > 0 and (flag is null or not list_contains($unscored, flag))"
)


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
        return label_codes(self.items)


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


def subset(data: SkillResponses, keep: np.ndarray) -> SkillResponses:
    """The responses selected by ``keep`` (without design groups: scoring does not use them)."""
    return SkillResponses(
        data.learners[keep],
        data.items[keep],
        data.responses[keep],
        data.n_categories[keep],
        submitted_at=None if data.submitted_at is None else data.submitted_at[keep],
    )


def with_rows(data: SkillResponses, keep: np.ndarray) -> SkillResponses:
    """The responses selected by ``keep``, every column kept (design groups too)."""
    columns = ("learners", "items", "responses", "n_categories", "groups", "submitted_at")
    return dataclasses.replace(
        data, **{c: getattr(data, c)[keep] for c in columns if getattr(data, c) is not None}
    )


def skill_responses(con: duckdb.DuckDBPyConnection, skill_id: str) -> SkillResponses:
    """Responses of a skill on its settled items (given, only course skill, assigned by data)."""
    return fetch_responses(
        con,
        "select learner_id, item_id, response, n_categories, entry_level "
        f"from ({ASSIGNED_RESPONSES}) where skill_id = ?",
        [skill_id],
    )


def skills_with_responses(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            f"select distinct skill_id from {RESPONSES} order by skill_id"
        ).fetchall()
    ]


def data_reference_time(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The latest response in the warehouse: 'now' for gains, so backfilled data works."""
    return con.execute(f"select max(submitted_at) from {RESPONSES}").fetchone()[0]


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


# -- which learners changed -----------------------------------------------------------------


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


def moved_responses_sql(periods: list[GainPeriod]) -> str:
    """SQL true for a response in a window a period start moved over since the previous run
    (the only way an estimate as of the start changes without the signature); for a period
    with no previous start, true for every response up to its start."""
    windows = []
    for period in periods:
        low, high = period.moved_window()
        up_to = f"responses.submitted_at <= '{high.isoformat(sep=' ')}'::timestamp"
        if low is None:
            windows.append(f"({up_to})")
        elif low < high:
            windows.append(
                f"(responses.submitted_at > '{low.isoformat(sep=' ')}'::timestamp and {up_to})"
            )
    return " or ".join(windows) or "false"


# Learners of $skill whose current estimate (signature changed: a learner with nothing changed
# keeps the stored theta exactly) or period-start estimates (also a response the starts moved
# over) must be computed. Reads the temp table scoring_signature (signature_sql).
LEARNERS_TO_SCORE = """
    select signature.learner_id,
           stored.response_signature is distinct from signature.response_signature as is_changed
    from scoring_signature as signature
    left join irt.learner_abilities as stored
        on stored.learner_id = signature.learner_id and stored.skill_id = $skill
    where stored.response_signature is distinct from signature.response_signature
       or signature.has_moved_response
"""
