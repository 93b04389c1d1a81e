"""Landing files that are wrong: nothing is lost, nothing half-loaded, every error clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.errors import LandingError, SchemaDriftError
from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration


def _landing(settings, days=1):
    return Path(settings.landing_uri), generate(Path(settings.landing_uri), scale=0.1, seed=5, days=days)


def _count(spark, table, where="true"):
    return spark.table(table).where(where).count() if spark.catalog.tableExists(table) else 0


def test_zero_byte_file_fails_the_batch_and_loads_nothing(spark, lakehouse):
    landing, _ = _landing(lakehouse)
    (landing / "orders" / "2026-01-01" / "orders-extra.csv").write_bytes(b"")
    with pytest.raises(LandingError, match=r"orders-extra.csv: empty file \(0 bytes\)"):
        run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), datasets=["orders"])
    assert _count(spark, "bronze.orders") == 0
    assert _count(spark, "silver.orders") == 0


def test_truncated_file_quarantines_the_cut_record_and_lands_the_rest(spark, lakehouse):
    landing, manifest = _landing(lakehouse)
    path = next((landing / "order_items" / "2026-01-01").iterdir())
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # cut inside the last line, as an interrupted upload would
    result = run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), datasets=["order_items"],
                          layers=("bronze", "silver"))
    m = manifest["batches"]["2026-01-01"]["order_items"]
    (bronze,) = result.by_layer("bronze")
    (silver,) = result.by_layer("silver")
    assert bronze.rows_read == m["rows"]  # the cut line is still one record
    assert silver.quarantined_by_rule["malformed"] == m["malformed"] + 1
    assert silver.rows_read == silver.accounted == m["rows"]
    cut = spark.table("ops.quarantine").where("rule = 'malformed'").collect()
    assert any(text[: len(text) - 40].splitlines()[-1] == r["raw"] for r in cut)


def test_new_column_is_kept_in_bronze_and_refused_by_silver(spark, lakehouse):
    landing, manifest = _landing(lakehouse)
    path = next((landing / "orders" / "2026-01-01").iterdir())
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header + ",coupon_code"] + [r + ",SPRING" for r in rows]) + "\n")
    catalog = load_catalog(lakehouse.specs_dir)
    with pytest.raises(SchemaDriftError, match="unexpected column.s. coupon_code.*nothing was written"):
        run_pipeline(spark, lakehouse, catalog, datasets=["orders"], layers=("bronze", "silver"))
    assert _count(spark, "bronze.orders") == manifest["batches"]["2026-01-01"]["orders"]["rows"]
    assert _count(spark, "bronze.orders", "_rescued_data = '{\"coupon_code\":\"SPRING\"}'") > 0
    assert _count(spark, "silver.orders") == 0
    assert _count(spark, "ops.audit", "layer = 'silver'") == 0


def test_changed_type_is_quarantined_never_cast(spark, lakehouse):
    landing, manifest = _landing(lakehouse)
    path = next((landing / "order_items" / "2026-01-01").iterdir())
    lines = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            lines.append(line)
            continue
        if isinstance(record.get("quantity"), int) and record["quantity"] > 0:
            record["quantity"] = f"{record['quantity']}.5"  # a type change at the source: int -> decimal
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    result = run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), datasets=["order_items"],
                          layers=("bronze", "silver"))
    (silver,) = result.by_layer("silver")
    m = manifest["batches"]["2026-01-01"]["order_items"]
    assert silver.quarantined_by_rule["type_mismatch:quantity"] == m["inserts"] + m["duplicates"] + m["null_required"]
    assert silver.inserted == 0 and silver.rows_read == silver.accounted
    assert _count(spark, "silver.order_items") == 0


def test_missing_landing_path_is_a_clear_error(spark, lakehouse):
    with pytest.raises(LandingError, match="landing path .* does not exist"):
        run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), datasets=["orders"])


def test_crash_between_bronze_append_and_audit_appends_nothing_twice(spark, lakehouse):
    _landing(lakehouse)
    catalog = load_catalog(lakehouse.specs_dir)
    run_pipeline(spark, lakehouse, catalog, datasets=["orders"], layers=("bronze",))
    rows, version = _count(spark, "bronze.orders"), spark.sql("DESCRIBE HISTORY bronze.orders").count()
    spark.sql("DELETE FROM ops.audit WHERE table_name = 'bronze.orders'")  # the audit write never happened
    result = run_pipeline(spark, lakehouse, catalog, datasets=["orders"], layers=("bronze", "silver"))
    (bronze,) = result.by_layer("bronze")
    assert bronze.detail == "already in bronze" and bronze.rows_read == rows
    assert _count(spark, "bronze.orders") == rows
    assert spark.sql("DESCRIBE HISTORY bronze.orders").count() == version
    (silver,) = result.by_layer("silver")
    assert silver.rows_read == rows == silver.accounted
