"""The truth a sample was drawn from, in a ``truth/`` folder the landing scan never sees.

``learner_skills.csv`` (true abilities at start and end), ``items.csv`` (true item
parameters), ``companies.csv`` (true ability offsets), ``fault_rows.csv`` (every faulty row)
and ``faults.json`` (counts per entity, with
``landed_rows = clean_rows + superseded + sum(rejected) + exact_duplicates``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from sample_data.catalog import LEVELS, Catalog
from sample_data.ledger import ENTITIES, Ledger
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
) -> dict:
    """Write the truth files; return faults.json's content. Raises if the accounting fails."""
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
