"""The platform's SparkSession (lakehouse.spark) as a long-lived driver uses it: the Thrift
server, a test session, a run's many layers."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _compilations(spark) -> int:
    return spark._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME().getCount()


def test_generated_code_is_compiled_once_while_more_than_the_default_cache_holds(spark):
    """A query planned again after 150 others reuses its compiled code. Spark's default cache
    (100 classes) would have evicted it and compiled it again: a run compiles about 600."""
    def query(i: int) -> None:  # a literal is inlined in the generated code: each i is new code
        spark.range(10).selectExpr(f"id * {i} + {i} AS x").where(f"x > {i}").collect()

    start = _compilations(spark)
    query(1000)
    first = _compilations(spark)
    assert first > start  # the query compiles code of its own (not folded away by the optimiser)
    for i in range(1, 151):
        query(i)
    assert _compilations(spark) >= first + 150  # each was new code, compiled
    before = _compilations(spark)
    query(1000)
    assert _compilations(spark) == before


def test_a_query_with_a_shuffle_runs_as_one_job_without_adaptive_execution(spark):
    """The jobs' sessions leave adaptive query execution off (Settings.adaptive_execution): a
    query with a join and an aggregation is one Spark job, not one per shuffle stage as AQE
    runs it. Turned on in the same session, the same query takes more jobs."""
    sc = spark.sparkContext

    def jobs_of(group: str) -> int:
        sc.setJobGroup(group, group)
        try:
            left = spark.range(1000).selectExpr("id % 7 AS k", "id AS v")
            right = spark.range(1000).selectExpr("id % 5 AS k", "id AS w")
            spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # a shuffled join, whatever the sizes
            left.join(right, "k").groupBy("k").count().collect()
        finally:
            spark.conf.unset("spark.sql.autoBroadcastJoinThreshold")
            sc._jsc.clearJobGroup()
        sc._jsc.sc().listenerBus().waitUntilEmpty()  # the status tracker learns of jobs from the bus
        return len(sc.statusTracker().getJobIdsForGroup(group))

    assert spark.conf.get("spark.sql.adaptive.enabled") == "false"
    assert jobs_of("aqe-off") == 1
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    try:
        assert jobs_of("aqe-on") > 1
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", "false")
