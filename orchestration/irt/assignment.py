"""Which skill an item assesses when it does not say so itself.

An item is settled when it has its own skill_id or its course teaches one skill (the column
``is_candidate`` of ``intermediate.int_item_candidate_skills`` is the one home of that rule).
Any other item is assigned by data: to the candidate skill whose learners' abilities predict
its responses best (``irt_models.skill_assignment``), once it has enough responses.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from irt_models.skill_assignment import assign_skill
from orchestration.irt.responses import RESPONSES
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import insert_rows

# Each item's candidate skills now: its skill_id, or its course's skills. ``candidate_skills``
# is the sorted list as text; an assignment decided on another list is decided again.
CURRENT_CANDIDATES = """
    select
        item_id,
        any_value(course_id) as course_id,
        bool_or(is_given) as is_given,
        bool_or(is_candidate) as is_candidate,
        count(*) as n_candidates,
        min(skill_id) as first_skill,
        string_agg(skill_id, ',' order by skill_id) as candidate_skills
    from intermediate.int_item_candidate_skills
    group by item_id
"""

ASSIGNMENT_COLUMNS = (
    "item_id",
    "course_id",
    "skill_id",
    "method",
    "n_candidates",
    "n_responses",
    "confidence",
    "evidence",
    "run_id",
    "candidate_skills",
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
        insert or replace into irt.item_skill_assignments ({", ".join(ASSIGNMENT_COLUMNS)})
        select
            item_id, course_id, first_skill,
            case when is_given then 'given' else 'only_course_skill' end,
            n_candidates, null, 1.0,
            case when is_given then 'skill_id landed with the item'
                 else 'the course teaches only this skill' end,
            ?, candidate_skills
        from ({CURRENT_CANDIDATES})
        where not is_candidate
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
        where candidates.is_candidate
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


def _decide(
    item: UndecidedItem,
    learners: list[str],
    responses: np.ndarray,
    n_categories: int,
    abilities: dict[str, dict[str, float]],
    settings: IrtSettings,
) -> dict:
    """The assignment row of one item (all columns but run_id) from its responses and its
    learners' abilities."""
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
    row = {
        "item_id": item.item_id,
        "course_id": item.course_id,
        "n_candidates": len(item.candidates),
        "n_responses": result.n_responses,
        "candidate_skills": ",".join(item.candidates),
    }
    if result.best is None:
        evidence = (
            f"{result.n_responses} responses, fewer than {settings.min_assignment_responses} needed"
            if result.reason == "too_few_responses"
            else "no candidate skill's ability predicts the item (slopes <= 0)"
        )
        return {
            **row,
            "skill_id": None,
            "method": "unassigned",
            "confidence": None,
            "evidence": evidence,
        }
    evidence = "; ".join(
        f"{c}: loglik {ll:.1f}, slope {a:.2f}"
        for c, ll, a in zip(item.candidates, result.loglik, result.slope, strict=True)
    )
    return {
        **row,
        "skill_id": item.candidates[result.best],
        "method": "data",
        "confidence": result.confidence,
        "evidence": evidence,
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
    rows = []
    for item, start, end in zip(undecided, starts, ends, strict=True):
        row = _decide(
            item,
            np.asarray(data["learner_id"][start:end]).tolist(),
            np.asarray(data["response"][start:end], dtype=float),
            int(np.max(data["n_categories"][start:end], initial=2)),
            abilities,
            settings,
        )
        row["run_id"] = run_id
        if row["method"] == "data":
            newly.setdefault(row["skill_id"], []).append(item.item_id)
        rows.append([row[c] for c in ASSIGNMENT_COLUMNS])
    insert_rows(con, "item_skill_assignments", ASSIGNMENT_COLUMNS, rows, "insert or replace")
    return newly
