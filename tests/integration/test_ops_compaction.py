"""The ops tables stay compact: a run that ends compacts an ops table holding more than
tables.COMPACT_OPS_ABOVE_FILES files (each task adds one or more, and a read opens them all),
keeps every row, and leaves a table at the limit, and a rerun, without a new commit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakehouse import tables
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration


def _appended_one_by_one(spark, n: int) -> None:
    """n audit records of a table no spec names, each in its own commit (one file each)."""
    for i in range(n):
        tables.append_audit(spark, [{"run_id": f"r{i}", "layer": "bronze", "table_name": "bronze.nobody",
                                     "batch_id": f"b{i}", "started_at": datetime(2026, 1, 1, tzinfo=UTC),
                                     "rows_read": i, "status": "ok"}])


def _rows(spark) -> list:
    return sorted(spark.table(tables.AUDIT_TABLE).collect())


def test_an_ops_table_over_the_limit_is_compacted_and_one_at_it_is_not(spark, lakehouse):
    tables.ensure_ops_tables(spark, lakehouse)
    limit = tables.COMPACT_OPS_ABOVE_FILES
    _appended_one_by_one(spark, limit)
    version = tables.current_version(spark, tables.AUDIT_TABLE)
    assert tables.file_count(spark, tables.AUDIT_TABLE) == limit
    assert tables.compact_ops_tables(spark) == []
    assert tables.current_version(spark, tables.AUDIT_TABLE) == version

    _appended_one_by_one(spark, 1)
    rows = _rows(spark)
    spark.conf.set(tables.USER_METADATA, "lakehouse-task:silver")  # as a task's session labels its commits
    try:
        assert tables.compact_ops_tables(spark) == [tables.AUDIT_TABLE]
    finally:
        spark.conf.unset(tables.USER_METADATA)
    assert tables.file_count(spark, tables.AUDIT_TABLE) == 1
    assert _rows(spark) == rows
    commit = tables.last_commit(spark, tables.AUDIT_TABLE)
    assert commit["operation"] == "OPTIMIZE" and commit["operation"] in tables.NO_DATA_CHANGE
    assert tables.commit_metadata(spark, tables.AUDIT_TABLE)[0] == "lakehouse-task:silver"
    version = commit["version"]
    assert tables.compact_ops_tables(spark) == []
    assert tables.current_version(spark, tables.AUDIT_TABLE) == version


def test_a_run_ends_by_compacting_the_ops_tables_over_the_limit(spark, lakehouse):
    tables.ensure_ops_tables(spark, lakehouse)
    _appended_one_by_one(spark, tables.COMPACT_OPS_ABOVE_FILES + 1)
    rows = _rows(spark)
    catalog = load_catalog(lakehouse.specs_dir)
    for spec in catalog.datasets.values():  # landing folders with nothing in them
        Path(lakehouse.landing_location(spec.landing_folder)).mkdir(parents=True, exist_ok=True)
    result = run_pipeline(spark, lakehouse, catalog, layers=("bronze",))
    assert result.runs == []  # nothing landed: it wrote nothing else
    assert tables.file_count(spark, tables.AUDIT_TABLE) == 1
    assert _rows(spark) == rows
