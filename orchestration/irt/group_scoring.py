"""Group abilities: each company's and peer group's mean ability per skill, and company gains.

A group's score is the marginal maximum likelihood latent mean of all its learners' response
patterns with the skill's scoring items fixed (``irt_models.score_groups``): every learner with
a response on a scoring item counts, however few items they answered, at the weight their
responses carry. Groups are the company and the peer groups of the marts (all, industry,
country, company size band, as ``marts_company_peer_groups`` defines them); a learner belongs
to the company ``irt.learner_abilities`` holds for them. Company gains over each gain period
compare the group mean of the same learners (those with a response in the period) from the
responses submitted by the period start with the one from all their responses.

A group's ``theta_se`` is the standard error of its mean as the mean ability of exactly its
learners (``GroupScores.se_sample``: their posterior variance with the group's mean and spread
estimated, plus the error of the item parameters by the delta method, from the stored
``slope_se`` and ``difficulty_se``); ``sample_se`` is the same without the item parameters'
part. Gains leave the item parameters' error out (the same items enter both means, their
errors mostly cancel in the difference) and keep the latent mean's SE.

Every run computes the tables from all responses of every skill after the learners are scored
(one likelihood pass per skill and period start), so they always equal a rebuild.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np

import irt_models
from orchestration.irt.responses import ASSIGNED_RESPONSES, SkillResponses
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import finite_or_none, insert_columns, stored_calibration
from orchestration.irt.threads import map_skills

# Peer group types as the marts name them, with the company attribute that defines each.
PEER_GROUP_TYPES = {
    "all": "'all'",
    "industry": "coalesce(companies.industry, 'unknown')",
    "country": "coalesce(companies.country, 'unknown')",
    "company_size": "coalesce(companies.size_band, 'unknown')",
}

# Each scored learner of $skill with their company and its peer groups (is_staged false when
# the company is not among the staged companies: such learners count for their company only,
# as the marts' peer groups hold only staged companies).
LEARNER_GROUPS_SQL = f"""
    select abilities.learner_id, abilities.company_id,
        {", ".join(f"{sql} as {name}" for name, sql in PEER_GROUP_TYPES.items())},
        companies.company_id is not null as is_staged
    from irt.learner_abilities as abilities
    left join {{companies}} as companies
        on companies.company_id = abilities.company_id
    where abilities.skill_id = $skill and abilities.company_id is not null
    order by abilities.learner_id
