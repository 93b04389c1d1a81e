"""Class-data-sharing archives for the Spark drivers: the JVM maps the classes a driver
loads (about 20,000: Spark, Hive, Delta, Hadoop) from one file, parsed and verified once,
instead of reading and verifying them from 300 jars at every start.

Measured on the 2-core reference machine (BENCHMARKS.md, B6): a `lakehouse run` of two
daily batches takes 15% less wall time and 13% less CPU, a run with nothing new 14% less.
Every job, Airflow task and test starts a new driver: start-up is a large share of each.

An archive is only valid for the exact JDK and classpath it was dumped with, so its file
name carries a key of both: a new JDK or new jars find no archive under their key and the
drivers start as before until `make run` or `make platform` dumps a new one. The JVM validates the archive
again itself (JDK build, every jar's size and time) and ignores one that does not match: a
stale archive can cost speed, never correctness.

    python -m lakehouse.jvm_archive local cluster   # dump the archives of this checkout's drivers
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lakehouse.config import Settings, load_settings
from lakehouse.errors import LakehouseError

# The drivers' roles: one classpath each. A local driver loads Delta through spark.jars (a
# class loader of its own); a cluster driver has the platform's jars on its classpath.
ROLES = ("local", "cluster")
# The JVM's own notes about the archive (a class it skipped, a stale archive) are no user's concern.
_QUIET = "-Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"


def pyspark_jars() -> Path:
    """Spark's own jars, as pyspark ships them."""
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def java_home() -> Path:
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"]).resolve()
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else Path("/nonexistent-java")


def platform_jars(settings: Settings, role: str) -> list[Path]:
    """The platform's jars a driver of this role has: Delta's (a local driver adds them with
    spark.jars), Delta's and the cluster's (on a cluster driver's extra class path)."""
    return [Path(p) for p in settings.model_copy(update={"profile": role}).jar_paths()]


def archive_path(settings: Settings, role: str) -> Path:
    """Where the archive of this JDK, Spark's jars and this role's platform jars lives."""
    digest = hashlib.sha256()
    modules = java_home() / "lib" / "modules"  # the JDK's own classes: changes with every JDK build
    for path in [modules, *platform_jars(settings, role), *sorted(pyspark_jars().glob("*.jar"))]:
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}:{stat and stat.st_size}:{stat and stat.st_mtime_ns}\n".encode())
    return settings.jvm_archive_dir.resolve() / f"driver-{role}-{digest.hexdigest()[:16]}.jsa"


def driver_options(settings: Settings) -> str:
    """JVM options that map the driver's archive, when one was dumped for its JDK and jars."""
    if not settings.class_data_sharing or settings.jvm_archive_dir is None:
        return ""
    archive = archive_path(settings, settings.profile)
    # Quoted: Spark splits extraJavaOptions on spaces, and a checkout's path may hold one.
    return f'"-XX:SharedArchiveFile={archive}" {_QUIET}' if archive.is_file() else ""


