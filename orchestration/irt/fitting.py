"""How one skill is fitted: the plan from its stored scale, the fit, and the result.

- The first calibration of a skill defines its scale (latent N(0, 1)).
- Later runs hold the parameters of items already calibrated fixed (fixed-item calibration)
  and calibrate only new items onto that scale. With no new item, nothing is refitted.
- ``full_recalibration`` refits every item freely and links the result back to the old scale
  (Stocking-Lord on the common items), so scores stay comparable over time.

``fit_skills`` fits skills in threads of this process; the spark engine fits the same plans
on its executors (``orchestration.spark.irt_stage``). Both return ``SkillFit``s.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np

import irt_models
from orchestration.irt.item_fit import SampledFit, among_sorted, sampled_sx2
from orchestration.irt.item_health import without_unhealthy_anchors
from orchestration.irt.responses import SkillCensus, SkillResponses, skill_responses, with_rows
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import stored_calibration, stored_items
from orchestration.irt.threads import map_skills
from orchestration.progress import ProgressCallback, no_progress


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


def item_categories(data: SkillResponses) -> dict[str, int]:
    """Each item's highest declared number of categories among its responses.

    One hash-based ``np.unique`` of the items per distinct number of categories (two or three
    of them), ascending so the highest wins: no sort of the responses' item labels (1.4M
    responses of a skill at M: 0.3 s instead of 1.9 s).
    """
    highest: dict[str, int] = {}
    for k in np.unique(data.n_categories).tolist():
        for item in np.unique(data.items[data.n_categories == k]).tolist():
            highest[item] = int(k)
    return dict(sorted(highest.items()))


def calibrate_responses(
    data: SkillResponses, settings: IrtSettings, fixed: irt_models.Calibration | None
) -> irt_models.Calibration:
    item_ncat = item_categories(data)
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


def plan_fit(
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


def linked_to(free: irt_models.Calibration, stored: irt_models.Calibration):
    """A free calibration moved onto the stored scale (Stocking-Lord on the common items)."""
    if len(irt_models.common_items(free, stored)) < 2:
        # The stored scale rests on fewer than two usable items (say an earlier fit that
        # degenerated to NaN): there is nothing to link to, the free fit sets the scale.
        return free
    return irt_models.link(free, stored, method="stocking-lord").apply(free)


def fit_planned(
    fit: str | None,
    data: SkillResponses | None,
    settings: IrtSettings,
    stored: irt_models.Calibration | None,
) -> irt_models.Calibration | None:
    if fit == "free":
        return calibrate_responses(data, settings, None)
    if fit == "linked":
        return linked_to(calibrate_responses(data, settings, None), stored)
    if fit == "anchored":
        healthy = without_unhealthy_anchors(data, stored, settings)
        takers = new_item_takers(healthy, stored)
        cal = calibrate_responses(takers, settings, stored)
        return cal if takers is healthy else with_anchor_counts(cal, healthy)
    return None


def with_anchor_counts(cal: irt_models.Calibration, data: SkillResponses) -> irt_models.Calibration:
    """``cal`` with its anchors' response counts from all of ``data``, as a whole-skill fit
    gave them (their infit and outfit stay those of their own calibration:
    ``tables.parameter_rows``); the new items keep their own, from all their responses."""
    labels, codes = data.item_index
    position = cal.index(labels)
    known = position >= 0
    counted = np.zeros(cal.n_items, dtype=np.int64)
    counted[position[known]] = np.bincount(codes, minlength=len(labels))[known]
    return dataclasses.replace(cal, n_responses=np.where(cal.fixed, counted, cal.n_responses))


def new_item_takers(data: SkillResponses, stored: irt_models.Calibration) -> SkillResponses:
    """The responses (all of them) of the learners who answered an item ``stored`` lacks.

    An anchored calibration estimates the new items and the latent distribution with the
    anchors fixed. Only the learners who answered a new item enter the new items' likelihood
    equations; everybody else would only pull the latent distribution towards the whole
    skill's population, which is not the population that took the new items (learners choose
    courses near their level). So the fit runs on the new items' takers, with all their
    responses: the anchors place each taker on the scale, and the takers' own latent
    distribution (per entry level) is the prior of their posteriors. A day's anchored fits at
    M read 1.4M responses of a skill for a handful of new items before; now those of their
    takers (README, Measured).
    """
    if data.n == 0:
        return data
    labels, codes = data.item_index
    new = (~np.isin(labels, stored.items))[codes]
    takers = np.unique(data.learners[new])
    if not len(takers):
        return data
    keep = among_sorted(data.learners, takers)
    return data if keep.all() else with_rows(data, keep)


@dataclass(frozen=True)
class SkillPlan:
    """What calibration will do for one skill, decided from its stored scale and census."""

    skill_id: str
    run_type: str
    # free, linked, anchored, or None: nothing is fitted.
    fit: str | None
    stored: irt_models.Calibration | None
    n_new_items: int
    census: SkillCensus

    def run(self, cal: irt_models.Calibration | None, seconds: float) -> SkillRun:
        """The skill's row of irt.calibration_runs once ``cal`` is fitted (None: nothing)."""
        return SkillRun(
            skill_id=self.skill_id,
            run_type=self.run_type,
            n_learners=self.census.n_learners,
            n_items=self.census.n_items,
            n_new_items=self.n_new_items,
            n_responses=self.census.n_responses,
            iterations=cal.iterations if cal is not None else 0,
            converged=bool(cal.converged) if cal is not None else True,
            loglik=float(cal.loglik) if cal is not None else None,
            latent_mean=float(cal.latent_mean) if cal is not None else None,
            latent_var=float(cal.latent_var) if cal is not None else None,
            seconds=seconds,
        )


