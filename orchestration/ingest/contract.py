"""What may land: the contract's entities and columns, and which files in the folder are data.

docs/landing-contract.md is the contract; this module is its machine-readable part.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EntitySpec:
    """The contract columns of one landing folder."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


# docs/landing-contract.md, in the contract's order. Lineage columns are added to each raw table.
ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec("skills", ("skill_id", "skill_name"), ("domain", "parent_skill_id")),
        EntitySpec(
            "companies",
            ("company_id", "industry", "country", "employee_count"),
            ("company_name", "updated_at"),
        ),
        EntitySpec(
            "learners", ("learner_id", "company_id"), ("job_role", "display_name", "updated_at")
        ),
        EntitySpec("courses", ("course_id",), ("title", "level")),
        EntitySpec("course_skills", ("course_id", "skill_id"), ("weight",)),
        EntitySpec("items", ("item_id", "course_id", "max_score"), ("item_type", "skill_id")),
        EntitySpec(
            "attempts",
            ("attempt_id", "learner_id", "item_id", "submitted_at", "score"),
            ("attempt_number",),
        ),
        EntitySpec(
            "enrollments", ("learner_id", "course_id", "enrolled_at"), ("completed_at", "grade")
        ),
        # Maps an xAPI actor to a learner (docs/landing-contract.md, statements).
        EntitySpec("learner_identities", ("learner_id", "actor_ifi")),
    )
}

# The statements folder: xAPI statements and Caliper events, one JSON document each, loaded
# whole into raw.statements (orchestration/ingest/statements.py) rather than as table rows.
STATEMENTS = "statements"
JSON_SUFFIXES = (".json", ".json.gz")
JSON_LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")


LINEAGE_COLUMNS = ("_load_id", "_source_file", "_row_number")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def quote_identifier(name: str) -> str:
    """A DuckDB identifier in double quotes, safe for any landed column name."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A DuckDB string literal, safe for any landed path or value."""
    return "'" + value.replace("'", "''") + "'"


class LandingFileError(Exception):
    """A landing file that cannot be loaded; the message names the file and what is wrong."""


def file_format(path: Path, entity: str | None = None) -> str | None:
    """``csv``, ``parquet`` (tables), ``json`` or ``jsonl`` (statements), or None for a file
    this loader does not read in that entity folder."""
    name = path.name.lower()
    if entity == STATEMENTS:
        if name.endswith(JSON_SUFFIXES):
            return "json"
        if name.endswith(JSON_LINES_SUFFIXES):
            return "jsonl"
        return None
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def is_hidden(parts: Iterable[str]) -> bool:
    """A path (its parts below the entity folder) under a hidden name: ``.DS_Store``, editors'
    temporary files. Not data; every listing of the landing skips it."""
    return any(part.startswith(".") for part in parts)


def discover_files(landing_dir: Path) -> Iterator[tuple[str, Path]]:
    """(entity, path) of every candidate file, in load order: entity folder, then path.

    Hidden files (``.DS_Store``, editors' temporary files) are not data and are skipped.
    Files of other types are returned too, so that they are reported rather than ignored.
    The statements folder comes last: its attempts need the catalog loaded before them.
    """
    for entity in LANDING_FOLDERS:
        folder = landing_dir / entity
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not is_hidden(path.relative_to(folder).parts):
                yield entity, path


LANDING_FOLDERS = (*ENTITIES, STATEMENTS)


def unexpected_folders(landing_dir: Path) -> list[str]:
    """Visible folders and files at the top of the landing that skillgap does not read.

    A landing whose attempts sit in ``Statements/`` or ``attempt/`` would otherwise refresh
    "ok" with nothing in it; the run summary lists these under "needs attention".
    """
    if not landing_dir.is_dir():
        return []
    return sorted(
        path.name + ("/" if path.is_dir() else "")
        for path in landing_dir.iterdir()
        if path.name not in LANDING_FOLDERS and not is_hidden([path.name])
    )


def match_columns(spec: EntitySpec, landed: Iterable[str], file_path: str) -> dict[str, str]:
    """Map each contract column to the landed column of the same name, ignoring case.

    Raises LandingFileError naming the file and the first missing required column.
    """
    by_lower: dict[str, str] = {}
    for name in landed:
        key = name.strip().lower()
        if key in by_lower:
            raise LandingFileError(
                f"{file_path}: column {key!r} appears twice (as {by_lower[key]!r} and {name!r})"
            )
        by_lower[key] = name
    missing = [c for c in spec.required if c not in by_lower]
    if missing:
        raise LandingFileError(
            f"{file_path}: missing required column {missing[0]!r}"
            + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + f"; the file has: {', '.join(sorted(by_lower)) or 'no columns'}"
        )
    return {c: by_lower[c] for c in spec.columns if c in by_lower}
