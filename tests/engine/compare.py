"""Table equality across engines: same columns, same keys and counts, values to a tolerance."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

# Stamped with each dbt invocation's start: differs between any two runs.
RUN_TIME_COLUMNS = {
    "processed_at",
    "landed_processed_at",
    "published_at",
    "calibrated_at",
    "scored_at",
    "run_id",
    "seconds",  # calibration_runs: how long each skill's fit took
    "started_at",
    "computed_at",
    "created_at",
    "flagged_since",
}
# Figures shown rounded to 4 decimals: at an exact decimal tie (71/160 = 0.44375) Spark rounds
# the decimal half up (0.4438), DuckDB the nearest double below it (0.4437). Such a pair, both
# on the 1e-4 grid and one step apart, is the same figure.
DISPLAY_STEP = 1e-4


def rounding_ties(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    on_grid = (np.abs(a / DISPLAY_STEP - np.round(a / DISPLAY_STEP)) < 1e-6) & (
        np.abs(b / DISPLAY_STEP - np.round(b / DISPLAY_STEP)) < 1e-6
    )
    return on_grid & (np.abs(a - b) < DISPLAY_STEP * 1.000001)


def is_number(values: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)


def cell_text(value) -> str | None:
    """A cell as text; None when missing (NULL, NaN, NaT). Lists (item thresholds) element by
    element, numbers to 1e-6."""
    if isinstance(value, list | tuple | np.ndarray):
        items = [cell_text(v) for v in value]
        return "[" + ", ".join("NULL" if v is None else v for v in items) + "]"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, Decimal):
        # Spark's decimal(38, 0) of a DuckDB HUGEINT, which pandas reads as a float.
        value = float(value)
    if isinstance(value, float | np.floating):
        return f"{value:.6f}"
    return str(value)


def as_text(values: pd.Series) -> pd.Series:
    return values.astype(object).map(cell_text)


def normalise(frame: pd.DataFrame, numbers: set[str]) -> pd.DataFrame:
    """Comparable cells: ``numbers`` as float, every other column as text."""
    return pd.DataFrame(
        {c: frame[c].astype(float) if c in numbers else as_text(frame[c]) for c in frame.columns}
    )


def differences(left: pd.DataFrame, right: pd.DataFrame, tolerance: float = 1e-6) -> list[str]:
    """What differs between two tables; empty when they are equal up to row order."""
    if sorted(left.columns) != sorted(right.columns):
        return [f"columns differ: {sorted(set(left.columns) ^ set(right.columns))}"]
    if len(left) != len(right):
        return [f"rows: {len(left)} vs {len(right)}"]
    columns = [c for c in sorted(left.columns) if c not in RUN_TIME_COLUMNS]
    # A column is compared as numbers when both engines give numbers (an all-NULL column
    # may come back as floats on one side and objects on the other: then as text).
    numeric = {c for c in columns if is_number(left[c]) and is_number(right[c])}
    a, b = normalise(left[columns], numeric), normalise(right[columns], numeric)
    text = [c for c in columns if c not in numeric]
    numbers = [c for c in columns if c in numeric]
    # Sort by the text columns, then by numbers rounded well above the tolerance.
    keys_a = a[text].fillna("\0").assign(**{c: a[c].round(4) for c in numbers})
    keys_b = b[text].fillna("\0").assign(**{c: b[c].round(4) for c in numbers})
    a = a.loc[keys_a.sort_values(columns, kind="stable").index].reset_index(drop=True)
    b = b.loc[keys_b.sort_values(columns, kind="stable").index].reset_index(drop=True)
    problems = []
    for column in columns:
        if column in text:
            same = (a[column] == b[column]) | (a[column].isna() & b[column].isna())
        else:
            x, y = a[column].to_numpy(), b[column].to_numpy()
            same = pd.Series(
                np.isclose(x, y, atol=tolerance, rtol=0, equal_nan=True) | rounding_ties(x, y)
            )
        if not same.all():
            row = int(np.flatnonzero(~same.to_numpy())[0])
            problems.append(
                f"{column}: {int((~same).sum())} rows differ, first {a[column][row]!r} vs "
                f"{b[column][row]!r}"
            )
    return problems
