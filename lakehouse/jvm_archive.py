"""Class-data-sharing archives for the Spark drivers: the JVM maps the classes a driver
loads (about 20,000: Spark, Hive, Delta, Hadoop) from one file, parsed and verified once,
instead of reading and verifying them from 300 jars at every start.

Measured on the 2-core reference machine (BENCHMARKS.md, B6): a session's start, first
catalog call and first Delta MERGE take about a third less wall time. Every job and test
starts a new driver, so this is most of a small run's fixed cost.

An archive is only valid for the exact JDK and classpath it was dumped with, so its file
name carries a key of both: a new JDK or new jars find no archive under their key and the
drivers start as before until `make install` dumps a new one. The JVM validates the archive
again itself (JDK build, every jar's size and time) and ignores one that does not match: a
stale archive can cost speed, never correctness.

    python -m lakehouse.jvm_archive local cluster   # dump the archives of this checkout's drivers
"""

from __future__ import annotations

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


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def java_home() -> Path:
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"]).resolve()
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else Path("/nonexistent-java")


def classpath(settings: Settings, role: str) -> list[Path]:
    """The jars of a driver's classpath, as Spark's launcher builds it: the extra class path
    (the cluster's jars) first, then Spark's own."""
    extra = [Path(p) for p in settings.jar_paths()] if role == "cluster" else []
    return extra + sorted((spark_home() / "jars").glob("*.jar"))


def archive_path(settings: Settings, role: str) -> Path:
    """Where the archive of this JDK and this role's classpath lives."""
    digest = hashlib.sha256()
    modules = java_home() / "lib" / "modules"  # the JDK's own classes: changes with every JDK build
    for path in [modules, *classpath(settings, role)]:
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}:{stat and stat.st_size}:{stat and stat.st_mtime_ns}\n".encode())
    return settings.jvm_archive_dir / f"driver-{role}-{digest.hexdigest()[:16]}.jsa"


def driver_options(settings: Settings) -> str:
    """JVM options that map the driver's archive, when `make install` has dumped one."""
    if not settings.class_data_sharing or settings.jvm_archive_dir is None:
        return ""
    archive = archive_path(settings, "cluster" if settings.profile == "cluster" else "local")
    return f"-XX:SharedArchiveFile={archive} {_QUIET}" if archive.is_file() else ""


# The dump's workload: a small pipeline run, bronze to publish, loads the classes of every
# job (Hive client, Delta's MERGE and change feed, CSV and JSON readers, Arrow for GX).
_WORKLOAD = """
import sys
from pathlib import Path
from pyspark.sql import SparkSession
from lakehouse.config import load_settings
from lakehouse.generate import generate
from lakehouse.jvm_archive import classpath
from lakehouse.pipeline import run_pipeline
from lakehouse.spark import spark_conf
from lakehouse.specs import load_catalog

home, role, dump_to, options = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
settings = load_settings(home=home, profile="local", shuffle_partitions=2, class_data_sharing=False,
                         jvm_options=f"{options} -XX:ArchiveClassesAtExit={dump_to}")
conf = spark_conf(settings)
if role == "cluster":  # the cluster driver's classpath, in a local driver (no service needed)
    conf.pop("spark.jars", None)
    extra = classpath(settings, "cluster")[:-len(classpath(settings, "local"))]
    conf["spark.driver.extraClassPath"] = ":".join(map(str, extra))
builder = SparkSession.builder.master("local[2]").appName("lakehouse-jvm-archive")
for key, value in conf.items():
    builder = builder.config(key, value)
spark = builder.enableHiveSupport().getOrCreate()
generate(Path(settings.landing_uri), scale=0.01, seed=1, days=1)
run_pipeline(spark, settings, load_catalog(settings.specs_dir))
spark.stop()
"""


def dump(settings: Settings, role: str) -> Path:
    """Run the workload in a new driver that writes its classes to the role's archive at exit."""
    target = archive_path(settings, role)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="lakehouse-jvm-archive-") as home:
        proc = subprocess.run([sys.executable, "-c", _WORKLOAD, home, role, str(partial), settings.jvm_options],
                              capture_output=True, text=True)
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        last = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]
        raise LakehouseError(f"dumping the {role} driver's class archive failed: {last[:400]}")
    for stale in target.parent.glob(f"driver-{role}-*.jsa"):
        stale.unlink()
    os.replace(partial, target)  # whole or absent: a driver never maps a half-written archive
    return target


def main(argv: list[str]) -> int:
    settings = load_settings()
    for role in argv or ["local"]:
        if role not in ROLES:
            print(f"error: no driver role {role!r} (one of {', '.join(ROLES)})", file=sys.stderr)
            return 2
        target = archive_path(settings, role)
        if target.is_file():
            print(f"jvm archive: the {role} driver's is current ({target.name})")
            continue
        print(f"jvm archive: dumping the classes a {role} driver loads (a minute or two)...", flush=True)
        try:
            dump(settings, role)
        except LakehouseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"jvm archive: {target} ({target.stat().st_size // 2**20} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
