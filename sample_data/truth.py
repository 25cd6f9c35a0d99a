"""The truth a sample was drawn from, in a ``truth/`` folder the landing scan never sees.

``learner_skills.csv`` (true abilities at start and end), ``items.csv`` (true item
parameters), ``companies.csv`` (true ability offsets), ``fault_rows.csv`` (every faulty row)
and ``faults.json`` (counts per entity, with
``landed_rows = clean_rows + superseded + sum(rejected) + exact_duplicates``).

Only when the run was asked for lies (``lies``; ``items.csv`` keeps every item's difficulty
for the reference group and before any leak):

- ``item_dif.csv``, one row per DIF item and focal country: ``item_id``, ``course_id``,
  ``skill_id``, ``country`` (learners of companies there get the harder item),
  ``difficulty_shift_logits`` (added to the difficulty), ``slope``, ``log_odds_ratio``
  (slope * shift, reference over focal, the same at every ability), ``expected_ets_delta``
  (MH D-DIF = -2.35 * log_odds_ratio; negative: against the focal group) and ``ets_class``
  (A, B or C by its size).
- ``item_leaks.csv``, one row per leaked item: ``item_id``, ``course_id``, ``skill_id``,
  ``leak_day`` (date), ``leaked_from`` (its 00:00 UTC; answers submitted from then on see the
  easier item), ``difficulty_drop_logits`` (taken off the difficulty) and ``slope``.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sample_data.catalog import LEVELS, Catalog
from sample_data.ledger import ENTITIES, Ledger
from sample_data.lies import Lies, ets_class, ets_delta
from sample_data.world import Companies, Learners

ITEM_COLUMNS = (
    "item_id",
    "course_id",
    "skill_id",
    "skill_id_landed",
    "item_type",
    "max_score",
    "slope",
    "difficulty",
    "thresholds",
    "course_level",
)


def write_truth(
    con,
    truth_dir: Path,
    ledger: Ledger,
    clean: dict,
    companies: Companies,
    catalog: Catalog,
    learners: Learners,
    skill_ids: list[str],
    lies: Lies | None = None,
) -> dict:
    """Write the truth files; return faults.json's content. Raises if the accounting fails."""
    _write_lies(truth_dir, lies, catalog, skill_ids)
    _write_learner_skills(con, truth_dir / "learner_skills.csv", learners, skill_ids)
    _write_items(truth_dir / "items.csv", catalog, skill_ids)
    _write_companies(truth_dir / "companies.csv", companies)
    _write_csv(
        truth_dir / "fault_rows.csv",
        ["entity", "source_file", "row_number", "key", "reason"],
        ledger.fault_rows,
    )
    faults = fault_counts(ledger, clean)
    (truth_dir / "faults.json").write_text(json.dumps(faults, indent=2) + "\n", encoding="utf-8")
    return faults


