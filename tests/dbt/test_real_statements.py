"""Real producers' statements (../shared/data: Open edX, Moodle, the xAPI specification, a
validator's fixtures, Caliper) through ingest and staging: what each statement became.

The files are read from ../shared/data (test data under their producers' licences, never copied
into the repository); Moodle cases are deep-merged with their common part, as the plugin's own
tests do. Every statement is asserted: its outcome, and the reason or score where it has one.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt_project import isolated_dbt_env, run_dbt
from orchestration.ingest import ingest_landing
from orchestration.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "data"
CATALOG_LEARNER = "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"

pytestmark = [
    pytest.mark.skipif(
        not (SHARED / "xapi").is_dir(), reason="../shared/data (the real statements) is not here"
    ),
    pytest.mark.slow,  # dbt builds of every real statement: about 15 s
]


def deep_merge(base: dict, case: dict) -> dict:
    merged = dict(base)
    for key, value in case.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = deep_merge(base[key], value) if both else value
    return merged


def land_real_statements(statements: Path) -> None:
    """Each producer's files under statements/<producer>/, Moodle's merged with the common part."""
    for folder in ("xapi/openedx", "xapi/adl_spec", "xapi/rustici_tincanvalidator"):
        target = statements / folder.replace("/", "_")
        target.mkdir(parents=True)
        for path in sorted((SHARED / folder).glob("*.json")):
            (target / path.name).write_bytes(path.read_bytes())
    for folder in ("caliper/openedx", "caliper/imsglobal_v1p2"):
        target = statements / folder.replace("/", "_")
        target.mkdir(parents=True)
        for path in sorted((SHARED / folder).rglob("*.json")):
            (target / path.name).write_bytes(path.read_bytes())
    common = json.loads((SHARED / "xapi/moodle/common_statement.json").read_text())
    target = statements / "xapi_moodle"
    target.mkdir()
    for path in sorted((SHARED / "xapi/moodle").rglob("statements.json")):
        case = path.parent.relative_to(SHARED / "xapi/moodle").as_posix().replace("/", "__")
        merged = [deep_merge(common, s) for s in json.loads(path.read_text())]
        (target / f"{case}.json").write_text(json.dumps(merged))


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("real_statements")
    landing = tmp / "landing"
    land_real_statements(landing / "statements")
    # A catalog for the Open edX learner and course, so attempts reach the attempt chain.
    (landing / "companies").mkdir()
    (landing / "companies/c.csv").write_text(
        "company_id,industry,country,employee_count\nc1,tech,DE,50\n"
    )
    (landing / "learners").mkdir()
    (landing / "learners/l.csv").write_text(f"learner_id,company_id\n{CATALOG_LEARNER},c1\n")
    (landing / "courses").mkdir()
    (landing / "courses/k.csv").write_text("course_id\ncourse-v1:edX+DemoX+Demo_Course\n")
    path = tmp / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        report = ingest_landing(con, landing)
    assert [f.file_path for f in report.failed] == [
        "statements/xapi_adl_spec/appendixA_1_simple_statement.json"
    ]
    env = isolated_dbt_env(path, tmp)
    run_dbt(
        "build", "--select", "resource_type:seed", "+staging",
        "--indirect-selection", "cautious", env=env,
    )  # fmt: skip
    return path


def outcomes(path: Path) -> dict[tuple[str, int], tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select source_file, row_number, outcome, coalesce(reject_reason, ignore_reason), "
            "round(score_fraction, 4) from staging.stg_statements_landed"
        ).fetchall()
    return {
        (file.removeprefix("statements/"), n): (outcome, reason, fraction)
        for file, n, outcome, reason, fraction in rows
    }


# (file under statements/, position) -> (outcome, reason, score share). Files load in path
# order, so among copies of an id the first path's copy stays.
EXPECTED = {
    # Validation: the first reason that applies.
    ("xapi_rustici_tincanvalidator/005-bad-mbox.json", 1): ("rejected", "invalid_actor", None),
    ("xapi_rustici_tincanvalidator/006-bad-id.json", 1): ("rejected", "invalid_id", None),
    ("xapi_rustici_tincanvalidator/008-bad-timestamp.json", 1): (
        "rejected",
        "bad_timestamp",
        1.0,
    ),
    ("xapi_rustici_tincanvalidator/012-bad-missing_actor.json", 1): (
        "rejected",
        "missing_actor",
        None,
    ),
    ("xapi_rustici_tincanvalidator/013-bad-missing_verb.json", 1): (
        "rejected",
        "missing_verb",
        None,
    ),
    ("xapi_rustici_tincanvalidator/014-bad-missing_object.json", 1): (
        "rejected",
        "missing_object",
        None,
    ),
    # Open edX: an evaluated problem check is the attempt; the grades service's scored
    # `attempted` of the same submit is not an attempt verb.
    ("xapi_openedx/problem_check(server).json", 1): ("attempt", None, 0.0),
    ("xapi_openedx/edx.grades.problem.submitted.json", 1): ("ignored", "verb_not_used", 0.0),
    # max = min = 0 with success true: the same id as the graded check, other content.
    ("xapi_openedx/problem_check(server).max_grade_0.json", 1): (
        "conflict",
        "conflicting_duplicate",
        0.0,
    ),
    # A multi-part problem: the GroupActivity parent (2 of 4) is the attempt, the parts are
    # part of its submission.
    ("xapi_openedx/problem_check(server).list_answers.json", 1): ("attempt", None, 0.5),
    ("xapi_openedx/problem_check(server).list_answers.json", 2): (
        "ignored",
        "part_of_submission",
        0.0,
    ),
    ("xapi_openedx/problem_check(server,multiple_questions,partial_correct).json", 1): (
        "attempt",
        None,
        0.6667,
    ),
    # A browser check with no result; one with `score: {min: 0}` and no object id.
    ("xapi_openedx/problem_check(browser).ccx.json", 1): ("ignored", "verb_not_used", None),
    ("xapi_openedx/problem_check(browser).required.only.data.json", 1): (
        "rejected",
        "missing_object",
        0.0,
    ),
    # Enrollment, unenrollment, and course decisions at the same microsecond.
    ("xapi_openedx/edx.course.enrollment.activated.enterprise.json", 1): (
        "enrollment",
        None,
        None,
    ),
    ("xapi_openedx/edx.course.enrollment.activated.json", 1): (
        "conflict",
        "conflicting_duplicate",
        None,
    ),
    ("xapi_openedx/edx.course.enrollment.deactivated.json", 1): ("unenrollment", None, None),
    ("xapi_openedx/edx.course.grade.now_failed.json", 1): ("fail", None, None),
    ("xapi_openedx/edx.course.grade.now_passed.json", 1): ("pass", None, None),
    ("xapi_openedx/edx.course.grade.passed.first_time.json", 1): ("exact_duplicate", None, None),
    ("xapi_openedx/edx.grades.course.grade_calculated_letter_grade.json", 1): ("pass", None, 1.0),
    ("xapi_openedx/complete_video.json", 1): ("ignored", "not_a_course", None),
    # The specification: scaled without raw is success here; a voiding statement.
    ("xapi_adl_spec/appendixA_2_attempted_scaled.json", 1): ("ignored", "verb_not_used", 1.0),
    ("xapi_adl_spec/voiding_example.json", 1): ("voids", None, None),
    # Neither timestamp nor stored (a file, not an LRS): no time to place it at.
    ("xapi_rustici_tincanvalidator/002-good-statementref_object.json", 1): (
        "rejected",
        "bad_timestamp",
        None,
    ),
    # Moodle: scaled is 2 * share - 1 (0.0 for 50 of 100): the share comes from raw/min/max.
    ("xapi_moodle/mod_quiz__question_manually_graded.json", 1): ("attempt", None, 0.5),
    ("xapi_moodle/mod_assign__assignment_graded__existing_assignment_graded_comment.json", 1): (
        "attempt",
        None,
        0.5,
    ),
    # A success-only answer is right or wrong; one with no success and no score is rejected.
    ("xapi_moodle/mod_quiz__attempt_submitted__truefalse.json", 2): ("attempt", None, 1.0),
    ("xapi_moodle/mod_quiz__attempt_submitted__essay.json", 2): (
        "rejected",
        "missing_value",
        None,
    ),
    # The quiz attempt's `completed` is on an attempt, not a course; the course's is a pass.
    ("xapi_moodle/mod_quiz__attempt_submitted__essay.json", 1): ("ignored", "not_a_course", 0.5),
    ("xapi_moodle/core__course_completed__completing_existing_course.json", 1): (
        "pass",
        None,
        None,
    ),
    ("xapi_moodle/core__user_enrolment_created__existing_user_enrolled.json", 1): (
        "enrollment",
        None,
        None,
    ),
    ("xapi_moodle/core__user_enrolment_deleted__existing_user_enrolment_deleted.json", 1): (
        "unenrollment",
        None,
        None,
    ),
    # No id: byte-identical statements share the hash id and count as duplicates.
    ("xapi_moodle/mod_quiz__attempt_submitted__gapselect.json", 1): (
        "exact_duplicate",
        None,
        0.5,
    ),
    # Caliper: a GradeEvent is an attempt of the assignee on the assignable (10 of 15).
    ("caliper_imsglobal_v1p2/caliperEventGradeGraded.json", 1): ("attempt", None, 0.6667),
    ("caliper_imsglobal_v1p2/caliperEventGrade-WrongAction.json", 1): (
        "rejected",
        "invalid_action",
        0.6667,
    ),
    ("caliper_imsglobal_v1p2/caliperEventAssessmentItem-WrongAction.json", 1): (
        "rejected",
        "invalid_action",
        None,
    ),
    # An entity, not an event: its id is an IRI, not the UUID URN an event has.
    ("caliper_imsglobal_v1p2/caliperEntityScore.json", 1): ("rejected", "invalid_id", None),
    # Open edX's Caliper fixtures reuse one event id across events: the first path's stays.
    ("caliper_openedx/edx.course.enrollment.activated.enterprise.json", 1): (
        "enrollment",
        None,
        None,
    ),
    ("caliper_openedx/edx.course.enrollment.deactivated.json", 1): (
        "conflict",
        "conflicting_duplicate",
        None,
    ),
}


def test_every_statement_has_exactly_one_outcome(staged):
    with duckdb.connect(str(staged), read_only=True) as con:
        (n_raw,) = con.execute("select count(*) from raw.statements").fetchone()
        (n_staged, n_null) = con.execute(
            "select count(*), count(*) - count(outcome) from staging.stg_statements_landed"
        ).fetchone()
        accounting = con.execute(
            "select n_landed, n_cleaned + n_rejected + n_exact_duplicates "
            "from staging.stg_row_accounting where entity = 'statements'"
        ).fetchone()
    assert n_raw == n_staged > 120
    assert n_null == 0
    assert accounting == (n_raw, n_raw)


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda key: f"{key[0]}#{key[1]}")
def test_a_real_statement_becomes_what_its_rules_say(staged, key):
    assert outcomes(staged)[key] == EXPECTED[key]


def test_real_attempts_reach_the_attempt_chain_with_their_score(staged):
    """The Open edX learner is in the catalog: its attempts on statement-only items clean."""
    with duckdb.connect(str(staged), read_only=True) as con:
        rows = con.execute(
            "select item_id, score, max_score from staging.stg_attempts "
            f"where learner_id = '{CATALOG_LEARNER}' order by submitted_at"
        ).fetchall()
        items = dict(
            con.execute(
                "select item_id, max_score from staging.stg_items where item_id like 'block-v1%'"
            ).fetchall()
        )
    # The multi-part problem was edited from 3 to 4 points: its item is out of 4 (latest),
    # and its earlier attempts keep their share (2 of 3 is 2.67 of 4).
    multi = "block-v1:edX+DemoX+Demo_Course+type@problem+block@a0effb954cca4759994f1ac9e9434bf4"
    assert items[multi] == 4
    scores = sorted(round(score, 2) for item, score, _ in rows if item == multi)
    assert scores == [0.0, 2.0, 2.67, 4.0]
