"""Calibrate every skill, assign undecided items to skills, calibrate those onto the scale.

The mathematics is in ``irt_models``; this module decides what to fit with what, and keeps the
scale stable between runs:

- The first calibration of a skill defines its scale (latent N(0, 1)).
- Later runs hold the parameters of items already calibrated fixed (fixed-item calibration)
  and calibrate only new items onto that scale. With no new item, nothing is refitted.
- ``full_recalibration`` refits every item freely and links the result back to the old scale
  (Stocking-Lord on the common items), so scores stay comparable over time.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
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
from orchestration.irt.item_fit import SampledFit, sampled_sx2
from orchestration.irt.item_health import without_unhealthy_anchors
from orchestration.irt.responses import (
    SkillCensus,
    SkillResponses,
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
    stored_items,
    stored_reliability,
    write_parameters,
)
from orchestration.progress import ProgressCallback, no_progress

INFORMATION_GRID = tuple(float(t) for t in np.arange(-3.0, 3.01, 0.5))
# An unflagged item beyond these is implausible (parameters_finite_and_plausible check).
MAX_PLAUSIBLE_SLOPE = 10
MAX_PLAUSIBLE_DIFFICULTY = 8


@dataclass(frozen=True)
class SkillRun:
    """What calibration did for one skill: its row of irt.calibration_runs (the run's id and
    start time aside)."""

    skill_id: str
    run_type: str
    n_learners: int
    n_items: int
    n_new_items: int
    n_responses: int
    iterations: int
    converged: bool
    loglik: float | None
    latent_mean: float | None
    latent_var: float | None
    seconds: float
    marginal_reliability: float | None = None

    def followed_by(self, added: SkillRun) -> SkillRun:
        """This run and a second calibration of the skill in the same run (the items assigned
        by data): sizes and fit of the second, counts and time of both."""
        return dataclasses.replace(
            added,
            run_type=self.run_type,
            n_new_items=self.n_new_items + added.n_new_items,
            iterations=self.iterations + added.iterations,
            converged=self.converged and added.converged,
            seconds=self.seconds + added.seconds,
            marginal_reliability=self.marginal_reliability,
        )


@dataclass(frozen=True)
class SkillFit:
    """One skill's calibration: None when nothing was fitted; responses when they were read;
    S-X2 of the fitted items."""

    calibration: irt_models.Calibration | None
    run: SkillRun
    responses: SkillResponses | None
    sx2: SampledFit | None = None


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


def _calibrate(
    data: SkillResponses, settings: IrtSettings, fixed: irt_models.Calibration | None
) -> irt_models.Calibration:
    items, inverse = data.item_index
    highest = np.zeros(len(items), dtype=np.int64)
    np.maximum.at(highest, inverse, data.n_categories)
    item_ncat = dict(zip(items.tolist(), highest.tolist(), strict=True))
    if fixed is not None:
        # Anchors keep the categories they were calibrated with (collapsed ones stay merged).
        for i, item in enumerate(fixed.items.tolist()):
            item_ncat[item] = int(fixed.n_categories[i])
    return irt_models.calibrate(
        data.learners,
        data.items,
        data.responses,
        model="mixed",
        n_categories=item_ncat,
        fixed_items=fixed,
        quadrature=settings.quadrature,
        tol=settings.tol,
        max_iter=settings.max_iter,
        min_responses=settings.min_item_responses,
        groups=data.groups if settings.multiple_groups else None,
    )


def _plan(
    stored: irt_models.Calibration | None,
    census: SkillCensus,
    new_items: set[str],
    settings: IrtSettings,
) -> tuple[str, str | None]:
    """(run_type, how to fit: free, linked, anchored, or None for no fit)."""
    if stored is None and not census.ready:
        # Too little data to define the scale yet: nothing is fitted, nobody scored; the skill
        # is calibrated on a later run once some item has min_item_responses responses.
        return "insufficient_data", None
    if stored is None:
        return "initial", "free"
    if settings.full_recalibration:
        return "full_recalibration", "linked"
    # With nothing new, nothing is fitted: every parameter stays as stored.
    return "anchored", ("anchored" if new_items else None)


def _fit(
    fit: str | None,
    data: SkillResponses | None,
    settings: IrtSettings,
    stored: irt_models.Calibration | None,
) -> irt_models.Calibration | None:
    if fit == "free":
        return _calibrate(data, settings, None)
    if fit == "linked":
        free = _calibrate(data, settings, None)
        if len(irt_models.common_items(free, stored)) < 2:
            # The stored scale rests on fewer than two usable items (say an earlier fit that
            # degenerated to NaN): there is nothing to link to, the free fit sets the scale.
            return free
        return irt_models.link(free, stored, method="stocking-lord").apply(free)
    if fit == "anchored":
        return _calibrate(without_unhealthy_anchors(data, stored, settings), settings, stored)
    return None


def calibrate_skill(
    con: duckdb.DuckDBPyConnection,
    skill_id: str,
    settings: IrtSettings,
    census: SkillCensus,
    need_responses: bool = False,
) -> SkillFit:
    """Calibrate one skill on its stored scale.

    The responses are read only when something is fitted or ``need_responses`` (the caller
    scores the skill's learners); otherwise they are None.
    """
    started = time.perf_counter()
    stored = stored_calibration(con, skill_id)
    # New items: not calibrated before and now with enough responses to be. Items still short
    # of responses do not trigger a refit on every daily run.
    new_items = census.ready - stored_items(con, skill_id)
    run_type, fit = _plan(stored, census, new_items, settings)
    data = skill_responses(con, skill_id) if fit or need_responses else None
    cal = _fit(fit, data, settings, stored)
    sx2 = sampled_sx2(cal, data, settings.sx2_max_learners) if cal is not None else None
    run = SkillRun(
        skill_id=skill_id,
        run_type=run_type,
        n_learners=census.n_learners,
        n_items=census.n_items,
        n_new_items=len(new_items) if stored is not None else census.n_items,
        n_responses=census.n_responses,
        iterations=cal.iterations if cal is not None else 0,
        converged=bool(cal.converged) if cal is not None else True,
        loglik=float(cal.loglik) if cal is not None else None,
        latent_mean=float(cal.latent_mean) if cal is not None else None,
        latent_var=float(cal.latent_var) if cal is not None else None,
        seconds=time.perf_counter() - started,
    )
    return SkillFit(cal, run, data, sx2)


def fit_skills(
    con: duckdb.DuckDBPyConnection,
    skills: list[str],
    settings: IrtSettings,
    census: dict[str, SkillCensus],
    assigning_with: set[str],
    progress: ProgressCallback = no_progress,
) -> list[SkillFit]:
    """Step 1: calibrate each skill on its settled items, in parallel threads.

    Each thread reads its own cursor, and the heavy numpy work releases the GIL; writes happen
    afterwards, in the caller's thread. Skills whose learners' abilities the assignment needs
    (``assigning_with``) have their responses read even when nothing of theirs is refitted.
    ``progress(done, total)`` is called from the caller's thread as fits complete, in order.
    """

    def fit(skill_id: str) -> SkillFit:
        return calibrate_skill(
            con.cursor(),
            skill_id,
            settings,
            census.get(skill_id, SkillCensus()),
            need_responses=skill_id in assigning_with,
        )

    fits = []
    progress(0, len(skills))
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        for fitted in pool.map(fit, skills):
            fits.append(fitted)
            progress(len(fits), len(skills))
    return fits


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
        if fitted.responses is None:
            reliability = stored_reliability(con, skill_id)
        else:
            scoring = stored_calibration(con, skill_id, scoring_only=True)
            scores = eap(scoring, fitted.responses)
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
) -> dict[str, SkillRun]:
    """Step 3: calibrate new items (just assigned by data, or new versions of drifting items:
    ``newly`` maps skill -> items) onto their skill's scale, the stored items fixed; returns
    the skills' updated runs."""
    anchored_only = dataclasses.replace(settings, full_recalibration=False)
    recounted = skill_census(con, settings, newly) if newly else {}
    updated = {}
    for skill_id in newly:
        added = calibrate_skill(con, skill_id, anchored_only, recounted[skill_id])
        if added.calibration is None:
            continue
        write_parameters(con, skill_id, added.calibration, run_id, now, added.sx2)
        updated[skill_id] = runs[skill_id].followed_by(added.run)
    return updated


def calibrate_versions(
    con: duckdb.DuckDBPyConnection,
    summary: CalibrationSummary,
    versions: dict[str, list[str]],
    settings: IrtSettings,
    now: datetime,
) -> CalibrationSummary:
    """Step 4, after item health: calibrate the new versions of drifting items (skill ->
    version ids) onto their skill's scale, as the items assigned by data are, and rewrite
    those skills' rows of irt.calibration_runs."""
    runs = {run.skill_id: run for run in summary.runs}
    updated = calibrate_assigned(con, versions, runs, settings, summary.run_id, now)
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
) -> CalibrationSummary:
    """Calibrate every skill, assign undecided items to skills, calibrate those onto the scale.

    1. per skill, items of settled skill (and items assigned by data in earlier runs), on the
       stored scale (initial, anchored or full recalibration);
    2. undecided items (no skill_id, several course skills) assigned by data, using the EAP
       abilities from step 1;
    3. per skill with newly assigned items, a fixed-item calibration that adds them.

    ``progress(done, total)`` reports step 1, skill by skill.
    """
    ensure_irt_schema(con)
    refresh_assignments(con, run_id)
    skills = skills_with_responses(con)
    census = skill_census(con, settings)
    undecided = undecided_items(con)
    assigning_with = skills_to_assign_with(undecided, settings)
    fits = fit_skills(con, skills, settings, census, assigning_with, progress)
    runs, abilities = store_fits(con, fits, run_id, now)
    newly = assign_undecided(con, undecided, abilities, settings, run_id)
    runs.update(calibrate_assigned(con, newly, runs, settings, run_id, now))
    ordered = [runs[skill_id] for skill_id in skills]
    write_runs(con, ordered, run_id, now)
    return summarise(con, ordered, run_id)
