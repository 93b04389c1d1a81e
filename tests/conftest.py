"""Shared fixtures: one local SparkSession for the whole run (as delta-io's own test
utilities do), and a fresh lakehouse (warehouse, landing, catalog databases) per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT, load_settings

PYTHON = Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")) / "bin" / "python"


# The modules that take longest besides the platform's (most start several Spark drivers or
# pipeline runs), in the order `make test` starts them: longest first (by the durations in
# build/test-output/junit.xml), so the two workers end close together, not with one long
# module left to the end. Every other module follows in collection order.
LONGEST_FIRST = ["test_kill", "test_cli", "test_pipeline", "test_publish_and_maintenance",
                 "test_reference_data", "test_schema_evolution", "test_bad_input", "test_exact_bounds",
                 "test_quality_at_scale", "test_accounting", "test_home_lock"]


def _start_order(item) -> tuple[int, int]:
    if item.path.parent.name == "system":
        return (0, 0)
    name = item.path.stem
    return (1, LONGEST_FIRST.index(name)) if name in LONGEST_FIRST else (2, 0)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    """For `make test` (pytest-xdist, `-n 2 --dist loadgroup --no-loadscope-reorder`): the
    system tests share one native platform, so they go to one worker as one group, and first,
    since they take longest; every other module stays whole on one worker, so its module
    fixtures run once, and the longest start first. The machine has two cores and the suite
    is CPU-bound: what balances the workers is the order, not more of them."""
    for item in items:
        system = item.path.parent.name == "system"
        item.add_marker(pytest.mark.xdist_group("platform" if system else item.module.__name__))
    items.sort(key=_start_order)  # stable: each module's own order holds


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from lakehouse.spark import build_session

    home = tmp_path_factory.mktemp("spark-session")
    # adaptive_execution as the platform's default, whatever a developer's shell exports
    settings = load_settings(home=home, shuffle_partitions=2, adaptive_execution=False)
    session = build_session(settings, "lakehouse-tests")
    yield session
    session.stop()


def reset_catalog(spark) -> None:
    from lakehouse.tables import drop_databases

    drop_databases(spark)


@pytest.fixture
def lakehouse(spark, tmp_path):
    """Settings for an empty lakehouse under tmp_path, registered in the session's catalog."""
    reset_catalog(spark)
    return load_settings(home=tmp_path, shuffle_partitions=2, scale=0.2, days=3)


def copy_landing(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
