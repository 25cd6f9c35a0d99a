"""One more small landing day for the engine tests, and what a Spark refresh rewrote."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

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


def land_small_day(landing: Path) -> set[str]:
    """Late copies (new attempt_ids, old timestamps) of the first attempts of a few old
    learners, the least attempted assignment's max_score doubled, a learner moving company.
    Returns the learners whose landed attempts change."""
    with duckdb.connect() as con:
        con.execute(f"create view attempts as {landed(con, landing, 'attempts')}")
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
            "any_value(skill_id) from items join attempts using (item_id) "
            "where item_type = 'assignment' group by all order by count(*), 1 limit 1"
        ).fetchone()
        item_learners = {
            r[0]
            for r in con.execute(
                "select distinct learner_id from attempts where item_id = ?", [item_id]
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
