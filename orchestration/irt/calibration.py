"""Calibrate every skill, assign undecided items to skills, calibrate those onto the scale.

The mathematics is in ``irt_models``; how one skill is fitted on its stored scale is in
``orchestration.irt.fitting``. This module runs the steps of a calibration run and writes
their results: parameters, assignments, runs, and the summary the assets report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np

import irt_models
from irt_models.item_information import test_information
from orchestration.irt.assignment import (
    assign_undecided,
    refresh_assignments,
    skills_to_assign_with,
    undecided_items,
)
from orchestration.irt.fitting import SkillFit, SkillFitter, SkillRun, fit_skills
from orchestration.irt.responses import (
    skill_census,
    skill_responses,
    skills_with_responses,
)
from orchestration.irt.scoring import eap
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import (
    ensure_irt_schema,
    insert_rows,
    stored_calibration,
    stored_reliability,
    write_parameters,
)
from orchestration.progress import ProgressCallback, no_progress

INFORMATION_GRID = tuple(float(t) for t in np.arange(-3.0, 3.01, 0.5))
# An unflagged item beyond these is implausible (parameters_finite_and_plausible check).
MAX_PLAUSIBLE_SLOPE = 10
MAX_PLAUSIBLE_DIFFICULTY = 8


@dataclass
class CalibrationSummary:
    """What one calibration run did, per skill (the rows of irt.calibration_runs)."""

    run_id: str = ""
    runs: list[SkillRun] = field(default_factory=list)
    assignments: dict[str, int] = field(default_factory=dict)
    flagged: list[tuple[str, str, str]] = field(default_factory=list)
    # Test information of each skill's scoring items at INFORMATION_GRID.
    information: dict[str, list[float]] = field(default_factory=dict)
    # (skill_id, item_id) of items with non-finite or implausible parameters.
    implausible: list[tuple[str, str]] = field(default_factory=list)
    # Share of each skill's items with a flag.
    flagged_share: dict[str, float] = field(default_factory=dict)


def store_fits(
    con: duckdb.DuckDBPyConnection, fits: list[SkillFit], run_id: str, now: datetime
) -> tuple[dict[str, SkillRun], dict[str, dict[str, float]]]:
    """Write the fitted parameters; return each skill's run with its marginal reliability, and
    the EAP abilities (skill -> learner -> theta) of the skills whose responses were read."""
    runs: dict[str, SkillRun] = {}
    abilities: dict[str, dict[str, float]] = {}
    for fitted in fits:
        skill_id = fitted.run.skill_id
        if fitted.calibration is not None:
            write_parameters(con, skill_id, fitted.calibration, run_id, now, fitted.sx2)
        reliability = None
        if fitted.responses is None and fitted.calibration is None:
            reliability = stored_reliability(con, skill_id)
        else:
            # A fitter that ran elsewhere (Spark executors) returns no responses: read them here.
            data = fitted.responses
            if data is None:
                data = skill_responses(con, skill_id)
            scoring = stored_calibration(con, skill_id, scoring_only=True)
            scores = eap(scoring, data)
            if scores is not None:
                abilities[skill_id] = dict(
                    zip(scores.persons.tolist(), scores.theta.tolist(), strict=True)
                )
                reliability = irt_models.marginal_reliability(scores)
        runs[skill_id] = dataclasses.replace(fitted.run, marginal_reliability=reliability)
    return runs, abilities


def calibrate_assigned(
    con: duckdb.DuckDBPyConnection,
    newly: dict[str, list[str]],
    runs: dict[str, SkillRun],
    settings: IrtSettings,
    run_id: str,
    now: datetime,
    fitter: SkillFitter = fit_skills,
) -> dict[str, SkillRun]:
    """Step 3: calibrate new items (just assigned by data, or new versions of drifting items:
    ``newly`` maps skill -> items) onto their skill's scale, the stored items fixed; returns
    the skills' updated runs."""
    anchored_only = dataclasses.replace(settings, full_recalibration=False)
    recounted = skill_census(con, settings, newly) if newly else {}
    updated = {}
    for added in fitter(con, list(newly), anchored_only, recounted, set()) if newly else []:
        if added.calibration is None:
            continue
        skill_id = added.run.skill_id
        write_parameters(con, skill_id, added.calibration, run_id, now, added.sx2)
        updated[skill_id] = runs[skill_id].followed_by(added.run)
    return updated


