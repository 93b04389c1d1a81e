"""Gold's write (tables.merge_by_difference): the table becomes equal to the build's result,
and only what differs is written. A result equal to the table makes no commit (before, every
build made a version copying the whole table, which publish then announced: 376,650 rows of
gold.customer_lifetime_value per batch at a million orders)."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from lakehouse import tables

pytestmark = pytest.mark.integration
TABLE = "gold.scratch"
FILES = 4  # the table's rows, written as this many files (one per range of keys)
ROWS = 400


@pytest.fixture
def scratch(spark, lakehouse):
    """gold.scratch, keyed by (region, id): ROWS rows in FILES files; id 7 has a null region."""
    tables.ensure_databases(spark, lakehouse)
    rows = spark.range(ROWS).select(
        F.when(F.col("id") == 7, None).otherwise(F.col("id") % 2).alias("region"), F.col("id"),
        (F.col("id") * 10).alias("amount"))
    tables.ensure_table(spark, lakehouse, TABLE, rows.schema)
    rows.repartitionByRange(FILES, "id").writeTo(TABLE).append()
    assert len(spark.table(TABLE).inputFiles()) == FILES
    return rows


def _rows(frame) -> list[tuple]:
    return sorted(map(tuple, frame.collect()), key=repr)


def _last_commit(spark) -> tuple[int, dict]:
    (row,) = spark.sql(f"DESCRIBE HISTORY {TABLE} LIMIT 1").collect()
    return row["version"], {k: int(v) for k, v in (row["operationMetrics"] or {}).items() if v.isdigit()}


def test_a_result_equal_to_the_table_writes_nothing(spark, scratch):
    version, _ = _last_commit(spark)
    assert tables.merge_by_difference(spark, TABLE, scratch.orderBy(F.col("id").desc()), ["region", "id"]) == 0
    assert _last_commit(spark)[0] == version  # no MERGE, no new version for publish to announce
    assert _rows(spark.table(TABLE)) == _rows(scratch)


def test_only_the_files_holding_a_differing_key_are_rewritten(spark, scratch):
    """Two rows changed (id 5, and id 7, whose key holds a null: matched null-safe, it is
    updated, not inserted again), one gone (id 6), one new (id 1000): ids 5 to 7 are in the
    first file, so only it is rewritten."""
    changed = F.col("id").isin(5, 7)
    result = (scratch.where("id != 6").withColumn("amount", F.when(changed, -F.col("id")).otherwise(F.col("amount")))
              .unionByName(spark.range(1000, 1001).select(F.lit(0).cast("bigint").alias("region"), "id",
                                                          F.lit(1).cast("bigint").alias("amount"))))
    assert tables.merge_by_difference(spark, TABLE, result, ["region", "id"]) == 4
    _, metrics = _last_commit(spark)
    assert (metrics["numTargetRowsInserted"], metrics["numTargetRowsUpdated"], metrics["numTargetRowsDeleted"],
            metrics["numSourceRows"], metrics["numTargetFilesRemoved"]) == (1, 2, 1, 4, 1)
    assert metrics["numTargetRowsCopied"] == ROWS // FILES - 3  # the rest of the one file rewritten
    assert _rows(spark.table(TABLE)) == _rows(result)


def test_a_scoped_build_leaves_the_rows_outside_its_scope(spark, scratch):
    """Within the scope (region 1) a vanished key is deleted; region 0's rows, which the
    scoped result does not hold, stay."""
    result = scratch.where("region = 1 AND id != 9")
    assert tables.merge_by_difference(spark, TABLE, result, ["region", "id"], "t.`region` = 1") == 1
    assert _rows(spark.table(TABLE)) == _rows(scratch.where("id != 9"))


def test_a_table_just_made_gets_the_whole_result_in_one_append(spark, lakehouse):
    """`empty` (gold's first build, or a table replaced): every row differs, so no difference
    is computed and no MERGE runs; one append commits the result, its values cast to the
    table's types as a MERGE's insert casts them."""
    tables.ensure_databases(spark, lakehouse)
    result = spark.range(5).select(F.col("id").cast("int").alias("id"), (F.col("id") * 10).alias("amount"))
    tables.ensure_table(spark, lakehouse, TABLE, result.select(F.col("id").cast("bigint"), "amount").schema)
    assert tables.merge_by_difference(spark, TABLE, result, ["id"], empty=True) == 5
    (row,) = spark.sql(f"DESCRIBE HISTORY {TABLE} LIMIT 1").collect()
    assert (row["version"], row["operation"], row["operationParameters"]["mode"]) == (1, "WRITE", "Append")
    assert row["operationMetrics"]["numOutputRows"] == "5"
    assert spark.table(TABLE).schema["id"].dataType.simpleString() == "bigint"
    assert _rows(spark.table(TABLE)) == _rows(result)
    assert tables.merge_by_difference(spark, TABLE, result.where("id > 9"), ["id"], empty=True) == 0
    assert tables.current_version(spark, TABLE) == 1  # an empty result appends nothing
    with pytest.raises(ValueError, match=f"{TABLE} has no column extra: nothing was appended"):
        tables.merge_by_difference(spark, TABLE, result.withColumn("extra", F.lit(1)), ["id"], empty=True)
    assert tables.current_version(spark, TABLE) == 1  # refused, as a MERGE inserting it would be, not dropped


def test_a_small_result_out_of_a_shuffle_is_written_as_one_file(spark, lakehouse):
    """A gold result comes out of an aggregation, in as many partitions as the session shuffles
    into; the build packs what it writes into files by size (Delta's optimized writes), so a
    small result is one file, first appended whole and then merged, not one per partition."""
    assert int(spark.conf.get("spark.sql.shuffle.partitions")) > 1
    tables.ensure_databases(spark, lakehouse)

    def result(factor: int):
        return spark.range(ROWS).groupBy((F.col("id") % 50).alias("id")).agg((F.sum("id") * factor).alias("amount"))

    assert result(1).rdd.getNumPartitions() > 1  # what the write would make files of, unpacked
    tables.ensure_table(spark, lakehouse, TABLE, result(1).schema)
    assert tables.merge_by_difference(spark, TABLE, result(1), ["id"], empty=True) == 50
    assert len(spark.table(TABLE).inputFiles()) == 1
    assert tables.merge_by_difference(spark, TABLE, result(2), ["id"]) == 50
    _, metrics = _last_commit(spark)
    assert (metrics["numTargetFilesRemoved"], metrics["numTargetFilesAdded"]) == (1, 1)
    assert _rows(spark.table(TABLE)) == _rows(result(2))
    assert spark.conf.get("spark.databricks.delta.optimizeWrite.enabled", None) is None  # only for the build
