"""The ops tables' records reach Spark through Arrow (tables.records_frame): the same values
as Spark's own conversion of Python rows, held by the driver's JVM, and a naive time refused."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone, UTC

import pytest
from pyspark.sql.types import DateType, LongType, MapType, StringType, StructField, StructType, TimestampType

from lakehouse.tables import records_frame

SCHEMA = StructType([
    StructField("name", StringType()),
    StructField("at", TimestampType()),
    StructField("day", DateType()),
    StructField("rows", LongType()),
    StructField("by_rule", MapType(StringType(), LongType())),
])


@pytest.fixture
def berlin():
    """The driver's Python in a zone that is not UTC (the session's own zone stays as set)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_values_arrive_as_given_and_the_frame_is_local(spark, berlin):
    instant = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5)))  # any aware time
    record = {"name": "audit", "at": instant, "day": date(2026, 1, 2), "rows": 2**40, "by_rule": {"not_null": 3}}
    frame = records_frame(spark, [record, {**record, "name": None, "by_rule": None}], SCHEMA)

    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "LocalTableScan" in plan and "ExistingRDD" not in plan, plan
    first, second = frame.collect()
    assert first["at"].astimezone(UTC) == instant.astimezone(UTC)
    assert (first["name"], first["day"], first["rows"], first["by_rule"]) == ("audit", date(2026, 1, 2), 2**40,
                                                                             {"not_null": 3})
    assert (second["name"], second["by_rule"]) == (None, None)
    # The same instant as Spark's own conversion of the row.
    (row,) = spark.createDataFrame([record], SCHEMA).select("at").collect()
    assert row["at"] == first["at"]


def test_a_commit_of_many_records_writes_one_file(spark, tmp_path):
    """Every task reads ops.audit whole, opening each file: a commit adds one, whatever the cores."""
    assert spark.sparkContext.defaultParallelism >= 2, "a session of one core writes one file anyway"
    records = [{"name": f"t{i}", "at": datetime(2026, 1, 2, tzinfo=UTC), "rows": i} for i in range(8)]
    records_frame(spark, records, SCHEMA).write.format("delta").save(str(tmp_path / "t"))
    assert len(list((tmp_path / "t").glob("*.parquet"))) == 1
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 8


def test_no_records_give_an_empty_frame_and_a_naive_time_is_refused(spark):
    empty = records_frame(spark, [], SCHEMA)
    assert empty.schema == SCHEMA and empty.count() == 0
    with pytest.raises(ValueError, match="at=2026-01-02T03:04:00: a naive time"):
        records_frame(spark, [{"name": "x", "at": datetime(2026, 1, 2, 3, 4)}], SCHEMA)