"""
COMPANIES = "staging.stg_companies"
# Stands in for the staged companies where there are none (a warehouse of IRT inputs only).
NO_COMPANIES = (
    "(select null::varchar as company_id, null::varchar as industry, "
    "null::varchar as country, null::varchar as size_band where false)"
)


def learner_groups_sql(con: duckdb.DuckDBPyConnection) -> str:
    """LEARNER_GROUPS_SQL on the staged companies, or on none when the table is missing."""
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'staging' and table_name = 'stg_companies'"
    ).fetchone()[0]
    return LEARNER_GROUPS_SQL.format(companies=COMPANIES if found else NO_COMPANIES)


@dataclass(frozen=True)
class GroupScoringSummary:
    groups: int = 0
    gains: int = 0
    seconds: float = 0.0


def renumbered(error, new_position: np.ndarray):
    """``error`` (an ItemError or None) with its persons renumbered by ``new_position``
    (-1: the person's responses are dropped)."""
    if error is None:
        return None
    position = new_position[error.person]
    keep = position >= 0
    return error._replace(person=position[keep], row=error.row[keep])


def take(lik: irt_models.Likelihoods, rows: np.ndarray) -> irt_models.Likelihoods:
    """The likelihoods of the persons at positions ``rows``."""
    position = np.full(len(lik.persons), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    return irt_models.Likelihoods(
        lik.persons[rows],
        lik.nodes,
        lik.loglik[rows],
        lik.n_items[rows],
        renumbered(lik.item_error, position),
    )


def skill_likelihoods(cal, data: SkillResponses, learners: np.ndarray, as_of=None, item_se=None):
    """Likelihoods of ``learners`` (sorted codes) from their responses (submitted by
    ``as_of``); a learner without a response gets a flat one (no items). With ``item_se``
    (the items' slope and location SEs) they carry what the item-parameter error needs."""
    keep = np.isin(data.learners, learners)
    if as_of is not None:
        keep &= data.submitted_at <= np.datetime64(as_of)
    lik = irt_models.likelihoods(
        cal, data.learners[keep], data.items[keep], data.responses[keep], item_se=item_se
    )
    full = np.zeros((len(learners), len(lik.nodes)))
    n_items = np.zeros(len(learners), dtype=np.int64)
    pos = np.searchsorted(learners, lik.persons)
    full[pos], n_items[pos] = lik.loglik, lik.n_items
    error = renumbered(lik.item_error, pos)
    return irt_models.Likelihoods(learners, lik.nodes, full, n_items, error)


def item_ses(con: duckdb.DuckDBPyConnection, skill_id: str, cal) -> tuple[np.ndarray, np.ndarray]:
    """The stored SEs of the calibration's items' slopes and locations (0 where unknown)."""
    ses = dict(
        con.execute(
            "select item_id, [coalesce(slope_se, 0), coalesce(difficulty_se, 0)] "
            "from irt.item_parameters where skill_id = $skill",
            {"skill": skill_id},
        ).fetchall()
    )
    pairs = np.array([ses.get(item, [0.0, 0.0]) for item in cal.items], dtype=float)
    return pairs[:, 0], pairs[:, 1]


def group_rows(skill_id: str, lik: irt_models.Likelihoods, groups: dict) -> list[tuple]:
    """(skill, group type, group value, theta, theta_se, sample_se, sd, n learners) per
    non-empty group (the SEs as the module docstring says)."""
    rows = []
    for group_type, labels in groups.items():
        member = np.array([label is not None for label in labels], dtype=bool)
        if not member.any():
            continue
        got = irt_models.score_groups(take(lik, np.flatnonzero(member)), labels[member].astype(str))
        for k in np.flatnonzero(got.n_persons > 0):
            rows.append(
                (
                    skill_id,
                    group_type,
                    str(got.groups[k]),
                    float(got.mean[k]),
                    finite_or_none(got.se_sample[k]),
                    finite_or_none(np.sqrt(max(got.se_sample[k] ** 2 - got.se_items[k] ** 2, 0.0))),
                    finite_or_none(got.sd[k]),
                    int(got.n_persons[k]),
                )
            )
    return rows


def gain_rows(skill_id, cal, data, lik_end, company, reference, days) -> list[tuple]:
    """Company gains over the last ``days`` days: (skill, company, days, start, end, n,
    theta_start, se_start, theta_end, se_end, gain, gain_se)."""
    start = reference - timedelta(days=days)
    # Only a learner with a response after the start can have moved: the as-of likelihoods
    # are computed for those alone (a fraction of the skill's learners on a short period).
    # Both means rest on the same items, whose errors mostly cancel in the difference: the
    # gains' SEs leave them out.
    lik_end = lik_end._replace(item_error=None)
    later = np.unique(data.learners[data.submitted_at > np.datetime64(start)])
    rows = np.flatnonzero(np.isin(lik_end.persons, later, assume_unique=True))
    lik_start = skill_likelihoods(cal, data, lik_end.persons[rows], as_of=start)
    moved = np.flatnonzero(lik_end.n_items[rows] > lik_start.n_items)
    if len(moved) == 0:
        return []
    end = irt_models.score_groups(take(lik_end, rows[moved]), company[rows[moved]])
    begin = irt_models.score_groups(take(lik_start, moved), company[rows[moved]])
    rows = []
    for k, company_id in enumerate(end.groups):
        theta_start = begin.mean[k] if begin.n_persons[k] else np.nan
        se_start = begin.se[k] if begin.n_persons[k] else np.nan
        # Both means share the responses before the start, so their errors correlate
        # positively; adding the variances overstates the SE of the difference (conservative).
        gain_se = np.hypot(end.se[k], se_start)
        rows.append(
            (
                skill_id,
                str(company_id),
                days,
                start,
                reference,
                int(end.n_persons[k]),
                finite_or_none(theta_start),
                finite_or_none(se_start),
                finite_or_none(end.mean[k]),
                finite_or_none(end.se[k]),
                finite_or_none(end.mean[k] - theta_start),
                finite_or_none(gain_se),
            )
        )
    return rows


GROUP_COLUMNS = (
    "skill_id",
    "group_type",
    "group_value",
    "theta",
    "theta_se",
    "sample_se",
    "sd",
    "n_learners",
    "as_of",
    "scored_at",
    "run_id",
)
GAIN_COLUMNS = (
    "skill_id",
    "company_id",
    "period_days",
    "period_start",
    "period_end",
    "n_learners",
    "theta_start",
    "theta_start_se",
    "theta_end",
    "theta_end_se",
    "gain_theta",
    "gain_se_theta",
    "scored_at",
    "run_id",
)


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, columns, rows: list[tuple]):
    """Replace every row of irt.``table`` with ``rows`` (tuples in ``columns`` order)."""
    con.execute(f"delete from irt.{table}")
    if rows:
        values = zip(*rows, strict=True)
        insert_columns(
            con, table, {c: np.array(v, dtype=object) for c, v in zip(columns, values, strict=True)}
        )


def score_skill_groups(
    con, skill_id: str, reference: datetime, periods, members_sql: str
) -> tuple[list, list]:
    """The group and gain rows of one skill (``members_sql``: :func:`learner_groups_sql`)."""
    cal = stored_calibration(con, skill_id, scoring_only=True)
    # Learners are numbered in learner_id order and their responses carry the number: every
    # sort and lookup below is on integers, not strings.
    con.execute(
        "create or replace temp table group_members as select *, "
        f"cast(row_number() over (order by learner_id) - 1 as bigint) as code from ({members_sql})",
        {"skill": skill_id},
    )
    members = con.execute("select * from group_members order by code").fetchnumpy()
    learners = np.asarray(members["code"], dtype=np.int64)
    if cal is None or len(learners) == 0:
        return [], []
    got = con.execute(
        "select members.code, responses.item_id, responses.response, responses.n_categories, "
        "responses.submitted_at "
        f"from ({ASSIGNED_RESPONSES}) as responses "
        "join group_members as members on members.learner_id = responses.learner_id "
        "where responses.skill_id = $skill",
        {"skill": skill_id},
    ).fetchnumpy()
    data = SkillResponses(
        learners=np.asarray(got["code"], dtype=np.int64),
        items=np.asarray(got["item_id"]).astype(str),
        responses=np.asarray(got["response"], dtype=np.int64),
        n_categories=np.asarray(got["n_categories"], dtype=np.int64),
        submitted_at=np.asarray(got["submitted_at"]),
    )
    lik = skill_likelihoods(cal, data, learners, item_se=item_ses(con, skill_id, cal))
    staged = np.asarray(members["is_staged"], dtype=bool)
    company = np.asarray(members["company_id"]).astype(str)
    groups = {"company": company.astype(object)}
    for name in PEER_GROUP_TYPES:
        groups[name] = np.where(staged, np.asarray(members[name]).astype(str), None)
    gains = []
    for days in periods:
        gains += gain_rows(skill_id, cal, data, lik, company, reference, days)
    return group_rows(skill_id, lik, groups), gains


def run_group_scoring(
    con: duckdb.DuckDBPyConnection,
    skills: list[str],
    reference: datetime | None,
    run_id: str,
    now: datetime,
    settings: IrtSettings,
) -> GroupScoringSummary:
    """Rewrite irt.group_abilities and irt.company_gains for every skill.

    Skills are scored in threads as the calibration fits them (:func:`map_skills`), each on
    its own cursor; rows come out in the skills' order whatever the workers. Company gains
    over ``settings.gain_periods``.
    """
    started = time.perf_counter()
    groups, gains = [], []
    members_sql = learner_groups_sql(con)

    def score(skill_id: str) -> tuple[list, list]:
        return score_skill_groups(
            con.cursor(), skill_id, reference, settings.gain_periods, members_sql
        )

    for g, c in map_skills(score, skills if reference is not None else [], settings):
        groups += g
        gains += c
    con.execute("begin transaction")
    try:
        replace_rows(
            con, "group_abilities", GROUP_COLUMNS, [(*r, reference, now, run_id) for r in groups]
        )
        replace_rows(con, "company_gains", GAIN_COLUMNS, [(*r, now, run_id) for r in gains])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return GroupScoringSummary(len(groups), len(gains), time.perf_counter() - started)
