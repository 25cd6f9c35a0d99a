"""The run: build the world, then simulate and land one day at a time, then the truth.

Each day is simulated and written before the next one, so memory grows with learners, not
with attempts. All randomness comes from one generator seeded once: the order of the draws
(here and in the modules called) is what makes the output byte-identical for a seed. The
opt-in lies (``lies``) draw from a generator of their own, so without them nothing changes.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

from sample_data.attempts import AttemptWriter
from sample_data.behaviour import DayActivity, Simulator
from sample_data.catalog import Catalog, build_catalog, release_day
from sample_data.faults import add_enrollment_faults, add_learner_faults, company_fault_rows
from sample_data.formats import OFFSET_SHARE, TIMESTAMP_OFFSETS
from sample_data.ledger import Ledger
from sample_data.lies import Lies, choose_lies
from sample_data.statements import clear_statements, convert_activity
from sample_data.truth import write_truth
from sample_data.world import (
    COMPANY_UPDATE_EVERY,
    Companies,
    Learners,
    Seeds,
    build_companies,
    build_learners,
    change_learners,
    read_seeds,
    resize_companies,
)
from sample_data.writers import (
    clear_landing,
    enrollment_rows,
    learner_rows,
    write_catalog,
    write_companies,
    write_enrollments,
    write_learners,
)

DEFAULT_START = date(2026, 6, 1)
# The default sample (`make run`): 100 companies, 10,000 learners, 60 days, about 330k
# attempts: enough reportable learners per company and skill for unsuppressed benchmarks.
DEFAULT_LEARNERS = 10_000
# How learning activity lands: attempts and enrollments tables, or xAPI statements (statements).
ACTIVITY_FORMATS = ("tables", "xapi")


def generate(
    out_dir,
    truth_dir,
    companies: int = 100,
    learners: int = DEFAULT_LEARNERS,
    days: int = 60,
    seed: int = 7,
    start_date: date | str = DEFAULT_START,
    dif_items: int = 0,
    dif_countries: int = 2,
    leaked_items: int = 0,
    activity_format: str = "tables",
) -> dict:
    """Write landing files to ``out_dir`` and the truth to ``truth_dir``; return a summary.

    Deterministic for a seed: the same arguments write byte-identical files. ``dif_items``
    quiz items are harder for learners of the ``dif_countries`` countries with the most
    learners, ``leaked_items`` get easier from a day on (see ``lies``); with both 0 (the
    default) the files are those of a run without these arguments. ``activity_format`` "xapi"
    writes the same world with the attempts and enrollments as xAPI statements (``statements``);
    the summary then has the ``statements`` written.
    """
    started = time.perf_counter()
    if companies < 1 or learners < 1 or days < 1:
        raise ValueError(
            f"companies, learners and days must be >= 1, got {companies}, {learners}, {days}"
        )
    if activity_format not in ACTIVITY_FORMATS:
        raise ValueError(f"activity_format must be one of {ACTIVITY_FORMATS}: {activity_format}")
    if isinstance(start_date, str):
        start_date = date.fromisoformat(start_date)
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    clear_landing(out_dir)
    clear_statements(out_dir)
    truth_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    con.execute("set enable_progress_bar = false")
    ledger = Ledger(out_dir)

    seeds = read_seeds()
    company_world = build_companies(rng, companies, seeds.size_bands)
    catalog = build_catalog(rng, seeds.skills, days)
    learner_world = build_learners(rng, learners, days, company_world, seeds)
    lies = None
    if dif_items or leaked_items:
        first_midnight = (start_date - date(1970, 1, 1)).days * 86400
        counts = (dif_items, dif_countries, leaked_items)
        lies = choose_lies(
            seed,
            catalog,
            company_world,
            learner_world,
            seeds.role_skills,
            counts,
            days,
            first_midnight,
        )
    run = _Run(rng, con, ledger, seeds, company_world, catalog, learner_world, days, lies)
    for day_index in range(days):
        run.day(day_index, date.fromordinal(start_date.toordinal() + day_index), start_date)

    clean = {
        "companies": companies,
        "learners": learners,
        "courses": len(catalog.course_ids),
        "course_skills": sum(len(pairs) for pairs in catalog.course_skills),
        "items": len(catalog.item_ids),
        "attempts": run.n_attempts,
        "enrollments": run.n_enrollments,
    }
    faults = write_truth(
        con, truth_dir, ledger, clean, company_world, catalog, learner_world, seeds.skill_ids, lies
    )
    con.close()
    statements = convert_activity(out_dir) if activity_format == "xapi" else None
    summary = _summary(out_dir, truth_dir, ledger, faults, time.perf_counter() - started)
    if statements is not None:
        summary["statements"] = statements
    return summary


def _summary(out_dir: Path, truth_dir: Path, ledger: Ledger, faults: dict, seconds: float):
    rows_total = sum(ledger.landed.values())
    return {
        "out_dir": str(out_dir),
        "truth_dir": str(truth_dir),
        "files": ledger.files,
        "landed_rows": dict(faults["landed_rows"]),
        "rows": rows_total,
        "attempts": ledger.landed["attempts"],
        "seconds": seconds,
        "rows_per_second": rows_total / seconds if seconds else float("inf"),
    }


class _Run:
    """One sample run's state across days; ``day`` lands one day's files, in a fixed order."""

    def __init__(
        self,
        rng,
        con,
        ledger: Ledger,
        seeds: Seeds,
        companies: Companies,
        catalog: Catalog,
        learners: Learners,
        days: int,
        lies: Lies | None = None,
    ):
        self.rng, self.con, self.ledger, self.seeds = rng, con, ledger, seeds
        self.companies, self.catalog, self.learners = companies, catalog, learners
        self.simulator = Simulator(rng, catalog, learners, seeds.role_skills, lies)
        self.attempts = AttemptWriter(rng, con, ledger, catalog, days)
        self.release_day = release_day(days)
        self.learner_fault_day = 1 if days > 1 else 0
        self.enrollment_fault_day = min(2, days - 1)
        self.n_enrollments = self.n_attempts = 0
        self.superseded_companies = 0

    def day(self, day_index: int, day: date, start_date: date) -> None:
        # epoch seconds of the day's 00:00 UTC
        midnight = ((start_date - date(1970, 1, 1)).days + day_index) * 86400
        self._companies(day_index, day, midnight)
        self._learners(day_index, day, midnight)
        # the initial catalog, then a full re-export with new courses mid-period
        if day_index == 0 or day_index == self.release_day:
            write_catalog(self.ledger, self.con, self.catalog, self.seeds.skill_ids, day, day_index)
        activity = self.simulator.day(day_index, midnight)
        self._enrollments(day_index, day, midnight, activity)
        self.n_attempts += self.attempts.write(day_index, day, activity.attempts)

    def _companies(self, day_index: int, day: date, midnight: int) -> None:
        """The initial population with a few invalid rows, later size changes."""
        companies, n = self.companies, len(self.companies.ids)
        if day_index == 0:
            faults = company_fault_rows(midnight)
            write_companies(self.ledger, companies, day, range(n), [midnight] * n, faults)
        elif day_index % COMPANY_UPDATE_EVERY == COMPANY_UPDATE_EVERY // 2:
            resized = resize_companies(self.rng, companies)
            updated_at = midnight + np.sort(self.rng.integers(8 * 3600, 18 * 3600, len(resized)))
            duplicate = 0 if self.superseded_companies == 0 else None
            write_companies(
                self.ledger, companies, day, resized, updated_at, duplicate=duplicate, style="title"
            )
            self.superseded_companies += len(resized)
            self.ledger.superseded["companies"] += len(resized)

    def _learners(self, day_index: int, day: date, midnight: int) -> None:
        """Joiners, a few role or name changes, a few rows for unknown companies."""
        rng, learners, roles = self.rng, self.learners, self.seeds.roles
        start_index = learners.join_end[day_index - 1] if day_index else 0
        joiners = np.arange(start_index, learners.join_end[day_index])
        updated_at = midnight + (
            np.zeros(len(joiners), dtype=np.int64)
            if day_index == 0
            else np.sort(rng.integers(0, 6 * 3600, len(joiners)))
        )
        time_formats = np.where(
            rng.random(len(joiners)) < OFFSET_SHARE,
            rng.integers(1, len(TIMESTAMP_OFFSETS), len(joiners)),
            0,
        )
        rows = learner_rows(learners, self.companies, roles, joiners, updated_at, time_formats)
        if day_index > 0 and start_index:
            changed = change_learners(rng, learners, start_index, len(roles))
            changed_at = midnight + np.sort(rng.integers(6 * 3600, 20 * 3600, len(changed)))
            plain_utc = np.zeros(len(changed), dtype=int)
            rows += learner_rows(learners, self.companies, roles, changed, changed_at, plain_utc)
            self.ledger.superseded["learners"] += len(changed)
        faults = add_learner_faults(
            rng, rows, day_index, self.learner_fault_day, roles, self.companies.ids[0], midnight
        )
        if rows:
            write_learners(self.ledger, day, day_index, rows, faults)

    def _enrollments(self, day_index: int, day: date, midnight: int, activity: DayActivity):
        """New enrollments and completions; a few of unknown learners and courses."""
        rows = enrollment_rows(self.catalog, activity.enrolled, activity.completed)
        self.n_enrollments += len(activity.enrolled.learner)
        self.ledger.superseded["enrollments"] += len(activity.completed.learner)
        faults = []
        if day_index == self.enrollment_fault_day:
            faults = add_enrollment_faults(self.rng, rows, self.catalog, midnight)
        if rows:
            write_enrollments(self.ledger, day, day_index, rows, faults)
