"""The ``irt.*`` tables: their schema, read from the dbt source, and reading and writing them.

``dbt_project/models/marts/_sources.yml`` (source ``irt``) is the one home of the schema: each
column's name, position and ``data_type``, ``not_null`` constraints, and the table's
``meta.primary_key``. :func:`ensure_irt_schema` creates the tables from it and adds any column
an older warehouse lacks, so a new column is declared there (at the end of its table) and
nowhere else. Inserts name their columns, so they never depend on column positions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import yaml

import irt_models
from orchestration.irt.item_fit import SampledFit
from orchestration.irt.responses import SCORING_ITEMS_WHERE, UNSCORED_FLAGS
from orchestration.settings import REPO_ROOT

SOURCES_YML = REPO_ROOT / "dbt_project" / "models" / "marts" / "_sources.yml"
SCHEMA = "irt"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    not_null: bool


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def create_sql(self) -> str:
        parts = [f"{c.name} {c.data_type}{' not null' if c.not_null else ''}" for c in self.columns]
        if self.primary_key:
            parts.append(f"primary key ({', '.join(self.primary_key)})")
        return f"create table if not exists {SCHEMA}.{self.name} ({', '.join(parts)})"


@functools.cache
def irt_tables() -> dict[str, Table]:
    """The tables of the dbt source ``irt``, in the order the yml lists them."""
    with SOURCES_YML.open(encoding="utf-8") as handle:
        sources = yaml.safe_load(handle)["sources"]
    (source,) = [s for s in sources if s["name"] == SCHEMA]
    return {
        table["name"]: Table(
            name=table["name"],
            columns=tuple(
                Column(
                    name=column["name"],
                    data_type=column["data_type"],
                    not_null=any(c["type"] == "not_null" for c in column.get("constraints", [])),
                )
                for column in table["columns"]
            ),
            primary_key=tuple(table.get("meta", {}).get("primary_key", ())),
        )
        for table in source["tables"]
    }


def ensure_irt_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the irt tables, and add the columns an existing warehouse does not have yet.

    An added column is nullable whatever the yml says: DuckDB cannot add a NOT NULL column to
    a table with rows. Columns are only ever added, at the end, so existing data keeps its
    place.
    """
    con.execute(f"create schema if not exists {SCHEMA}")
    existing = {
        (table, column)
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_catalog = current_database() and table_schema = ?",
            [SCHEMA],
        ).fetchall()
    }
    for table in irt_tables().values():
        con.execute(table.create_sql())
        if not any(t == table.name for t, _ in existing):
            continue
        for column in table.columns:
            if (table.name, column.name) not in existing:
                con.execute(
                    f"alter table {SCHEMA}.{table.name} "
                    f"add column if not exists {column.name} {column.data_type}"
                )


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    verb: str = "insert",
) -> None:
    """Insert ``rows`` into ``irt.<table>`` by column name (``verb``: e.g. insert or replace).

    Multi-row VALUES in chunks: executemany costs milliseconds per row in DuckDB.
    """
    rows = list(rows)
    placeholders = "(" + ", ".join(["?"] * len(columns)) + ")"
    for start in range(0, len(rows), 200):
        chunk = rows[start : start + 200]
        con.execute(
            f"{verb} into {SCHEMA}.{table} ({', '.join(columns)}) values "
            + ", ".join([placeholders] * len(chunk)),
            [value for row in chunk for value in row],
        )


def insert_columns(
    con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, np.ndarray]
) -> None:
    """Insert equal-length column arrays into ``irt.<table>`` by column name, in one scan of
    the registered arrays (thousands of rows a second faster than VALUES lists). Every column
    of the table's declaration must be given."""
    declared = [column.name for column in irt_tables()[table].columns]
    missing = sorted(set(declared) - set(columns))
    if missing:
        raise ValueError(f"irt.{table}: no values for the columns {missing}")
    view = f"_insert_{table}"
    con.register(view, {name: columns[name] for name in declared})
    try:
        names = ", ".join(declared)
        con.execute(f"insert into {SCHEMA}.{table} ({names}) select {names} from {view}")
    finally:
        con.unregister(view)


# -- item parameters ------------------------------------------------------------------------


def stored_calibration(
    con: duckdb.DuckDBPyConnection, skill_id: str, scoring_only: bool = False
) -> irt_models.Calibration | None:
    """The skill's stored, positively discriminating items as a Calibration on the base scale.

    These are the anchors of a fixed-item calibration; with ``scoring_only`` also items flagged
    as unfit for scoring are left out. Items with a negative slope are never anchors: they are
    refitted with the new items (and stay flagged, and unscored, while they misbehave). Each
    item keeps the response values of the categories it was calibrated with, so a response it
    has not seen before is counted as ``irt_models.score`` counts it (``model_categories``).
    """
    where = SCORING_ITEMS_WHERE if scoring_only else "skill_id = $skill and slope > 0"
    params: dict = {"skill": skill_id}
    if scoring_only:
        params["unscored"] = list(UNSCORED_FLAGS)
    rows = con.execute(
        "select item_id, model, slope, coalesce(thresholds, [difficulty]), categories, "
        f"coalesce(n_responses, 0), flag from irt.item_parameters where {where} order by item_id",
        params,
    ).fetchall()
    if not rows:
        return None
    items, models, slopes, thresholds, categories, n_responses, flags = zip(*rows, strict=True)
    return irt_models.Calibration.from_parameters(
        np.array(items, dtype=object),
        list(models),
        np.array(slopes),
        [np.array(t) for t in thresholds],
        n_responses=np.array(n_responses),
        flag=list(flags),
        categories=[np.array(c) for c in categories],
    )


