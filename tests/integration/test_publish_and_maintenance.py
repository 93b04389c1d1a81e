"""Publish and table maintenance on a real local Spark with Delta: what the last task of the
medallion DAG and the maintenance DAG do."""

from __future__ import annotations

from pathlib import Path

import pytest
from delta.tables import DeltaTable

from lakehouse import tables
from lakehouse.config import load_settings
from lakehouse.errors import ConfigError, LakehouseError
from lakehouse.generate import generate
from lakehouse.layers.publish import run_publish
from lakehouse.maintenance import STEPS, delta_tables, run_maintenance
from lakehouse.pipeline import run_pipeline
from lakehouse.runs import BatchFilter
from lakehouse.specs import load_catalog
from tests.conftest import reset_catalog

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    reset_catalog(spark)
    settings = load_settings(home=tmp_path_factory.mktemp("publish"), shuffle_partitions=2)
    # One day: what these tests look at (a run's gold versions, its published rows, the ops
    # tables' files and versions) needs one run, not several batches.
    generate(Path(settings.landing_uri), scale=0.1, seed=5, days=1)
    catalog = load_catalog(settings.specs_dir)
    result = run_pipeline(spark, settings, catalog)
    return settings, catalog, result


def _published(spark) -> list[tuple]:
    return sorted((r.table_name, r.delta_version) for r in spark.table(tables.PUBLISHED_TABLE).collect())


def test_a_run_publishes_each_gold_tables_version_once(spark, built):
    _, catalog, result = built
    expected = sorted((f"gold.{name}", tables.current_version(spark, f"gold.{name}")) for name in catalog.gold)
    assert sorted((p.table_name, p.delta_version) for p in result.published) == expected
    assert _published(spark) == expected
    rows = {r.table_name: r.row_count for r in spark.table(tables.PUBLISHED_TABLE).collect()}
    assert rows == {t: spark.table(t).count() for t, _ in expected}


def test_publishing_again_writes_nothing(spark, built):
    _, catalog, _ = built
    version = tables.current_version(spark, tables.PUBLISHED_TABLE)
    assert run_publish(spark, list(catalog.gold.values()), BatchFilter(), "again") == []
    assert tables.current_version(spark, tables.PUBLISHED_TABLE) == version


def test_a_gold_table_with_duplicate_keys_is_not_published(spark, built):
    _, catalog, _ = built
    spec = catalog.gold["daily_revenue"]
    before = _published(spark)
    spark.table("gold.daily_revenue").limit(1).writeTo("gold.daily_revenue").append()  # one key twice
    try:
        with pytest.raises(LakehouseError, match=r"gold.daily_revenue v\d+: 1 key\(s\) .* not published"):
            run_publish(spark, [spec], BatchFilter(), "dup")
        assert _published(spark) == before
    finally:
        DeltaTable.forName(spark, "gold.daily_revenue").restoreToVersion(before[[t for t, _ in before].index(
            "gold.daily_revenue")][1])


def test_optimize_compacts_small_files_and_keeps_the_data(spark, built):
    settings, _, _ = built
    audit = tables.AUDIT_TABLE
    files_before = len(spark.table(audit).inputFiles())
    rows_before = spark.table(audit).count()
    assert files_before > 1  # one file per pipeline step
    results = run_maintenance(spark, settings, "optimize")
    assert {r.table_name for r in results} == set(delta_tables(spark))
    assert len(spark.table(audit).inputFiles()) == 1
    assert spark.table(audit).count() == rows_before


def test_vacuum_keeps_time_travel_within_the_retention(spark, built):
    settings, _, _ = built
    run_maintenance(spark, settings, "vacuum")
    # Every file is younger than 7 days: version 0 (before OPTIMIZE rewrote them) still reads.
    first = spark.read.format("delta").option("versionAsOf", 1).table(tables.AUDIT_TABLE).count()
    assert first > 0


def test_analyze_records_table_statistics(spark, built):
    settings, _, _ = built
    run_maintenance(spark, settings, "analyze")
    props = {r.key: r.value for r in spark.sql("SHOW TBLPROPERTIES gold.daily_revenue").collect()}
    assert props["lakehouse.stats.rowCount"] == str(spark.table("gold.daily_revenue").count())
    assert int(props["lakehouse.stats.numFiles"]) >= 1 and int(props["lakehouse.stats.sizeInBytes"]) > 0


def test_maintenance_is_no_new_data_a_rerun_after_it_changes_nothing(spark, built):
    """OPTIMIZE and the statistics (table properties) make new versions of every table, and
    VACUUM too where Delta logs it (vacuum logging); the next run builds no gold table, records
    no build and publishes nothing, since gold and publish follow the commits that change data."""
    settings, catalog, _ = built
    run_pipeline(spark, settings, catalog)  # what earlier tests left (a restored gold table) is published
    for step in STEPS:  # the maintenance DAG's steps, in its order
        run_maintenance(spark, settings, step)
    gold_tables = [f"gold.{name}" for name in catalog.gold]
    versions = {t: tables.current_version(spark, t) for t in gold_tables}
    assert all(tables.last_commit(spark, t)["operation"] in tables.NO_DATA_CHANGE for t in gold_tables)
    gold_builds = spark.table(tables.AUDIT_TABLE).where("layer = 'gold'").count()
    published = _published(spark)
    result = run_pipeline(spark, settings, catalog)
    assert result.by_layer("gold") == [] and result.published == []
    assert {t: tables.current_version(spark, t) for t in gold_tables} == versions
    assert _published(spark) == published
    assert spark.table(tables.AUDIT_TABLE).where("layer = 'gold'").count() == gold_builds


def test_gold_after_its_change_feed_was_vacuumed_rebuilds_in_full(spark, tmp_path):
    """Gold a day behind silver, whose change data files VACUUM removed: the incremental
    build cannot read the change feed, rebuilds in full and equals the spec's query (before,
    the failed read surfaced outside the fallback and every retry failed)."""
    reset_catalog(spark)
    settings = load_settings(home=tmp_path, shuffle_partitions=2)
    generate(Path(settings.landing_uri), scale=0.03, seed=8, days=2)
    catalog = load_catalog(settings.specs_dir)
    run_pipeline(spark, settings, catalog, selection=BatchFilter(batch="2026-01-01"))
    run_pipeline(spark, settings, catalog, layers=("bronze", "silver"))
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        for name in catalog.datasets:
            DeltaTable.forName(spark, f"silver.{name}").vacuum(0.0)
    finally:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    result = run_pipeline(spark, settings, catalog, layers=("gold",))
    [run] = [r for r in result.by_layer("gold") if r.table_name == "gold.daily_revenue"]
    assert run.detail == "full recompute", run.detail
    for name, spec in catalog.gold.items():  # every gold table converges, whichever way it was built
        expected = spark.sql(spec.sql)
        actual = spark.table(f"gold.{name}").select(*expected.columns)
        assert actual.count() == expected.count() and actual.exceptAll(expected).count() == 0, name


def test_a_vacuum_retention_shorter_than_time_travel_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="LAKEHOUSE_VACUUM_RETENTION_HOURS"):
        load_settings(home=tmp_path, vacuum_retention_hours=24)
