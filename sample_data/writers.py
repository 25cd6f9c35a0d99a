"""Landing files: the layout ``<entity>/<entity>_<YYYY-MM-DD>[suffix].<csv|parquet>``
(docs/landing-contract.md), and the dimension files (companies, learners, enrollments,
courses, course skills, items). The attempts files are in ``attempts``.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import numpy as np

from sample_data.behaviour import Completions, Enrollments
from sample_data.catalog import LEVELS, Catalog
from sample_data.faults import INVALID_ITEM_ID, UNKNOWN_SKILL_ID
from sample_data.formats import HEADER_STYLES, header_name, iso_text, iso_texts
from sample_data.ledger import ENTITIES, Ledger
from sample_data.world import Companies, Learners, display_name

Row = list[str | None]


def clear_landing(out_dir: Path) -> None:
    """Remove files this generator wrote before (``<entity>/<entity>_YYYY-MM-DD*``)."""
    for entity in ENTITIES:
        folder = out_dir / entity
        folder.mkdir(parents=True, exist_ok=True)
        pattern = re.compile(rf"{entity}_\d{{4}}-\d{{2}}-\d{{2}}.*\.(csv|parquet)$")
        for path in folder.iterdir():
            if path.is_file() and pattern.match(path.name):
                path.unlink()


def write_frame(
    con, ledger: Ledger, entity: str, day: date, data: dict, columns, file_format: str
) -> str:
    """Write ``columns`` [(name, sql)] of ``data`` to ``<entity>/<entity>_<day>.<format>``."""
    source_file = f"{entity}/{entity}_{day.isoformat()}.{file_format}"
    path = ledger.out_dir / source_file
    n = len(next(iter(data.values())))
    con.register("frame", data)
    select = ", ".join(f'{sql} as "{name}"' for name, sql in columns)
    options = "format parquet" if file_format == "parquet" else "format csv, header true"
    # Rows are already in file order; preserve_insertion_order keeps it without a sort.
    con.execute(f"copy (select {select} from frame) to '{path}' ({options})")
    con.unregister("frame")
    ledger.landed[entity] += n
    ledger.files += 1
    return source_file


def write_small_csv(ledger: Ledger, entity: str, day: date, header: list[str], rows) -> str:
    """A small dimension file written with the csv module (RFC 4180, minimal quoting)."""
    source_file = f"{entity}/{entity}_{day.isoformat()}.csv"
    with open(ledger.out_dir / source_file, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    ledger.landed[entity] += len(rows)
    ledger.files += 1
    return source_file


def write_companies(
    ledger, companies: Companies, day, indexes, updated_at, faults=(), duplicate=None, style="lower"
) -> None:
    """The companies ``indexes`` as of ``updated_at``; then the fault rows ``faults``
    [(row, reason)]; with row ``duplicate`` (an index into the file's rows) repeated."""
    columns = ("company_id", "company_name", "industry", "country", "employee_count", "updated_at")
    rows = [
        [
            companies.ids[i],
            companies.names[i],
            companies.industries[i],
            companies.countries[i],
            str(companies.employees[i]),
            iso_text(int(at)),
        ]
        for i, at in zip(indexes, updated_at, strict=True)
    ]
    if duplicate is not None:
        rows.insert(duplicate + 1, list(rows[duplicate]))
    first_fault = len(rows)
    rows += [list(row) for row, _ in faults]
    header = [header_name(column, style) for column in columns]
    source_file = write_small_csv(ledger, "companies", day, header, rows)
    if duplicate is not None:
        ledger.fault("companies", source_file, duplicate + 2, rows[duplicate][0], "exact_duplicate")
    for j, (row, reason) in enumerate(faults):
        ledger.fault("companies", source_file, first_fault + j + 1, row[0], reason)


def learner_rows(
    learners: Learners, companies: Companies, roles, indexes, updated_at, time_formats
) -> list[Row]:
    return [
        [
            f"L{i + 1:07d}",
            companies.ids[learners.company[i]],
            roles[learners.role[i]],
            display_name(learners.first_name[i], learners.last_name[i], learners.comma_style[i]),
            at,
        ]
        for i, at in zip(indexes, iso_texts(updated_at, time_formats), strict=True)
    ]


def write_learners(ledger, day: date, day_index: int, rows: list[Row], faults) -> None:
    """The day's learners file; ``faults`` [(row number, key, reason)] into the ledger."""
    style = HEADER_STYLES[day_index % 3]
    columns = ("learner_id", "company_id", "job_role", "display_name", "updated_at")
    header = [header_name(column, style) for column in columns]
    if day_index % 7 == 3:
        header.append("source_system")
        rows = [row + ["hris"] for row in rows]
    source_file = write_small_csv(ledger, "learners", day, header, rows)
    for row_number, key, reason in faults:
        ledger.fault("learners", source_file, row_number, key, reason)


def enrollment_rows(catalog: Catalog, enrolled: Enrollments, completed: Completions) -> list[Row]:
    """New enrollments (open) by time, then completions (the same key, now completed)."""
    order = np.argsort(enrolled.enrolled_at, kind="stable")
    enrolled_at = iso_texts(enrolled.enrolled_at[order], enrolled.time_format[order])
    rows: list[Row] = [
        [f"L{learner + 1:07d}", catalog.course_ids[course], at, None, None]
        for learner, course, at in zip(
            enrolled.learner[order], enrolled.course[order], enrolled_at, strict=True
        )
    ]
    order = np.argsort(completed.completed_at, kind="stable")
    rows += [
        [f"L{learner + 1:07d}", catalog.course_ids[course], start, end, f"{grade:.3f}"]
        for learner, course, start, end, grade in zip(
            completed.learner[order],
            completed.course[order],
            iso_texts(completed.enrolled_at[order], completed.enrolled_format[order]),
            iso_texts(completed.completed_at[order], np.zeros(len(order), dtype=int)),
            completed.grade[order],
            strict=True,
        )
    ]
    return rows


def write_enrollments(ledger, day: date, day_index: int, rows: list[Row], faults) -> None:
    """The day's enrollments file; ``faults`` [(row number, key, reason)] into the ledger."""
    header = ["learner_id", "course_id", "enrolled_at", "completed_at", "grade"]
    if day_index % 6 == 4:
        header = [header_name(column, "upper") for column in header]
    source_file = write_small_csv(ledger, "enrollments", day, header, rows)
    for row_number, key, reason in faults:
        ledger.fault("enrollments", source_file, row_number, key, reason)


def write_catalog(ledger, con, catalog: Catalog, skill_ids, day: date, day_index: int) -> None:
    """Day 0: the catalog. Mid-period: a full re-export of courses plus the new courses' rows."""
    courses = [
        course
        for course in range(len(catalog.course_ids))
        if catalog.course_release[course] <= day_index
    ]
    new = [course for course in courses if catalog.course_release[course] == day_index]
    _write_courses(ledger, catalog, day, courses, new)
    _write_course_skills(ledger, catalog, skill_ids, day, day_index, new)
    _write_items(ledger, con, catalog, skill_ids, day, day_index, new)


def _write_courses(ledger, catalog: Catalog, day: date, courses: list[int], new: list[int]):
    rows = [
        [
            catalog.course_ids[course],
            catalog.course_titles[course],
            LEVELS[catalog.course_level[course]],
        ]
        for course in courses
    ]
    source_file = write_small_csv(ledger, "courses", day, ["course_id", "title", "level"], rows)
    for j, course in enumerate(courses):
        if course not in new:  # the re-export repeats unchanged courses
            course_id = catalog.course_ids[course]
            ledger.fault("courses", source_file, j + 1, course_id, "exact_duplicate")


def _write_course_skills(ledger, catalog: Catalog, skill_ids, day, day_index, new) -> None:
    """The new courses' skills; on day 0 with one row of an unknown skill."""
    rows = [
        [catalog.course_ids[course], skill_ids[skill], f"{weight:.2f}"]
        for course in new
        for skill, weight in catalog.course_skills[course]
    ]
    if day_index == 0:
        rows.append([catalog.course_ids[0], UNKNOWN_SKILL_ID, "0.50"])
    style = "lower" if day_index == 0 else "title"
    header = [header_name(column, style) for column in ("course_id", "skill_id", "weight")]
    source_file = write_small_csv(ledger, "course_skills", day, header, rows)
    if day_index == 0:
        key = f"{catalog.course_ids[0]}|{UNKNOWN_SKILL_ID}"
        ledger.fault("course_skills", source_file, len(rows), key, "unknown_skill")


def _write_items(ledger, con, catalog: Catalog, skill_ids, day, day_index, new) -> None:
    """Day 0: the new items as Parquet. Later: a CSV without the optional item_type column,
    with one invalid max_score."""
    items = np.flatnonzero(np.isin(catalog.item_course, new))
    skill = np.array(
        [
            skill_ids[skill] if tagged else None
            for skill, tagged in zip(
                catalog.item_skill[items], catalog.item_tagged[items], strict=True
            )
        ],
        dtype=object,
    )
    course_ids = [catalog.course_ids[catalog.item_course[i]] for i in items]
    if day_index == 0:
        item_type = np.where(catalog.item_assignment[items], "assignment", "quiz")
        data = {
            "item_id": np.array([catalog.item_ids[i] for i in items], dtype=object),
            "course_id": np.array(course_ids, dtype=object),
            "max_score": catalog.item_max[items].astype(np.int32),
            "item_type": item_type.astype(object),
            "skill_id": skill,
        }
        columns = [(name, name) for name in data]
        write_frame(con, ledger, "items", day, data, columns, "parquet")
        return
    rows = [
        [catalog.item_ids[i], course_id, str(catalog.item_max[i]), skill_id]
        for i, course_id, skill_id in zip(items, course_ids, skill, strict=True)
    ]
    rows.append([INVALID_ITEM_ID, catalog.course_ids[new[0]], "0", None])
    header = ["ITEM_ID", "COURSE_ID", "MAX_SCORE", "SKILL_ID"]
    source_file = write_small_csv(ledger, "items", day, header, rows)
    ledger.fault("items", source_file, len(rows), INVALID_ITEM_ID, "invalid_value")
