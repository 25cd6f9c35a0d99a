"""The engine tests' landing: part of the sample's activity as statements, one more small day
(tables and statements), and what a Spark refresh rewrote."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
import uuid
from pathlib import Path

import duckdb

from sample_data.statements import convert_activity

CHAIN = {
    "staging.stg_attempts_landed": "processed_at",
    "staging.stg_attempts": "landed_processed_at",
    "staging.stg_enrollments_landed": None,
    "intermediate.int_attempts_scored": "landed_processed_at",
}
LATE_LEARNERS = 8


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def landed(con, landing: Path, entity: str) -> str:
    """The readable landed files of ``entity`` (CSV and Parquet; the sample's corrupt ones
    left out) as one all-text relation."""
    parts = []
    for path in sorted((landing / entity).iterdir()):
        reader = {".csv": "read_csv", ".parquet": "read_parquet"}.get(path.suffix)
        part = f"select columns(*)::varchar from {reader}('{path}')" if reader else None
        try:
            con.execute(f"select count(*) from ({part})") if part else None
        except duckdb.Error:
            part = None
        parts += [f"({part})"] if part else []
    return " union all by name ".join(parts)


def statement_attempts(con, landing: Path) -> str:
    """(item_id, learner_id) of the attempts statements of the readable statements files, as
    the attempts rows they were converted from."""
    parts = []
    for path in sorted((landing / "statements").glob("attempts_*.jsonl.gz")):
        part = (
            "select regexp_extract(json_extract_string(json, '$.object.id'), '[^/]*$') as item_id, "
            "json_extract_string(json, '$.actor.account.name') as learner_id "
            f"from read_json_objects('{path}', format = 'newline_delimited')"
        )
        try:
            con.execute(f"select count(*) from ({part})")
        except duckdb.Error:
            continue  # the corrupt file's half gzip
        parts.append(f"({part})")
    return " union all ".join(parts) or "select null as item_id, null as learner_id"


def land_small_day(landing: Path) -> set[str]:
    """Late copies (new attempt_ids, old timestamps) of the first attempts of a few old
    learners, the least attempted assignment's max_score doubled (attempts landed as tables
    or statements), a learner moving company. Returns the learners whose landed attempts
    change."""
    with duckdb.connect() as con:
        con.execute(f"create view attempts as {landed(con, landing, 'attempts')}")
        con.execute(
            "create view activity as select item_id, learner_id from attempts "
            f"union all {statement_attempts(con, landing)}"
        )
        con.execute(f"create view items as {landed(con, landing, 'items')}")
        con.execute(f"create view learners as {landed(con, landing, 'learners')}")
        late = con.execute(
            "select 'LATE' || attempt_id, learner_id, item_id, submitted_at, score "
            "from attempts where learner_id in (select distinct learner_id from attempts "
            f"where learner_id like 'L%' order by 1 limit {LATE_LEARNERS}) "
            "and attempt_id like 'A%' and submitted_at like '%T%' order by attempt_id limit 3 * ?",
            [LATE_LEARNERS],
        ).fetchall()
        item_id, course_id, max_score, skill_id = con.execute(
            "select items.item_id, any_value(course_id), any_value(max_score), "
            "any_value(skill_id) from items join activity using (item_id) "
            "where item_type = 'assignment' group by all order by count(*), 1 limit 1"
        ).fetchone()
        item_learners = {
            r[0]
            for r in con.execute(
                "select distinct learner_id from activity where item_id = ?", [item_id]
            ).fetchall()
        }
        mover = con.execute(
            "select learner_id, company_id, job_role, display_name, "
            "(select max(updated_at) from learners) from learners "
            "where learner_id like 'L%' order by learner_id limit 1"
        ).fetchone()
        new_company = con.execute(
            "select min(company_id) from learners where company_id like 'CO%' and company_id <> ?",
            [mover[1]],
        ).fetchone()[0]
    write_csv(
        landing / "attempts/zz_late.csv",
        ["attempt_id", "learner_id", "item_id", "submitted_at", "score"],
        late,
    )
    write_csv(
        landing / "items/zz_max_score.csv",
        ["item_id", "course_id", "max_score", "item_type", "skill_id"],
        [(item_id, course_id, str(2 * int(max_score)), "assignment", skill_id)],
    )
    write_csv(
        landing / "learners/zz_mover.csv",
        ["learner_id", "company_id", "job_role", "display_name", "updated_at"],
        [(mover[0], new_company, mover[2], mover[3], mover[4])],
    )
    return {row[1] for row in late} | item_learners


def partition_files(spark, table: str) -> dict[str, tuple[str, int]]:
    """Each Parquet file of ``table``: path -> (partition folder, modification time)."""
    location = spark.sql(f"describe formatted {table}").where("col_name = 'Location'").first()[1]
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)
    files = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).listFiles(path, True)
    found = {}
    while files.hasNext():
        status = files.next()
        name = status.getPath().toString()
        if name.endswith(".parquet"):
            found[name] = (status.getPath().getParent().getName(), status.getModificationTime())
    return found


def read_tables(spark, names) -> dict:
    """``names`` as pandas frames, read afresh (dbt rewrote them through another session)."""
    frames = {}
    for name in names:
        spark.catalog.refreshTable(name)
        frames[name] = spark.table(name).toPandas()
    return frames


# The days whose activity lands as xAPI statements instead of tables: CSV days, Parquet days,
# and the day of the corrupt Parquet file (half a gzip file as statements).
STATEMENT_DAYS = ("2026-06-07", "2026-06-09", "2026-06-12", "2026-06-15", "2026-06-17")
HOME = "https://lms.sample.skillgap.example"
CALIPER = "http://purl.imsglobal.org/ctx/caliper/v1p2"


def activity_as_statements(landing: Path, scratch: Path) -> list[str]:
    """The attempts and enrollments files of STATEMENT_DAYS rewritten as statements (the
    generator's ``--format xapi`` on those files only); the statements files written."""
    (scratch / "items").mkdir(parents=True)
    for path in (landing / "items").iterdir():
        shutil.copy(path, scratch / "items" / path.name)
    for entity in ("attempts", "enrollments"):
        (scratch / entity).mkdir()
        for path in sorted((landing / entity).iterdir()):
            if path.name.startswith(tuple(f"{entity}_{day}" for day in STATEMENT_DAYS)):
                shutil.move(path, scratch / entity / path.name)
    written = convert_activity(scratch)
    (landing / "statements").mkdir(exist_ok=True)
    for name in (*written.files, *written.unreadable):
        shutil.move(scratch / name, landing / name)
    return sorted(written.files + written.unreadable)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def landed_attempt_statements(landing: Path) -> list[dict]:
    """The attempts statements of the readable statements files that no rule rejects (a
    UUID id, a learner, an item, a score and an ISO timestamp), in file order."""
    found = []
    for path in sorted((landing / "statements").glob("attempts_*.jsonl.gz")):
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                lines = [json.loads(line) for line in handle]
        except (OSError, EOFError, ValueError):
            continue  # the corrupt file's half gzip
        found += [
            line
            for line in lines
            if UUID.fullmatch(line.get("id", ""))
            and line.get("actor", {}).get("account", {}).get("name", "").startswith("L")
            and line.get("object", {}).get("id")
            and isinstance(line.get("result", {}).get("score", {}).get("raw"), int | float)
            and re.fullmatch(r"2026-06-\d\dT[\d:]{8}", line.get("timestamp", "")[:19])
        ]
    return found


def land_statements_day(landing: Path, learners: set[str]) -> set[str]:
    """One more day of statements: a voiding statement taking back an attempt cleaned the day
    before, an LRS's copy of a statement (stored, authority, version: an exact duplicate), a
    conflicting copy, a new attempt without an id (its id the MD5 of its JSON) and an exact
    copy of it, a line that is not JSON, a Caliper envelope with a graded attempt, and a .json
    file that cannot be parsed. The attempts that change are of one of ``learners`` (those the
    small day changes already) when they have statements, so the day rewrites no more learner
    buckets on Spark. Returns the learners whose attempts change."""
    landed = landed_attempt_statements(landing)
    own = [line for line in landed if line["actor"]["account"]["name"] in learners]
    voided = (own or landed)[0]
    copied, conflicting = [line for line in landed if line is not voided][:2]
    voiding = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "voiding")),
        "actor": voided["actor"],
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": voided["id"]},
    }
    authority = {"objectType": "Agent", "account": {"homePage": HOME, "name": "lrs"}}
    lrs_copy = {**copied, "stored": "2026-06-21T09:00:00Z", "authority": authority}
    lrs_copy["version"] = "1.0.3"
    conflict = {**conflicting, "timestamp": "2026-06-20T12:00:00Z"}  # another time: a conflict
    new = {key: value for key, value in voided.items() if key != "id"}
    new["timestamp"] = "2026-06-21T08:00:00Z"
    lines = [voiding, lrs_copy, conflict, new, new]
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    (landing / "statements/zz_day.jsonl").write_text(text + "not json\n", encoding="utf-8")
    learner = voided["actor"]["account"]["name"]
    event = {
        "@context": CALIPER,
        "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'graded')}",
        "type": "GradeEvent",
        "action": "Graded",
        "actor": {"id": f"{HOME}/users/grader", "type": "Person"},
        "object": {
            "id": f"{HOME}/attempts/zz1",
            "type": "Attempt",
            "assignee": {"id": f"{HOME}/users/{learner}", "type": "Person"},
            "assignable": {"id": voided["object"]["id"], "type": "AssessmentItem"},
        },
        "generated": {"type": "Score", "scoreGiven": 0, "maxScore": 1},
        "eventTime": "2026-06-21T08:30:00.000Z",
    }
    envelope = {"sensor": f"{HOME}/sensor", "sendTime": event["eventTime"], "data": [event]}
    (landing / "statements/zz_caliper.json").write_text(json.dumps(envelope), encoding="utf-8")
    (landing / "statements/zz_broken.json").write_text('[{"id": "x"},', encoding="utf-8")
    # The conflict and the LRS's copy change no attempt: the first copy stays.
    return {learner}
