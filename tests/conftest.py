"""Shared fixtures: one local SparkSession for the whole run (as delta-io's own test
utilities do), and a fresh lakehouse (warehouse, landing, metastore databases) per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lakehouse.config import DATABASES, PROJECT_ROOT, load_settings

PYTHON = Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")) / "bin" / "python"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from lakehouse.spark import build_session

    home = tmp_path_factory.mktemp("spark-session")
    settings = load_settings(home=home, shuffle_partitions=2)
    session = build_session(settings, "lakehouse-tests")
    yield session
    session.stop()


def reset_catalog(spark) -> None:
    for db in DATABASES:
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")


@pytest.fixture
def lakehouse(spark, tmp_path):
    """Settings for an empty lakehouse under tmp_path, registered in the session's metastore."""
    reset_catalog(spark)
    return load_settings(home=tmp_path, shuffle_partitions=2, scale=0.2, days=3)


def copy_landing(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
