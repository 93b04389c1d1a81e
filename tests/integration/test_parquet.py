"""Parquet landing files: rows land as records judged like any other, the file's schema is
checked against the spec, and a file that is not whole Parquet refuses its batch."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from pyspark.sql.types import BooleanType, DateType, StringType, StructField, StructType, TimestampType

from lakehouse.config import PROJECT_ROOT
from lakehouse.errors import LandingError, SchemaDriftError
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
DAY1, DAY2 = "2026-01-01", "2026-01-02"
COLUMNS = [("customer_id", StringType()), ("email", StringType()), ("full_name", StringType()),
           ("country", StringType()), ("segment", StringType()), ("signup_date", DateType()),
           ("updated_at", TimestampType()), ("op", StringType())]


def _row(cid, country="DE", email=None, ts=datetime(2026, 1, 1, 10, 0), op=None):
    return (cid, email or f"{cid}@example.com", f"Name {cid}", country, "consumer", date(2025, 6, 1), ts, op)


def _catalog(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    path = specs / "datasets" / "customers.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["source"] = {"format": "parquet"}
    path.write_text(yaml.safe_dump(spec))
    return load_catalog(specs)


def _write(spark, landing: Path, day: str, rows, columns=COLUMNS, name="customers.parquet") -> Path:
    """Rows written by Spark as Parquet into the day folder: a folder of part files, with
    Spark's _SUCCESS and .crc files beside them (markers, not data)."""
    out = landing / "customers" / day / name
    schema = StructType([StructField(n, t) for n, t in columns])
    spark.createDataFrame(rows, schema).coalesce(1).write.parquet(str(out))
    return out


def _run(spark, settings, catalog, **kw):
    kw.setdefault("layers", ("bronze", "silver"))
    return run_pipeline(spark, settings, catalog, datasets=["customers"], **kw)


def test_parquet_rows_land_as_records_judged_like_any_other(spark, lakehouse, tmp_path):
    catalog, landing = _catalog(tmp_path), Path(lakehouse.landing_uri)
    _write(spark, landing, DAY1, [_row("C1"), _row("C2", country="XX"), _row("C3", email=None), _row("C4")])
    _write(spark, landing, DAY2, [_row("C1", ts=datetime(2026, 1, 2, 9, 30), country="FR"),
                                  _row("C4", ts=datetime(2026, 1, 2, 9, 0), op="D")])
    result = _run(spark, lakehouse, catalog)
    bronze = {r.batch_id: r for r in result.by_layer("bronze")}
    assert {b: r.rows_read for b, r in bronze.items()} == {DAY1: 4, DAY2: 2}
    silver = {r.batch_id: r for r in result.by_layer("silver")}
    assert all(r.rows_read == r.accounted for r in silver.values())
    assert silver[DAY1].quarantined_by_rule == {"country_is_known": 1}
    current = {r["customer_id"]: r for r in spark.table("silver.customers").where("is_current").collect()}
    assert sorted(current) == ["C1", "C3"]  # C2 quarantined, C4 deleted on day 2
    assert current["C1"]["country"] == "FR" and current["C1"]["valid_from"] == datetime(2026, 1, 2, 9, 30)
    assert current["C3"]["signup_date"] == date(2025, 6, 1)
    history = spark.table("silver.customers").where("customer_id = 'C1'").orderBy("valid_from").collect()
    assert [(h["country"], h["is_current"]) for h in history] == [("DE", False), ("FR", True)]
    before = spark.sql("DESCRIBE HISTORY silver.customers").count()
    assert _run(spark, lakehouse, catalog).runs == []
    assert spark.sql("DESCRIBE HISTORY silver.customers").count() == before


def test_a_parquet_type_that_cannot_hold_the_spec_type_refuses_the_batch(spark, lakehouse, tmp_path):
    catalog, landing = _catalog(tmp_path), Path(lakehouse.landing_uri)
    columns = [(n, BooleanType() if n == "updated_at" else t) for n, t in COLUMNS]
    _write(spark, landing, DAY1, [(*_row("C1")[:6], True, None)], columns)
    with pytest.raises(LandingError, match=r"customers.parquet/part-.*: column updated_at is boolean in the file, "
                                           r"the spec says timestamp; the batch is refused"):
        _run(spark, lakehouse, catalog, layers=("bronze",))
    assert spark.table("bronze.customers").count() == 0


def test_a_parquet_file_cut_short_refuses_the_batch(spark, lakehouse, tmp_path):
    catalog, landing = _catalog(tmp_path), Path(lakehouse.landing_uri)
    folder = _write(spark, landing, DAY1, [_row(f"C{i}") for i in range(50)])
    (part,) = folder.glob("part-*.parquet")
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    for crc in folder.glob(".*.crc"):
        crc.unlink()
    with pytest.raises(LandingError, match=r"part-.*\.parquet: cannot be read as Parquet \(.*\); the batch is refused"):
        _run(spark, lakehouse, catalog, layers=("bronze",))
    assert spark.table("bronze.customers").count() == 0


def test_a_parquet_column_added_is_schema_drift(spark, lakehouse, tmp_path):
    catalog, landing = _catalog(tmp_path), Path(lakehouse.landing_uri)
    _write(spark, landing, DAY1, [(*_row("C1"), "gold")], [*COLUMNS, ("tier", StringType())])
    with pytest.raises(SchemaDriftError, match="tier"):
        _run(spark, lakehouse, catalog)
    (kept,) = spark.table("bronze.customers").collect()
    assert kept["_schema_drift"] == "unexpected column(s) tier" and '"tier":"gold"' in kept["_rescued_data"]


def test_a_parquet_column_left_out_is_schema_drift(spark, lakehouse, tmp_path):
    catalog, landing = _catalog(tmp_path), Path(lakehouse.landing_uri)
    _write(spark, landing, DAY1, [_row("C1")[:4] + _row("C1")[5:]], [c for c in COLUMNS if c[0] != "segment"])
    with pytest.raises(SchemaDriftError, match="segment"):
        _run(spark, lakehouse, catalog)
    (kept,) = spark.table("bronze.customers").collect()
    assert kept["_schema_drift"] == "missing column(s) segment" and kept["segment"] is None
