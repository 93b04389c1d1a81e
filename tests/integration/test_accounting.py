"""Accounting that can fail. Each layer reconciles what it planned with what the table holds
after its commit, counted from the table; a write broken on purpose (rows dropped between
the plan and the commit) fails the run with the accounting error, and the next run (the
write no longer broken) repairs it."""

from __future__ import annotations

from functools import reduce
from pathlib import Path

import pytest

from lakehouse import tables
from lakehouse.errors import AccountingError
from lakehouse.generate import generate
from lakehouse.layers import silver
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration


@pytest.fixture
def manifest(lakehouse):
    return generate(Path(lakehouse.landing_uri), scale=0.05, seed=7, days=1)["batches"]["2026-01-01"]


def _losing_one_row(monkeypatch, name: str, table_prefix: str, frame_at: int = 2, table_at: int = 1) -> None:
    """Make tables.<name> write one row less than it is given, for tables under `table_prefix`
    (its positional arguments: the frame at `frame_at`, the table's name at `table_at`)."""
    original = getattr(tables, name)

    def write(*args, **kwargs):
        args = list(args)
        if args[table_at].startswith(table_prefix):
            args[frame_at] = args[frame_at].exceptAll(args[frame_at].limit(1))
        return original(*args, **kwargs)

    monkeypatch.setattr(tables, name, write)


def _run(spark, settings, datasets, layers):
    return run_pipeline(spark, settings, load_catalog(settings.specs_dir), datasets=datasets, layers=layers)


def _write_mode(spark, table: str) -> str:
    """The mode of the table's newest commit, a WRITE: Append (the batches held nothing) or
    Overwrite (what they held is replaced)."""
    (row,) = spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").collect()
    assert row["operation"] == "WRITE", row["operation"]
    return row["operationParameters"]["mode"]


def test_bronze_write_losing_a_record_fails_and_the_rerun_replaces_the_batch(spark, lakehouse, manifest, monkeypatch):
    with monkeypatch.context() as broken:
        _losing_one_row(broken, "replace_batches", "bronze.", frame_at=0, table_at=1)
        with pytest.raises(AccountingError, match=r"has \d+ record\(s\) .* but bronze holds"):
            _run(spark, lakehouse, ["products"], ("bronze",))
    assert spark.table("bronze.products").count() == manifest["products"]["rows"] - 1  # the broken commit
    assert _write_mode(spark, "bronze.products") == "Append"  # bronze held nothing of the batch
    (run,) = _run(spark, lakehouse, ["products"], ("bronze",)).by_layer("bronze")
    assert run.rows_read == run.inserted == manifest["products"]["rows"] and run.detail != "already in bronze"
    assert spark.table("bronze.products").count() == manifest["products"]["rows"]
    assert _write_mode(spark, "bronze.products") == "Overwrite"  # what the broken commit left is replaced


@pytest.mark.parametrize("dataset, merge", [("products", "merge_scd1"), ("customers", "merge_scd2")])
def test_silver_merge_losing_a_row_fails_and_the_rerun_completes(spark, lakehouse, manifest, monkeypatch,
                                                                 dataset, merge):
    _run(spark, lakehouse, [dataset], ("bronze",))
    with monkeypatch.context() as broken:
        _losing_one_row(broken, merge, "silver.")
        with pytest.raises(AccountingError, match="the table holds .* after the commit; the plan was"):
            _run(spark, lakehouse, [dataset], ("silver",))
    assert _write_mode(spark, f"silver.{dataset}") == "Append"  # inserts alone into an empty table
    (run,) = _run(spark, lakehouse, [dataset], ("silver",)).by_layer("silver")
    assert run.rows_read == run.accounted == manifest[dataset]["rows"]
    assert run.inserted == 1  # the row the broken write lost; the rest it wrote are now superseded


