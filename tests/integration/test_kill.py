"""SIGKILL the driver in the middle of its silver MERGE (ENGINEERING.md case 2).

The killed job and its retry run as a user runs them: spark-submit of jobs/*.py in their own
driver JVM, with their own catalog of a temporary LAKEHOUSE_HOME (prepared in the test's
session). The driver is killed when the MERGE has written data files that no Delta commit
references yet."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lakehouse.config import load_settings
from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline
from lakehouse.runs import BatchFilter
from lakehouse.specs import load_catalog
from lakehouse.submit import job_path, submit_command, submit_env
from tests.conftest import reset_catalog

# Two driver JVMs (more when the MERGE commits before the kill), one after another: minutes on
# a quiet machine, three times that beside the platform's services in `make test`.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
JOB_TIMEOUT_S = 900


def _job(settings, layer, *args, wait=True):
    proc = subprocess.Popen(submit_command(settings, job_path(layer), list(args)), env=submit_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if wait:
        out, err = proc.communicate(timeout=JOB_TIMEOUT_S)
        assert proc.returncode == 0, out + err
    return proc


def _data_files(table: Path) -> set[str]:
    return {p.name for p in table.glob("*.parquet")} if table.exists() else set()


def _commits(table: Path) -> int:
    return len(list((table / "_delta_log").glob("*.json")))


def _kill_during_merge(proc, table: Path, timeout=JOB_TIMEOUT_S) -> bool:
    """SIGKILL the driver's process group as soon as the MERGE has written an uncommitted
    data file. False if the job committed (or ended) before we saw one."""
    files, commits = _data_files(table), _commits(table)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if _data_files(table) - files and _commits(table) == commits:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return _commits(table) == commits
        if _commits(table) != commits:
            break
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    return False


# Orders' foreign key needs their customers applied first: the jobs take both.
DATASETS = ["customers", "orders"]
DATASET_ARGS = [a for name in DATASETS for a in ("--dataset", name)]


def _prepare(spark, base: Path, landing: Path):
    """Both days in bronze, the first in silver, in the test's own session (what is killed is
    the next job, in its own driver JVM; two more JVMs here cost minutes); a pristine copy
    beside it restores it for another attempt (the copy goes back to the same place)."""
    reset_catalog(spark)
    settings = load_settings(home=base, shuffle_partitions=2)
    shutil.copytree(landing, settings.landing_uri)
    catalog = load_catalog(settings.specs_dir)
    run_pipeline(spark, settings, catalog, datasets=DATASETS, layers=("bronze",))
    run_pipeline(spark, settings, catalog, datasets=DATASETS, selection=BatchFilter(batch="2026-01-01"),
                 layers=("silver",))
    shutil.copytree(base, _pristine(base))
    return settings


def _pristine(base: Path) -> Path:
    return base.with_name(base.name + "-pristine")


def _restore(base: Path) -> None:
    shutil.rmtree(base)
    shutil.copytree(_pristine(base), base)


def _uninterrupted(spark, base: Path, landing: Path) -> Path:
    """The same two days through silver in the test's own session, never interrupted. In
    process: what is compared is the result, and three more driver JVMs cost minutes."""
    reset_catalog(spark)
    settings = load_settings(home=base, shuffle_partitions=2)
    shutil.copytree(landing, settings.landing_uri)
    run_pipeline(spark, settings, load_catalog(settings.specs_dir), datasets=DATASETS,
                 layers=("bronze", "silver"))
    return Path(settings.warehouse_uri) / "silver" / "orders"


def test_sigkill_during_silver_merge_leaves_the_table_readable_and_the_rerun_completes(spark, tmp_path):
    landing = tmp_path / "landing"
    generate(landing, scale=1.0, seed=3, days=2)
    settings = _prepare(spark, tmp_path / "killed", landing)
    table = Path(settings.warehouse_uri) / "silver" / "orders"
    for attempt in range(3):
        if attempt:
            _restore(tmp_path / "killed")
        before = spark.read.format("delta").load(str(table))
        before_version = spark.sql(f"DESCRIBE HISTORY delta.`{table}` LIMIT 1").collect()[0]["version"]
        before_rows = sorted(map(tuple, before.collect()))
        proc = _job(settings, "silver", *DATASET_ARGS, wait=False)
        if _kill_during_merge(proc, table):
            break
    else:
        pytest.fail("the MERGE committed before the driver could be killed in 3 attempts")

    # The kill landed mid-MERGE: the table is at its previous version, fully readable.
    assert spark.sql(f"DESCRIBE HISTORY delta.`{table}` LIMIT 1").collect()[0]["version"] == before_version
    assert sorted(map(tuple, spark.read.format("delta").load(str(table)).collect())) == before_rows
    audit = spark.read.format("delta").load(str(Path(settings.warehouse_uri) / "ops" / "audit"))
    assert audit.where("table_name = 'silver.orders' AND batch_id = '2026-01-02'").count() == 0

    # The retry completes, with the same result as a run that was never interrupted. Read before
    # that run: it starts from an empty catalog, and dropping this session's databases (which
    # _prepare registered) deletes their folders.
    _job(settings, "silver", *DATASET_ARGS)
    retried = sorted(map(tuple, spark.read.format("delta").load(str(table)).collect()))
    audit = spark.read.format("delta").load(str(Path(settings.warehouse_uri) / "ops" / "audit"))
    (row,) = audit.where("table_name = 'silver.orders' AND batch_id = '2026-01-02'").collect()
    assert row["rows_read"] == sum(row[c] for c in ("inserted", "updated", "deleted", "quarantined", "dropped",
                                                    "duplicates", "superseded"))
    uninterrupted = spark.read.format("delta").load(str(_uninterrupted(spark, tmp_path / "clean", landing)))
    assert retried == sorted(map(tuple, uninterrupted.collect())) and len(retried) > len(before_rows)