def calibrate_versions(
    con: duckdb.DuckDBPyConnection,
    summary: CalibrationSummary,
    versions: dict[str, list[str]],
    settings: IrtSettings,
    now: datetime,
    fitter: SkillFitter = fit_skills,
) -> CalibrationSummary:
    """Step 4, after item health: calibrate the new versions of drifting items (skill ->
    version ids) onto their skill's scale, as the items assigned by data are, and rewrite
    those skills' rows of irt.calibration_runs."""
    runs = {run.skill_id: run for run in summary.runs}
    updated = calibrate_assigned(con, versions, runs, settings, summary.run_id, now, fitter)
    sql = "delete from irt.calibration_runs where run_id = ? and list_contains(?, skill_id)"
    con.execute(sql, [summary.run_id, list(updated)])
    write_runs(con, list(updated.values()), summary.run_id, now)
    runs.update(updated)
    return summarise(con, [runs[run.skill_id] for run in summary.runs], summary.run_id)


def write_runs(
    con: duckdb.DuckDBPyConnection, runs: list[SkillRun], run_id: str, now: datetime
) -> None:
    rows = [{"run_id": run_id, **dataclasses.asdict(run), "started_at": now} for run in runs]
    if rows:
        columns = list(rows[0])
        insert_rows(con, "calibration_runs", columns, ([r[c] for c in columns] for r in rows))


def summarise(
    con: duckdb.DuckDBPyConnection, runs: list[SkillRun], run_id: str
) -> CalibrationSummary:
    summary = CalibrationSummary(run_id=run_id, runs=runs)
    for run in runs:
        scoring = stored_calibration(con, run.skill_id, scoring_only=True)
        if scoring is not None:
            summary.information[run.skill_id] = test_information(
                scoring, np.array(INFORMATION_GRID)
            ).tolist()
    summary.assignments = dict(
        con.execute(
            "select method, count(*) from irt.item_skill_assignments group by method"
        ).fetchall()
    )
    summary.flagged = con.execute(
        "select skill_id, item_id, flag from irt.item_parameters where flag is not null "
        "order by skill_id, item_id"
    ).fetchall()
    summary.implausible = con.execute(
        # Items flagged for low or negative discrimination have a difficulty that means
        # little (b = -d/a with a near 0); they are listed with the flagged items.
        "select skill_id, item_id from irt.item_parameters "
        "where slope is not null and (not isfinite(slope) or not isfinite(difficulty) "
        "or (flag is null and (abs(slope) > ? or abs(difficulty) > ?)))",
        [MAX_PLAUSIBLE_SLOPE, MAX_PLAUSIBLE_DIFFICULTY],
    ).fetchall()
    summary.flagged_share = dict(
        con.execute(
            "select skill_id, avg((flag is not null)::int) from irt.item_parameters "
            "group by skill_id order by skill_id"
        ).fetchall()
    )
    return summary


def run_calibration(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    now: datetime,
    settings: IrtSettings,
    progress: ProgressCallback = no_progress,
    fitter: SkillFitter = fit_skills,
) -> CalibrationSummary:
    """Calibrate every skill, assign undecided items to skills, calibrate those onto the scale.

    1. per skill, items of settled skill (and items assigned by data in earlier runs), on the
       stored scale (initial, anchored or full recalibration);
    2. undecided items (no skill_id, several course skills) assigned by data, using the EAP
       abilities from step 1;
    3. per skill with newly assigned items, a fixed-item calibration that adds them.

    ``progress(done, total)`` reports step 1, skill by skill. ``fitter`` fits steps 1 and 3:
    threads of this process by default, Spark executors on the spark engine.
    """
    ensure_irt_schema(con)
    refresh_assignments(con, run_id)
    skills = skills_with_responses(con)
    census = skill_census(con, settings)
    undecided = undecided_items(con)
    assigning_with = skills_to_assign_with(undecided, settings)
    fits = fitter(con, skills, settings, census, assigning_with, progress)
    runs, abilities = store_fits(con, fits, run_id, now)
    newly = assign_undecided(con, undecided, abilities, settings, run_id)
    runs.update(calibrate_assigned(con, newly, runs, settings, run_id, now, fitter))
    ordered = [runs[skill_id] for skill_id in skills]
    write_runs(con, ordered, run_id, now)
    return summarise(con, ordered, run_id)
