"""One home per rule: each of these is defined in one place and read everywhere else.

A copy drifts: two definitions of a threshold, of how dbt is found, or of a formula agree on the
day they are written and not after. Each test names the home and fails when a copy appears in
the repository's tracked files.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from orchestration.settings import REPO_ROOT


def tracked(*patterns: str) -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "--", *patterns],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO_ROOT / name for name in names]


def lines_matching(pattern: str, files: list[Path]) -> list[str]:
    regex = re.compile(pattern)
    return [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in files
        if path.exists()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if regex.search(line)
    ]


PYTHON = ["*.py"]
CODE = ["*.py", "Makefile", ".ci/*", "*.sh"]
SQL = ["dbt_project/*.sql"]


def test_dbt_is_found_and_parsed_only_in_orchestration_dbt_project() -> None:
    home = REPO_ROOT / "orchestration" / "dbt_project.py"
    copies = lines_matching(
        r"""with_name\(["']dbt["']\)|bin/dbt\b|\$\(BIN\)/dbt\b|["']parse["'],\s*["']--""",
        [path for path in tracked(*CODE) if path not in (home, Path(__file__))],
    )
    assert copies == [], "find or parse dbt through orchestration.dbt_project:\n" + "\n".join(
        copies
    )


def project_var_names() -> list[str]:
    with (REPO_ROOT / "dbt_project.yml").open(encoding="utf-8") as handle:
        return list(yaml.safe_load(handle)["vars"])


def test_dbt_vars_have_no_second_value_in_sql_defaults() -> None:
    """``var('name', default)`` would be a second value, used when dbt_project.yml lacks it."""
    copies = lines_matching(r"\bvar\(\s*['\"][a-z_]+['\"]\s*,", tracked(*SQL))
    assert copies == [], "dbt_project.yml vars are the only values:\n" + "\n".join(copies)


def test_python_reads_dbt_vars_and_never_assigns_them_a_literal() -> None:
    """Python reads the shared settings (reportability, gain periods, privacy) through
    ``orchestration.settings.project_vars()``; a literal assigned to one of their names is a
    copy that dbt_project.yml no longer governs."""
    names = "|".join(project_var_names())
    literal = r"""(\d|\[|\(|["'])"""
    copies = lines_matching(
        rf"\b({names})\b\s*(:[^=\n]*)?=\s*{literal}",
        [path for path in tracked(*PYTHON) if "tests" not in path.parts],
    )
    assert copies == [], "read these through project_vars():\n" + "\n".join(copies)


def test_marginal_reliability_is_defined_once_in_irt_models() -> None:
    definitions = lines_matching(r"def (?!test_)\w*marginal_reliability\w*\(", tracked(*PYTHON))
    assert {line.split(":")[0] for line in definitions} == {"irt_models/scoring.py"}, definitions


def test_one_grain_test() -> None:
    """The generic test ``unique_combination`` is the grain test of every model."""
    definitions = lines_matching(
        r"\{%-?\s*(test|macro)\s+\w*unique\w*\(", tracked("dbt_project/*.sql")
    )
    assert [line.split(":")[0] for line in definitions] == [
        "dbt_project/tests/generic/unique_combination.sql"
    ], definitions


def test_what_a_settled_item_is_lives_in_the_is_candidate_item_macro() -> None:
    """Python reads the ``is_candidate`` column; SQL applies the macro; nobody repeats it."""
    copies = lines_matching(
        r"n_candidates\s*(>|>=|<=|=)\s*[12]|not\s+\S*is_given\b",
        [
            path
            for path in tracked("*.py", "dbt_project/*.sql")
            if path.name != "irt_items.sql" and "tests" not in path.parts
        ],
    )
    assert copies == [], "use the macro is_candidate_item or the is_candidate column:\n" + (
        "\n".join(copies)
    )


def test_the_irt_tables_are_declared_only_in_the_dbt_source_yml() -> None:
    """orchestration/irt/tables.py builds the DDL from dbt_project/models/marts/_sources.yml
    (tests/orchestration/irt/test_tables.py checks the result); no CREATE TABLE irt.* is
    written out anywhere in code."""
    copies = lines_matching(
        r"(?i)create\s+table\s+(if\s+not\s+exists\s+)?[\"']?irt[\"']?\.",
        [path for path in tracked("*.py", "*.sql") if "tests" not in path.parts],
    )
    assert copies == [], "\n".join(copies)


def test_a_models_not_null_columns_are_one_test() -> None:
    """A column that must not be NULL is listed in its model's ``not_null_columns`` test, one
    scan of the model, not a ``not_null`` test of its own (a query each, a Spark job each)."""
    one_per_column = []
    for path in tracked("dbt_project/models/*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models") or []:
            for column in model.get("columns") or []:
                tests = column.get("data_tests") or column.get("tests") or []
                if "not_null" in tests or any(
                    isinstance(t, dict) and "not_null" in t for t in tests
                ):
                    one_per_column.append(f"{path.name}: {model['name']}.{column['name']}")
    assert one_per_column == [], "list them in the model's not_null_columns test:\n" + "\n".join(
        one_per_column
    )
