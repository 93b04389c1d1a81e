"""Landing files that are wrong: nothing is lost, nothing half-loaded, every error clear."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import yaml

from lakehouse.config import PROJECT_ROOT
from lakehouse.errors import ExpectationFailed, LakehouseError, LandingError, SchemaDriftError, SpecError
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


def _gzip(folder: Path) -> Path:
    """The folder's landing file, replaced by its gzip-compressed form (`<name>.gz`)."""
    (plain,) = folder.iterdir()
    packed = plain.with_name(plain.name + ".gz")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return packed


def test_gzip_csv_and_json_lines_land_like_plain_files(spark, lakehouse):
    landing, manifest = _landing(lakehouse)
    for dataset in ("orders", "order_items"):
        _gzip(landing / dataset / "2026-01-01")
    result = run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), layers=("bronze", "silver"))
    for run in result.by_layer("bronze") + result.by_layer("silver"):
        m = manifest["batches"]["2026-01-01"][run.table_name.split(".")[1]]
        assert run.rows_read == run.accounted == m["rows"], run.table_name
    (items,) = [r for r in result.by_layer("silver") if r.table_name == "silver.order_items"]
    malformed = manifest["batches"]["2026-01-01"]["order_items"]["malformed"]
    assert malformed and items.quarantined_by_rule.get("malformed", 0) == malformed
    files = {r[0] for r in spark.table("bronze.orders").select("_source_file").distinct().collect()}
    assert len(files) == 1 and files.pop().endswith("orders-2026-01-01.csv.gz")


def test_gzip_cut_in_the_middle_fails_the_batch_naming_the_file(spark, lakehouse):
    landing, _ = _landing(lakehouse)
    packed = _gzip(landing / "orders" / "2026-01-01")
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) // 2])  # an interrupted upload
    with pytest.raises(LandingError, match=r"orders-2026-01-01\.csv\.gz: cannot be read to its end "
                                           r"\(java\.io\.EOFException: Unexpected end of input stream"):
        run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), datasets=["orders"])
    assert _count(spark, "bronze.orders") == 0
    assert _count(spark, "silver.orders") == 0


def test_new_column_is_kept_in_bronze_and_refused_by_silver(spark, lakehouse):
    landing, manifest = _landing(lakehouse)
    path = next((landing / "orders" / "2026-01-01").iterdir())
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header + ",coupon_code"] + [r + ",SPRING" for r in rows]) + "\n")
    catalog = load_catalog(lakehouse.specs_dir)
    with pytest.raises(SchemaDriftError, match="unexpected column.s. coupon_code.*nothing was written"):
        # customers too: orders' foreign key needs their batch applied first
        run_pipeline(spark, lakehouse, catalog, datasets=["customers", "orders"], layers=("bronze", "silver"))
    assert _count(spark, "bronze.orders") == manifest["batches"]["2026-01-01"]["orders"]["rows"]
    assert _count(spark, "bronze.orders", "_rescued_data = '{\"coupon_code\":\"SPRING\"}'") > 0
    assert _count(spark, "silver.orders") == 0
    assert _count(spark, "ops.audit", "layer = 'silver' AND table_name = 'silver.orders'") == 0


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


def test_orders_before_their_customers_are_refused_not_quarantined(spark, lakehouse):
    _landing(lakehouse)
    catalog = load_catalog(lakehouse.specs_dir)
    # customers' batch has landed: orders must wait for it, or its customers would look orphaned
    with pytest.raises(LakehouseError, match="foreign key customer_exists references customers, which has not "
                                             "applied its batch 2026-01-01 .landed., so its keys cannot be judged; "
                                             "run customers first; nothing was written"):
        run_pipeline(spark, lakehouse, catalog, datasets=["orders"], layers=("bronze", "silver"))
    assert _count(spark, "silver.orders") == 0 and _count(spark, "ops.quarantine") == 0


def test_missing_landing_path_is_a_clear_error(spark, lakehouse):
    with pytest.raises(LandingError, match="landing path .* does not exist"):
        run_pipeline(spark, lakehouse, load_catalog(lakehouse.specs_dir), datasets=["orders"])


def test_crash_between_bronze_append_and_audit_appends_nothing_twice(spark, lakehouse):
    _landing(lakehouse)
    catalog = load_catalog(lakehouse.specs_dir)
    run_pipeline(spark, lakehouse, catalog, datasets=["customers", "orders"], layers=("bronze",))
    rows, version = _count(spark, "bronze.orders"), spark.sql("DESCRIBE HISTORY bronze.orders").count()
    spark.sql("DELETE FROM ops.audit WHERE table_name = 'bronze.orders'")  # the audit write never happened
    result = run_pipeline(spark, lakehouse, catalog, datasets=["customers", "orders"], layers=("bronze", "silver"))
    (bronze,) = [r for r in result.by_layer("bronze") if r.table_name == "bronze.orders"]
    assert bronze.detail == "already in bronze" and bronze.rows_read == rows
    assert _count(spark, "bronze.orders") == rows
    assert spark.sql("DESCRIBE HISTORY bronze.orders").count() == version
    (silver,) = [r for r in result.by_layer("silver") if r.table_name == "silver.orders"]
    assert silver.rows_read == rows == silver.accounted


