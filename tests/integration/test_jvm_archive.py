"""The Spark drivers' class-data-sharing archives (lakehouse.jvm_archive): `make run`,
`make platform` and `make test` dump one per JDK and classpath, and every driver the platform starts maps it."""

from __future__ import annotations

import subprocess

import pytest

from lakehouse import jvm_archive
from lakehouse.config import load_settings
from lakehouse.submit import submit_command, submit_env

pytestmark = pytest.mark.integration

# The driver's JVM options come with spark-submit's properties file (what is tested here).
_DRIVER = "from pyspark.sql import SparkSession\nprint('ROWS', SparkSession.builder.getOrCreate().range(7).count())\n"


# A cluster driver's classpath and options, on a local master: no service needed (the job
# touches no table), and the credentials are placeholders nothing reads.
_CLUSTER = {"profile": "cluster", "spark_master": "local[1]",
            **{f"{who}s3_{part}_key": "unused" for who in ("", "thrift_", "metastore_") for part in ("access", "secret")}}


@pytest.mark.parametrize("role", jvm_archive.ROLES)
def test_a_job_driver_loads_its_classes_from_the_archive(tmp_path, role):
    log = tmp_path / "class-load.log"
    settings = load_settings(home=tmp_path / "home", jvm_options=f"-XX:+UseParallelGC -Xlog:class+load=info:file={log}",
                             **(_CLUSTER if role == "cluster" else {}))
    assert jvm_archive.archive_path(settings, role).is_file(), f"`make test` dumps the {role} driver's archive"
    script = tmp_path / "job.py"
    script.write_text(_DRIVER)
    proc = subprocess.run(submit_command(settings, script, []), env=submit_env(settings), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and "ROWS 7" in proc.stdout, proc.stderr[-2000:]
    lines = log.read_text().splitlines()
    from_archive = [ln for ln in lines if "shared objects file (top)" in ln]  # the dynamic archive, not the JDK's
    # What still comes from a jar: classes the dump's workload never loaded (and Delta's, whose
    # jars a local driver adds with a class loader of its own). Lambdas are made at run time.
    from_jars = [ln for ln in lines if "source: file:" in ln or "source: jar:" in ln]
    assert len(from_archive) > 5000, f"{len(from_archive)} of {len(lines)} classes came from the archive"
    assert len(from_jars) < 0.2 * len(from_archive), f"{len(from_jars)} classes read from jars"


def test_an_archive_is_keyed_by_its_classpath_and_missing_means_no_option(tmp_path):
    jars = tmp_path / "cluster-jars"
    jars.mkdir()
    settings = load_settings(home=tmp_path, profile="cluster", cluster_jars_dir=jars, jvm_archive_dir=tmp_path / "cds")
    before, local = jvm_archive.archive_path(settings, "cluster"), jvm_archive.archive_path(settings, "local")
    (jars / "extra.jar").write_bytes(b"PK")
    after = jvm_archive.archive_path(settings, "cluster")
    assert before != after and after.parent == tmp_path / "cds"
    assert jvm_archive.archive_path(settings, "local") == local  # a local driver has no cluster jar
    assert jvm_archive.driver_options(settings) == ""  # nothing dumped there: drivers start as before
    after.parent.mkdir()
    after.write_bytes(b"")
    assert jvm_archive.driver_options(settings).startswith(f"-XX:SharedArchiveFile={after} ")
    assert jvm_archive.driver_options(settings.model_copy(update={"class_data_sharing": False})) == ""
