"""The drivers' class-data-sharing archives (lakehouse/class_archive.py): named by JDK and
class path, used by a profile's drivers (and the cluster's executors) only when built, never
by the long-lived Thrift server's driver.
Whether a JVM really maps one is checked where drivers start: test_cli (local) and the system
tests (cluster drivers), both with -Xshare:on, which refuses to start on an archive that does
not fit; an executor's, by test_platform's ad-hoc job, which reads its JVM's memory maps."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from lakehouse import class_archive
from lakehouse.config import load_settings
from lakehouse.platform import secrets, thrift_server
from lakehouse.spark import spark_conf


@pytest.fixture
def jars(tmp_path) -> Path:
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta.jar").write_bytes(b"x" * 10)
    return jars


def test_an_archive_is_named_by_profile_and_class_path(tmp_path, jars):
    local = load_settings(home=tmp_path, jars_dir=jars, class_archive_dir=tmp_path / "jvm")
    cluster = load_settings(profile="cluster", home=tmp_path, jars_dir=jars, class_archive_dir=tmp_path / "jvm")
    first = class_archive.archive_path(local)
    assert first.parent == tmp_path / "jvm" and first.name.startswith("driver-local-")
    assert class_archive.archive_path(cluster).name.startswith("driver-cluster-")
    assert class_archive.archive_path(local) == first  # stable
    (jars / "delta.jar").write_bytes(b"x" * 11)  # a new Delta jar: a new archive
    assert class_archive.archive_path(local) != first
    second = class_archive.archive_path(local)
    (jars / "another.jar").write_bytes(b"")  # one more jar
    assert class_archive.archive_path(local) not in (first, second)
    assert class_archive.archive_path(load_settings(home=tmp_path, jars_dir=jars, class_archives=False)) is None


def test_drivers_and_executors_use_their_archive_once_built_and_the_thrift_server_never(tmp_path, jars, monkeypatch):
    for key in secrets.GENERATED:
        monkeypatch.delenv(key, raising=False)
    secrets.ensure(tmp_path)
    common = {"home": tmp_path, "jars_dir": jars, "class_archive_dir": tmp_path / "jvm"}
    local, cluster = load_settings(**common), load_settings(profile="cluster", **common)
    for settings in (local, cluster):
        assert "SharedArchiveFile" not in spark_conf(settings)["spark.driver.extraJavaOptions"]  # not built
    for settings in (local, cluster):
        archive = class_archive.archive_path(settings)
        archive.parent.mkdir(exist_ok=True)
        archive.write_bytes(b"")
        options = spark_conf(settings)["spark.driver.extraJavaOptions"]
        assert f"-XX:SharedArchiveFile={archive}" in options, settings.profile
    # The cluster's executors map the cluster drivers' archive; both class paths name Spark's
    # jars after ours, as the archive was trained (an executor's conf folder comes after them).
    conf = spark_conf(cluster)
    assert f"-XX:SharedArchiveFile={class_archive.archive_path(cluster)}" in conf["spark.executor.extraJavaOptions"]
    class_path = conf["spark.executor.extraClassPath"].split(":")
    assert class_path == conf["spark.driver.extraClassPath"].split(":")
    ours = cluster.jar_paths()
    assert str(jars / "delta.jar") in ours and class_path[:len(ours)] == ours
    assert Path(class_path[len(ours)]).name.startswith("slf4j-api-")
    assert any(Path(p).name.startswith("spark-core_") for p in class_path)
    assert "SharedArchiveFile" not in thrift_server.thrift_properties(cluster)["spark.driver.extraJavaOptions"]
    off = load_settings(profile="cluster", class_archives=False, **common)
    assert "SharedArchiveFile" not in spark_conf(off)["spark.driver.extraJavaOptions"]


def test_the_archive_path_is_absolute_and_one_option_in_a_folder_with_a_space(tmp_path, jars, monkeypatch):
    """Spark splits extraJavaOptions at spaces, outside double quotes (like shlex)."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(home=tmp_path, jars_dir=jars, class_archive_dir=Path("build dir/jvm"))
    archive = class_archive.archive_path(settings)
    assert archive.is_absolute() and archive.parent == tmp_path / "build dir" / "jvm"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"")
    options = shlex.split(spark_conf(settings)["spark.driver.extraJavaOptions"])
    assert f"-XX:SharedArchiveFile={archive}" in options


def test_turned_off_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_CLASS_ARCHIVES", "false")
    monkeypatch.setenv("LAKEHOUSE_CLASS_ARCHIVE_DIR", str(tmp_path / "jvm"))
    assert class_archive.build("local") is None
    assert not (tmp_path / "jvm").exists()