def test_a_batch_left_unaudited_by_a_crash_is_found_after_a_later_batch_was_written(spark, lakehouse):
    """Bronze skips asking which batches it holds only for a table never written: a crash can
    leave a batch unaudited behind later, audited writes (an Airflow interval's run names its
    batch only). Day 2's write loses its audit record, day 3 is written and audited, then day
    2's retry finds its rows and records them without writing again."""
    from lakehouse.runs import BatchFilter

    _landing(lakehouse, days=3)
    catalog = load_catalog(lakehouse.specs_dir)

    def bronze(day):
        return run_pipeline(spark, lakehouse, catalog, datasets=["products"], selection=BatchFilter(batch=day),
                            layers=("bronze",)).by_layer("bronze")

    bronze("2026-01-01")
    bronze("2026-01-02")
    day2 = _count(spark, "bronze.products", "_batch_id = '2026-01-02'")
    spark.sql("DELETE FROM ops.audit WHERE table_name = 'bronze.products' AND batch_id = '2026-01-02'")
    assert [r.batch_id for r in bronze("2026-01-03")] == ["2026-01-03"]
    version = spark.sql("DESCRIBE HISTORY bronze.products").count()
    (retry,) = bronze("2026-01-02")
    assert (retry.detail, retry.rows_read) == ("already in bronze", day2)
    assert spark.sql("DESCRIBE HISTORY bronze.products").count() == version
    assert _count(spark, "bronze.products", "_batch_id = '2026-01-02'") == day2


def _specs_with(tmp_path, path: str, edit) -> Path:
    """A copy of the shipped specs with one spec edited."""
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    spec = yaml.safe_load((specs / path).read_text())
    edit(spec)
    (specs / path).write_text(yaml.safe_dump(spec))
    return specs


def _failed_rule(spark, table: str, rule: str):
    (row,) = spark.table("ops.validations").where(f"table_name = '{table}' AND rule = '{rule}'").collect()
    return row


def test_a_failed_fail_expectation_stops_silver_before_it_writes(spark, lakehouse, tmp_path):
    _, manifest = _landing(lakehouse)

    def fail_on_unknown_status(spec):
        (rule,) = [e for e in spec["expectations"] if e["name"] == "status_is_known"]
        rule["action"] = "fail"

    catalog = load_catalog(_specs_with(tmp_path, "datasets/orders.yaml", fail_on_unknown_status))
    with pytest.raises(ExpectationFailed, match="silver.orders batch 2026-01-01: .* broke fail expectation "
                                                "status_is_known .*nothing was written; validation: file://"):
        run_pipeline(spark, lakehouse, catalog, datasets=["customers", "orders"], layers=("bronze", "silver"))
    assert _count(spark, "silver.orders") == 0
    assert _count(spark, "ops.quarantine", "dataset = 'orders'") == 0
    assert _count(spark, "ops.audit", "table_name = 'silver.orders'") == 0
    row = _failed_rule(spark, "silver.orders", "status_is_known")
    assert (row["success"], row["outcome"]) == (False, "failed")
    assert row["unexpected_count"] == manifest["batches"]["2026-01-01"]["orders"]["out_of_range"] > 0


def test_a_failed_fail_expectation_stops_a_gold_build_before_it_writes(spark, lakehouse, tmp_path):
    _landing(lakehouse)

    def no_revenue_allowed(spec):
        spec["expectations"].append({"name": "no_revenue", "type": "range", "column": "revenue", "max": 0,
                                     "action": "fail"})

    catalog = load_catalog(_specs_with(tmp_path, "gold/daily_revenue.yaml", no_revenue_allowed))
    with pytest.raises(ExpectationFailed, match=r"gold.daily_revenue: \d+ row\(s\) broke fail expectation "
                                                "no_revenue; nothing was written"):
        run_pipeline(spark, lakehouse, catalog)
    assert not spark.catalog.tableExists("gold.daily_revenue")
    assert _count(spark, "ops.audit", "table_name = 'gold.daily_revenue'") == 0
    # The builds before it are recorded: gold's audit records go in one commit, also on error.
    built = [f"gold.{name}" for name in catalog.gold if spark.catalog.tableExists(f"gold.{name}")]
    assert built and all(_count(spark, "ops.audit", f"table_name = '{t}'") == 1 for t in built)
    row = _failed_rule(spark, "gold.daily_revenue", "no_revenue")
    assert row["unexpected_count"] == spark.sql(catalog.gold["daily_revenue"].sql).where("revenue > 0").count() > 0
    assert _failed_rule(spark, "gold.daily_revenue", "keys_unique")["success"]

    # A column description naming a column the SQL does not return is a spec error, caught
    # before the build writes (Superset's dataset would describe nothing).
    def describes_a_missing_column(spec):
        spec["columns"]["margin"] = "revenue minus cost"

    catalog = load_catalog(_specs_with(tmp_path / "described", "gold/daily_revenue.yaml", describes_a_missing_column))
    with pytest.raises(SpecError, match="gold spec daily_revenue: columns describes margin, which its SQL does "
                                        "not return .it returns order_date, category, country, revenue"):
        run_pipeline(spark, lakehouse, catalog)
    assert not spark.catalog.tableExists("gold.daily_revenue")
