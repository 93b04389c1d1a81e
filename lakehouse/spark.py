"""The one place a SparkSession is configured, for every profile.

`spark_conf` is pure (settings -> dict) so the same configuration feeds an in-process
session, a spark-submit command line and the Thrift server.
"""

from __future__ import annotations

import os
import shlex
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from lakehouse import class_archive, home_lock, runlog
from lakehouse.config import PROJECT_ROOT, Settings, properties_path
from lakehouse.files import write_private

LOG4J_CONFIG = PROJECT_ROOT / "spark" / "conf" / "log4j2.properties"
_LOG4J_OPTION = f'"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}"'
# Spark's JVMs run in UTC, as their sessions compute (spark.sql.session.timeZone), whatever the
# machine's zone; the option goes last, so no setting of the user's overrides it. Delta 4.3 checks
# each commit against the table's whole state, rebuilt with extra jobs, when the session's, the
# driver JVM's or user.timezone's zone is not UTC
# (spark.databricks.delta.allFilesInCrc.verificationMode.forceOnNonUTC.enabled): with the machine
# in Europe/Berlin an append to a small table took 0.82 s, pinned to UTC 0.33 s (a warm session of
# build_session, median of 7), and a run makes some 40 commits. Executors and the Thrift server
# never commit: they are pinned so that a job's JVMs log and format times in one zone.
_UTC_OPTION = "-Duser.timezone=UTC"


def _in_utc(java_options: str) -> str:
    return f"{java_options.strip()} {_UTC_OPTION}".lstrip()


def spark_conf(settings: Settings, s3_identity: str = "pipeline") -> dict[str, str]:
    """`s3_identity`: whose S3 account the session signs with (lakehouse.config.S3_IDENTITIES):
    the jobs', or the Thrift server's."""
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # The cluster's tables are in the Hive Metastore; the embedded lakehouse's in its
        # warehouse, registered in each session's own catalog (lakehouse.embedded_catalog).
        "spark.sql.catalogImplementation": "in-memory" if settings.profile == "local" else "hive",
        "spark.sql.warehouse.dir": settings.warehouse_uri,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.sql.adaptive.enabled": str(settings.adaptive_execution).lower(),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": settings.driver_memory,
        "spark.ui.showConsoleProgress": "false",
        # Compiled generated code kept per JVM (default 100 classes). One run at the sample's
        # scale compiles about 600 distinct classes, so the default cache evicted them within
        # the run and every layer compiled them again: 2,524 compilations for two runs against
        # 902 (measured in one session). A long-lived driver (the Thrift server, a test session)
        # then compiles only code it has not seen: 42 classes for each two runs more, against
        # 2,500. A run from a new process gained 6-13 % (BENCHMARKS.md, B9). A class is a few
        # kB; the bound keeps an analyst's endless variety of queries from growing the JVM.
        "spark.sql.codegen.cache.maxEntries": "4096",
        # Delta replays its log with this many partitions (default 50): far too many here.
        "spark.databricks.delta.snapshotPartitions": str(settings.shuffle_partitions),
        # VACUUM lists a table's files with this many tasks (default 10,000: minutes per
        # small table on 2 cores).
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(settings.shuffle_partitions),
        # toPandas through Arrow (the quality gate's small validations): columnar, not row by row.
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Silver must never widen a schema by itself: drift is rejected, not merged.
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # A MERGE's source (silver's plan: joins and windows) is materialised by Delta before
        # it reads it twice (an insert-only MERGE reads it once, unmaterialised); in memory first,
        # on disk only when it does not fit (default DISK_ONLY).
        "spark.databricks.delta.merge.materializeSource.rddStorageLevel": "MEMORY_AND_DISK",
        # Landing files in any character set Java knows (a spec's source.encoding: windows-1252,
        # Shift_JIS...), and bytes a charset does not define decoded as U+FFFD, so the line is
        # quarantined as not valid in it instead of failing the job (lakehouse.transforms.parse).
        "spark.sql.legacy.javaCharsets": "true",
        "spark.sql.legacy.codingErrorAction": "true",
    }
    jars = settings.jar_paths()
    if jars and settings.profile == "local":
        conf["spark.jars"] = ",".join(jars)
    elif settings.profile == "cluster" and (class_path := class_archive.cluster_class_path(settings)):
        # Every node has the jars at the same path (native: this checkout; containers: the
        # image), so put them on the classpath instead of shipping 650 MB to each executor.
        conf["spark.driver.extraClassPath"] = conf["spark.executor.extraClassPath"] = ":".join(class_path)
    if settings.profile == "local":
        conf.update(_local_conf(settings))
    else:
        conf.update(_cluster_conf(settings, s3_identity))
    return conf