def stored_items(con: duckdb.DuckDBPyConnection, skill_id: str) -> set[str]:
    """Items of the skill calibrated in an earlier run (whatever their flag)."""
    return {
        r[0]
        for r in con.execute(
            "select item_id from irt.item_parameters where skill_id = ? and slope is not null",
            [skill_id],
        ).fetchall()
    }


def finite_or_none(value: float) -> float | None:
    """A number as stored: NULL for NaN and infinities."""
    return float(value) if np.isfinite(value) else None


def parameter_rows(
    skill_id: str,
    cal: irt_models.Calibration,
    run_id: str,
    now: datetime,
    previous: dict[str, dict],
    sx2: SampledFit | None = None,
) -> list[dict]:
    """Rows of irt.item_parameters, as column -> value.

    An item held fixed (anchored) keeps what its own calibration established: categories,
    standard errors, flag, calibration time, infit and outfit (``previous``: item -> those
    columns); its response count and S-X2 are refreshed on the new data.
    """
    rows = []
    for i, item in enumerate(cal.items.tolist()):
        k = int(cal.n_categories[i])
        graded = str(cal.model[i]) == "grm"
        fitted = bool(np.isfinite(cal.slope[i]))
        fixed = bool(cal.fixed[i]) and item in previous
        established = (
            previous[item]
            if fixed
            else {
                "categories": [int(c) for c in cal.categories[i, :k]],
                "slope_se": finite_or_none(cal.slope_se[i]),
                "difficulty_se": finite_or_none(cal.difficulty_se[i]),
                "flag": cal.flag[i],
                "calibrated_at": now,
                "infit": finite_or_none(cal.infit[i]),
                "outfit": finite_or_none(cal.outfit[i]),
            }
        )
        rows.append(
            {
                "skill_id": skill_id,
                "item_id": item,
                "model": str(cal.model[i]),
                "slope": finite_or_none(cal.slope[i]),
                "difficulty": finite_or_none(cal.difficulty[i]),
                "thresholds": (
                    [float(b) for b in cal.thresholds[i, : k - 1]] if fitted and graded else None
                ),
                "n_responses": int(cal.n_responses[i]),
                "n_categories": k,
                **(sx2.of(item) if sx2 is not None else NO_SX2),
                "anchored": fixed,
                "run_id": run_id,
                **established,
            }
        )
    return rows


NO_SX2 = {"sx2": None, "sx2_df": None, "sx2_p": None, "sx2_learners": None}
ESTABLISHED = (
    "categories",
    "slope_se",
    "difficulty_se",
    "flag",
    "calibrated_at",
    "infit",
    "outfit",
)


def write_parameters(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    cal: irt_models.Calibration,
    run_id: str,
    now: datetime,
    sx2: SampledFit | None = None,
) -> None:
    """Replace the skill's rows of irt.item_parameters with ``cal`` (and its S-X2)."""
    previous = {
        item: dict(zip(ESTABLISHED, rest, strict=True))
        for item, *rest in con.execute(
            f"select item_id, {', '.join(ESTABLISHED)} from irt.item_parameters where skill_id = ?",
            [skill_id],
        ).fetchall()
    }
    rows = parameter_rows(skill_id, cal, run_id, now, previous, sx2)
    con.execute("delete from irt.item_parameters where skill_id = ?", [skill_id])
    if rows:
        columns = list(rows[0])
        insert_rows(con, "item_parameters", columns, ([row[c] for c in columns] for row in rows))


def _stored_or_none(value: float) -> float | None:
    return None if np.isnan(value) else value


def stored_reliability(con: duckdb.DuckDBPyConnection, skill_id: str) -> float | None:
    """Marginal reliability of the skill's current scores (a skill not refitted this run);
    None below two learners."""
    rows = con.execute(
        "select learner_id, theta, theta_se, n_items from irt.learner_abilities where skill_id = ?",
        [skill_id],
    ).fetchnumpy()
    scores = irt_models.Scores(
        persons=np.asarray(rows["learner_id"]),
        theta=np.asarray(rows["theta"], dtype=float),
        se=np.asarray(rows["theta_se"], dtype=float),
        n_items=np.asarray(rows["n_items"], dtype=np.int64),
    )
    return _stored_or_none(irt_models.marginal_reliability(scores))
