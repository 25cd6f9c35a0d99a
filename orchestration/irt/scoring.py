"""Current abilities and their history: bring every learner's estimates up to date.

Learners are scored by EAP with the N(0, 1) prior of the base scale. Only learners whose
responses on a skill changed since they were last scored (their response signature,
``responses.signature_sql``) are re-scored, so a learner without new attempts keeps exactly the
same theta (after a full recalibration everyone is re-scored). Each gain period's start keeps
an estimate from the responses submitted by then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np

import irt_models
from orchestration.irt.group_scoring import GroupScoringSummary, run_group_scoring
from orchestration.irt.periods import GainPeriod, gain_periods
from orchestration.irt.responses import (
    ASSIGNED_RESPONSES,
    LEARNERS_TO_SCORE,
    RESPONSES,
    UNSCORED_FLAGS,
    SkillResponses,
    data_reference_time,
    fetch_responses,
    moved_responses_sql,
    signature_sql,
    skills_with_responses,
    subset,
)
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import ensure_irt_schema, stored_calibration
from orchestration.progress import ProgressCallback, no_progress
from orchestration.settings import project_vars


def eap(cal: irt_models.Calibration | None, data: SkillResponses) -> irt_models.Scores | None:
    """EAP scores of every learner in ``data`` from the items ``cal`` can score."""
    if cal is None or data.n == 0:
        return None
    known = cal.index(data.items) >= 0
    if not known.any():
        return None
    return irt_models.score(cal, data.learners[known], data.items[known], data.responses[known])


@dataclass(frozen=True)
class SkillScoring:
    """What scoring did for one skill."""

    skill_id: str
    rescored: int
    seconds: float


@dataclass(frozen=True)
class SkillAbilities:
    """A skill's stored abilities after scoring."""

    skill_id: str
    learners: int
    # Share of them the marts report (dbt vars min_items_reportable, max_se_reportable).
    reportable_share: float


@dataclass
class ScoringSummary:
    per_skill: list[SkillScoring] = field(default_factory=list)
    # The data's latest response: where the gain periods end.
    reference: datetime | None = None
    abilities: list[SkillAbilities] = field(default_factory=list)
    history_rows: int = 0
    period_start_rows: int = 0
    groups: GroupScoringSummary = field(default_factory=GroupScoringSummary)


def _abilities_overview(con: duckdb.DuckDBPyConnection, summary: ScoringSummary) -> None:
    vars_ = project_vars()
    summary.abilities = [
        SkillAbilities(*row)
        for row in con.execute(
            "select skill_id, count(*), avg((n_items >= ? and theta_se <= ?)::int) "
            "from irt.learner_abilities group by skill_id order by skill_id",
            # The marts' reportability rule (dbt vars): the figures show what BI sees.
            [vars_["min_items_reportable"], vars_["max_se_reportable"]],
        ).fetchall()
    ]
    summary.history_rows = con.execute(
        "select count(*) from irt.learner_ability_history"
    ).fetchone()[0]
    summary.period_start_rows = con.execute(
        "select count(*) from irt.learner_abilities_period_start"
    ).fetchone()[0]


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


@dataclass(frozen=True)
class LoadedResponses:
    """The responses of a skill's learners to score, fetched into this process, and which of
    those learners' current estimates changed."""

    data: SkillResponses
    changed: np.ndarray

    def scores(
        self,
        cal: irt_models.Calibration | None,
        changed_only: bool = False,
        as_of: datetime | None = None,
    ) -> irt_models.Scores | None:
        """EAP scores of the changed learners, or of all as of a time (responses by then)."""
        data = self.data
        if changed_only:
            data = subset(data, np.isin(data.learners, self.changed))
        if as_of is not None:
            if data.submitted_at is None or data.n == 0:
                return None
            data = subset(data, data.submitted_at <= np.datetime64(as_of))
        return eap(cal, data)