def driver_log_options(settings: Settings) -> str:
    """A driver a person started (not a daemon's, not an Airflow task's, whose stderr is its
    log) logs to the home's log file, and to the terminal only under LAKEHOUSE_DEBUG=1
    (spark/conf/log4j2.properties): a user-level error is the job's one line, not a JVM trace."""
    console = "WARN" if os.environ.get("LAKEHOUSE_DEBUG") == "1" else "OFF"
    return f'"-Dlakehouse.log.file={runlog.home_log(settings.home)}" -Dlakehouse.console.level={console}'


def person_cluster_driver_conf(settings: Settings) -> list[str]:
    """spark-submit arguments for a cluster driver a person started (`lakehouse submit`, `run`,
    `sql`, `history`): it logs to the home's log file, not the terminal. On the command line,
    not in the properties file, which Airflow's tasks share and whose drivers log to stderr
    (their task log). No secret is in it."""
    options = f"{cluster_driver_java_options(settings)} {driver_log_options(settings)}"
    return ["--conf", f"spark.driver.extraJavaOptions={options}"]


def _local_conf(settings: Settings) -> dict[str, str]:
    return {
        "spark.ui.enabled": "false",
        "spark.driver.extraJavaOptions": _in_utc(
            f'{_LOG4J_OPTION} {driver_log_options(settings)} '
            f'{settings.jvm_options} {class_archive.driver_options(settings)}'
        ),
    }


