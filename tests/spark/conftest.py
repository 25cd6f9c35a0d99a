"""One SparkSession for the Spark tests, with executors in separate processes.

Master ``local-cluster[2,1,1024]``: two executor JVMs of one core each, apart from the
driver, each with its own Python workers, so every function the tests send to the executors
is pickled, shipped and imported there, as on a real cluster. The JVM starts once per test
session (20-40 s).
"""

from __future__ import annotations

import os
import sys
import time

import pytest

MASTER = "local-cluster[2,1,1024]"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    import pyspark
    from pyspark.sql import SparkSession

    # local-cluster launches executors from SPARK_HOME; the pyspark package is one.
    os.environ.setdefault("SPARK_HOME", os.path.dirname(pyspark.__file__))
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master(MASTER)
        .appName("skillgap-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        # tables the tests save (saveAsTable) go to a temporary folder, not the checkout
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config("spark.ui.showConsoleProgress", "false")
        # as the product session (orchestration/spark/session.py): timestamps are UTC
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    # executors register after the session starts: wait for both before any test runs
    tracker = session.sparkContext._jsc.sc().statusTracker()
    deadline = time.monotonic() + 120
    while len(tracker.getExecutorInfos()) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    yield session
    session.stop()
