"""Closing a Thrift session must not load Hive's function registry (the dbt node flake).

The close path calls ``Hive.get(conf)``; on a thread without a cached Hive client that loads
``FunctionRegistry``, which cannot load from the pyspark wheel (``LlapSigner$Signable`` is
missing). The test drops the thread's cached client and builds one the way the close does.
Without ``skip_hive_function_registry`` it fails with that ``NoClassDefFoundError`` (checked
by hand in a separate JVM: a failed class initialisation would poison the shared session).
"""

from __future__ import annotations

import pytest

from orchestration.spark.session import skip_hive_function_registry

# It starts a JVM (about 20 s): not in the `-m "not slow"` loop.
pytestmark = pytest.mark.slow


def test_a_thread_without_a_hive_client_can_close_a_session(spark):
    skip_hive_function_registry(spark)
    jvm = spark.sparkContext._jvm
    hive = jvm.org.apache.hadoop.hive.ql.metadata.Hive
    hive.closeCurrent()
    client = hive.get(jvm.org.apache.hadoop.hive.conf.HiveConf())
    assert client is not None
    hive.closeCurrent()