def plan_skill(
    con: duckdb.DuckDBPyConnection, skill_id: str, settings: IrtSettings, census: SkillCensus
) -> SkillPlan:
    """Decide how to calibrate one skill on its stored scale (no response is read)."""
    stored = stored_calibration(con, skill_id)
    # New items: not calibrated before and now with enough responses to be. Items still short
    # of responses do not trigger a refit on every daily run.
    new_items = census.ready - stored_items(con, skill_id)
    run_type, fit = plan_fit(stored, census, new_items, settings)
    n_new = len(new_items) if stored is not None else census.n_items
    return SkillPlan(skill_id, run_type, fit, stored, n_new, census)


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
    plan = plan_skill(con, skill_id, settings, census)
    data = skill_responses(con, skill_id) if plan.fit or need_responses else None
    cal = fit_planned(plan.fit, data, settings, plan.stored)
    sx2 = sampled_sx2(cal, data, settings.sx2_max_learners) if cal is not None else None
    return SkillFit(cal, plan.run(cal, time.perf_counter() - started), data, sx2)


def fit_skills(
    con: duckdb.DuckDBPyConnection,
    skills: list[str],
    settings: IrtSettings,
    census: dict[str, SkillCensus],
    assigning_with: set[str],
    progress: ProgressCallback = no_progress,
) -> list[SkillFit]:
    """Step 1: calibrate each skill on its settled items, in parallel threads.

    Threads as :func:`map_skills` runs them; writes happen afterwards, in the caller's
    thread. Skills whose learners' abilities the assignment needs (``assigning_with``) have
    their responses read even when nothing of theirs is refitted.
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
    for fitted in map_skills(fit, skills, settings):
        fits.append(fitted)
        progress(len(fits), len(skills))
    return fits


# What fits step 1 (and step 3): (con, skills, settings, census, assigning_with, progress) ->
# one SkillFit per skill, in order. A fitter may leave ``responses`` None for a fitted skill
# outside ``assigning_with``; store_fits then reads them.
SkillFitter = Callable[..., list[SkillFit]]
