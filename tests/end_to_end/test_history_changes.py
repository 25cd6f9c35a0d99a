"""Correct under change: each refresh of a changing landing history equals a rebuild.

Guards issue 12's general rule on one landing history, refreshed four times through the
daily_refresh job as the schedule runs it. Between refreshes the history changes the ways real
landings do: a late earlier attempt, an item's max_score change, a learner changing company, a
course gaining a skill, an item losing its skill_id, a file moved out of the wrong folder, an
upsert reverted by a file equal to an older one, an unreadable file that becomes readable, an
assignment score below every calibrated category, and finally the var scored_attempt set to
`last` with a full rebuild. Statements land alongside (xAPI, as ``--format xapi`` writes them):
attempts cleaned in refresh 1 and voided in refresh 2 (one the first of its pair, one the only
attempt of its pair), a voiding statement landed two refreshes before its target, a
StatementRef with another verb, an exact copy of a voided statement, and a course completion
voided in refresh 2. After every refresh:

- every irt.learner_abilities row (and every period-start estimate) equals ``score()``
  recomputed from int_irt_responses and the stored item parameters, to 1e-9;
- every incremental dbt model equals a ``--full-refresh`` rebuild;
- every landed row is accounted for, and the refresh raised nothing;
- a voided attempt is rejected ``voided`` and is in no cleaned, scored or IRT table (so in no
  ability), a voided completion leaves its enrollment uncompleted, and every landed statement
  is an attempt, an enrollment, a pass, voids, voided, ignored with a reason or a duplicate.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import orchestration.ingest.loader as ingest_loader
from orchestration.dbt_project import isolated_dbt_env, run_dbt
from orchestration.irt.calibration import run_calibration
from orchestration.irt.scoring import run_scoring
from orchestration.irt.settings import IrtSettings
from orchestration.irt.verification import verify_scoring
from orchestration.settings import load_settings
from sample_data import generate
from tests.end_to_end.xapi_lines import (
    COMMENTED,
    attempt,
    completed,
    registered,
    statement_id,
    statement_ref,
    write_jsonl,
)
from tests.environment import refresh_environment

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
INCREMENTAL_MODELS = {
    "staging.stg_attempts_landed": "processed_at",
    "staging.stg_enrollments_landed": None,
    "staging.stg_attempts": "landed_processed_at",
    "intermediate.int_attempts_scored": "landed_processed_at",
    "staging.stg_statements_parsed": None,
    "staging.stg_statements_landed": "processed_at",
}
UNREADABLE = "attempts/extra_unreadable.csv"


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def incremental_differences(warehouse: Path, tmp: Path, *dbt_args: str) -> dict[str, int]:
    """Rows that differ between each incremental model and a --full-refresh rebuild of it."""
    rebuilt = tmp / "rebuilt.duckdb"
    shutil.copyfile(warehouse, rebuilt)
    run_dbt(
        "run",
        "--full-refresh",
        "--select",
        "+int_attempts_scored",
        "+stg_enrollments_landed",
        *dbt_args,
        env=isolated_dbt_env(rebuilt, tmp),
    )
    differences = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"attach '{rebuilt}' as rebuilt (read_only)")
        for table, watermark in INCREMENTAL_MODELS.items():
            columns = f"* exclude ({watermark})" if watermark else "*"
            differences[table] = con.execute(
                f"""select count(*) from (
                    (select {columns} from {table}
                     except all select {columns} from rebuilt.{table})
                    union all
                    (select {columns} from rebuilt.{table}
                     except all select {columns} from {table}))"""
            ).fetchone()[0]
    rebuilt.unlink()
    return differences


def state(warehouse: Path) -> dict:
    with duckdb.connect(str(warehouse)) as con:
        check = verify_scoring(con)
        return {
            "n_verified": check.n_checked,
            "mismatches": check.mismatches[:10],
            "unbalanced": con.execute(
                "select entity from staging.stg_row_accounting "
                "where n_landed <> n_cleaned + n_superseded + n_rejected + n_exact_duplicates"
            ).fetchall(),
            "ledger": dict(
                con.execute(
                    "select file_path, arg_max(status, load_id) from raw.load_ledger group by all"
                ).fetchall()
            ),
            "industry": con.execute(
                "select industry from staging.stg_companies where company_id = 'CO_R'"
            ).fetchall(),
            "company_of_mover": con.execute(
                "select distinct abilities.company_id = learners.company_id "
                "from irt.learner_abilities as abilities "
                "join staging.stg_learners as learners using (learner_id) "
                "where learners.job_role = 'mover'"
            ).fetchall(),
            "assignments": dict(
                (item, (skill, method))
                for item, skill, method in con.execute(
                    "select item_id, skill_id, method from irt.item_skill_assignments "
                    "where item_id like 'X_%'"
                ).fetchall()
            ),
            "scored_ga": con.execute(
                "select count(*) from intermediate.int_irt_responses "
                "where item_id = 'X_GA' and response = 0"
            ).fetchone()[0],
        }


def voiding_state(warehouse: Path, names: dict[str, str], pairs: dict[str, tuple]) -> dict:
    """What the statements of the voiding steps became, by name (``names``: id -> name), and
    per learner x item of ``pairs`` the attempt scored and its distinct IRT responses."""
    ids = list(names)
    with duckdb.connect(str(warehouse), read_only=True) as con:

        def named(sql: str) -> list[tuple]:  # the rows of our statements, ids as names
            rows = con.execute(sql, [ids]).fetchall()
            return sorted((tuple(names.get(v, v) for v in row) for row in rows), key=str)

        mine = "where list_contains(?, {})"
        found = {
            "statements": named(
                "select statement_id, outcome, coalesce(reject_reason, ignore_reason) "
                "from staging.stg_statements_landed " + mine.format("statement_id")
            ),
            "landed": named(
                "select attempt_id, row_status, reject_reason from staging.stg_attempts_landed "
                + mine.format("attempt_id")
            ),
            "cleaned": named(
                "select attempt_id from staging.stg_attempts " + mine.format("attempt_id")
            ),
            "accounting": con.execute(
                "select n_landed, n_cleaned, n_rejected, n_exact_duplicates "
                "from staging.stg_row_accounting where entity = 'statements'"
            ).fetchone(),
            "enrollment": con.execute(
                "select enrolled_at, completed_at, grade from staging.stg_enrollments "
                "where learner_id = ? and course_id = 'X_CG'",
                [pairs["O"][0]],
            ).fetchall(),
            "enrollment_rows": sorted(
                con.execute(
                    "select row_status, reject_reason from staging.stg_enrollments_landed "
                    "where learner_id = ? and course_id = 'X_CG'",
                    [pairs["O"][0]],
                ).fetchall(),
                key=str,
            ),
            "scored": {},
            "responses": {},
        }
        for who, (learner, item) in pairs.items():
            pair = "where learner_id = $1 and item_id = $2"
            scored = con.execute(
                f"select attempt_id from intermediate.int_attempts_scored {pair}", [learner, item]
            ).fetchall()
            found["scored"][who] = [names.get(a, a) for (a,) in scored]
            responses = con.execute(
                f"select distinct response from intermediate.int_irt_responses {pair} order by 1",
                [learner, item],
            ).fetchall()
            found["responses"][who] = [r for (r,) in responses]
    return found


@pytest.fixture(scope="module")
def history(tmp_path_factory, run_refresh):
    root = tmp_path_factory.mktemp("history")
    environment = contextlib.ExitStack()
    environment.enter_context(refresh_environment(root))
    monkeypatch = pytest.MonkeyPatch()
    real_hash = ingest_loader.content_hash

    def guarded_hash(path: Path) -> str:
        if path.as_posix().endswith(UNREADABLE) and (root / "locked").exists():
            raise PermissionError(13, "Permission denied", str(path))
        return real_hash(path)

    monkeypatch.setattr(ingest_loader, "content_hash", guarded_hash)
    try:
        settings = load_settings()
        landing = settings.landing_dir
        generate(
            out_dir=landing,
            truth_dir=root / "truth",
            companies=12,
            learners=2500,
            days=25,
            seed=11,
        )
        steps: dict[str, dict] = {}

        # -- refresh 1: the sample, plus our own course, items, attempts and awkward files ----
        with duckdb.connect() as con:
            *learners, outsider = [
                r[0]
                for r in con.execute(
                    f"select distinct learner_id from read_csv('{landing}/learners/*.csv', "
                    "all_varchar = true, union_by_name = true) order by 1 limit 201"
                ).fetchall()
            ]
            companies = [
                r[0]
                for r in con.execute(
                    f"select distinct company_id from read_csv('{landing}/companies/*.csv', "
                    "all_varchar = true, union_by_name = true) "
                    "where regexp_matches(company_id, '^CO0[0-9]+$') order by 1"
                ).fetchall()
            ]
            mover_from = con.execute(
                f"select company_id from read_csv('{landing}/learners/*.csv', "
                "all_varchar = true, union_by_name = true) where learner_id = ?",
                [learners[5]],
            ).fetchone()[0]
        start = "2026-06-10T09:00:00Z"
        write_csv(
            landing / "courses/extra.csv",
            ["course_id", "title", "level"],
            [("X_CG", "One skill", "beginner"), ("X_CM", "Two skills", "intermediate")],
        )
        write_csv(
            landing / "course_skills/extra.csv",
            ["course_id", "skill_id", "weight"],
            [("X_CG", "sql", "1"), ("X_CM", "sql", "0.5"), ("X_CM", "python", "0.5")],
        )
        write_csv(
            landing / "items/extra.csv",
            ["item_id", "course_id", "max_score", "item_type", "skill_id"],
            [(f"X_G{k}", "X_CG", "1", "quiz", "") for k in range(4)]
            + [("X_GA", "X_CG", "10", "assignment", "sql"), ("X_GT", "X_CM", "1", "quiz", "sql")],
        )
        attempts = []
        for n, learner in enumerate(learners):
            for k in range(4):
                attempts.append((f"X_A{n}_{k}", learner, f"X_G{k}", start, str((n + k) % 3 % 2)))
            attempts.append((f"X_A{n}_T", learner, "X_GT", start, str(n % 2)))
            if n < 100:  # nobody scores under 50% on the assignment at first: categories [2, 3]
                attempts.append((f"X_A{n}_A", learner, "X_GA", start, "10" if n % 3 else "6"))
        write_csv(
            landing / "attempts/extra_1.csv",
            ["attempt_id", "learner_id", "item_id", "submitted_at", "score"],
            attempts,
        )
        write_csv(
            landing / "companies/d1.csv",
            ["company_id", "industry", "country", "employee_count"],
            [("CO_R", "retail", "DE", "40")],
        )
        # a learners file landed in the companies folder by mistake: fails until moved
        write_csv(
            landing / "companies/wrong_folder.csv",
            ["learner_id", "company_id", "job_role"],
            [("X_L1", companies[0], "analyst")],
        )
        write_csv(
            landing / UNREADABLE,
            ["attempt_id", "learner_id", "item_id", "submitted_at", "score"],
            [("X_U1", learners[0], "X_GT", start, "1")],
        )
        (root / "locked").touch()
        # Statements: P's first attempt at X_G1 and O's only attempt at X_G3 (O: no CSV
        # attempts), voided in refresh 2; Q's first at X_G2, which only a StatementRef with
        # another verb names; a voiding statement whose target (R's first at X_G2) lands in
        # refresh 3, with an exact copy of P's voided attempt. Each differs from the CSV answer.
        # O also registers in X_CG and completes it; the completion is voided in refresh 2.
        # (Names and expected outcomes: voiding_expected.)
        pairs = {
            "P": (learners[150], "X_G1"),
            "Q": (learners[151], "X_G2"),
            "R": (learners[152], "X_G2"),
            "O": (outsider, "X_G3"),
        }
        early = "2026-06-10T08:30:00Z"  # before the CSV attempts (09:00): first of its pair
        sent = {
            f"{who}_attempt": attempt(f"{who}_attempt", *pairs[who], "X_CG", early, raw)
            for who, raw in (("P", 0), ("Q", 1), ("R", 0), ("O", 1))
        }
        others = ["P_void", "O_void", "R_void", "Q_comment", "O_registered", "O_completed"]
        names = {statement_id(name): name for name in [*sent, *others, "O_void_completed"]}
        write_jsonl(
            landing / "statements/history_1.jsonl",
            [sent["P_attempt"], sent["Q_attempt"], sent["O_attempt"]]
            + [statement_ref("R_void", pairs["R"][0], statement_id("R_attempt"))]
            + [registered("O_registered", outsider, "X_CG", "2026-06-09T08:00:00Z")]
            + [completed("O_completed", outsider, "X_CG", "2026-06-10T10:00:00Z", 0.8)],
        )
        steps["1"] = {"checks": run_refresh()}
        steps["1"].update(state(settings.warehouse))
        steps["1"]["voiding"] = voiding_state(settings.warehouse, names, pairs)
        steps["1"]["differences"] = incremental_differences(settings.warehouse, root)

        # -- refresh 2 ----------------------------------------------------------------------
        late = [
            (f"X_L{n}", learner, "X_G0", "2026-06-10T08:00:00+01:00", "0" if n % 3 % 2 else "1")
            for n, learner in enumerate(learners[:30])
        ]  # an hour earlier than the scored first attempt (09:00 UTC), with the other answer
        write_csv(
            landing / "attempts/extra_2_late.csv",
            ["attempt_id", "learner_id", "item_id", "submitted_at", "score"],
            late,
        )
        write_csv(
            landing / "items/extra_2.csv",
            ["ITEM_ID", "COURSE_ID", "MAX_SCORE", "ITEM_TYPE", "SKILL_ID"],
            [("X_GA", "X_CG", "20", "assignment", "sql"), ("X_GT", "X_CM", "1", "quiz", "")],
        )
        write_csv(
            landing / "course_skills/extra_2.csv",
            ["course_id", "skill_id", "weight"],
            [("X_CG", "python", "0.5")],
        )
        write_csv(
            landing / "learners/extra_2.csv",
            ["learner_id", "company_id", "job_role"],
            [(learners[5], next(c for c in companies if c != mover_from), "mover")],
        )
        write_csv(
            landing / "companies/d2.csv",
            ["company_id", "industry", "country", "employee_count"],
            [("CO_R", "finance", "DE", "40")],
        )
        shutil.move(landing / "companies/wrong_folder.csv", landing / "learners/wrong_folder.csv")
        (root / "locked").unlink()
        write_jsonl(
            landing / "statements/history_2.jsonl",
            [
                statement_ref("P_void", pairs["P"][0], statement_id("P_attempt"), at=early),
                statement_ref("O_void", pairs["O"][0], statement_id("O_attempt")),
                statement_ref("O_void_completed", outsider, statement_id("O_completed")),
                statement_ref(
                    "Q_comment", pairs["Q"][0], statement_id("Q_attempt"), COMMENTED, early
                ),
            ],
        )
        steps["2"] = {"checks": run_refresh()}
        steps["2"].update(state(settings.warehouse))
        steps["2"]["voiding"] = voiding_state(settings.warehouse, names, pairs)
        steps["2"]["differences"] = incremental_differences(settings.warehouse, root)

        # -- refresh 3: an upsert reverted, and scores below every calibrated category -----
        shutil.copyfile(landing / "companies/d1.csv", landing / "companies/d3.csv")
        write_csv(
            landing / "attempts/extra_3.csv",
            ["attempt_id", "learner_id", "item_id", "submitted_at", "score"],
            [
                (f"X_Z{n}", learner, "X_GA", "2026-06-11T09:00:00Z", "0")
                for n, learner in enumerate(learners[100:112])
            ],
        )
        write_jsonl(landing / "statements/history_3.jsonl", [sent["R_attempt"], sent["P_attempt"]])
        steps["3"] = {"checks": run_refresh()}
        steps["3"].update(state(settings.warehouse))
        steps["3"]["voiding"] = voiding_state(settings.warehouse, names, pairs)
        steps["3"]["differences"] = incremental_differences(settings.warehouse, root)

        # -- refresh 4: scored_attempt = last, with a full rebuild ---------------------------
        last = ["--vars", "{scored_attempt: last}"]
        run_dbt(
            "run",
            "--full-refresh",
            "--exclude",
            "marts",
            *last,
            env=isolated_dbt_env(settings.warehouse, root),
        )
        now = settings_now(settings.warehouse)
        with duckdb.connect(str(settings.warehouse)) as con:
            run_calibration(con, "last", now, IrtSettings())
            run_scoring(con, "last", now, IrtSettings())
        steps["4"] = state(settings.warehouse)
        steps["4"]["voiding"] = voiding_state(settings.warehouse, names, pairs)
        steps["4"]["differences"] = incremental_differences(settings.warehouse, root, *last)
        yield steps
    finally:
        monkeypatch.undo()
        environment.close()


def settings_now(warehouse: Path):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        latest = con.execute("select max(submitted_at) from staging.stg_attempts").fetchone()[0]
    return latest + timedelta(hours=1)


STEPS = ("1", "2", "3", "4")


def voiding_expected(step: str) -> dict:
    """What the voiding steps' statements are after refresh ``step`` (see the fixture)."""
    later = step != "1"  # P's and O's attempts voided in refresh 2
    voided = [("O_attempt", "voided", None), ("P_attempt", "voided", None)]
    statements = [("Q_attempt", "attempt", None), ("R_void", "voids", None)]
    statements += [("O_registered", "enrollment", None)]
    landed = [("Q_attempt", "cleaned", None)]
    enrolled, completion = datetime(2026, 6, 9, 8), (datetime(2026, 6, 10, 10), 0.8)
    if later:
        statements += voided + [("O_void", "voids", None), ("P_void", "voids", None)]
        statements += [("Q_comment", "ignored", "verb_not_used")]
        statements += [("O_completed", "voided", None), ("O_void_completed", "voids", None)]
        landed += [(name, "rejected", "voided") for name, *_ in voided]
        enrollment = [(enrolled, None, None)]
        enrollment_rows = [("cleaned", None), ("rejected", "voided")]
    else:
        statements += [(name, "attempt", None) for name, *_ in voided]
        statements += [("O_completed", "pass", None)]
        landed += [(name, "cleaned", None) for name, *_ in voided]
        enrollment = [(enrolled, *completion)]
        enrollment_rows = [("cleaned", None), ("exact_duplicate", None)]
    duplicates = int(step in ("3", "4"))  # R's attempt lands after its voiding, a copy of P's
    if duplicates:
        statements += [("P_attempt", "exact_duplicate", None), ("R_attempt", "voided", None)]
        landed += [("R_attempt", "rejected", "voided")]
    # Scored at each pair: the statement when it counts, else the CSV attempt of 09:00 (under
    # scored_attempt = last, step 4, the later CSV attempt, whatever the statements).
    scored = {"P": ["X_A150_1" if later else "P_attempt"], "Q": ["Q_attempt"], "R": ["X_A152_2"]}
    scored["O"] = [] if later else ["O_attempt"]
    responses = {"P": [1 if later else 0], "Q": [1], "R": [1], "O": [] if later else [1]}
    if step == "4":
        scored["Q"], responses["Q"] = ["X_A151_2"], [0]
    return {
        "statements": sorted(statements, key=str),
        "landed": sorted(landed, key=str),
        "cleaned": sorted((name,) for name, status, _ in landed if status == "cleaned"),
        "accounting": (len(statements), len(statements) - duplicates, 0, duplicates),
        "enrollment": enrollment,
        "enrollment_rows": enrollment_rows,
        "scored": scored,
        "responses": responses,
    }


