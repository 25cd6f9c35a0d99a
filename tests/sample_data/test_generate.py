"""The sample-data generator: deterministic, to the landing contract, and true to its truth.

Guards what the ingest, the dbt staging and the IRT tests rely on: files follow
docs/landing-contract.md (folders, required columns in any case, ISO timestamps, text ids);
every fault in the files is counted in ``truth/faults.json`` and listed in ``fault_rows.csv``
(recounted here independently from the files, with the reason precedence of
docs/interfaces.md); the accounting identity holds per entity; and the simulated world has the
structure benchmarks need (selection effect, correlated abilities, enough industries, countries,
size bands, skills and domains).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sample_data import ENTITIES, SEEDS_DIR, generate

REQUIRED = {
    "companies": ("company_id", "industry", "country", "employee_count"),
    "learners": ("learner_id", "company_id"),
    "courses": ("course_id",),
    "course_skills": ("course_id", "skill_id"),
    "items": ("item_id", "course_id", "max_score"),
    "attempts": ("attempt_id", "learner_id", "item_id", "submitted_at", "score"),
    "enrollments": ("learner_id", "course_id", "enrolled_at"),
}
OPTIONAL = {
    "companies": ("company_name", "updated_at"),
    "learners": ("job_role", "display_name", "updated_at"),
    "courses": ("title", "level"),
    "course_skills": ("weight",),
    "items": ("item_type", "skill_id"),
    "attempts": ("attempt_number",),
    "enrollments": ("completed_at", "grade"),
}
KEYS = {
    "companies": ("company_id",),
    "learners": ("learner_id",),
    "courses": ("course_id",),
    "course_skills": ("course_id", "skill_id"),
    "items": ("item_id",),
    "enrollments": ("learner_id", "course_id"),
}
TIMESTAMPS = {
    "companies": ("updated_at",),
    "learners": ("updated_at",),
    "attempts": ("submitted_at",),
    "enrollments": ("enrolled_at", "completed_at"),
}
ID_COLUMNS = ("attempt_id", "learner_id", "item_id", "company_id", "course_id", "skill_id")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
SIZE = {"companies": 40, "learners": 3000, "days": 30}


def _read(path: Path) -> tuple[list[str], list[dict[str, str | None]]]:
    """Lower-cased header and rows (text, None when empty) of one landed file, in file order."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = [h.lower() for h in next(reader)]
            rows = [
                {h: (v if v != "" else None) for h, v in zip(header, r, strict=True)}
                for r in reader
            ]
        return header, rows
    rel = duckdb.sql(f"select * from read_parquet('{path}')")
    header = [c.lower() for c in rel.columns]
    cast = ", ".join(f'"{c}"::varchar' for c in rel.columns)
    values = duckdb.sql(
        f"select {cast} from read_parquet('{path}', file_row_number = true) "
        "order by file_row_number"
    ).fetchall()
    return header, [dict(zip(header, v, strict=True)) for v in values]


def _landed(landing: Path, corrupt: list[str]):
    """{entity: [(source_file, row_number, row)]} in load order (file name, then row)."""
    out = {}
    for entity in ENTITIES:
        rows = []
        for path in sorted((landing / entity).iterdir()):
            rel = f"{entity}/{path.name}"
            if rel in corrupt:
                continue
            header, file_rows = _read(path)
            for j, row in enumerate(file_rows, start=1):
                for col in REQUIRED[entity] + OPTIONAL[entity]:
                    row.setdefault(col, None)
                rows.append((rel, j, row))
        out[entity] = rows
    return out