def test_quarantine_write_losing_a_row_fails_and_the_rerun_completes(spark, lakehouse, manifest, monkeypatch):
    """Silver counts what ops.quarantine holds of each batch after its overwrite from the
    commit's own files (tables.replaced_partition_rows): a row the write lost is missed there."""
    quarantined = sum(manifest["order_items"][k] for k in ("null_required", "malformed", "out_of_range"))
    _run(spark, lakehouse, ["order_items"], ("bronze",))
    counted = []
    original = tables.replaced_partition_rows
    monkeypatch.setattr(tables, "replaced_partition_rows", lambda *a: counted.append(original(*a)) or counted[-1])
    with monkeypatch.context() as broken:
        _losing_one_row(broken, "replace_quarantine", "order_items", frame_at=1, table_at=2)
        with pytest.raises(AccountingError, match=f"{quarantined} record\\(s\\) were quarantined but ops.quarantine "
                                                  f"holds {quarantined - 1} of them"):
            _run(spark, lakehouse, ["order_items"], ("silver",))
    assert _write_mode(spark, "ops.quarantine") == "Append"  # the batch had no quarantine rows yet
    (run,) = _run(spark, lakehouse, ["order_items"], ("silver",)).by_layer("silver")
    assert run.quarantined == quarantined > 0 and run.rows_read == run.accounted == manifest["order_items"]["rows"]
    assert spark.table("ops.quarantine").where("dataset = 'order_items'").count() == quarantined
    assert _write_mode(spark, "ops.quarantine") == "Overwrite"
    assert {"2026-01-01": quarantined - 1} in counted and counted[-1] == {"2026-01-01": quarantined}  # from the log


def _quarantine_rows(spark, n: int, dataset, batch_id, raw):
    """n rows of ops.quarantine's schema, their dataset, batch and raw text columns of spark.range's id."""
    from pyspark.sql import functions as F

    return spark.table(tables.QUARANTINE_TABLE).limit(0).unionByName(spark.range(n).select(
        dataset.alias("dataset"), batch_id.alias("batch_id"), F.lit("rule").alias("rule"),
        F.lit("reason").alias("reason"), raw.alias("raw"), F.lit("f").alias("source_file"),
        F.lit("run").alias("run_id"), F.current_timestamp().alias("quarantined_at")))


@pytest.fixture
def scratch(spark, lakehouse) -> str:
    """A table shaped as ops.quarantine (partitioned by dataset and batch), for the log's answers."""
    tables.ensure_ops_tables(spark, lakehouse)
    tables.ensure_table(spark, lakehouse, "ops.scratch", tables.QUARANTINE_SCHEMA, partition_by=("dataset", "batch_id"))
    return "ops.scratch"


def test_replaced_partition_rows_are_what_the_overwritten_partitions_hold(spark, scratch):
    """The rows an overwrite of whole partitions left in each, read from its commit, equal a
    count of the table; None (count the table) where the log cannot tell which commit did it."""
    from pyspark.sql import functions as F

    rows = _quarantine_rows(spark, 7, F.when(F.col("id") < 5, "a").otherwise("b"), (F.col("id") % 2).cast("string"),
                            F.col("id").cast("string"))

    def replace(dataset: str, frame) -> int:
        before = tables.current_version(spark, "ops.scratch")
        frame.where(F.col("dataset") == dataset).writeTo("ops.scratch").overwrite(F.col("dataset") == dataset)
        return before

    before = replace("a", rows)
    held = {r["batch_id"]: r["count"] for r in spark.table("ops.scratch").where("dataset = 'a'").groupBy("batch_id")
            .count().collect()}
    assert tables.replaced_partition_rows(spark, "ops.scratch", before, {"dataset": "a"}, "batch_id") == held \
        == {"0": 3, "1": 2}
    replace("b", rows)  # another dataset's commit does not count
    assert tables.replaced_partition_rows(spark, "ops.scratch", before, {"dataset": "a"}, "batch_id") == held
    again = replace("a", rows.where("raw != '0'"))
    assert tables.replaced_partition_rows(spark, "ops.scratch", again, {"dataset": "a"}, "batch_id") == {"0": 2, "1": 2}
    # Two commits of the dataset's partitions since `before`: which left what is not in one commit.
    assert tables.replaced_partition_rows(spark, "ops.scratch", before, {"dataset": "a"}, "batch_id") is None
    latest = tables.current_version(spark, "ops.scratch")
    assert tables.replaced_partition_rows(spark, "ops.scratch", latest, {"dataset": "a"}, "batch_id") is None
    spark.conf.set("spark.databricks.delta.stats.collect", "false")
    try:  # files written without their record counts
        unknown = replace("a", rows)
    finally:
        spark.conf.unset("spark.databricks.delta.stats.collect")
    assert tables.replaced_partition_rows(spark, "ops.scratch", unknown, {"dataset": "a"}, "batch_id") is None
    rows.where("dataset = 'a'").writeTo("ops.scratch").append()  # not an overwrite: what the partitions held stays
    assert tables.replaced_partition_rows(spark, "ops.scratch", unknown + 1, {"dataset": "a"}, "batch_id") is None


# How many files a table may have for Delta to list them in its commit checksum (50 by default).
FILES_IN_CHECKSUM = "spark.databricks.delta.allFilesInCrc.thresholdNumFiles"