@pytest.mark.parametrize("step", STEPS)
def test_every_ability_equals_a_rescoring_from_scratch(history, step):
    assert history[step]["n_verified"] > 500
    assert history[step]["mismatches"] == []


@pytest.mark.parametrize("step", STEPS)
def test_every_incremental_model_equals_a_full_rebuild(history, step):
    assert history[step]["differences"] == dict.fromkeys(INCREMENTAL_MODELS, 0)


@pytest.mark.parametrize("step", STEPS)
def test_every_landed_row_is_accounted_for(history, step):
    assert history[step]["unbalanced"] == []


@pytest.mark.parametrize("step", ("1", "2", "3"))
def test_the_refresh_checks_its_own_scores(history, step):
    assert history[step]["checks"]["scores_equal_rescoring"] is True


def test_the_unreadable_and_misplaced_files_load_once_fixed(history):
    first, second = history["1"]["ledger"], history["2"]["ledger"]
    assert first[UNREADABLE] == "failed" and first["companies/wrong_folder.csv"] == "failed"
    assert history["1"]["checks"]["landing_files_all_loaded"] is False
    assert second[UNREADABLE] == "loaded" and second["learners/wrong_folder.csv"] == "loaded"


def test_a_reverted_upsert_file_wins_as_the_latest(history):
    assert history["1"]["industry"] == [("retail",)]
    assert history["2"]["industry"] == [("finance",)]
    assert history["3"]["industry"] == [("retail",)]


