"""Staging and intermediate dbt models on hand-made raw rows, one fault per row.

Guards the landing rules of docs/landing-contract.md as implemented in dbt: one reject reason
per row in the documented precedence, every landed row accounted for, offsets converted to UTC,
exact versus conflicting duplicates, last-loaded-wins upserts, an orphan attempt accepted on
the run after its learner lands, skills whose chain of parents does not reach a known skill,
quiz scores of 0 or 1, completions not before enrolment, and incremental runs that equal a
rebuild. dbt is slow to start, so the project is built twice per module
(the second run after the missing learner lands) and each test reads the warehouse.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt_project import isolated_dbt_env, run_dbt
from orchestration.ingest import ENTITIES, ensure_raw_schema

pytestmark = pytest.mark.slow  # dbt builds of the staging chain: about 30 s

REPO_ROOT = Path(__file__).resolve().parents[2]

# Contract columns per raw table, required first, as the ingest asset creates them.
CONTRACT_COLUMNS = {name: list(spec.columns) for name, spec in ENTITIES.items()}

# One landed file: (entity, load_id, rows); each row lists the contract columns in order, and a
# short row leaves the trailing optional columns NULL.
FIRST_RUN_FILES = [
    (
        "companies",
        1,
        [
            ("c1", "Tech", "de", "120", "Acme", None),  # exact duplicate of row 11
            ("c2", "Finance", "FR", "3000", "Beta", "2026-01-01T00:00:00Z"),
            ("", "Tech", "DE", "10"),  # missing_key
            ("c3", " ", "DE", "10"),  # missing_value
            ("c4", "Tech", "XX", "10"),  # invalid_country
            ("c5", "Tech", "DE", "0"),  # invalid_value
            ("c6", "Tech", "DE", "12.5"),  # invalid_value
            ("c7", "Tech", "DE", "10", "Gamma", "yesterday"),  # bad_timestamp
            ("c8", "Tech", "DE", "10", "Delta", "2999-01-01T00:00:00Z"),  # future_timestamp
            ("c9", "Tech", "ZZ", "abc"),  # invalid_value before invalid_country
            (" c1 ", "Tech", "DE", "120", "Acme", ""),  # superseded by load 2
        ],
    ),
    (
        "companies",
        2,
        [
            ("c1", "Tech", "DE", "150", "Acme"),  # last loaded version wins
            ("c10", "Retail", "na", "5"),  # Namibia, not a NULL
        ],
    ),
    (
        "learners",
        3,
        [
            ("l1", "c1", "data_analyst", "Ann", "2026-06-01T10:00:00+02:00"),
            ("l2", "c2", "engineer", "Bob", "2026-06-01T10:00:00"),
            ("l3", "c404", "engineer", "Cy"),  # unknown_company
            ("l4", "", "engineer", "Di"),  # missing_key
            ("l5", "c1", "engineer", "Ed", "2026-06-01T10:00:00z"),
            ("l6", "c10", "engineer", "Flo", "2026-06-01T10:00:00-05:30"),
        ],
    ),
    (
        "courses",
        4,
        [
            ("k1", "SQL 101", "beginner"),  # superseded by row 6
            ("k2", "Python", " Intermediate "),
            ("k3", "Rust", "expert"),  # invalid_value
            ("", "Nothing", "beginner"),  # missing_key
            ("k4", "No skills yet", None),
            ("k1", "SQL basics", "beginner"),
        ],
    ),
    (
        "course_skills",
        5,
        [
            ("k1", "sql", "0.5"),
            ("k1", "statistics", ""),  # weight defaults to 1
            ("k2", "python", "1"),
            ("k1", "python", "1.5"),  # invalid_value
            ("k1", "nope", "1"),  # unknown_skill
            ("k9", "sql", "1"),  # unknown_course
            ("k1", "", "1"),  # missing_key
            ("k2", "python", "1.0"),  # same content as row 3
            ("k4", "y_child", "1"),  # unknown_skill: y_child's parent is rejected, until run 2
        ],
    ),
    (
        "items",
        6,
        [
            ("i1", "k1", "1", "quiz", "sql"),
            ("i2", "k1", "1", "", ""),  # quiz; sql or statistics
            ("i3", "k2", "10", None, None),  # assignment; only python
            ("i4", "k1", "0"),  # invalid_value
            ("i5", "k1", "abc"),  # invalid_value
            ("i6", "k1", ""),  # missing_value
            ("i7", "k9", "1"),  # unknown_course
            ("i8", "k1", "1", "essay"),  # invalid_value
            ("i9", "k1", "1", "quiz", "nope"),  # unknown_skill
            ("i10", "k1", "4", "assignment", "sql"),
            ("i11", "k4", "1", "quiz", "y_grandchild"),  # unknown_skill, until y lands in run 2
            ("i12", "k1", "10", "quiz", "sql"),  # invalid_value: a quiz has max_score 1
            ("i13", "k2", "1", "assignment", "python"),  # a quiz from run 2
            ("i14", "k2", "1", "quiz", "python"),  # an assignment from run 2
        ],
    ),
    (
        "attempts",
        7,
        [
            ("a1", "l1", "i1", "2026-06-01T10:00:00+02:00", "1"),
            ("a2", "l1", "i1", "2026-06-02T10:00:00Z", "0"),
            ("a3", "l1", "i10", "2026-06-01T09:00:00", "3"),
            ("a4", "l2", "i10", "2026-06-01T09:00:00", "4"),
            ("a5", "l1", "i3", "2026-06-01T09:00:00", "5"),
            ("a1", "l1", "i1", "2026-06-01T10:00:00+02:00", "1"),  # exact_duplicate
            ("a2", "l1", "i1", "2026-06-02T10:00:00Z", "1"),  # conflicting_duplicate
            ("a6", "l1", "i1", "2026-06-03T00:00:00Z", "1.5"),  # score_out_of_range
            ("a7", "l1", "i404", "2026-06-03T00:00:00Z", "1"),  # unknown_item
            ("a8", "l9", "i1", "2026-06-03T00:00:00Z", "1"),  # unknown_learner, until run 2
            ("a9", "l1", "i1", "not a date", "1"),  # bad_timestamp
            ("a10", "l1", "i1", "2999-01-01T00:00:00Z", "1"),  # future_timestamp
            ("a11", "l1", "i1", "", "1"),  # missing_value
            ("", "l1", "i1", "2026-06-03T00:00:00Z", "1"),  # missing_key
            ("a12", "l1", "i1", "2026-06-05T00:00:00Z", "x"),  # invalid_value
            ("a13", "l1", "", "garbage", "x"),  # missing_key first
            ("a14", "l404", "i1", "2999-01-01T00:00:00Z", "5"),  # future_timestamp first
            ("a15", "l2", "i2", "2026-06-01T12:00:00Z", "0"),
            ("a17", "l2", "i1", "2026-06-01T12:00:00Z", "1", "0"),  # invalid_value (attempt 0)
            ("a21", "l2", "i1", "2026-06-02T00:00:00Z", "0.5"),  # partial_score_on_quiz
            ("a22", "l1", "i2", "2026-06-02T00:00:00Z", "0.25"),  # the same, quiz by default
            ("a23", "l2", "i13", "2026-06-02T00:00:00Z", "0.5"),  # partial credit until run 2
            ("a24", "l1", "i14", "2026-06-02T00:00:00Z", "0.5"),  # rejected as partial until run 2
            ("a25", "l1", "i11", "2026-06-02T00:00:00Z", "1"),  # unknown_item until run 2
            ("a26", "l404", "i1", "2026-06-02T00:00:00Z", "0.5"),  # partial_score_on_quiz first
        ],
    ),
    (
        "attempts",
        8,
        [
            ("a1", "l1", "i1", "2026-06-01T08:00:00Z", "1.0"),  # same instant and score
            ("a16", "l1", "i1", "2026-06-04T00:00:00Z", "1", ""),  # attempt_number derived: 3
            # a19: the first copy waits for l9 (run 2); until then the second is cleaned, the
            # only attempt of l2 x i3, which run 2 leaves without attempts.
            ("a19", "l9", "i1", "2026-06-03T00:00:00Z", "1"),
            ("a19", "l2", "i3", "2026-06-06T00:00:00Z", "0"),
        ],
    ),
    (
        "enrollments",
        9,
        [
            ("l1", "k1", "2026-05-01", "2026-05-20T00:00:00+01:00", "0.9"),
            ("l2", "k2", "2026-05-01"),
            ("l9", "k1", "2026-05-01"),  # unknown_learner, until run 2
            ("l1", "k404", "2026-05-01"),  # unknown_course
            ("l2", "k1", ""),  # missing_value
            ("l2", "k4", "2026-05-01", "bad"),  # bad_timestamp
            ("l1", "k2", "2026-05-01", None, "1.2"),  # invalid_value
            ("l1", "k4", "2026-05-10", "2026-05-01"),  # invalid_value: completed before enrolled
            ("l6", "k1", "2026-05-01T10:00:00Z", "2026-05-01T11:00:00+02:00"),  # invalid_value
            ("l5", "k1", "2026-05-01T10:00:00+02:00", "2026-05-01T09:00:00Z"),  # after, in UTC
            ("l5", "k2", "2026-05-01T10:00:00Z", "2026-05-01T10:00:00Z"),  # completed at once
        ],
    ),
    (
        "skills",
        10,
        [
            ("sql", "SQL (landed)", "data", ""),  # wins over the seed row
            ("new_skill", "New skill", "data", "sql"),
            ("x", "", "data"),  # missing_value
            ("y", "Y", "data", "nope"),  # unknown_skill, until run 2
            ("y_child", "Y child", "data", "y"),  # unknown_skill: its parent is rejected
            ("y_grandchild", "Y grandchild", "data", "y_child"),  # unknown_skill, down the chain
            ("early", "Early", "data", "late"),  # its parent lands later in the file
            ("late", "Late", "data", "new_skill"),  # a landed chain that reaches the seed
            ("loop_a", "Loop A", "data", "loop_b"),  # unknown_skill: a cycle reaches no root
            ("loop_b", "Loop B", "data", "loop_a"),  # unknown_skill
            ("python", "Python (landed)", "data", "nope"),  # unknown_skill; the seed row stays
            ("pandas", "pandas", "data", "python"),  # its parent is the seed python
        ],
    ),
]

SECOND_RUN_FILES = [
    # l9 lands (its attempt a8 and enrollment are accepted); l1 moves from c1 to c2.
    ("learners", 11, [("l9", "c2", "engineer", "Gus"), ("l1", "c2", "data_analyst", "Ann")]),
    # k1 becomes an intermediate course: the entry level of its learners changes.
    ("courses", 15, [("k1", "SQL basics", "intermediate")]),
    # i3's max_score drops from 10 to 4: a5 (score 5) becomes score_out_of_range. i13 becomes a
    # quiz (its type is dropped, max_score 1): a23 (0.5) becomes partial_score_on_quiz. i14
    # becomes an assignment: a24 (0.5) is accepted.
    (
        "items",
        12,
        [
            ("i3", "k2", "4", None, None),
            ("i13", "k2", "1", None, "python"),
            ("i14", "k2", "1", "assignment", "python"),
        ],
    ),
    # y lands with a valid parent: y_child, y_grandchild, k4 x y_child, i11 and a25 follow.
    ("skills", 16, [("y", "Y", "data", "")]),
    (
        "attempts",
        13,
        [
            ("a20", "l2", "i1", "2026-06-07T00:00:00Z", "1"),  # new
            ("a8", "l9", "i1", "2026-06-03T00:00:00Z", "0"),  # conflicting_duplicate
            ("a4", "l2", "i10", "2026-06-01T09:00:00", "4"),  # exact_duplicate
        ],
    ),
    # A new version of l2 x k2 (completed now) supersedes the one of run 1; l1 x k4 is corrected;
    # a version of l1 x k1 completed before it started does not displace the one of run 1.
    (
        "enrollments",
        14,
        [
            ("l2", "k2", "2026-05-01", "2026-06-01T00:00:00Z", "0.8"),
            ("l1", "k4", "2026-05-10", "2026-05-20"),
            ("l1", "k1", "2026-05-01", "2026-04-30"),
        ],
    ),
]


def land_files(con: duckdb.DuckDBPyConnection, files: list) -> None:
    """Append each file's rows to raw.<entity> with lineage, and record it in the ledger."""
    for entity, load_id, rows in files:
        columns = CONTRACT_COLUMNS[entity]
        file_path = f"{entity}/{entity}_{load_id}.csv"
        for row_number, row in enumerate(rows, start=1):
            values = list(row) + [None] * (len(columns) - len(row))
            placeholders = ", ".join("?" for _ in range(len(columns) + 3))
            con.execute(
                f"insert into raw.{entity} values ({placeholders})",
                [*values, load_id, file_path, row_number],
            )
        con.execute(
            "insert into raw.load_ledger values (?, ?, ?, ?, 'csv', ?, now(), 'loaded', null)",
            [load_id, file_path, entity, f"hash-{load_id}", len(rows)],
        )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build staging and intermediate twice: after the first files, then after l9 lands.

    Returns the first run's warehouse copy and the second run's warehouse.
    """
    tmp = tmp_path_factory.mktemp("dbt_staging")
    path = tmp / "warehouse.duckdb"
    env = isolated_dbt_env(path, tmp)
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)
        land_files(con, FIRST_RUN_FILES)
    run_dbt("parse", env=env)
    # Cautious: skip tests that also read layers outside the selection (marts, irt).
    selection = [
        "--select",
        "resource_type:seed",
        "+staging",
        "+intermediate",
        "--indirect-selection",
        "cautious",
    ]
    run_dbt("build", *selection, env=env)
    first = tmp / "first_run.duckdb"
    shutil.copyfile(path, first)
    with duckdb.connect(str(path)) as con:
        land_files(con, SECOND_RUN_FILES)
    # The first build ran every data and unit test; the second only needs the rebuilt tables
    # (the accounting invariant is asserted below), which keeps the module near 30 s.
    run_dbt("run", *selection, env=env)
    # The same raw tables rebuilt from scratch: what the incremental models must equal.
    rebuilt = tmp / "full_refresh.duckdb"
    shutil.copyfile(path, rebuilt)
    run_dbt("run", "--full-refresh", *selection, env={**env, "SKILLGAP_WAREHOUSE": str(rebuilt)})
    return {"first": first, "second": path, "rebuilt": rebuilt}


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def reasons(path: Path, entity: str, key: str) -> dict[str, list[str]]:
    rows = query(
        path,
        f"select {key}, reject_reason from staging.stg_{entity}_rejected "
        "order by load_id, row_number",
    )
    found: dict[str, list[str]] = {}
    for key_value, reason in rows:
        found.setdefault(key_value, []).append(reason)
    return found


def test_each_fault_is_rejected_with_its_first_reason(warehouse):
    first = warehouse["first"]
    assert reasons(first, "companies", "company_id") == {
        "": ["missing_key"],
        "c3": ["missing_value"],
        "c4": ["invalid_country"],
        "c5": ["invalid_value"],
        "c6": ["invalid_value"],
        "c7": ["bad_timestamp"],
        "c8": ["future_timestamp"],
        "c9": ["invalid_value"],
    }
    assert reasons(first, "learners", "learner_id") == {
        "l3": ["unknown_company"],
        "l4": ["missing_key"],
    }
    assert reasons(first, "courses", "coalesce(course_id, 'NULL')") == {
        "k3": ["invalid_value"],
        "": ["missing_key"],
    }
    assert reasons(first, "course_skills", "course_id || '/' || skill_id") == {
        "k1/python": ["invalid_value"],
        "k1/nope": ["unknown_skill"],
        "k9/sql": ["unknown_course"],
        "k1/": ["missing_key"],
        "k4/y_child": ["unknown_skill"],
    }
    assert reasons(first, "items", "item_id") == {
        "i4": ["invalid_value"],
        "i5": ["invalid_value"],
        "i6": ["missing_value"],
        "i7": ["unknown_course"],
        "i8": ["invalid_value"],
        "i9": ["unknown_skill"],
        "i11": ["unknown_skill"],
        "i12": ["invalid_value"],
    }
    assert reasons(first, "attempts", "attempt_id") == {
        "a2": ["conflicting_duplicate"],
        "a6": ["score_out_of_range"],
        "a7": ["unknown_item"],
        "a8": ["unknown_learner"],
        "a9": ["bad_timestamp"],
        "a10": ["future_timestamp"],
        "a11": ["missing_value"],
        "": ["missing_key"],
        "a12": ["invalid_value"],
        "a13": ["missing_key"],
        "a14": ["future_timestamp"],
        "a17": ["invalid_value"],
        "a19": ["unknown_learner"],
        "a21": ["partial_score_on_quiz"],
        "a22": ["partial_score_on_quiz"],
        "a24": ["partial_score_on_quiz"],
        "a25": ["unknown_item"],
        "a26": ["partial_score_on_quiz"],
    }
    assert reasons(first, "enrollments", "learner_id || '/' || course_id") == {
        "l9/k1": ["unknown_learner"],
        "l1/k404": ["unknown_course"],
        "l2/k1": ["missing_value"],
        "l2/k4": ["bad_timestamp"],
        "l1/k2": ["invalid_value"],
        "l1/k4": ["invalid_value"],
        "l6/k1": ["invalid_value"],
    }
    assert reasons(first, "skills", "skill_id") == {
        "x": ["missing_value"],
        "y": ["unknown_skill"],
        "y_child": ["unknown_skill"],
        "y_grandchild": ["unknown_skill"],
        "loop_a": ["unknown_skill"],
        "loop_b": ["unknown_skill"],
        "python": ["unknown_skill"],
    }


def test_rejected_rows_keep_landed_text_and_lineage(warehouse):
    rows = query(
        warehouse["first"],
        "select score, source_file, load_id, row_number from staging.stg_attempts_rejected "
        "where attempt_id = 'a12'",
    )
    assert rows == [("x", "attempts/attempts_7.csv", 7, 15)]


def test_every_landed_row_is_accounted_for_once(warehouse):
    for path in warehouse.values():
        rows = query(
            path,
            "select entity, n_landed, n_cleaned + n_superseded + n_rejected + n_exact_duplicates "
            "from staging.stg_row_accounting",
        )
        assert len(rows) == 10
        for entity, n_landed, n_accounted in rows:
            assert n_landed == n_accounted, entity
    companies = query(
        warehouse["first"],
        "select n_landed, n_cleaned, n_superseded, n_rejected, n_exact_duplicates "
        "from staging.stg_row_accounting where entity = 'companies'",
    )
    assert companies == [(13, 3, 1, 8, 1)]
    attempts = query(
        warehouse["first"],
        "select n_landed, n_cleaned, n_rejected, n_exact_duplicates "
        "from staging.stg_row_accounting where entity = 'attempts'",
    )
    assert attempts == [(29, 9, 18, 2)]


def test_timestamps_with_an_offset_are_converted_to_utc(warehouse):
    rows = dict(
        query(warehouse["first"], "select learner_id, updated_at from staging.stg_learners")
    )
    assert rows["l1"] == dt.datetime(2026, 6, 1, 8, 0)  # +02:00
    assert rows["l2"] == dt.datetime(2026, 6, 1, 10, 0)  # no offset: already UTC
    assert rows["l5"] == dt.datetime(2026, 6, 1, 10, 0)  # lower-case z
    assert rows["l6"] == dt.datetime(2026, 6, 1, 15, 30)  # -05:30
    column_type = query(
        warehouse["first"],
        "select data_type from information_schema.columns where table_schema = 'staging' "
        "and table_name = 'stg_learners' and column_name = 'updated_at'",
    )
    assert column_type == [("TIMESTAMP",)]


def test_attempt_duplicates_keep_the_copy_loaded_first(warehouse):
    rows = query(
        warehouse["first"],
        "select attempt_id, submitted_at, score, load_id, attempt_number from staging.stg_attempts "
        "where attempt_id in ('a1', 'a2', 'a16') order by attempt_id",
    )
    assert rows == [
        ("a1", dt.datetime(2026, 6, 1, 8, 0), 1.0, 7, 1),
        ("a16", dt.datetime(2026, 6, 4, 0, 0), 1.0, 8, 3),
        ("a2", dt.datetime(2026, 6, 2, 10, 0), 0.0, 7, 2),
    ]


def test_dimension_upserts_keep_the_last_loaded_valid_version(warehouse):
    first = warehouse["first"]
    companies = query(
        first,
        "select company_id, country, employee_count, size_band, load_id "
        "from staging.stg_companies order by company_id",
    )
    assert companies == [
        ("c1", "DE", 150, "50-249", 2),
        ("c10", "NA", 5, "1-49", 2),
        ("c2", "FR", 3000, "1000-4999", 1),
    ]
    assert query(first, "select title from staging.stg_courses where course_id = 'k1'") == [
        ("SQL basics",)
    ]
    assert query(first, "select level from staging.stg_courses where course_id = 'k2'") == [
        ("intermediate",)
    ]
    weights = query(
        first, "select course_id, skill_id, weight from staging.stg_course_skills order by 1, 2"
    )
    assert weights == [("k1", "sql", 0.5), ("k1", "statistics", 1.0), ("k2", "python", 1.0)]


def test_landed_skills_win_over_the_seed(warehouse):
    rows = dict(
        query(
            warehouse["first"],
            "select skill_id, skill_name || ' (' || source || ')' from staging.stg_skills",
        )
    )
    assert rows["sql"] == "SQL (landed) (landed)"
    assert rows["python"] == "Python programming (seed)"
    assert rows["new_skill"] == "New skill (landed)"
    assert len(rows) == 19


def test_items_default_their_type_and_get_candidate_skills(warehouse):
    first = warehouse["first"]
    items = query(first, "select item_id, item_type, skill_id from staging.stg_items order by 1")
    assert items == [
        ("i1", "quiz", "sql"),
        ("i10", "assignment", "sql"),
        ("i13", "assignment", "python"),
        ("i14", "quiz", "python"),
        ("i2", "quiz", None),
        ("i3", "assignment", None),
    ]
    candidates = query(
        first,
        "select item_id, skill_id, is_given, n_candidates "
        "from intermediate.int_item_candidate_skills order by 1, 2",
    )
    assert candidates == [
        ("i1", "sql", True, 1),
        ("i10", "sql", True, 1),
        ("i13", "python", True, 1),
        ("i14", "python", True, 1),
        ("i2", "sql", False, 2),
        ("i2", "statistics", False, 2),
        ("i3", "python", False, 1),
    ]


def test_first_attempt_is_scored_and_responses_are_categorised(warehouse):
    first = warehouse["first"]
    scored = query(
        first,
        "select attempt_id, n_attempts from intermediate.int_attempts_scored "
        "where learner_id = 'l1' and item_id = 'i1'",
    )
    assert scored == [("a1", 3)]
    responses = query(
        first,
        "select learner_id, item_id, skill_id, company_id, response, n_categories, is_candidate "
        "from intermediate.int_irt_responses order by 1, 2, 3",
    )
    assert responses == [
        ("l1", "i1", "sql", "c1", 1, 2, False),
        ("l1", "i10", "sql", "c1", 3, 4, False),  # 3 / 4 -> floor(0.75 * 4) = 3
        ("l1", "i3", "python", "c1", 2, 4, False),  # 5 / 10 -> 2
        ("l2", "i10", "sql", "c2", 3, 4, False),  # full marks capped at K - 1
        ("l2", "i13", "python", "c2", 2, 4, False),  # an assignment out of 1: 0.5 -> 2
        ("l2", "i2", "sql", "c2", 0, 2, True),
        ("l2", "i2", "statistics", "c2", 0, 2, True),
        ("l2", "i3", "python", "c2", 0, 4, False),
    ]


INCREMENTAL_MODELS = {
    "staging.stg_attempts_landed": "processed_at",
    "staging.stg_enrollments_landed": None,
    "staging.stg_attempts": "landed_processed_at",
    "intermediate.int_attempts_scored": "landed_processed_at",
}


@pytest.mark.parametrize(
    "table",
    [*INCREMENTAL_MODELS, "staging.stg_enrollments", "intermediate.int_irt_responses"],
)
def test_incremental_models_equal_a_full_rebuild(warehouse, table):
    """Run 2 is incremental (new loads, an orphan's parent, a max_score change, items that
    become a quiz or an assignment, the root of a rejected skill chain, a copy that takes over
    from a later one and empties a pair, new enrollment versions valid or not, a learner's new
    company, a course's new level); a --full-refresh must give the same rows."""
    watermark = INCREMENTAL_MODELS.get(table)
    columns = f"* exclude ({watermark})" if watermark else "*"
    with duckdb.connect(str(warehouse["second"]), read_only=True) as con:
        con.execute(f"attach '{warehouse['rebuilt']}' as rebuilt (read_only)")
        incremental = con.execute(f"select {columns} from {table}").fetchall()
        rebuilt = con.execute(f"select {columns} from rebuilt.{table}").fetchall()
    assert sorted(incremental, key=repr) == sorted(rebuilt, key=repr)
    assert len(incremental) > 0


def test_a_copy_loaded_earlier_takes_over_once_its_parent_lands(warehouse):
    landed = "select row_status, learner_id from staging.stg_attempts_landed where attempt_id = "
    assert query(warehouse["first"], landed + "'a19' order by row_number") == [
        ("rejected", "l9"),
        ("cleaned", "l2"),
    ]
    assert query(warehouse["second"], landed + "'a19' order by row_number") == [
        ("cleaned", "l9"),
        ("rejected", "l2"),
    ]
    pair = "select count(*) from {} where learner_id = 'l2' and item_id = 'i3'"
    for table in ("staging.stg_attempts", "intermediate.int_attempts_scored"):
        assert query(warehouse["first"], pair.format(table)) == [(1,)]
        assert query(warehouse["second"], pair.format(table)) == [(0,)]


def test_a_later_enrollment_version_supersedes_the_one_decided_before(warehouse):
    sql = (
        "select load_id, row_status from staging.stg_enrollments_landed "
        "where learner_id = 'l2' and course_id = 'k2' order by load_id"
    )
    assert query(warehouse["first"], sql) == [(9, "cleaned")]
    assert query(warehouse["second"], sql) == [(9, "superseded"), (14, "cleaned")]


def test_responses_follow_a_learners_new_company_and_a_courses_new_level(warehouse):
    sql = (
        "select distinct company_id, entry_level from intermediate.int_irt_responses "
        "where learner_id = 'l1' and skill_id = 'sql'"
    )
    assert query(warehouse["first"], sql) == [("c1", "beginner")]
    assert query(warehouse["second"], sql) == [("c2", "intermediate")]


def test_a_lower_max_score_rejects_attempts_already_cleaned(warehouse):
    status = "select row_status, reject_reason, max_score from staging.stg_attempts_landed "
    status += "where attempt_id = 'a5'"
    assert query(warehouse["first"], status) == [("cleaned", None, 10.0)]
    assert query(warehouse["second"], status) == [("rejected", "score_out_of_range", 4.0)]
    assert query(
        warehouse["second"], "select count(*) from staging.stg_attempts where attempt_id = 'a5'"
    ) == [(0,)]


def test_orphans_are_accepted_once_their_parent_lands(warehouse):
    second = warehouse["second"]
    assert query(second, "select learner_id from staging.stg_attempts where attempt_id = 'a8'") == [
        ("l9",)
    ]
    # Only the copy landed in run 2, with another score, is rejected.
    assert reasons(second, "attempts", "attempt_id")["a8"] == ["conflicting_duplicate"]
    assert "l9/k1" not in reasons(second, "enrollments", "learner_id || '/' || course_id")
    responses = query(
        second, "select company_id from intermediate.int_irt_responses where learner_id = 'l9'"
    )
    assert responses == [("c2",)]


def test_an_enrollment_completed_before_it_started_is_invalid(warehouse):
    """completed_at < enrolled_at, both in UTC, is invalid_value; the same instant is not."""
    sql = (
        "select learner_id || '/' || course_id, load_id, row_status, reject_reason "
        "from staging.stg_enrollments_landed "
        "where (learner_id, course_id) in (('l1', 'k1'), ('l1', 'k4'), ('l5', 'k1'), "
        "('l5', 'k2'), ('l6', 'k1')) order by 1, 2"
    )
    assert query(warehouse["first"], sql) == [
        ("l1/k1", 9, "cleaned", None),
        ("l1/k4", 9, "rejected", "invalid_value"),
        ("l5/k1", 9, "cleaned", None),  # 08:00 UTC to 09:00 UTC
        ("l5/k2", 9, "cleaned", None),
        ("l6/k1", 9, "rejected", "invalid_value"),  # 10:00 UTC to 09:00 UTC
    ]
    # Run 2: l1 x k4 corrected; an invalid later version of l1 x k1 leaves the valid one.
    assert query(warehouse["second"], sql) == [
        ("l1/k1", 9, "cleaned", None),
        ("l1/k1", 14, "rejected", "invalid_value"),
        ("l1/k4", 9, "rejected", "invalid_value"),
        ("l1/k4", 14, "cleaned", None),
        ("l5/k1", 9, "cleaned", None),
        ("l5/k2", 9, "cleaned", None),
        ("l6/k1", 9, "rejected", "invalid_value"),
    ]


def test_a_skill_under_a_rejected_or_unknown_parent_is_rejected_down_the_chain(warehouse):
    first = warehouse["first"]
    skills = dict(query(first, "select skill_id, source from staging.stg_skills"))
    for rejected in ("y", "y_child", "y_grandchild", "loop_a", "loop_b"):
        assert rejected not in skills
    # A rejected landed version of a seed skill leaves the seed row, and its children.
    assert skills["python"] == "seed"
    assert (skills["pandas"], skills["early"], skills["late"]) == ("landed",) * 3
    # Rows that refer to a skill rejected this way are unknown_skill, like any unknown skill.
    assert reasons(first, "course_skills", "skill_id")["y_child"] == ["unknown_skill"]
    assert reasons(first, "items", "item_id")["i11"] == ["unknown_skill"]


def test_a_skill_chain_is_accepted_once_its_root_lands(warehouse):
    second = warehouse["second"]
    skills = dict(query(second, "select skill_id, parent_skill_id from staging.stg_skills"))
    assert (skills["y"], skills["y_child"], skills["y_grandchild"]) == (None, "y", "y_child")
    assert "y_child" not in reasons(second, "skills", "skill_id")
    course_skills = "select skill_id from staging.stg_course_skills where course_id = 'k4'"
    assert query(second, course_skills) == [("y_child",)]
    assert query(second, "select skill_id from staging.stg_items where item_id = 'i11'") == [
        ("y_grandchild",)
    ]
    assert query(second, "select item_id from staging.stg_attempts where attempt_id = 'a25'") == [
        ("i11",)
    ]


def test_a_quiz_takes_a_score_of_0_or_1_and_a_max_score_of_1(warehouse):
    first = warehouse["first"]
    landed = (
        "select attempt_id, row_status, reject_reason from staging.stg_attempts_landed "
        "where attempt_id in ('a21', 'a22', 'a23', 'a24', 'a26') order by attempt_id"
    )
    assert query(first, landed) == [
        ("a21", "rejected", "partial_score_on_quiz"),  # given type quiz
        ("a22", "rejected", "partial_score_on_quiz"),  # quiz by default (max_score 1)
        ("a23", "cleaned", None),  # an assignment out of 1 takes partial credit
        ("a24", "rejected", "partial_score_on_quiz"),
        ("a26", "rejected", "partial_score_on_quiz"),  # before unknown_learner
    ]
    assert reasons(first, "items", "item_id")["i12"] == ["invalid_value"]


def test_attempts_are_re_decided_when_their_item_changes_type(warehouse):
    landed = (
        "select attempt_id, row_status, reject_reason from staging.stg_attempts_landed "
        "where attempt_id in ('a23', 'a24') order by attempt_id"
    )
    assert query(warehouse["second"], landed) == [
        ("a23", "rejected", "partial_score_on_quiz"),  # i13 became a quiz
        ("a24", "cleaned", None),  # i14 became an assignment
    ]
    pair = "select attempt_id from {} where learner_id = '{}' and item_id = '{}'"
    for table in ("staging.stg_attempts", "intermediate.int_attempts_scored"):
        assert query(warehouse["first"], pair.format(table, "l2", "i13")) == [("a23",)]
        assert query(warehouse["second"], pair.format(table, "l2", "i13")) == []
        assert query(warehouse["second"], pair.format(table, "l1", "i14")) == [("a24",)]