def _cluster_conf(settings: Settings, s3_identity: str) -> dict[str, str]:
    access_key, secret_key = settings.s3_keys(s3_identity)
    conf = {
        "spark.driver.extraJavaOptions": cluster_driver_java_options(settings),
        # Executors map the cluster drivers' class archive too (class_archive.cluster_class_path).
        "spark.executor.extraJavaOptions": _in_utc(f"{settings.jvm_options} {class_archive.driver_options(settings)}"),
        "spark.hadoop.hive.metastore.uris": settings.metastore_uri,
        "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",  # MinIO ignores it; the AWS SDK needs one
        "spark.hadoop.fs.s3a.path.style.access": str(settings.s3_path_style_access).lower(),
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(settings.s3_endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
        "spark.hadoop.fs.s3a.access.key": access_key,
        "spark.hadoop.fs.s3a.secret.key": secret_key,
        "spark.cores.max": str(settings.job_cores),
        "spark.executor.memory": settings.executor_memory,
    }
    conf.update(rpc_security(settings))
    return conf


def cluster_driver_java_options(settings: Settings, long_lived: bool = False) -> str:
    """A cluster driver's JVM options: a job's (short-lived) with cluster_driver_jvm_options,
    the Thrift server's (long_lived) without."""
    extra = "" if long_lived else f" {settings.cluster_driver_jvm_options} {class_archive.driver_options(settings)}"
    return _in_utc(f"{_LOG4J_OPTION} {settings.jvm_options}{extra}")


def rpc_security(settings: Settings) -> dict[str, str]:
    """Spark's RPC, for every JVM of the cluster (drivers, executors, master, workers, Thrift
    server): authenticated with the shared secret, encrypted with it (spark_network_crypto),
    and the web UIs without their buttons that kill jobs and applications (they ask no login)."""
    conf = {"spark.ui.killEnabled": "false"}
    if settings.spark_auth_secret is not None:
        conf["spark.authenticate"] = "true"
        conf["spark.authenticate.secret"] = settings.spark_auth_secret.get_secret_value()
        conf["spark.network.crypto.enabled"] = str(settings.spark_network_crypto).lower()
    return conf


def write_properties_file(path: Path, conf: dict[str, str]) -> Path:
    """Spark configuration as a properties file (spark-submit --properties-file), mode 0600:
    credentials never go on a command line, where the process list would show them."""
    return write_private(path, "".join(f"{key} {value}\n" for key, value in sorted(conf.items())))


def write_properties(settings: Settings) -> Path:
    """The session's configuration, for spark-submit and in-process cluster sessions."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return write_properties_file(properties_path(settings.home), spark_conf(settings))


def driver_local_ip(settings: Settings) -> str | None:
    """Bind the driver to loopback when the cluster is on loopback too (the embedded default
    and the native platform): no hostname lookup, no driver port or UI on the network."""
    if os.environ.get("SPARK_LOCAL_IP"):
        return os.environ["SPARK_LOCAL_IP"]
    host = urlparse(settings.spark_master).hostname if settings.spark_master.startswith("spark://") else None
    if settings.profile == "local" or host in ("127.0.0.1", "localhost"):
        return "127.0.0.1"
    return None


def in_process_cluster_submit_args(settings: Settings) -> str:
    """PYSPARK_SUBMIT_ARGS for a cluster session started in this process (`lakehouse sql`,
    `history`): the 0600 properties file, and a person's driver logging."""
    args = ["--properties-file", str(write_properties(settings)), *person_cluster_driver_conf(settings)]
    return f"{shlex.join(args)} pyspark-shell"


@contextmanager
def _environ(**values: str | None):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def launched_by_spark_submit() -> bool:
    """True inside a driver started by spark-submit (the JVM started first and launched us)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(settings: Settings, app_name: str = "lakehouse", writes: bool = True):
    """The platform's SparkSession: Delta, the catalog and storage of the chosen profile.
    `writes`: a session that writes the embedded lakehouse first takes its one-writer lock
    (lakehouse.home_lock); a reader's does not, and reads while a run writes."""
    from pyspark.sql import SparkSession

    settings.home.mkdir(parents=True, exist_ok=True)
    if writes:
        home_lock.hold_writer(settings)
    # Under spark-submit, its --name wins (Airflow names applications by task and interval).
    builder = SparkSession.builder if launched_by_spark_submit() else SparkSession.builder.appName(app_name)
    conf = spark_conf(settings)
    if launched_by_spark_submit():
        # The JVM is already running: master, jars and driver options came with spark-submit
        # (which may carry more jars than ours); setting them here would override or be ignored.
        conf = {k: v for k, v in conf.items() if k != "spark.jars" and not k.startswith("spark.driver.")}
    elif settings.profile == "cluster":
        # PySpark would pass builder options to its JVM as --conf arguments, secrets included:
        # hand it the 0600 properties file instead (for this launch only).
        submit_args = in_process_cluster_submit_args(settings)
        builder = builder.master(settings.spark_master)
        conf = {}
    else:
        builder = builder.master(settings.spark_master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    with _environ(PYSPARK_SUBMIT_ARGS=locals().get("submit_args"), SPARK_LOCAL_IP=driver_local_ip(settings)):
        spark = (builder.enableHiveSupport() if settings.profile == "cluster" else builder).getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    if writes:
        home_lock.note_jvm(settings, spark)
    if settings.profile == "local":
        from lakehouse.embedded_catalog import register_warehouse

        register_warehouse(spark, settings)
    return spark
