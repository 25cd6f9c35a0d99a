"""Two refreshes of the same world, compared by what users see: the published marts and the
learners' abilities.

``marts_snapshot(path)`` reads every table (and view) of schema ``marts`` of a warehouse or
serving file, and the ``irt.*`` abilities tables when the file has them (a warehouse does, a
serving file does not). ``assert_same_marts(a, b)`` fails with every difference: a table on one
side only, other columns, other row counts, rows of one side that the other lacks (with a few
of them shown), and values that differ beyond the tolerance. Rows are compared as a whole,
whatever their order; numbers to ``TOLERANCE`` (absolute, or relative to the larger value).

Columns stamped with the time or the run of the refresh that wrote them (``processed_at``,
``published_at``, ...) differ between any two refreshes and are left out.

Used where two landings must give the same marts: tables against statements
(``test_statement_landing.py``), and statements pulled from an LRS.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

TOLERANCE = 1e-9
# Stamped with each refresh's start or run: differ between any two refreshes.
RUN_COLUMNS = frozenset(
    {
        "processed_at",
        "landed_processed_at",
        "published_at",
        "calibrated_at",
        "scored_at",
        "run_id",
        "seconds",
        "started_at",
        "computed_at",
        "created_at",
        "flagged_since",
    }
)
# The abilities: each learner's ability per skill, now, at each period start and over time.
ABILITY_TABLES = ("learner_abilities", "learner_abilities_period_start", "learner_ability_history")
# Rows shown per difference in a failure message.
SHOWN = 3


def marts_snapshot(warehouse_path: Path | str) -> dict[str, pd.DataFrame]:
    """``{"marts.<table>": frame, ..., "irt.<abilities table>": frame}`` of a DuckDB file,
    read only, without the run's time and id columns."""
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        listed = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = 'marts' or (table_schema = 'irt' and table_name in "
            f"({', '.join(repr(t) for t in ABILITY_TABLES)})) order by all"
        ).fetchall()
        snapshot = {}
        for schema, table in listed:
            frame = con.execute(f'select * from "{schema}"."{table}"').df()
            snapshot[f"{schema}.{table}"] = frame.drop(
                columns=[c for c in frame.columns if c in RUN_COLUMNS]
            )
        return snapshot
    finally:
        con.close()


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _text(value) -> str:
    """A cell as text for sorting and matching; missing values (NULL, NaN, NaT) alike."""
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "\0NULL"
    return str(value)


def _sorted(frame: pd.DataFrame, text: list[str], numbers: list[str]) -> pd.DataFrame:
    """Text columns as text, numbers as floats; rows sorted by text, then rounded numbers."""
    out = pd.DataFrame(
        {c: frame[c].astype(float) if c in numbers else frame[c].map(_text) for c in frame.columns}
    )
    keys = out[text].assign(**{c: out[c].round(6).fillna(np.inf) for c in numbers})
    order = keys.sort_values(text + numbers, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _row_keys(frame: pd.DataFrame, text: list[str], numbers: list[str]) -> pd.Series:
    """One string per row: text as is, numbers to 6 decimals (to find rows on one side)."""
    parts = [frame[c] for c in text] + [frame[c].round(6).map(_text) for c in numbers]
    if not parts:
        return pd.Series([""] * len(frame))
    return pd.Series(["\x1f".join(row) for row in zip(*parts, strict=True)])


def table_differences(a: pd.DataFrame, b: pd.DataFrame, tolerance: float = TOLERANCE) -> list[str]:
    """What differs between two frames of one table; empty when equal up to row order."""
    if sorted(a.columns) != sorted(b.columns):
        return [f"columns differ: {sorted(set(a.columns) ^ set(b.columns))}"]
    columns = sorted(a.columns)
    numbers = [c for c in columns if _is_number(a[c]) and _is_number(b[c])]
    text = [c for c in columns if c not in numbers]
    left, right = _sorted(a[columns], text, numbers), _sorted(b[columns], text, numbers)
    problems = [f"rows: {len(a)} vs {len(b)}"] if len(a) != len(b) else []
    keys_left, keys_right = _row_keys(left, text, numbers), _row_keys(right, text, numbers)
    only_left = left[~keys_left.isin(set(keys_right))]
    only_right = right[~keys_right.isin(set(keys_left))]
    for side, rows in (("first", only_left), ("second", only_right)):
        if len(rows):
            shown = rows.head(SHOWN).to_dict("records")
            problems.append(f"{len(rows)} rows only in the {side}, e.g. {shown}")
    if problems:
        return problems
    for column in columns:
        x, y = left[column].to_numpy(), right[column].to_numpy()
        if column in numbers:
            same = np.isclose(x, y, atol=tolerance, rtol=tolerance, equal_nan=True)
        else:
            same = x == y
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            problems.append(
                f"{column}: {int((~same).sum())} rows differ, first {x[row]!r} vs {y[row]!r} "
                f"in {left.iloc[row].to_dict()}"
            )
    return problems


def marts_differences(
    a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame], tolerance: float = TOLERANCE
) -> dict[str, list[str]]:
    """Per table, what differs between two snapshots (tables on one side only too)."""
    found = {}
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            found[name] = [f"only in the {'first' if name in a else 'second'} snapshot"]
            continue
        problems = table_differences(a[name], b[name], tolerance)
        if problems:
            found[name] = problems
    return found


def assert_same_marts(
    a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame], tolerance: float = TOLERANCE
) -> None:
    """Fail, naming every table and how it differs, unless the snapshots are equal."""
    assert a, "the first snapshot has no marts"
    found = marts_differences(a, b, tolerance)
    message = "\n".join(f"{name}: {p}" for name, problems in found.items() for p in problems)
    assert not found, f"the marts differ:\n{message}"