def _seed(name: str) -> list[dict[str, str]]:
    with open(SEEDS_DIR / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _ts(value: str | None) -> datetime | None:
    if value is None or not ISO.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _recount(landed) -> dict:
    """Classify every landed row like staging does (docs/interfaces.md), independently."""
    now = datetime.now(UTC)
    result = {
        "rejected": defaultdict(lambda: defaultdict(int)),
        "exact": defaultdict(int),
        "superseded": defaultdict(int),
        "clean": {},
        "reasons": {},
    }

    def reject(entity, rel, j, reason):
        result["rejected"][entity][reason] += 1
        result["reasons"][(rel, j)] = reason

    def upsert(entity, valid_rows, rows_by_key):
        for rel, j, row in valid_rows:
            key = tuple(row[k] for k in KEYS[entity])
            content = tuple(row[c] for c in REQUIRED[entity] + OPTIONAL[entity])
            versions = rows_by_key.setdefault(key, [])
            if versions and versions[-1] == content:
                result["exact"][entity] += 1
                result["reasons"][(rel, j)] = "exact_duplicate"
            else:
                versions.append(content)
        result["superseded"][entity] = sum(len(v) - 1 for v in rows_by_key.values())
        result["clean"][entity] = len(rows_by_key)

    skills = {r["skill_id"] for r in _seed("skills.csv")}
    dims: dict[str, dict] = {}
    for entity in ("companies", "courses", "course_skills", "items", "learners", "enrollments"):
        valid = []
        for rel, j, row in landed[entity]:
            reason = None
            if any(row[k] is None for k in KEYS[entity]):
                reason = "missing_key"
            elif entity == "companies":
                count = row["employee_count"]
                if count is None or not count.isdigit() or int(count) < 1:
                    reason = "invalid_value"
                elif not re.fullmatch(r"[A-Z]{2}", row["country"] or ""):
                    reason = "invalid_country"
            elif entity == "items" and (_number(row["max_score"]) or 0) <= 0:
                reason = "invalid_value"
            elif entity == "course_skills" and row["skill_id"] not in skills:
                reason = "unknown_skill"
            elif entity == "learners" and (row["company_id"],) not in dims["companies"]:
                reason = "unknown_company"
            elif entity == "enrollments":
                if (row["learner_id"],) not in dims["learners"]:
                    reason = "unknown_learner"
                elif (row["course_id"],) not in dims["courses"]:
                    reason = "unknown_course"
            if reason:
                reject(entity, rel, j, reason)
            else:
                valid.append((rel, j, row))
        dims[entity] = {}
        upsert(entity, valid, dims[entity])

    max_score = {k[0]: float(v[-1][2]) for k, v in dims["items"].items()}
    seen: dict[str, tuple] = {}
    for rel, j, row in landed["attempts"]:
        score, moment = _number(row["score"]), _ts(row["submitted_at"])
        reason = None
        if any(row[k] is None for k in ("attempt_id", "learner_id", "item_id")):
            reason = "missing_key"
        elif row["score"] is None or row["submitted_at"] is None:
            reason = "missing_value"
        elif moment is None:
            reason = "bad_timestamp"
        elif score is None:
            reason = "invalid_value"
        elif moment > now:
            reason = "future_timestamp"
        elif row["item_id"] in max_score and not 0 <= score <= max_score[row["item_id"]]:
            reason = "score_out_of_range"
        elif (row["learner_id"],) not in dims["learners"]:
            reason = "unknown_learner"
        elif row["item_id"] not in max_score:
            reason = "unknown_item"
        content = (row["learner_id"], row["item_id"], moment, score, row["attempt_number"])
        if reason is None and row["attempt_id"] in seen:
            if seen[row["attempt_id"]] == content:
                result["exact"]["attempts"] += 1
                result["reasons"][(rel, j)] = "exact_duplicate"
                continue
            reason = "conflicting_duplicate"
        if reason:
            reject("attempts", rel, j, reason)
        else:
            seen[row["attempt_id"]] = content
    result["clean"]["attempts"] = len(seen)
    result["attempt_rows"] = seen
    return result


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    summary = generate(root / "landing", root / "truth", seed=11, **SIZE)
    faults = json.loads((root / "truth" / "faults.json").read_text())
    landed = _landed(root / "landing", faults["corrupt_files"])
    return {
        "root": root,
        "summary": summary,
        "faults": faults,
        "landed": landed,
        "recount": _recount(landed),
    }


def _truth(world, name: str) -> list[dict[str, str]]:
    with open(world["root"] / "truth" / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_writes_identical_bytes_and_another_seed_differs(tmp_path):
    small = {"companies": 12, "learners": 400, "days": 8}
    generate(tmp_path / "a" / "landing", tmp_path / "a" / "truth", seed=3, **small)
    generate(tmp_path / "b" / "landing", tmp_path / "b" / "truth", seed=3, **small)
    generate(tmp_path / "c" / "landing", tmp_path / "c" / "truth", seed=4, **small)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert a != c


def test_regenerating_into_the_same_folder_replaces_the_old_files(tmp_path):
    generate(tmp_path / "landing", tmp_path / "truth", companies=8, learners=200, days=6, seed=1)
    generate(tmp_path / "landing", tmp_path / "truth", companies=8, learners=200, days=3, seed=1)
    days = {p.name[-14:-4] for p in (tmp_path / "landing" / "attempts").glob("*.csv")}
    assert max(days) <= "2026-06-03"


def test_landing_holds_one_folder_per_entity_and_files_named_by_day(world):
    landing = world["root"] / "landing"
    assert sorted(p.name for p in landing.iterdir()) == sorted(ENTITIES)
    assert not (landing / "skills").exists()
    name = re.compile(r"^(?P<e>[a-z_]+)_\d{4}-\d{2}-\d{2}(_corrupt)?\.(csv|parquet)$")
    for entity in ENTITIES:
        for path in (landing / entity).iterdir():
            match = name.match(path.name)
            assert match and match["e"] == entity, path
    assert (world["root"] / "truth").is_dir()


def test_every_readable_file_has_the_required_columns_in_some_case(world):
    landing = world["root"] / "landing"
    styles = set()
    for entity in ENTITIES:
        for path in sorted((landing / entity).iterdir()):
            if f"{entity}/{path.name}" in world["faults"]["corrupt_files"]:
                continue
            with open(path, "rb") as fh:
                raw_header = fh.readline().decode() if path.suffix == ".csv" else ""
            header, _ = _read(path)
            assert set(REQUIRED[entity]) <= set(header), path
            styles.add(
                "upper"
                if "ATTEMPT_ID" in raw_header or "LEARNER_ID" in raw_header
                else "title"
                if "Learner_Id" in raw_header or "Attempt_Id" in raw_header
                else "lower"
            )
    assert styles >= {"upper", "title", "lower"}


def test_files_exercise_formats_extra_columns_offsets_and_absent_optionals(world):
    landing = world["root"] / "landing"
    attempts = [p.suffix for p in (landing / "attempts").iterdir() if "corrupt" not in p.name]
    assert ".csv" in attempts and ".parquet" in attempts
    headers = {
        entity: [
            _read(p)[0]
            for p in sorted((landing / entity).iterdir())
            if f"{entity}/{p.name}" not in world["faults"]["corrupt_files"]
        ]
        for entity in ENTITIES
    }
    assert any("source_system" in h for hs in headers.values() for h in hs)
    assert any("attempt_number" not in h for h in headers["attempts"])
    assert any("item_type" not in h for h in headers["items"])
    stamps = [
        row["submitted_at"] for _, _, row in world["landed"]["attempts"] if row["submitted_at"]
    ]
    assert any(s.endswith("Z") for s in stamps)
    assert any(re.search(r"[+-]\d{2}:\d{2}$", s) for s in stamps)
    assert sum(bool(re.search(r"(Z|[+-]\d{2}:\d{2})$", s)) for s in stamps) < len(stamps) / 4


def test_ids_are_text_and_valid_timestamps_are_iso(world):
    landing = world["root"] / "landing"
    for path in landing.glob("*/*.parquet"):
        if "corrupt" in path.name:
            continue
        types = dict(
            duckdb.sql(f"select * from read_parquet('{path}')").description[i][:2]
            for i in range(len(duckdb.sql(f"select * from '{path}'").columns))
        )
        for column, kind in types.items():
            if column.lower() in ID_COLUMNS:
                assert kind == "VARCHAR", (path, column)
    reasons = world["recount"]["reasons"]
    for entity, columns in TIMESTAMPS.items():
        for rel, j, row in world["landed"][entity]:
            if (rel, j) in reasons and reasons[(rel, j)] != "exact_duplicate":
                continue
            for column in columns:
                if row[column] is not None:
                    assert ISO.match(row[column]), (rel, j, row[column])
                    assert _ts(row[column]) < datetime.now(UTC)


def test_fault_counts_in_faults_json_match_a_recount_of_the_files(world):
    faults, recount = world["faults"], world["recount"]
    for entity in ENTITIES:
        assert faults["rejected"][entity] == dict(recount["rejected"][entity]), entity
        assert faults["exact_duplicates"][entity] == recount["exact"][entity], entity
        assert faults["clean_rows"][entity] == recount["clean"][entity], entity
        assert faults["superseded"][entity] == recount["superseded"][entity], entity
        assert faults["landed_rows"][entity] == len(world["landed"][entity]), entity
    attempt_faults = sum(faults["rejected"]["attempts"].values())
    attempt_faults += faults["exact_duplicates"]["attempts"]
    assert 0.003 < attempt_faults / faults["landed_rows"]["attempts"] < 0.008
    for reason in (
        "conflicting_duplicate",
        "unknown_learner",
        "unknown_item",
        "score_out_of_range",
        "bad_timestamp",
        "future_timestamp",
        "missing_key",
        "missing_value",
    ):
        assert faults["rejected"]["attempts"].get(reason, 0) > 0, reason
    assert faults["exact_duplicates"]["attempts"] > 0


def test_fault_rows_csv_lists_exactly_the_faulty_rows_with_their_reason(world):
    listed = {
        (r["source_file"], int(r["row_number"])): r["reason"]
        for r in _truth(world, "fault_rows.csv")
        if r["reason"] != "corrupt_file"
    }
    assert listed == world["recount"]["reasons"]


def test_landed_rows_equal_clean_plus_superseded_plus_rejected_plus_duplicates(world):
    f = world["faults"]
    for entity in ENTITIES:
        total = (
            f["clean_rows"][entity]
            + f["superseded"][entity]
            + sum(f["rejected"][entity].values())
            + f["exact_duplicates"][entity]
        )
        assert total == f["landed_rows"][entity], entity


def test_exactly_one_file_cannot_be_read_and_its_rows_count_nowhere(world):
    corrupt = world["faults"]["corrupt_files"]
    assert len(corrupt) == 1 and corrupt[0].startswith("attempts/")
    with pytest.raises(duckdb.Error):
        duckdb.sql(
            f"select count(*) from read_parquet('{world['root'] / 'landing' / corrupt[0]}')"
        ).fetchall()
    assert all(rel != corrupt[0] for rel, _, _ in world["landed"]["attempts"])


def test_stronger_learners_attempt_harder_items(world):
    items = {r["item_id"]: r for r in _truth(world, "items.csv")}
    theta = {
        (r["learner_id"], r["skill_id"]): float(r["theta_start"])
        for r in _truth(world, "learner_skills.csv")
    }
    by_learner = defaultdict(list)
    for learner, item, *_ in world["recount"]["attempt_rows"].values():
        by_learner[learner].append(items[item])
    difficulty, ability = [], []
    for learner, attempted in by_learner.items():
        if len(attempted) >= 5:
            difficulty.append(np.mean([float(i["difficulty"]) for i in attempted]))
            ability.append(np.mean([theta[(learner, i["skill_id"])] for i in attempted]))
    assert len(ability) > 500
    assert np.corrcoef(difficulty, ability)[0, 1] > 0.3


def test_abilities_correlate_across_skills_and_more_within_a_domain(world):
    rows = _truth(world, "learner_skills.csv")
    skills = list(dict.fromkeys(r["skill_id"] for r in rows))
    theta = np.array([float(r["theta_start"]) for r in rows]).reshape(-1, len(skills))
    corr = np.corrcoef(theta.T)
    domain = {r["skill_id"]: r["domain"] for r in _seed("skills.csv")}
    same = [
        corr[i, j]
        for i in range(len(skills))
        for j in range(i)
        if domain[skills[i]] == domain[skills[j]]
    ]
    cross = [
        corr[i, j]
        for i in range(len(skills))
        for j in range(i)
        if domain[skills[i]] != domain[skills[j]]
    ]
    assert min(cross) > 0.15
    assert np.mean(same) > np.mean(cross) + 0.1
    assert (
        theta[:, 0]
        != np.array([float(r["theta_end"]) for r in rows]).reshape(-1, len(skills))[:, 0]
    ).any()


def test_companies_span_industries_countries_and_every_size_band(world):
    companies = _truth(world, "companies.csv")
    bands = _seed("company_size_bands.csv")

    def band(n: int) -> str:
        return next(
            b["size_band"]
            for b in bands
            if n >= int(b["min_employees"])
            and (not b["max_employees"] or n <= int(b["max_employees"]))
        )

    assert len({c["industry"] for c in companies}) >= 6
    assert len({c["country"] for c in companies}) >= 10
    assert {band(int(c["employee_count"])) for c in companies} == {b["size_band"] for b in bands}
    by_industry = defaultdict(list)
    for c in companies:
        by_industry[c["industry"]].append(float(c["ability_offset"]))
    means = [np.mean(v) for v in by_industry.values()]
    assert max(means) - min(means) > 0.3


def test_items_cover_the_seed_skills_levels_types_and_untagged_share(world):
    items = _truth(world, "items.csv")
    domain = {r["skill_id"]: r["domain"] for r in _seed("skills.csv")}
    assert {i["skill_id"] for i in items} <= set(domain)
    assert len({i["skill_id"] for i in items}) >= 12
    assert len({domain[i["skill_id"]] for i in items}) >= 3
    assert {i["course_level"] for i in items} == {"beginner", "intermediate", "advanced"}
    mean = {
        lev: np.mean([float(i["difficulty"]) for i in items if i["course_level"] == lev])
        for lev in ("beginner", "intermediate", "advanced")
    }
    assert mean["beginner"] < mean["intermediate"] < mean["advanced"]
    assignments = [i for i in items if i["item_type"] == "assignment"]
    assert 0.08 < len(assignments) / len(items) < 0.25
    assert all(len(i["thresholds"].split(";")) == 3 for i in assignments)
    untagged = [i for i in items if i["skill_id_landed"] == "false"]
    assert 0.05 < len(untagged) / len(items) < 0.3
    landed_skill = {row["item_id"]: row["skill_id"] for _, _, row in world["landed"]["items"]}
    assert all(landed_skill[i["item_id"]] is None for i in untagged)


def test_attempts_have_retries_partial_credit_and_about_fifty_per_learner_per_90_days(world):
    rows = world["recount"]["attempt_rows"].values()
    numbers = {r[4] for r in rows}
    assert {"1", "2", "3"} <= numbers
    items = {r["item_id"]: r for r in _truth(world, "items.csv")}
    graded = {r[3] for r in rows if items[r[1]]["item_type"] == "assignment"}
    assert len(graded) >= 8 and max(graded) <= 10
    per_learner = len(world["recount"]["attempt_rows"]) / SIZE["learners"]
    assert 35 < per_learner * 90 / SIZE["days"] < 70


def test_completed_enrollments_carry_a_grade_between_zero_and_one(world):
    completed = [row for _, _, row in world["landed"]["enrollments"] if row["completed_at"]]
    assert completed
    assert all(0 <= float(row["grade"]) <= 1 for row in completed)
    assert all(_ts(row["completed_at"]) >= _ts(row["enrolled_at"]) for row in completed)


def test_summary_reports_rows_and_throughput(world):
    summary = world["summary"]
    assert summary["rows"] == sum(world["faults"]["landed_rows"].values())
    assert summary["rows_per_second"] > 0 and not math.isnan(summary["rows_per_second"])
