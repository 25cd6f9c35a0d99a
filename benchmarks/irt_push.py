"""How the spark engine hands irt.* to Spark: seconds and peak memory, Parquet against Arrow.

    .venv/bin/python benchmarks/irt_push.py --rows 5000000

After each IRT asset the DuckDB workspace's irt.* tables go to Spark, where the marts read
them (orchestration/spark/warehouse.py, ``push_schema``). The largest is the abilities table,
one row per learner and skill. Two ways are measured on the same table, each in its own
child process with its own JVM (``local[2]``, the engine's 2 GB driver):

- ``parquet``: DuckDB streams the table into Parquet files in Spark's warehouse folder and
  the Spark table is pointed at them (the way used whenever the warehouse is a local or
  mounted folder);
- ``arrow``: the whole table as one Arrow table in the driver, then ``saveAsTable`` (the way
  used when DuckDB cannot write to the warehouse, and the only way before this benchmark).

``unchanged s`` is a second push of the same table: only its content fingerprint is computed
(one DuckDB scan) and compared with the one stored on the Spark table, and nothing is written.

The table (``bench.abilities``) has the columns of ``irt.learner_abilities`` that matter for
size: learner and skill ids, theta, its SE, counts, a response signature (HUGEINT, decimal(38,
0) in Spark) and a timestamp. Peak memory is VmRSS summed over the child's process tree
(Python, DuckDB and the JVM), polled every 0.2 s. Prints figures, asserts nothing; the machine
is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from refresh import load, run_child

TABLE = """
    create table bench.abilities as
    select 'L' || lpad((i // 12)::varchar, 9, '0') as learner_id,
        'SK' || lpad((i % 12)::varchar, 3, '0') as skill_id,
        sin(i) * 2 as theta, 0.3 + (i % 7) / 100 as theta_se,
        (i % 40)::integer as n_responses, (i % 40 + 3)::bigint as n_items,
        cast(hash(i) as hugeint) * 1000003 as response_signature,
        timestamp '2026-12-01' + to_seconds(i % 86400) as scored_at
    from range({rows}) t(i)
"""


def child(method: str, rows: int, workdir: Path) -> dict:
    import duckdb

    os.environ.update(SKILLGAP_SPARK_HOME=str(workdir / method), SKILLGAP_SPARK_THRIFT="0")
    from orchestration.spark import warehouse
    from orchestration.spark.session import get_spark

    con = duckdb.connect(str(workdir / f"{method}.duckdb"))
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema bench")
    con.execute(TABLE.format(rows=rows))
    spark = get_spark()
    spark.sql("select 1").collect()
    if method == "arrow":
        warehouse.local_folder = lambda location: None
    started = time.perf_counter()
    warehouse.push_schema(spark, con, "bench")
    seconds = time.perf_counter() - started
    counted = spark.table("bench.abilities").count()
    started = time.perf_counter()
    warehouse.push_schema(spark, con, "bench")  # unchanged: the fingerprint alone
    return {"seconds": seconds, "rows": counted, "unchanged": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--child", choices=("parquet", "arrow"))
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.child:
        result = child(args.child, args.rows, args.workdir)
        (args.workdir / f"{args.child}.json").write_text(json.dumps(result))
        return
    print(f"rows {args.rows:,}; load {load()}")
    print(
        f"{'method':<9}{'push s':>9}{'unchanged s':>13}{'rows in Spark':>15}{'peak MB':>10}"
        f"{'rc':>4}"
    )
    with tempfile.TemporaryDirectory(prefix="skillgap-push-") as tmp:
        workdir = Path(tmp)
        for method in ("parquet", "arrow"):
            cmd = [sys.executable, __file__, "--child", method, "--rows", str(args.rows)]
            cmd += ["--workdir", str(workdir)]
            _, peak_kb, code = run_child(cmd, dict(os.environ), workdir / f"{method}.log")
            out = workdir / f"{method}.json"
            result = json.loads(out.read_text()) if out.exists() else {}
            seconds, again = result.get("seconds"), result.get("unchanged")
            print(
                f"{method:<9}{seconds if seconds is None else round(seconds, 1)!s:>9}"
                f"{again if again is None else round(again, 1)!s:>13}"
                f"{result.get('rows')!s:>15}{peak_kb / 1024:>10.0f}{code:>4}"
            )
            if code:
                print((workdir / f"{method}.log").read_text()[-1500:])
    print(f"load {load()}")


if __name__ == "__main__":
    main()
