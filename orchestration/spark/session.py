"""The one Spark of the spark engine: a SparkSession that also serves dbt through Thrift.

Embedded Derby (the local Hive metastore) allows one JVM, so dbt (``method: thrift``) and the
Python assets share one: the process that runs the refresh starts a SparkSession and, inside
it, the Thrift server (``HiveThriftServer2.startWithContext``). On a real cluster the same
settings point elsewhere (docs/scale-out.md): ``SKILLGAP_SPARK_MASTER`` and the Thrift host.

Configuration lives in ``$SKILLGAP_SPARK_HOME/conf/spark-defaults.conf`` (default
``data/spark``), written from :func:`spark_conf` unless ``SKILLGAP_SPARK_CONF_DIR`` names a
folder of one's own. ANSI mode is off on every path, as dbt-spark sets it: a bad cast gives
NULL in SQL run by dbt and by Python alike.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from orchestration.settings import load_settings

THRIFT_HOST = "127.0.0.1"


def spark_conf(home: Path, master: str) -> dict[str, str]:
    """spark-defaults of the local engine: Hive catalog on Derby, Parquet tables under home."""
    return {
        "spark.master": master,
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(home / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={home / 'derby'}",
        "spark.driver.memory": os.environ.get("SKILLGAP_SPARK_DRIVER_MEMORY", "2g"),
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.legacy.timeParserPolicy": "CORRECTED",
        # DuckDB reads INT96 too, but microseconds are the standard (the serving file).
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # Statements run synchronously: dbt-spark's first poll then finds them finished and
        # never sleeps its poll_interval (1 s per statement, minutes over dbt's ~280 nodes).
        "spark.sql.hive.thriftServer.async": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


def conf_dir() -> Path:
    """The folder of spark-defaults.conf, written here for the local engine when missing."""
    settings = load_settings()
    own = os.environ.get("SKILLGAP_SPARK_CONF_DIR")
    if own:
        return Path(own)
    folder = settings.spark_home / "conf"
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(
        f"{key} {value}\n"
        for key, value in spark_conf(settings.spark_home, settings.spark_master).items()
    )
    target = folder / "spark-defaults.conf"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    return folder


def spark_env() -> dict[str, str]:
    """Variables every Spark process of ours needs: the conf folder, the workers' Python."""
    return {
        "SPARK_CONF_DIR": str(conf_dir()),
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", THRIFT_HOST),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def thrift_port(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return int(env.get("SKILLGAP_SPARK_THRIFT_PORT") or 10000)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@functools.cache
def get_spark():
    """The process's SparkSession (started on first use), serving Thrift for dbt.

    Set ``SKILLGAP_SPARK_THRIFT=0`` for a session without the Thrift server (tests that use
    Spark from Python only).
    """
    os.environ.update(spark_env())
    from pyspark.sql import SparkSession

    settings = load_settings()
    builder = SparkSession.builder.appName("skillgap").enableHiveSupport()
    if not os.environ.get("SKILLGAP_SPARK_CONF_DIR"):
        # Also set here: a JVM started earlier in this process (tests) did not read the file.
        for key, value in spark_conf(settings.spark_home, settings.spark_master).items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if os.environ.get("SKILLGAP_SPARK_THRIFT", "1") != "0":
        start_thrift(spark)
    return spark


def start_thrift(spark, timeout: float = 60.0) -> None:
    """Start the Thrift server inside ``spark``'s JVM and wait until its port answers."""
    port = thrift_port()
    if port_open(THRIFT_HOST, port):
        raise RuntimeError(
            f"port {port} is taken: another Spark Thrift server runs; stop it or set "
            "SKILLGAP_SPARK_THRIFT_PORT"
        )
    skip_hive_function_registry(spark)
    jvm = spark.sparkContext._jvm
    jconf = spark._jsparkSession.sqlContext().conf()
    jconf.setConfString("hive.server2.thrift.port", str(port))
    jconf.setConfString("hive.server2.thrift.bind.host", THRIFT_HOST)
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext()
    )
    deadline = time.monotonic() + timeout
    while not port_open(THRIFT_HOST, port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Spark Thrift server did not open port {port}")
        time.sleep(0.2)


def skip_hive_function_registry(spark) -> None:
    """Mark Hive's permanent functions as loaded, so no Thrift thread ever loads them.

    Closing a Thrift session calls ``Hive.get(conf)``; on a server thread without a cached
    Hive client that builds one and loads Hive's ``FunctionRegistry``, whose static list
    names ``GenericUDTFGetSplits``, which needs ``LlapSigner$Signable`` from
    ``hive-llap-common``, a jar the pyspark wheel does not ship. The ``NoClassDefFoundError``
    then failed whatever dbt node was running (about 2 local refreshes in 10). Spark resolves
    functions in its own catalog and never reads Hive's registry, so the load is skipped by
    setting ``Hive.didRegisterAllFuncs`` to done, which is what Hive itself does after
    loading. A method handle sets it inside the JVM: py4j would turn the ``AtomicInteger``
    into a Python int on the way out.
    """
    jvm = spark.sparkContext._jvm
    gateway = spark.sparkContext._gateway
    handles = jvm.java.lang.invoke.MethodHandles
    hive = jvm.java.lang.Class.forName("org.apache.hadoop.hive.ql.metadata.Hive")
    atomic = jvm.java.lang.Class.forName("java.util.concurrent.atomic.AtomicInteger")
    int_type = jvm.java.lang.Integer.TYPE
    private = handles.privateLookupIn(hive, handles.lookup())
    no_args = gateway.new_array(jvm.java.lang.Object, 0)
    done = private.findStaticGetter(hive, "REG_FUNCS_DONE", int_type).invokeWithArguments(no_args)
    set_int = handles.publicLookup().findVirtual(
        atomic, "set", jvm.java.lang.invoke.MethodType.methodType(jvm.java.lang.Void.TYPE, int_type)
    )
    state = private.findStaticGetter(hive, "didRegisterAllFuncs", atomic)
    args = gateway.new_array(jvm.java.lang.Object, 1)
    args[0] = done
    handles.collectArguments(set_int, 0, state).invokeWithArguments(args)


def stop_spark() -> None:
    """Stop the process's SparkSession (and its Thrift server), if one was started."""
    if get_spark.cache_info().currsize:
        get_spark().stop()
        get_spark.cache_clear()
