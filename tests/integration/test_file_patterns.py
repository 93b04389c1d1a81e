"""Files land where a source puts them: a spec's `source.files` pattern names each file's batch
(`customers_{yyyy}{mm}{dd}*.csv` in one flat folder), and datasets may share a folder. Late
files, a file no pattern takes and a lost file log behave as with day folders."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from lakehouse import tables
from lakehouse.config import PROJECT_ROOT
from lakehouse.errors import LandingError
from lakehouse.layers.discovery import landing_batches
from lakehouse.pipeline import run_pipeline
from lakehouse.runs import BatchFilter
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


def _land(settings, relative: str, ids: list[str]) -> Path:
    path = Path(settings.landing_uri) / "customers" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{c},{c}@example.com,Name {c},DE,consumer,2025-06-01,2026-01-01 10:00:00,I" for c in ids]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
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


def test_two_datasets_share_one_export_folder(spark, lakehouse, tmp_path):
    """One flat export folder for two tables: each takes the files its pattern takes, at any
    depth, and a file neither takes is refused once, by the first."""
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    for name, files in (("customers", "**/customers_{date}.csv"), ("products", "**/products_{date}.jsonl")):
        path = specs / "datasets" / f"{name}.yaml"
        spec = yaml.safe_load(path.read_text())
        spec["source"] = {**spec["source"], "path": "exports", "files": files}
        path.write_text(yaml.safe_dump(spec))
    catalog = load_catalog(specs)
    exports = Path(lakehouse.landing_uri) / "exports"
    (exports / "eu").mkdir(parents=True)
    _land(lakehouse, "../exports/eu/customers_2026-01-01.csv", ["C1", "C2"])
    (exports / "products_2026-01-01.jsonl").write_text(
        '{"product_id": "P1", "name": "p", "category": "tools", "price": 1.5, "updated_at": "2026-01-01T10:00:00Z", '
        '"op": "I"}\n')
    result = run_pipeline(spark, lakehouse, catalog, datasets=["customers", "products"], layers=("bronze", "silver"))
    assert {(r.table_name, r.batch_id, r.rows_read) for r in result.by_layer("bronze")} == {
        ("bronze.customers", "2026-01-01", 2), ("bronze.products", "2026-01-01", 1)}
    (exports / "orders_2026-01-02.csv").write_text("x\n")
    with pytest.raises(LandingError, match=r"exports/orders_2026-01-02.csv: does not match the dataset's files"):
        run_pipeline(spark, lakehouse, catalog, datasets=["customers", "products"], layers=("bronze",))


def test_a_drop_folder_takes_arrival_order(spark, lakehouse, tmp_path):
    """A pattern naming no day: a file belongs to the batch of the run that first finds it (its
    interval's day, as Airflow runs it), which the file log holds from then on; a file arriving
    after its day's batch waits for the next; a lost log is rebuilt from bronze's paths."""
    catalog = _catalog(tmp_path, "**/*.csv")

    def run(day: str):
        result = run_pipeline(spark, lakehouse, catalog, datasets=["customers"], layers=("bronze", "silver"),
                              selection=BatchFilter(batch=day))
        assert all(r.rows_read == r.accounted for r in result.by_layer("silver"))
        return result

    _land(lakehouse, "export.csv", ["C1", "C2"])
    _land(lakehouse, "eu/export-eu.csv", ["C3"])
    assert _bronze(run("2026-01-01")) == {"2026-01-01": 3}
    _land(lakehouse, "later.csv", ["C4"])
    result = run("2026-01-01")  # its interval loaded already: it waits
    assert result.runs == [] and "later.csv arrived in a run of batch 2026-01-01, not after every batch loaded" \
        in result.notices[0]
    # ... and a dataset referencing customers in that interval finds it due in no batch of it
    assert landing_batches(spark, lakehouse, catalog.datasets["customers"], BatchFilter(end=date(2026, 1, 2)),
                           {"2026-01-01"}) == []
    assert _bronze(run("2026-01-02")) == {"2026-01-02": 1}
    assert _log(spark) == {"export.csv": "2026-01-01", "export-eu.csv": "2026-01-01", "later.csv": "2026-01-02"}
    assert spark.table("silver.customers").count() == 4
    # The log lost (a crash between bronze's commit and the log's): its path is all a file of
    # arrival order has, so bronze is asked, and its files keep their batches, not loaded again.
    spark.sql(f"DELETE FROM {tables.LANDING_FILES_TABLE}")
    assert run("2026-01-03").by_layer("bronze") == []
    assert _log(spark) == {"export.csv": "2026-01-01", "export-eu.csv": "2026-01-01", "later.csv": "2026-01-02"}


def test_a_file_gone_between_listing_and_read_refuses_its_batch_and_the_rerun_converges(
        spark, lakehouse, tmp_path, monkeypatch):
    """A source that moves a file away while a run reads its folder (fault injection: the file
    is really deleted after the listing, and really read by Spark)."""
    from lakehouse.layers import bronze

    catalog = _catalog(tmp_path, "customers_{yyyy}{mm}{dd}*.csv")
    _land(lakehouse, "customers_20260101.csv", ["C1", "C2"])
    moved = _land(lakehouse, "customers_20260102.csv", ["C3"])
    real_read = bronze.read_file

    def read_after_the_source_moved_it(spark, spec, path):
        if path.endswith(moved.name) and moved.exists():
            moved.rename(tmp_path / moved.name)
        return real_read(spark, spec, path)

    monkeypatch.setattr(bronze, "read_file", read_after_the_source_moved_it)
    with pytest.raises(LandingError, match=r"customers_20260102.csv: listed, then gone when read"):
        _run(spark, lakehouse, catalog)
    monkeypatch.undo()
    assert spark.table("bronze.customers").count() == 0  # bronze reads every pending file before it writes
    assert _log(spark) == {}
    # Gone after it was counted, before the write read it again: the write fails, nothing commits
    (tmp_path / moved.name).rename(moved)
    real_replace = tables.replace_batches

    def replace_after_the_source_moved_it(*args, **kwargs):
        moved.rename(tmp_path / moved.name)
        return real_replace(*args, **kwargs)

    monkeypatch.setattr(tables, "replace_batches", replace_after_the_source_moved_it)
    with pytest.raises(LandingError, match=r"customers_20260102.csv: listed, then gone when read"):
        _run(spark, lakehouse, catalog)
    monkeypatch.undo()
    assert spark.table("bronze.customers").count() == 0 and _log(spark) == {}
    (tmp_path / moved.name).rename(moved)  # the source puts it back: the rerun loads both days, once
    assert _bronze(_run(spark, lakehouse, catalog)) == {"2026-01-01": 2, "2026-01-02": 1}
    assert spark.table("silver.customers").count() == 3
