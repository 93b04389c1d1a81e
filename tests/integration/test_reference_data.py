"""Reference data that lands once, or late: a foreign key is judged against what the
referenced dataset holds once every delivery of it that has arrived is applied; a record whose
referenced key has not arrived yet is quarantined with its reason, and `reprocess` lands it
once the key has arrived, as if it had been there all along."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from pyspark.sql import functions as F

from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline, run_reprocess
from lakehouse.specs import load_catalog
from tests.integration.test_pipeline import _versions, assert_gold_equals_duckdb

pytestmark = pytest.mark.integration
DAYS = ("2026-01-01", "2026-01-02", "2026-01-03")
RULE = "customer_exists"


def _quarantined(spark, rule: str) -> dict[str, int]:
    rows = spark.table("ops.quarantine").where(f"dataset = 'orders' AND rule = '{rule}'").groupBy("batch_id").count()
    return {r["batch_id"]: r["count"] for r in rows.collect()}


def test_reference_data_landing_once_then_late_keys_replayed(spark, lakehouse, tmp_path):
    landing = Path(lakehouse.landing_uri)
    manifest = generate(landing, scale=0.1, seed=5, days=len(DAYS))
    orphans = {day: manifest["batches"][day]["orders"]["orphans"] for day in DAYS}  # never a customer
    held = tmp_path / "held"
    for day in DAYS[1:]:  # customers land once, on the first day, as reference data does
        shutil.move(landing / "customers" / day, held / day)
    catalog = load_catalog(lakehouse.specs_dir)

    first = run_pipeline(spark, lakehouse, catalog)
    assert sorted(r.batch_id for r in first.by_layer("silver") if r.table_name == "silver.orders") == list(DAYS)
    late = _quarantined(spark, RULE)
    # Orders of customers who appear on later days wait in quarantine, saying what they lack.
    assert all(late.get(day, 0) >= orphans[day] for day in DAYS) and sum(late.values()) > sum(orphans.values())
    reasons = spark.table("ops.quarantine").where(f"rule = '{RULE}'").select("reason").collect()
    assert all(r["reason"].endswith(" not in customers.customer_id") for r in reasons)

    for day in DAYS[1:]:  # the rest of the reference data arrives
        shutil.move(held / day, landing / "customers" / day)
    second = run_pipeline(spark, lakehouse, catalog)
    assert sorted(r.batch_id for r in second.by_layer("silver")) == list(DAYS[1:])  # customers only
    assert _quarantined(spark, RULE) == late  # nothing replayed by itself

    replayed, result = run_reprocess(spark, lakehouse, catalog, "orders", RULE)
    runs = result.by_layer("reprocess")
    assert replayed.found == sum(late.values()) == sum(r.rows_read for r in runs)
    for run in runs:
        assert run.table_name == "silver.orders" and run.rows_read == run.accounted, run
        assert run.quarantined_by_rule == ({RULE: orphans[run.batch_id]} if orphans[run.batch_id] else {})
        assert run.rows_read == late[run.batch_id]
    assert _quarantined(spark, RULE) == {day: n for day, n in orphans.items() if n}
    assert result.by_layer("gold") and result.published  # gold and publish followed
    audit = spark.table("ops.audit").where("layer = 'reprocess'").groupBy("batch_id").agg(F.sum("rows_read")).collect()
    assert {r[0]: r[1] for r in audit} == late
    # The steward's view counts what is in quarantine now.
    by_batch = {str(r["batch_date"]): r["quarantined"]
                for r in spark.table("ops.quality_by_batch").where("dataset = 'orders'").collect()}
    held_now = {r["batch_id"]: r["count"] for r in spark.table("ops.quarantine").where("dataset = 'orders'")
                .groupBy("batch_id").count().collect()}
    assert by_batch == {day: held_now.get(day, 0) for day in DAYS}

    # As if the customers had all been there from the start: gold equals a full computation.
    from benchmarks.duckdb_pipeline import run

    db = tmp_path / "reference.duckdb"
    counts = run(landing, db_path=db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert_gold_equals_duckdb(spark, con, counts)
        assert spark.table("silver.orders").count() == counts["datasets"]["orders"]["silver_rows"]

    # A rerun of either changes nothing.
    versions = _versions(spark)
    again, rerun = run_reprocess(spark, lakehouse, catalog, "orders", RULE)
    assert again.found == sum(orphans.values()) and again.runs == [] and rerun.runs == []
    assert run_pipeline(spark, lakehouse, catalog).runs == []
    assert _versions(spark) == versions
