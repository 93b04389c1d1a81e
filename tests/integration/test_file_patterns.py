"""Files land where a source puts them: a spec's `source.files` pattern names each file's batch
(`customers_{yyyy}{mm}{dd}*.csv` in one flat folder), or with no date the day a file arrived.
Late files, a file no pattern takes and a lost file log behave as with day folders."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from lakehouse import tables
from lakehouse.config import PROJECT_ROOT
from lakehouse.errors import LandingError
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
HEADER = "customer_id,email,full_name,country,segment,signup_date,updated_at,op"


def _catalog(tmp_path, files: str):
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    path = specs / "datasets" / "customers.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["source"] = {"format": "csv", "files": files}
    path.write_text(yaml.safe_dump(spec))
    return load_catalog(specs)


def _land(settings, relative: str, ids: list[str], arrived: datetime | None = None) -> Path:
    path = Path(settings.landing_uri) / "customers" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{c},{c}@example.com,Name {c},DE,consumer,2025-06-01,2026-01-01 10:00:00,I" for c in ids]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    if arrived:
        os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    return path


def _run(spark, settings, catalog):
    result = run_pipeline(spark, settings, catalog, datasets=["customers"], layers=("bronze", "silver"))
    assert all(r.rows_read == r.accounted for r in result.by_layer("silver"))
    return result


def _bronze(result) -> dict[str, int]:
    return {r.batch_id: r.rows_read for r in result.by_layer("bronze")}


def _log(spark) -> dict[str, str]:
    return {r["path"].rsplit("/", 1)[1]: r["batch_id"] for r in spark.table(tables.LANDING_FILES_TABLE).collect()}


def test_dated_file_names_in_one_folder_are_batches(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path, "customers_{yyyy}{mm}{dd}*.csv")
    _land(lakehouse, "customers_20260101.csv", ["C1", "C2"])
    _land(lakehouse, "customers_20260102.csv", ["C3"])
    assert _bronze(_run(spark, lakehouse, catalog)) == {"2026-01-01": 2, "2026-01-02": 1}
    assert _log(spark) == {"customers_20260101.csv": "2026-01-01", "customers_20260102.csv": "2026-01-02"}
    # A second file for day 1 lands after it was loaded: it waits, then loads with day 3.
    _land(lakehouse, "customers_20260101_resent.csv", ["C4"])
    result = _run(spark, lakehouse, catalog)
    assert result.runs == [] and "landed after batch 2026-01-01 was loaded" in result.notices[0]
    _land(lakehouse, "customers_20260103.csv", ["C5"])
    result = _run(spark, lakehouse, catalog)
    assert _bronze(result) == {"2026-01-03": 2}
    assert _log(spark)["customers_20260101_resent.csv"] == "2026-01-03"
    assert spark.table("silver.customers").count() == 5
    # The log lost: files bronze holds are found by the pattern under the landing path, and
    # logged, not loaded again.
    spark.sql(f"DELETE FROM {tables.LANDING_FILES_TABLE}")
    assert _run(spark, lakehouse, catalog).by_layer("bronze") == []
    assert len(_log(spark)) == 4
    # A file the pattern does not take refuses the run, naming it and the pattern.
    _land(lakehouse, "2026-01-04/customers.csv", ["C6"])
    with pytest.raises(LandingError, match=r"2026-01-04/customers.csv: does not match the dataset's files "
                                           r"\(.*/customers/customers_\{yyyy\}\{mm\}\{dd\}\*.csv, a real day\)"):
        _run(spark, lakehouse, catalog)


def test_files_with_no_date_belong_to_the_day_they_arrived(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path, "*.csv")
    _land(lakehouse, "export.csv", ["C1"], datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
    _land(lakehouse, "export (1).csv", ["C2", "C3"], datetime(2026, 1, 2, 0, 1, tzinfo=UTC))
    assert _bronze(_run(spark, lakehouse, catalog)) == {"2026-01-01": 1, "2026-01-02": 2}
    assert _log(spark) == {"export.csv": "2026-01-01", "export (1).csv": "2026-01-02"}
    assert _run(spark, lakehouse, catalog).runs == []
