"""Class-data-sharing archives for the Spark drivers and the cluster's executors: a new JVM
maps the classes it would otherwise load, verify and link one by one (Spark's, Hadoop's,
Hive's, Delta's), which is most of its start-up on 2 cores (issue 19; BENCHMARKS.md).

An archive only fits the JDK and the exact class path it was built with, so its name is a
fingerprint of both: a driver uses the archive of its own fingerprint when `make install`
(local profile) or `make platform` (cluster drivers) has built it, and starts as before when
not, after a jar or JDK change for instance. Daemons and the Thrift server's driver are
long-lived and go without.

The cluster's executors share the cluster drivers' archive. A worker starts them with the
class path extraClassPath, then its own conf folder, then Spark's jars; the JVM checks an
archive's class path only up to the last entry it took classes from, but that entry must
match. So the cluster's extraClassPath names Spark's jars one by one after ours
(cluster_class_path), and the archive is trained on that: every archived class comes from
an entry before the conf folder, which differs between a driver (pyspark's) and an executor
(the worker's). An executor of a trivial job on the native platform: 4.4-4.8 s of CPU with
the archive, 6.6-6.9 s without.

Built by a training session that does what a job does first (catalog, Delta create, insert,
MERGE, read); the JVM writes the archive when it exits (-XX:ArchiveClassesAtExit).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from lakehouse.config import Settings, load_settings
from lakehouse.processes import wait_exited

# Quiet: a stale or missing archive is normal (the JVM then loads classes as usual), and the
# dump lists thousands of classes it skips.
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def _java_home() -> Path | None:
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else None


def _class_path(settings: Settings) -> list[Path]:
    """The jars a driver's class path holds, in order: the cluster profile's extraClassPath,
    then Spark's own (pyspark/jars; SLF4J's API first, as Spark's launcher puts it). The local
    profile adds Delta's through spark.jars, which the archive covers too: they are named here
    so that a new Delta means a new archive."""
    # A driver's Python under spark-submit imports pyspark from SPARK_HOME's zip, where no jar
    # is: SPARK_HOME (which spark-submit sets) names the same jars there as pyspark here, so a
    # job's session finds the archive its executors are given (build_session sets their options).
    home = os.environ.get("SPARK_HOME") or importlib.util.find_spec("pyspark").submodule_search_locations[0]
    spark_jars = Path(home) / "jars"
    ordered = sorted(spark_jars.glob("*.jar"), key=lambda jar: (not jar.name.startswith("slf4j-api-"), jar.name))
    return [Path(p) for p in settings.jar_paths()] + ordered


def cluster_class_path(settings: Settings) -> list[str]:
    """The cluster's extraClassPath, for its drivers and executors alike: our jars, then, when
    the cluster's archive is built, Spark's own one by one, so that the archive fits an
    executor too (see the module's docstring). Without an archive (none built, or a container
    image whose Spark is elsewhere), our jars alone, as before."""
    path = archive_path(settings)
    if path is not None and path.is_file():
        return [str(p) for p in _class_path(settings)]
    return settings.jar_paths()


def fingerprint(settings: Settings) -> str | None:
    java = _java_home()
    release = java / "release" if java else None
    if release is None or not release.is_file():
        return None
    digest = hashlib.sha256(release.read_bytes())
    # The training's class path layout: archives built before the cluster's executors shared
    # them (Spark's jars then came after the conf folder) must not be taken for these.
    digest.update(f"{settings.profile}\n{java.resolve()}\nspark-jars-named\n".encode())
    for jar in _class_path(settings):
        stat = jar.stat()
        digest.update(f"{jar}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def archive_path(settings: Settings) -> Path | None:
    if not settings.class_archives or (key := fingerprint(settings)) is None:
        return None
    # Absolute: the path goes into JVM options that other processes read from other folders.
    return settings.class_archive_dir.resolve() / f"driver-{settings.profile}-{key}.jsa"


def driver_options(settings: Settings) -> str:
    """JVM options that make a driver use its archive; empty when there is none."""
    path = archive_path(settings)
    # Quoted like the other paths in extraJavaOptions: Spark splits the value at spaces.
    return f'"-XX:SharedArchiveFile={path}" {_QUIET}' if path and path.is_file() else ""


PID_MARKER = "training JVM pid: "
_TRAINING = """
import sys
from lakehouse.config import load_settings
from lakehouse.spark import build_session, spark_conf
settings = load_settings(home=sys.argv[1])
if sys.argv[3] == "cluster":
    # The cluster's drivers use the Hive catalog: its classes go into their archive too (a
    # throwaway Derby stands in for the metastore).
    from pyspark.sql import SparkSession
    builder = SparkSession.builder.master(settings.spark_master).appName("class-archive-training")
    for key, value in {**spark_conf(settings), "spark.sql.catalogImplementation": "hive"}.items():
        builder = builder.config(key, value)
    url = "jdbc:derby:;databaseName=" + sys.argv[1] + "/metastore_db;create=true"
    spark = builder.config("spark.hadoop.javax.jdo.option.ConnectionURL", url).enableHiveSupport().getOrCreate()
