"""One large JSON-lines statements file through the ingest: seconds and peak memory by file size.

Writes xAPI statements (about 900 bytes each, as the sample's attempts look) to one ``.jsonl``
file per size, then loads each through ``ingest_landing`` into an empty DuckDB file under a
DuckDB memory limit, each in a child process of its own so that its peak resident memory is
its own. What it shows: the peak stays flat as the file grows (the line reader's buffer is
bounded, DuckDB spills what it writes). Prints figures, asserts nothing. Usage:

    .venv/bin/python benchmarks/statements_file.py                     # 1 and 4 GB, 256MB limit
    .venv/bin/python benchmarks/statements_file.py --gb 0.5 2 --memory-limit 1GB --gzip
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

STATEMENT_BYTES = 915  # about the length of the statement below, newline included (ids vary)


def write_statements(path: Path, n: int, gzip: bool) -> None:
    """``n`` answered statements, 200,000 learners, 3,000 items, 50 courses, written by DuckDB."""
    target = str(path) + (".gz" if gzip else "")
    duckdb.connect().execute(
        f"""
        copy (
          select
            uuid()::varchar as id,
            {{'objectType': 'Agent', 'account': {{'homePage': 'https://lms.example',
              'name': 'learner-' || (i % 200000)}}}} as actor,
            {{'id': 'http://adlnet.gov/expapi/verbs/answered',
              'display': {{'en-US': 'answered'}}}} as verb,
            {{'objectType': 'Activity', 'id': 'https://lms.example/items/q:' || (i % 3000) || ':1',
              'definition': {{'type': 'http://adlnet.gov/expapi/activities/cmi.interaction',
                'name': {{'en-US': 'A question of the course, long enough to be realistic'}}}}}}
              as object,
            {{'score': {{'raw': (i % 5), 'min': 0, 'max': 4, 'scaled': (i % 5) / 4.0}},
              'success': (i % 5) > 2, 'completion': true, 'duration': 'PT1M2S'}} as result,
            {{'contextActivities': {{'parent': [{{
                'id': 'https://lms.example/courses/c' || (i % 50),
                'definition': {{'type': 'http://adlnet.gov/expapi/activities/course'}}}}]}},
              'platform': 'Example LMS', 'language': 'en-US',
              'registration': uuid()::varchar}} as context,
            '2026-06-01T10:00:00.000+02:00' as timestamp,
            '2026-06-01T08:00:01.123Z' as stored
          from range({n}) t(i)
        ) to '{target}' (format json{", compression gzip" if gzip else ""})
        """
    )


def load_one(landing: Path, warehouse: Path, memory_limit: str) -> dict:
    """(child) Ingest the landing into a new warehouse; seconds, statements, peak MB."""
    from orchestration.ingest import ingest_landing

    con = duckdb.connect(str(warehouse))
    con.execute(f"set memory_limit = '{memory_limit}'")
    started = time.perf_counter()
    report = ingest_landing(con, landing)
    seconds = time.perf_counter() - started
    statements = con.execute("select count(*) from raw.statements").fetchone()[0]
    return {
        "seconds": seconds,
        "statements": statements,
        "failed": [r.error for r in report.failed],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, nargs="+", default=[1.0, 4.0], help="file sizes")
    parser.add_argument("--memory-limit", default="256MB", help="DuckDB's memory_limit")
    parser.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        landing, warehouse, limit = args.child
        print(json.dumps(load_one(Path(landing), Path(warehouse), limit)))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="skillgap-statements-file-"))
    print(f"one JSON-lines file per size, ingested under DuckDB memory_limit {args.memory_limit}")
    print(f"work folder: {workdir}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"{'file GB':>8} {'statements':>12} {'write s':>8} {'ingest s':>9} {'stmt/s':>9} "
        f"{'peak MB':>8}  outcome"
    )
    for gb in args.gb:
        case = workdir / f"{gb:g}GB"
        landing = case / "landing"
        (landing / "statements").mkdir(parents=True, exist_ok=True)
        n = int(gb * 1e9 / STATEMENT_BYTES)
        path = landing / "statements" / "day.jsonl"
        started = time.perf_counter()
        write_statements(path, n, args.gzip)
        written = time.perf_counter() - started
        size = sum(f.stat().st_size for f in (landing / "statements").iterdir())
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(landing),
                str(case / "w.duckdb"),
                args.memory_limit,
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO_ROOT,
        )
        if child.returncode != 0:
            print(f"{size / 1e9:>8.2f} {n:>12,} {written:>8.1f}  failed: {child.stderr[-400:]}")
            continue
        got = json.loads(child.stdout.strip().splitlines()[-1])
        outcome = "ok" if not got["failed"] and got["statements"] == n else f"{got['failed']}"
        print(
            f"{size / 1e9:>8.2f} {got['statements']:>12,} {written:>8.1f} "
            f"{got['seconds']:>9.1f} {got['statements'] / got['seconds']:>9,.0f} "
            f"{got['peak_mb']:>8,.0f}  {outcome}"
        )
        for f in case.rglob("*"):
            if f.is_file():
                f.unlink()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