def _write_csv(path: Path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_learner_skills(con, path: Path, learners: Learners, skill_ids: list[str]) -> None:
    n_learners, n_skills = learners.theta.shape
    data = {
        "learner_serial": np.repeat(np.arange(1, n_learners + 1), n_skills),
        "company_serial": np.repeat(learners.company + 1, n_skills),
        "skill_index": np.tile(np.arange(n_skills), n_learners),
        "theta_start": learners.theta_start.ravel(),
        "theta_end": learners.theta.ravel(),
    }
    con.register("frame", data)
    skill_list = "[" + ", ".join(f"'{skill}'" for skill in skill_ids) + "]"
    # Rows are already in (learner, skill) order: no join or sort, so 15M rows stay cheap.
    con.execute(f"""
        copy (
            select printf('L%07d', learner_serial) as learner_id,
                   printf('CO%05d', company_serial) as company_id,
                   {skill_list}[skill_index + 1] as skill_id,
                   round(theta_start, 4)::decimal(12, 4) as theta_start,
                   round(theta_end, 4)::decimal(12, 4) as theta_end
            from frame
        ) to '{path}' (format csv, header true)
    """)
    con.unregister("frame")


def _write_items(path: Path, catalog: Catalog, skill_ids: list[str]) -> None:
    rows = []
    for i, item_id in enumerate(catalog.item_ids):
        course = catalog.item_course[i]
        thresholds = (
            ";".join(f"{threshold:.4f}" for threshold in catalog.item_thresholds[i])
            if catalog.item_assignment[i]
            else ""
        )
        rows.append(
            [
                item_id,
                catalog.course_ids[course],
                skill_ids[catalog.item_skill[i]],
                str(bool(catalog.item_tagged[i])).lower(),
                "assignment" if catalog.item_assignment[i] else "quiz",
                int(catalog.item_max[i]),
                f"{catalog.item_slope[i]:.4f}",
                f"{catalog.item_difficulty[i]:.4f}",
                thresholds,
                LEVELS[catalog.course_level[course]],
            ]
        )
    _write_csv(path, ITEM_COLUMNS, rows)


DIF_COLUMNS = (
    "item_id",
    "course_id",
    "skill_id",
    "country",
    "difficulty_shift_logits",
    "slope",
    "log_odds_ratio",
    "expected_ets_delta",
    "ets_class",
)
LEAK_COLUMNS = (
    "item_id",
    "course_id",
    "skill_id",
    "leak_day",
    "leaked_from",
    "difficulty_drop_logits",
    "slope",
)


def _write_lies(truth_dir: Path, lies: Lies | None, catalog: Catalog, skill_ids) -> None:
    """item_dif.csv and item_leaks.csv when the run has lies of their kind, else neither.

    A file of an earlier run with lies goes: the truth folder holds one run's truth.
    """
    for name in ("item_dif.csv", "item_leaks.csv"):
        (truth_dir / name).unlink(missing_ok=True)
    if lies is None:
        return

    def where(item) -> list[str]:
        return [
            catalog.item_ids[item],
            catalog.course_ids[catalog.item_course[item]],
            skill_ids[catalog.item_skill[item]],
        ]

    dif_rows = []
    for item, shift in zip(lies.dif_item, lies.dif_shift, strict=True):
        slope = round(float(catalog.item_slope[item]), 4)
        delta = float(ets_delta(slope, shift))
        for country in lies.dif_countries:
            numbers = [f"{shift:.4f}", f"{slope:.4f}", f"{slope * shift:.4f}", f"{delta:.4f}"]
            dif_rows.append([*where(item), country, *numbers, ets_class(delta)])
    if dif_rows:
        _write_csv(truth_dir / "item_dif.csv", DIF_COLUMNS, dif_rows)
    leak_rows = []
    for item, leak_from, drop in zip(lies.leak_item, lies.leak_from, lies.leak_drop, strict=True):
        moment = datetime.fromtimestamp(int(leak_from), UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        slope = f"{catalog.item_slope[item]:.4f}"
        leak_rows.append([*where(item), moment.date().isoformat(), stamp, f"{drop:.4f}", slope])
    if leak_rows:
        _write_csv(truth_dir / "item_leaks.csv", LEAK_COLUMNS, leak_rows)


def _write_companies(path: Path, companies: Companies) -> None:
    rows = [
        [
            company_id,
            companies.industries[i],
            companies.countries[i],
            int(companies.employees[i]),
            f"{companies.offsets[i]:.4f}",
        ]
        for i, company_id in enumerate(companies.ids)
    ]
    header = ["company_id", "industry", "country", "employee_count", "ability_offset"]
    _write_csv(path, header, rows)


def fault_counts(ledger: Ledger, clean: dict) -> dict:
    """faults.json: rows landed, rejected by reason, duplicated, superseded and clean."""
    faults = {
        "landed_rows": {entity: ledger.landed[entity] for entity in ENTITIES},
        "rejected": {entity: dict(sorted(ledger.rejected[entity].items())) for entity in ENTITIES},
        "exact_duplicates": {entity: ledger.exact[entity] for entity in ENTITIES},
        "corrupt_files": list(ledger.corrupt),
        "clean_rows": clean,
        "superseded": {entity: ledger.superseded[entity] for entity in ENTITIES},
    }
    for entity in ENTITIES:
        landed = faults["landed_rows"][entity]
        accounted = (
            clean[entity]
            + faults["superseded"][entity]
            + sum(faults["rejected"][entity].values())
            + faults["exact_duplicates"][entity]
        )
        if accounted != landed:
            raise RuntimeError(f"accounting for {entity}: landed {landed}, accounted {accounted}")
    return faults
