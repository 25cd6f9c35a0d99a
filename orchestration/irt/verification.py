"""Re-score learners from scratch and compare with what the incremental scoring stored."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

import irt_models
from orchestration.irt.responses import ASSIGNED_RESPONSES, SkillResponses, responses_from, subset
from orchestration.irt.scoring import eap
from orchestration.irt.tables import stored_calibration


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