# The dump's workload: what every job does, on a few rows (the classes matter, not the
# data): the metastore, CSV and JSON lines, the typing and window functions silver plans
# with, a Delta table with a change feed and deletion vectors, a MERGE, the change feed
# gold reads, the history accounting reads and Arrow, which the quality gate uses.
_WORKLOAD = """
import sys
from pathlib import Path
from delta.tables import DeltaTable
from pyspark.sql import SparkSession, Window, functions as F
from lakehouse.config import load_settings
from lakehouse.jvm_archive import platform_jars
from lakehouse.spark import spark_conf

home, role, dump_to, options = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
settings = load_settings(home=home, profile="local", shuffle_partitions=2, class_data_sharing=False,
                         jvm_options=f'{options} "-XX:ArchiveClassesAtExit={dump_to}"')
conf = spark_conf(settings)
if role == "cluster":  # the cluster driver's classpath, in a local driver (no service needed)
    conf.pop("spark.jars", None)
    conf["spark.driver.extraClassPath"] = ":".join(map(str, platform_jars(settings, "cluster")))
builder = SparkSession.builder.master("local[2]").appName("lakehouse-jvm-archive")
for key, value in conf.items():
    builder = builder.config(key, value)
spark = builder.enableHiveSupport().getOrCreate()
(home / "in.csv").write_text("id,n,at\\n1,5,2026-01-01 10:00:00\\n2,x,2026-01-01 11:00:00\\n")
(home / "in.json").write_text('{"id": "3", "n": 7, "at": "2026-01-02 10:00:00"}\\n')
csv = spark.read.option("header", True).option("mode", "PERMISSIVE").csv(str(home / "in.csv"))
rows = csv.unionByName(spark.read.schema("id string, n string, at string").json(str(home / "in.json")))
typed = rows.select("id", F.col("n").try_cast("int").alias("n"), F.to_timestamp("at").alias("at"),
                    F.regexp_extract("id", "([0-9]+)", 1).alias("digits"), F.sha2(F.col("id"), 256).alias("h"),
                    F.input_file_name().alias("file"), F.current_timestamp().alias("ts"))
ranked = typed.withColumn("r", F.row_number().over(Window.partitionBy("id").orderBy(F.col("at").desc())))
spark.sql("CREATE DATABASE IF NOT EXISTS warm")
(DeltaTable.createIfNotExists(spark).tableName("warm.t").addColumns(ranked.schema)
 .location(str(home / "warehouse" / "t")).property("delta.enableChangeDataFeed", "true")
 .property("delta.enableDeletionVectors", "true").execute())
ranked.where("r = 1").write.format("delta").mode("append").saveAsTable("warm.t")
(DeltaTable.forName(spark, "warm.t").alias("t").merge(ranked.alias("s"), "t.id = s.id")
 .whenMatchedDelete(condition="s.n IS NULL").whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
spark.sql("SELECT _change_type, count(*) FROM table_changes('warm.t', 1) GROUP BY 1").collect()
spark.sql("DESCRIBE HISTORY warm.t").collect()
spark.table("warm.t").groupBy("id").agg(F.sum("n"), F.max("at")).join(typed, "id", "left").toPandas()
spark.stop()
"""


# What would put another directory or jar on the dump's classpath, and so make a classpath
# no driver of the platform has (a non-empty directory also stops JDK 17's dump).
_CLASSPATH_ENV = ("SPARK_CONF_DIR", "HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_DIST_CLASSPATH", "SPARK_CLASSPATH")


def dump(settings: Settings, role: str) -> Path:
    """Run the workload in a new driver that writes its classes to the role's archive at exit.
    One dump per role at a time (a lock); the archive appears whole or not at all."""
    target = archive_path(settings, role)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".driver-{role}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():  # another process dumped it while we waited
            return target
        partial = target.with_suffix(f".{os.getpid()}.partial")
        env = {k: v for k, v in os.environ.items() if k not in _CLASSPATH_ENV}
        try:
            with tempfile.TemporaryDirectory(prefix="lakehouse-jvm-archive-") as home:
                proc = subprocess.run([sys.executable, "-c", _WORKLOAD, home, role, str(partial), settings.jvm_options],
                                      capture_output=True, text=True, env=env)
            if proc.returncode != 0 or not partial.is_file() or partial.stat().st_size < 2**20:
                output = (proc.stdout + proc.stderr).strip().splitlines()
                why = [ln for ln in output if "cds" in ln.lower()] or output or ["no output"]
                raise LakehouseError(f"dumping the {role} driver's class archive failed: {why[-1][:400]}")
            for stale in target.parent.glob(f"driver-{role}-*.jsa"):
                stale.unlink(missing_ok=True)
            os.replace(partial, target)  # whole or absent: a driver never maps a half-written archive
        finally:
            partial.unlink(missing_ok=True)
    return target


def main(argv: list[str]) -> int:
    """Dump the archives of the roles named; a failure is a warning (drivers then start
    without one), unless --strict."""
    strict = "--strict" in argv
    roles = [a for a in argv if a != "--strict"] or ["local"]
    settings = load_settings()
    if not settings.class_data_sharing:
        print("jvm archive: LAKEHOUSE_CLASS_DATA_SHARING is off, nothing to dump")
        return 0
    for role in roles:
        if role not in ROLES:
            print(f"error: no driver role {role!r} (one of {', '.join(ROLES)})", file=sys.stderr)
            return 2
        target = archive_path(settings, role)
        if target.is_file():
            print(f"jvm archive: the {role} driver's is current ({target.name})")
            continue
        print(f"jvm archive: dumping the classes a {role} driver loads (about a minute)...", flush=True)
        try:
            dump(settings, role)
        except LakehouseError as exc:
            print(f"{'error' if strict else 'warning'}: {exc}", file=sys.stderr)
            if strict:
                return 1
            continue
        print(f"jvm archive: {target} ({target.stat().st_size // 2**20} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
