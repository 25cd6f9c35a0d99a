"""The irt.* tables are created from their one declaration, the dbt source ``irt``
(dbt_project/models/marts/_sources.yml): a fresh warehouse gets exactly the declared columns,
types, NOT NULLs and primary keys, in order; an older warehouse gains the columns it lacks."""

from __future__ import annotations

import duckdb
import yaml

from orchestration.irt.tables import SOURCES_YML, ensure_irt_schema, stored_calibration

# The tables as the first release created them (2026-11-30), before candidate_skills and
# response_signature: a warehouse of that time must upgrade in place.
FIRST_RELEASE_DDL = [
    "create schema irt",
    """create table irt.item_skill_assignments (
        item_id varchar primary key, course_id varchar, skill_id varchar, method varchar not null,
        n_candidates integer, n_responses bigint, confidence double, evidence varchar,
        run_id varchar not null)""",
    """create table irt.learner_abilities (
        learner_id varchar not null, skill_id varchar not null, company_id varchar,
        theta double not null, theta_se double not null, n_items integer not null,
        n_responses bigint not null, last_response_at timestamp, scored_at timestamp not null,
        run_id varchar not null, primary key (learner_id, skill_id))""",
]


def declared() -> dict[str, dict]:
    """Straight from the yml, without the code under test: table -> columns and primary key."""
    with SOURCES_YML.open(encoding="utf-8") as handle:
        (source,) = [s for s in yaml.safe_load(handle)["sources"] if s["name"] == "irt"]
    return {
        table["name"]: {
            "columns": [
                (
                    column["name"],
                    column["data_type"].upper(),
                    {"type": "not_null"} in column.get("constraints", []),
                )
                for column in table["columns"]
            ],
            "primary_key": table.get("meta", {}).get("primary_key", []),
        }
        for table in source["tables"]
    }


def created(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    tables: dict[str, dict] = {}
    for table, column, data_type, nullable in con.execute(
        "select table_name, column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = 'irt' order by table_name, ordinal_position"
    ).fetchall():
        entry = tables.setdefault(table, {"columns": [], "primary_key": []})
        entry["columns"].append((column, data_type, nullable == "NO"))
    for table, columns in con.execute(
        "select table_name, constraint_column_names from duckdb_constraints() "
        "where schema_name = 'irt' and constraint_type = 'PRIMARY KEY'"
    ).fetchall():
        tables[table]["primary_key"] = list(columns)
    return tables


def test_every_irt_column_declares_its_data_type():
    for table in declared().values():
        assert all(data_type for _, data_type, _ in table["columns"])


def test_a_fresh_warehouse_has_exactly_the_declared_tables(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_irt_schema(con)
    ensure_irt_schema(con)  # idempotent
    expected = declared()
    for table in expected.values():
        # A primary key column is NOT NULL whether or not the yml says so.
        table["columns"] = [
            (name, data_type, not_null or name in table["primary_key"])
            for name, data_type, not_null in table["columns"]
        ]
    assert created(con) == expected
    con.close()


def test_an_older_warehouse_gains_the_new_columns_at_the_end(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for statement in FIRST_RELEASE_DDL:
        con.execute(statement)
    con.execute(
        "insert into irt.item_skill_assignments values "
        "('i1', 'k1', 'sql', 'given', 1, null, 1.0, 'landed', 'r0')"
    )
    ensure_irt_schema(con)
    tables, expected = created(con), declared()
    assert set(tables) == set(expected)
    for name in ("item_skill_assignments", "learner_abilities"):
        # Same names and types in the same order; an added column is nullable.
        assert [c[:2] for c in tables[name]["columns"]] == [
            c[:2] for c in expected[name]["columns"]
        ]
    row = con.execute(
        "select item_id, method, run_id, candidate_skills from irt.item_skill_assignments"
    ).fetchall()
    assert row == [("i1", "given", "r0", None)]
    con.close()


def test_an_item_not_fitted_before_keeps_its_responses_when_it_is_calibrated_later(tmp_path):
    """An item too rare to fit in one run is stored without parameters; when it is calibrated
    in a later run its responses are taken as they are, not mapped through placeholder
    categories."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_irt_schema(con)
    con.execute(
        "insert into irt.item_parameters (skill_id, item_id, model, slope, thresholds, "
        "categories, n_categories, anchored, run_id, calibrated_at) values "
        "('alpha', 'rare', '2pl', null, null, [-1, -1], 2, false, 'r', now()), "
        "('alpha', 'fitted', 'grm', 1.1, [-0.5, 0.7], [0, 2, 3], 3, false, 'r', now())"
    )
    stored = stored_calibration(con, "alpha")
    assert stored.items.tolist() == ["fitted"]
    assert stored.categories[0].tolist() == [0, 2, 3]
    con.close()