@pytest.mark.parametrize("answered_by", ["checksum", "query"])
def test_a_retried_batch_that_quarantines_nothing_now_clears_its_earlier_quarantine(spark, lakehouse, manifest,
                                                                                   monkeypatch, answered_by):
    """An earlier attempt of a batch quarantined records and died before its audit; the retry
    quarantines none of them (their reference arrived, a rule was eased): silver finds the
    earlier rows, from ops.quarantine's checksum or by a query when it lists no files, and
    replaces them with nothing, so the batch's accounting holds."""
    from pyspark.sql import functions as F

    _run(spark, lakehouse, ["products"], ("bronze",))
    batch = "2026-01-01"
    if answered_by == "query":  # the commit's checksum lists no file
        spark.conf.set(FILES_IN_CHECKSUM, "0")
    try:
        _quarantine_rows(spark, 2, F.lit("products"), F.lit(batch), F.col("id").cast("string")) \
            .writeTo(tables.QUARANTINE_TABLE).append()
    finally:
        spark.conf.unset(FILES_IN_CHECKSUM)
    answers = []
    original = tables.partitions_hold_files

    def answered(spark, fqname, partitions):
        answers.append((fqname, original(spark, fqname, partitions)))
        return answers[-1][1]

    def queried(*args):
        raise AssertionError("ops.quarantine was queried where its checksum could tell")

    monkeypatch.setattr(tables, "partitions_hold_files", answered)
    if answered_by == "checksum":
        monkeypatch.setattr(silver, "_quarantine_held", queried)
    (run,) = _run(spark, lakehouse, ["products"], ("silver",)).by_layer("silver")
    assert run.quarantined == 0 and run.rows_read == run.accounted == manifest["products"]["rows"]
    assert spark.table(tables.QUARANTINE_TABLE).where("dataset = 'products'").count() == 0
    assert [held for fqname, held in answers if fqname == tables.QUARANTINE_TABLE] == \
        [True if answered_by == "checksum" else None]


def test_partitions_hold_files_is_what_a_query_of_the_partitions_finds(spark, scratch):
    """Whether a table's partitions hold files, read from its newest commit's checksum, agrees
    with a query of them; None (query the table) when the checksum lists no files or a column
    asked about is no partition column."""
    from pyspark.sql import functions as F

    rows = _quarantine_rows(spark, 3, F.when(F.col("id") < 2, "a").otherwise("b"), F.col("id").cast("string"),
                            F.lit("raw"))
    asked = [{"dataset": {"a"}, "batch_id": {"0"}}, {"dataset": {"a"}, "batch_id": {"1", "7"}},
             {"dataset": {"a"}, "batch_id": {"2"}}, {"dataset": {"b"}, "batch_id": {"2"}},
             {"dataset": {"b"}, "batch_id": {"0", "1"}}, {"dataset": {"c"}}, {"dataset": {"a"}},
             {"dataset": {"b", "c"}}]

    def answers():
        return [tables.partitions_hold_files(spark, "ops.scratch", partitions) for partitions in asked]

    def queried():
        return [spark.table("ops.scratch").where(reduce(lambda a, b: a & b, [F.col(c).isin(list(v)) for c, v in
                                                                             partitions.items()])).count() > 0
                for partitions in asked]

    assert answers() == queried() == [False] * 8  # created, never written
    rows.writeTo("ops.scratch").append()
    assert answers() == queried() == [True, True, False, True, False, False, True, True]
    rows.where("batch_id = '1'").writeTo("ops.scratch").overwrite(F.col("dataset") == "a")  # batch 0 of a removed
    assert answers() == queried() == [False, True, False, True, False, False, True, True]
    assert tables.partitions_hold_files(spark, "ops.scratch", {"dataset": {"a"}, "rule": {"rule"}}) is None
    spark.conf.set(FILES_IN_CHECKSUM, "1")
    try:  # more files than Delta lists in a checksum
        rows.writeTo("ops.scratch").append()
    finally:
        spark.conf.unset(FILES_IN_CHECKSUM)
    assert answers() == [None] * 8


def test_gold_build_losing_a_row_fails_and_the_rerun_completes(spark, lakehouse, manifest, monkeypatch):
    _run(spark, lakehouse, None, ("bronze", "silver"))
    with monkeypatch.context() as broken:
        _losing_one_row(broken, "merge_by_difference", "gold.")
        with pytest.raises(AccountingError, match="the table holds .* after the commit"):
            _run(spark, lakehouse, None, ("gold",))
    runs = _run(spark, lakehouse, None, ("gold",)).by_layer("gold")
    for run in runs:
        assert tables.row_count(spark, run.table_name) == run.rows_read == run.inserted + run.updated + run.superseded