def test_abilities_follow_a_learner_to_a_new_company(history):
    assert history["2"]["company_of_mover"] == [(True,)]


def test_items_are_decided_again_when_their_candidate_skills_change(history):
    first, second = history["1"]["assignments"], history["2"]["assignments"]
    assert first["X_G0"] == ("sql", "only_course_skill")
    assert first["X_GT"] == ("sql", "given")
    for item in ("X_G0", "X_GT"):
        assert second[item][1] in ("data", "unassigned"), item


def test_scores_below_every_calibrated_category_are_scored(history):
    assert history["3"]["scored_ga"] >= 12


@pytest.mark.parametrize("step", STEPS)
def test_every_statement_is_accounted_for_with_what_it_became(history, step):
    found, expected = history[step]["voiding"], voiding_expected(step)
    assert found["statements"] == expected["statements"]
    assert found["accounting"] == expected["accounting"]  # landed, cleaned, rejected, dupl.


@pytest.mark.parametrize("step", STEPS)
def test_voided_attempts_are_rejected_and_leave_every_score(history, step):
    """Voided also when cleaned in an earlier refresh or landed after the voiding statement;
    a StatementRef with another verb voids nothing. The abilities equal a rescoring of
    int_irt_responses (test above), so a voided attempt leaves them too."""
    found, expected = history[step]["voiding"], voiding_expected(step)
    for part in ("landed", "cleaned", "scored", "responses"):
        assert found[part] == expected[part], part


@pytest.mark.parametrize("step", STEPS)
def test_a_voided_completion_leaves_the_enrollment_uncompleted(history, step):
    found, expected = history[step]["voiding"], voiding_expected(step)
    assert found["enrollment"] == expected["enrollment"]
    assert found["enrollment_rows"] == expected["enrollment_rows"]