def load_responses_to_score(con: duckdb.DuckDBPyConnection, skill_id: str) -> LoadedResponses:
    """The responses of the learners in the temp table learners_to_score, fetched."""
    data = fetch_responses(
        con,
        f"""select responses.learner_id, responses.item_id, responses.response,
                   responses.n_categories, responses.submitted_at
            from ({ASSIGNED_RESPONSES}) as responses
            join learners_to_score on learners_to_score.learner_id = responses.learner_id
            where responses.skill_id = $skill""",
        {"skill": skill_id},
    )
    changed = con.execute("select learner_id from learners_to_score where is_changed")
    return LoadedResponses(data, np.asarray(changed.fetchnumpy()["learner_id"]).astype(str))


# Where the EAP of a skill's learners to score runs: (con, skill_id) -> an object with
# ``scores(cal, changed_only, as_of)`` like LoadedResponses (Spark's executors on spark).
ScoringSource = Callable[[duckdb.DuckDBPyConnection, str], LoadedResponses]


def _responses_to_score(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    periods: list[GainPeriod],
    source: ScoringSource = load_responses_to_score,
) -> LoadedResponses:
    """Fill the temp tables scoring_signature and learners_to_score; return the responses of
    the learners to score and those of them whose current estimate changed."""
    con.execute(
        "create or replace temp table scoring_signature as "
        + signature_sql(moved_responses_sql(periods)),
        {"skill": skill_id, "unscored": list(UNSCORED_FLAGS)},
    )
    con.execute(
        f"create or replace temp table learners_to_score as {LEARNERS_TO_SCORE}",
        {"skill": skill_id},
    )
    return source(con, skill_id)


