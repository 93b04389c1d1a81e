"""The ops tables stay compact between maintenance runs: a run that ends compacts the ops
tables it wrote once they hold more than maintenance.COMPACT_OPS_ABOVE_FILES files (each task
adds one or more, and every task reads ops.audit whole), keeps every row, and leaves a table
at the limit, and a process that wrote none, without a new commit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakehouse import maintenance, tables
from lakehouse.generate import generate
from lakehouse.maintenance import compact_if_fragmented, compact_ops_tables
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
AT = datetime(2026, 1, 1, tzinfo=UTC)
LIMIT = 5  # the limit these tests set: a few commits, where the platform's is more than ten days of them


@pytest.fixture(autouse=True)
def limit(monkeypatch):
    monkeypatch.setattr(maintenance, "COMPACT_OPS_ABOVE_FILES", LIMIT)


def _audited_one_by_one(spark, n: int) -> None:
    """n audit records of a table no spec names, each in its own commit (one file each)."""
    for i in range(n):
        tables.append_audit(spark, [{"run_id": f"r{i}", "layer": "bronze", "table_name": "bronze.nobody",
                                     "batch_id": f"b{i}", "started_at": AT, "rows_read": i, "status": "ok"}])


def _rows(spark) -> list:
    return sorted(spark.table(tables.AUDIT_TABLE).collect())


def _audit_location(settings) -> str:
    return settings.table_location(*tables.AUDIT_TABLE.split("."))


def test_a_table_over_the_limit_is_compacted_with_its_rows_and_label_and_one_at_it_is_not(spark, lakehouse):
    tables.ensure_ops_tables(spark, lakehouse)
    location = _audit_location(lakehouse)
    _audited_one_by_one(spark, LIMIT)
    version = tables.current_version(spark, tables.AUDIT_TABLE)
    assert tables.file_count(spark, location) == LIMIT
    assert not compact_if_fragmented(spark, location)
    assert tables.current_version(spark, tables.AUDIT_TABLE) == version

    _audited_one_by_one(spark, 1)
    rows = _rows(spark)
    spark.conf.set(tables.USER_METADATA, "lakehouse-task:silver")  # as a task's session labels its commits
    try:
        assert compact_if_fragmented(spark, location)
    finally:
        spark.conf.unset(tables.USER_METADATA)
    assert tables.file_count(spark, location) == 1
    assert _rows(spark) == rows
    commit = tables.last_commit(spark, tables.AUDIT_TABLE)
    assert commit["operation"] == "OPTIMIZE" and tables.commit_metadata(spark, tables.AUDIT_TABLE)[0] == \
        "lakehouse-task:silver"
    assert not compact_if_fragmented(spark, location)
    assert tables.current_version(spark, tables.AUDIT_TABLE) == commit["version"]


def test_each_ops_write_names_its_table_for_the_compaction_and_adds_one_file(spark, lakehouse):
    """Each write of several records adds one file (tables.records_frame), on small tables as the
    ops tables are. Not exercised here: ops.delete_markers' MERGE, which needs a silver
    dataset's deletes."""
    tables.ensure_ops_tables(spark, lakehouse)
    tables.take_ops_written()
    records = [{"table_name": f"gold.nobody{i}", "run_id": "r", "batch_id": "b", "started_at": AT,
                "recorded_at": AT, "executed_at": AT, "check_name": f"c{i}", "scope": "s"} for i in range(4)]
    tables.append_audit(spark, records)
    tables.append_landing_files(spark, [{"dataset": "nobody", "path": f"p{i}", "run_id": "r"} for i in range(4)])
    tables.append_published(spark, records)
    tables.replace_validations(spark, records, [(r["table_name"], "s") for r in records])
    tables.merge_dqops_checks(spark, records)
    written = {tables.AUDIT_TABLE, tables.LANDING_FILES_TABLE, tables.PUBLISHED_TABLE, tables.VALIDATIONS_TABLE,
               tables.DQOPS_CHECKS_TABLE}
    assert tables.ops_written() == written
    assert {t: tables.file_count(spark, lakehouse.table_location(*t.split("."))) for t in written} == \
        dict.fromkeys(written, 1)
    assert compact_ops_tables(spark, lakehouse) == []  # none over the limit: no commit
    assert tables.ops_written() == set()


def test_a_process_that_wrote_no_ops_table_compacts_none(spark, lakehouse):
    tables.ensure_ops_tables(spark, lakehouse)
    _audited_one_by_one(spark, LIMIT + 1)
    tables.take_ops_written()  # as if another process had written them
    version = tables.current_version(spark, tables.AUDIT_TABLE)
    assert compact_ops_tables(spark, lakehouse) == []
    assert tables.current_version(spark, tables.AUDIT_TABLE) == version
    assert tables.file_count(spark, _audit_location(lakehouse)) == LIMIT + 1


def test_a_run_that_writes_the_audit_ends_by_compacting_it(spark, lakehouse):
    tables.ensure_ops_tables(spark, lakehouse)
    _audited_one_by_one(spark, LIMIT)
    tables.take_ops_written()  # as if another process had written them
    before = _rows(spark)
    generate(Path(lakehouse.landing_uri), scale=0.01, seed=3, days=1)
    result = run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), datasets=["products"],
                          layers=("bronze",))
    assert [r.table_name for r in result.runs] == ["bronze.products"] and not result.notices
    assert tables.file_count(spark, _audit_location(lakehouse)) == 1
    after = _rows(spark)
    assert len(after) == len(before) + 1 and all(r in after for r in before)
    assert tables.last_commit(spark, tables.AUDIT_TABLE)["operation"] == "OPTIMIZE"
