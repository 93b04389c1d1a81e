"""Reference data that lands once, or late: a foreign key is judged against what the
referenced dataset holds once every delivery of it that has arrived is applied; a record whose
referenced key has not arrived yet is quarantined with its reason, and `reprocess` lands it
once the key has arrived, as if it had been there all along."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from lakehouse.generate import generate
from lakehouse.ledger import Ledger
from lakehouse.pipeline import run_pipeline, run_reprocess
from lakehouse.runs import OUTCOMES, BatchFilter
from lakehouse.specs import load_catalog
from tests.integration.test_pipeline import _comments, _versions, assert_gold_equals_duckdb

pytestmark = pytest.mark.integration
DAYS = ("2026-01-01", "2026-01-02", "2026-01-03")
RULE = "customer_exists"


def _quarantined(spark, rule: str) -> dict[str, int]:
    rows = spark.table("ops.quarantine").where(f"dataset = 'orders' AND rule = '{rule}'").groupBy("batch_id").count()
    return {r["batch_id"]: r["count"] for r in rows.collect()}


def test_reference_data_landing_once_then_late_keys_replayed(spark, lakehouse, tmp_path, monkeypatch):
    landing = Path(lakehouse.landing_uri)
    manifest = generate(landing, scale=0.1, seed=5, days=len(DAYS))
    orphans = {day: manifest["batches"][day]["orders"]["orphans"] for day in DAYS}  # never a customer
    held = tmp_path / "held"
    for day in DAYS[1:]:  # customers land once, on the first day, as reference data does
        shutil.move(landing / "customers" / day, held / day)
    catalog = load_catalog(lakehouse.specs_dir)

    # Day by day, as Airflow runs intervals: orders are judged against the customers there are.
    for day in DAYS[:2]:
        run_pipeline(spark, lakehouse, catalog, selection=BatchFilter(batch=day))
        # Gold columns carry the gold spec's descriptions only, from their first build on
        # (Spark carries silver's comments through the gold SQL's selects).
        for name, spec in catalog.gold.items():
            assert _comments(spark, f"gold.{name}") == spec.columns, name
    # Day 2's customers land late, after day 2's run: day 3's run takes them before it judges.
    shutil.move(held / DAYS[1], landing / "customers" / DAYS[1])
    third = run_pipeline(spark, lakehouse, catalog, selection=BatchFilter(batch=DAYS[2]))
    assert sorted((r.table_name, r.batch_id) for r in third.by_layer("silver")) == [
        ("silver.customers", DAYS[1]), ("silver.order_items", DAYS[2]), ("silver.orders", DAYS[2]),
        ("silver.products", DAYS[2])]
    late = _quarantined(spark, RULE)
    # Orders of customers who appear on later days wait in quarantine, saying what they lack.
    assert all(late.get(day, 0) >= orphans[day] for day in DAYS) and sum(late.values()) > sum(orphans.values())
    reasons = spark.table("ops.quarantine").where(f"rule = '{RULE}'").select("reason").collect()
    assert all(r["reason"].endswith(" not in customers.customer_id") for r in reasons)

    shutil.move(held / DAYS[2], landing / "customers" / DAYS[2])  # the last of the reference data
    fourth = run_pipeline(spark, lakehouse, catalog)
    assert [(r.table_name, r.batch_id) for r in fourth.by_layer("silver")] == [("silver.customers", DAYS[2])]
    assert _quarantined(spark, RULE) == late  # nothing replayed by itself

    # A replay that dies after the commit letting the records out of quarantine, before its audit.
    real_record = Ledger.record

    def crash_before_the_replays_audit(self, runs, run_id):
        if any(r.layer == "reprocess" for r in runs):
            raise KeyboardInterrupt("killed")
        real_record(self, runs, run_id)

    monkeypatch.setattr(Ledger, "record", crash_before_the_replays_audit)
    with pytest.raises(KeyboardInterrupt):
        run_reprocess(spark, lakehouse, catalog, "orders", RULE)
    monkeypatch.setattr(Ledger, "record", real_record)
    assert _quarantined(spark, RULE) == {day: n for day, n in orphans.items() if n}
    assert spark.table("ops.audit").where("layer = 'reprocess'").count() == 0

    # The next replay appends the lost audit records, finds only the orphans, and gold follows.
    replayed, result = run_reprocess(spark, lakehouse, catalog, "orders", RULE)
    assert replayed.found == sum(orphans.values()) and replayed.runs == []
    assert result.by_layer("gold") and result.published
    audit = spark.table("ops.audit").where("layer = 'reprocess'").collect()
    assert {r["batch_id"]: r["rows_read"] for r in audit} == late
    for r in audit:
        assert r["table_name"] == "silver.orders" and r["quarantined_by_rule"] == (
            {RULE: orphans[r["batch_id"]]} if orphans[r["batch_id"]] else {}), r
        assert r["rows_read"] == sum(r[k] for k in OUTCOMES), r  # the replay's accounting closes
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