def score_skill(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    run_id: str,
    now: datetime,
    reference: datetime,
    settings: IrtSettings,
    source: ScoringSource = load_responses_to_score,
) -> SkillScoring:
    """Bring one skill's abilities and period-start estimates up to date, in one transaction.

    Afterwards every learner with a response on a scoring item of the skill has the EAP
    estimate that scoring all their responses from scratch would give, and one estimate as of
    each gain period's start (from the responses submitted by then); nobody else has a row.
    """
    started = time.perf_counter()
    cal = stored_calibration(con, skill_id, scoring_only=True)
    periods = gain_periods(con, skill_id, reference, settings.gain_periods)
    con.execute("begin transaction")
    try:
        responses = _responses_to_score(con, skill_id, periods, source)
        current = responses.scores(cal, changed_only=True)
        write_current(con, skill_id, current, run_id, now, reference)
        for period in periods:
            snapshot = responses.scores(cal, as_of=period.start)
            write_period_start(con, skill_id, period, snapshot, reference, run_id, now)
        con.execute(
            "delete from irt.learner_abilities_period_start where skill_id = ? "
            "and not list_contains(?, period_days)",
            [skill_id, list(settings.gain_periods)],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return SkillScoring(
        skill_id=skill_id,
        rescored=0 if current is None else len(current.persons),
        seconds=time.perf_counter() - started,
    )


# No learner (``x not in (select null)`` would be NULL, never true).
NOBODY = "select cast(null as varchar) as learner_id where false"


def write_current(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    current: irt_models.Scores | None,
    run_id: str,
    now: datetime,
    reference: datetime,
) -> None:
    """Store the changed learners' abilities; drop those of learners with nothing to score.

    A learner's row is updated in place, not deleted and inserted again: DuckDB commits a
    delete and re-insert of the same primary key about 40 times slower than an update (13 of
    24 s of a daily scoring at M went to commits). The history keeps each new estimate as of
    the data's latest response.
    """
    scored = "select learner_id from current_scores" if current is not None else NOBODY
    if current is not None:
        _register_scores(con, "current_scores", current)
    con.execute(
        f"""
        delete from irt.learner_abilities
        where skill_id = $skill
          and (learner_id not in (select learner_id from scoring_signature)
               or (learner_id in (select learner_id from learners_to_score where is_changed)
                   and learner_id not in ({scored})))
        """,
        {"skill": skill_id},
    )
    if current is None:
        return
    params = {"skill": skill_id, "now": now, "run_id": run_id}
    con.execute(
        """
        update irt.learner_abilities as abilities
        set company_id = signature.company_id, theta = current_scores.theta,
            theta_se = current_scores.theta_se, n_items = current_scores.n_items,
            n_responses = signature.n_responses, last_response_at = signature.last_response_at,
            scored_at = $now, run_id = $run_id, response_signature = signature.response_signature
        from current_scores
        join scoring_signature as signature on signature.learner_id = current_scores.learner_id
        where abilities.skill_id = $skill and abilities.learner_id = current_scores.learner_id
        """,
        params,
    )
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
        anti join (select learner_id from irt.learner_abilities where skill_id = $skill) as stored
            on stored.learner_id = current_scores.learner_id
        """,
        params,
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
    snapshot: irt_models.Scores | None,
    reference: datetime,
    run_id: str,
    now: datetime,
) -> None:
    """Estimates as of the period start: ``snapshot`` for the learners to score (changed, or
    with responses in the window the start moved over), carried over for everyone else.
    Rows are updated in place where they exist (see :func:`write_current`)."""
    recomputed = (
        "true"
        if period.previous_start is None
        else "learner_id in (select learner_id from learners_to_score)"
    )
    kept = "select learner_id from snapshot" if snapshot is not None else NOBODY
    if snapshot is not None:
        _register_scores(con, "snapshot", snapshot)
    params = {"skill": skill_id, "days": period.days}
    con.execute(
        f"""
        delete from irt.learner_abilities_period_start
        where skill_id = $skill and period_days = $days
          and (({recomputed} and learner_id not in ({kept}))
               or learner_id not in (
                   select learner_id from irt.learner_abilities where skill_id = $skill))
        """,
        params,
    )
    con.execute(
        "update irt.learner_abilities_period_start set period_start = ?, period_end = ? "
        "where skill_id = ? and period_days = ?",
        [period.start, reference, skill_id, period.days],
    )
    if snapshot is None:
        return
    params = {**params, "run_id": run_id, "now": now}
    con.execute(
        """
        update irt.learner_abilities_period_start as stored
        set theta = snapshot.theta, theta_se = snapshot.theta_se, n_items = snapshot.n_items,
            run_id = $run_id, scored_at = $now
        from snapshot
        where stored.skill_id = $skill and stored.period_days = $days
          and stored.learner_id = snapshot.learner_id
        """,
        params,
    )
    con.execute(
        """
        insert into irt.learner_abilities_period_start (learner_id, skill_id, period_days,
            period_start, period_end, theta, theta_se, n_items, run_id, scored_at)
        select snapshot.learner_id, $skill, $days, $start, $end, snapshot.theta,
               snapshot.theta_se, snapshot.n_items, $run_id, $now
        from snapshot
        semi join irt.learner_abilities as abilities
            on abilities.learner_id = snapshot.learner_id and abilities.skill_id = $skill
        anti join (
            select learner_id from irt.learner_abilities_period_start
            where skill_id = $skill and period_days = $days
        ) as stored on stored.learner_id = snapshot.learner_id
        """,
        {**params, "start": period.start, "end": reference},
    )
    con.unregister("snapshot")


def run_scoring(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    now: datetime,
    settings: IrtSettings,
    progress: ProgressCallback = no_progress,
    source: ScoringSource = load_responses_to_score,
) -> ScoringSummary:
    """Bring every skill's abilities up to date with the responses and item parameters;
    ``progress(done, total)`` after each skill; ``source``: where the EAP runs."""
    ensure_irt_schema(con)
    reference = data_reference_time(con)
    summary = ScoringSummary(reference=reference)
    skills = skills_with_responses(con) if reference is not None else []
    progress(0, len(skills))
    for skill_id in skills:
        scored = score_skill(con, skill_id, run_id, now, reference, settings, source)
        summary.per_skill.append(scored)
        progress(len(summary.per_skill), len(skills))
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
    # Company and peer group means from every learner's responses (irt.group_abilities).
    summary.groups = run_group_scoring(con, skills, reference, run_id, now, settings)
    _abilities_overview(con, summary)
    return summary
