"""One large skill calibrated in memory (irt_models.calibrate) and with the E-step on Spark
executors (orchestration.spark.irt.calibrate_distributed): seconds and the largest
differences.

    .venv/bin/python benchmarks/irt_spark.py --persons 200000 --items 150
    .venv/bin/python benchmarks/irt_spark.py --persons 20000 --items 50 \
        --master "local-cluster[2,1,1024]"

The responses are simulated (2PL, every person answers every item unless --per-person),
written to Parquet and read by Spark as a warehouse table would be. Spark's seconds exclude
the JVM start (printed apart) and include the summary, the per-partition designs, EM and the
final pass. Prints the load average: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

import irt_models as irt
from orchestration.irt.settings import IrtSettings


def spark_session(master: str):
    import pyspark
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_HOME", os.path.dirname(pyspark.__file__))
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (
        SparkSession.builder.master(master)
        .config("spark.driver.memory", "4g")
        .config("spark.executor.memory", "2g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=150)
    parser.add_argument("--per-person", type=int, default=None)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    sim = irt.simulate(args.persons, args.items, "2pl", items_per_person=args.per_person, seed=5)
    frame = pd.DataFrame(
        {
            "learner_id": sim.persons.astype(str),
            "item_id": sim.items.astype(str),
            "response": sim.responses.astype(np.int64),
            "n_categories": np.int64(2),
        }
    )
    print(f"{args.persons:,} persons x {args.items} items: {len(frame):,} responses")
    settings = IrtSettings(multiple_groups=False)
    started = time.perf_counter()
    memory = irt.calibrate(
        frame.learner_id.to_numpy(),
        frame.item_id.to_numpy(),
        frame.response.to_numpy(),
        "mixed",
        n_categories=2,
        min_responses=settings.min_item_responses,
    )
    in_memory = time.perf_counter() - started
    print(f"in memory: {in_memory:.1f} s, {memory.iterations} iterations")

    from orchestration.spark.irt import calibrate_distributed

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "responses.parquet")
        frame.to_parquet(path, index=False)
        del frame
        started = time.perf_counter()
        spark = spark_session(args.master)
        print(f"JVM start ({args.master}): {time.perf_counter() - started:.1f} s")
        responses = spark.read.parquet(path)
        started = time.perf_counter()
        dist = calibrate_distributed(responses, settings, n_partitions=args.partitions)
        on_spark = time.perf_counter() - started
        spark.stop()
    print(
        f"spark, {args.partitions} partitions: {on_spark:.1f} s, {dist.iterations} iterations "
        f"({on_spark / in_memory:.1f} x in memory)"
    )
    for name in ("slope", "thresholds", "slope_se", "difficulty_se", "infit", "outfit"):
        diff = np.nanmax(np.abs(getattr(memory, name) - getattr(dist, name)))
        print(f"  largest |difference| of {name}: {diff:.2e}")
    print(f"  loglik {memory.loglik:.6f} vs {dist.loglik:.6f}")


if __name__ == "__main__":
    main()