else:
    spark = build_session(settings, "class-archive-training")
spark.sql("CREATE DATABASE IF NOT EXISTS training")
spark.sql("CREATE TABLE training.t (id BIGINT, v STRING) USING delta")
spark.sql("INSERT INTO training.t VALUES (1, 'a'), (2, 'b')")
spark.sql("MERGE INTO training.t USING (SELECT 1L AS id, 'c' AS v) s ON t.id = s.id "
          "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
spark.sql("DESCRIBE HISTORY training.t").collect()
assert spark.table("training.t").where("v = 'c'").count() == 1
print(sys.argv[2] + str(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()), flush=True)
spark.stop()
"""


def build(profile: str) -> Path | None:
    """Builds the archive of a profile's drivers unless it exists. The training runs in local
    mode with the profile's class path (no service needed): what differs on a cluster (s3a, the
    metastore's client) loads as usual."""
    settings = load_settings(profile=profile)
    target = archive_path(settings)
    if target is None or target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Archives of another JDK or class path (about 220 MB each), and what a killed build left.
    for stale in [*target.parent.glob(f"driver-{profile}-*.jsa"), *target.parent.glob(f"driver-{profile}-*.partial")]:
        stale.unlink()
    partial = target.with_suffix(".partial")
    with tempfile.TemporaryDirectory(prefix="class-archive-") as home:
        # The cluster profile's class path, on a local master: extraClassPath as its drivers and
        # executors have it once the archive exists (cluster_class_path).
        extra = ":".join(str(p) for p in _class_path(settings)) if profile == "cluster" else ""
        env = {**os.environ, "LAKEHOUSE_HOME": home, "LAKEHOUSE_PROFILE": "local", "LAKEHOUSE_CLASS_ARCHIVES": "false",
               "LAKEHOUSE_JVM_OPTIONS": f'{settings.jvm_options} "-XX:ArchiveClassesAtExit={partial}" {_QUIET}'}
        if extra:
            env["PYSPARK_SUBMIT_ARGS"] = f"--driver-class-path {shlex.quote(extra)} pyspark-shell"
        proc = subprocess.run([sys.executable, "-c", _TRAINING, home, PID_MARKER, profile], env=env,
                              capture_output=True, text=True, cwd=home)  # Derby's log goes to the cwd
        if proc.returncode != 0:
            raise RuntimeError(f"class archive training failed:\n{proc.stderr[-2000:]}")
        pids = [line.removeprefix(PID_MARKER) for line in proc.stdout.splitlines() if line.startswith(PID_MARKER)]
        if not pids:
            raise RuntimeError(f"the training printed no pid:\n{proc.stdout[-2000:]}")
        _wait_for_exit(int(pids[-1]))
    if not partial.is_file():
        return None  # a JDK without a base archive: drivers start as before
    partial.rename(target)
    return target


def _wait_for_exit(pid: int, timeout: float = 120) -> None:
    """The JVM writes the archive after Python has gone: wait for it, so nobody maps half a file."""
    try:
        jvm = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    if wait_exited([jvm], timeout):
        raise RuntimeError(f"the training JVM {pid} did not exit in {timeout:.0f} s")


if __name__ == "__main__":
    for name in sys.argv[1:] or ["local"]:
        try:
            built = build(name)
        except RuntimeError as exc:
            sys.exit(f"error: {name} drivers' class archive: {exc}")
        why = "turned off (LAKEHOUSE_CLASS_ARCHIVES=false)" if not load_settings().class_archives else \
            "this JDK has no base archive"
        print(f"class archive ({name} drivers): {built or f'none: {why}'}")
