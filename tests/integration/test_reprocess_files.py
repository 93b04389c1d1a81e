"""A landing file that changed after it was loaded (a source's corrected export under the
same name) is refused by a run, naming the command that loads it on purpose:
`lakehouse reprocess <dataset> --file <path>` reads it again as it is now, in place of what
it held, with accounting that closes; a rerun changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from lakehouse import tables
from lakehouse.config import PROJECT_ROOT
from lakehouse.errors import LakehouseError, LandingError
from lakehouse.pipeline import run_pipeline, run_reprocess
from lakehouse.runs import REPLAY
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
CLICKS = """\
name: clicks
source: {format: csv}
mode: append
columns:
  - {name: page, type: string, required: true}
  - {name: ms, type: int}
"""


def _catalog(tmp_path):
    """products without its ordering column (versions by arrival), and clicks (append); no gold."""
    specs = tmp_path / "specs"
    (specs / "gold").mkdir(parents=True)
    (specs / "datasets").mkdir()
    products = yaml.safe_load((PROJECT_ROOT / "pipelines" / "datasets" / "products.yaml").read_text())
    products.pop("ordering")
    (specs / "datasets" / "products.yaml").write_text(yaml.safe_dump(products))
    (specs / "datasets" / "clicks.yaml").write_text(CLICKS)
    return load_catalog(specs)


def _product(pid: str, price: str) -> str:
    return json.dumps({"product_id": pid, "name": f"Product {pid}", "category": "tools", "price": price,
                       "updated_at": "2026-01-01T12:00:00", "op": ""})


def _land(settings, dataset: str, day: str, name: str, lines: list[str], touch: int = 0) -> Path:
    path = Path(settings.landing_uri) / dataset / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    if touch:  # a new modification time, as a source's new export has
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + touch * 1_000_000_000))
    return path


def _run(spark, settings, catalog, dataset):
    return run_pipeline(spark, settings, catalog, datasets=[dataset], layers=("bronze", "silver"))


def _closed(result):
    for run in result.runs:
        assert run.rows_read == run.accounted, run


def test_a_changed_file_is_read_again_on_purpose_and_its_versions_arrive_later(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path)
    _land(lakehouse, "products", "2026-01-01", "pim.jsonl", [_product("P1", "10.00"), _product("P2", "-1.00")])
    _land(lakehouse, "products", "2026-01-02", "pim.jsonl", [_product("P3", "30.00")])
    _run(spark, lakehouse, catalog, "products")
    assert spark.table(tables.QUARANTINE_TABLE).count() == 1  # P2's price
    # Day 1's export is sent again, corrected: P1 at another price (same updated_at), P2's
    # price fixed, and P3, which day 2 holds newer.
    _land(lakehouse, "products", "2026-01-01", "pim.jsonl",
          [_product("P1", "11.00"), _product("P2", "20.00"), _product("P3", "3.00")], touch=5)
    with pytest.raises(LandingError, match=r"pim.jsonl: changed after batch 2026-01-01 loaded it .*"
                                           r"lakehouse reprocess products --file 2026-01-01/pim.jsonl$"):
        _run(spark, lakehouse, catalog, "products")
    with pytest.raises(LakehouseError, match=r"^2026-01-01/nope.jsonl: no file of products under "):
        run_reprocess(spark, lakehouse, catalog, "products", files=["2026-01-01/nope.jsonl"])

    replayed, result = run_reprocess(spark, lakehouse, catalog, "products", files=["2026-01-01/pim.jsonl"])
    _closed(result)
    bronze, silver = sorted(result.by_layer(REPLAY), key=lambda r: r.table_name)
    assert (bronze.table_name, bronze.rows_read, bronze.inserted) == ("bronze.products", 3, 3)
    assert "in place of the 2 record(s) bronze held of them" in bronze.detail
    # Read later than day 1's first reading, so P1's and P2's new versions apply; day 2's P3 stays.
    assert (silver.rows_read, silver.updated, silver.inserted, silver.superseded) == (3, 1, 1, 1)
    prices = {r["product_id"]: str(r["price"]) for r in spark.table("silver.products").collect()}
    assert prices == {"P1": "11.00", "P2": "20.00", "P3": "30.00"}
    assert spark.table(tables.QUARANTINE_TABLE).count() == 0  # the file's quarantined record is gone with it
    log = spark.table(tables.LANDING_FILES_TABLE).where("path LIKE '%2026-01-01/pim.jsonl'").orderBy("recorded_at")
    assert [r["outcome"] for r in log.collect()] == ["loaded", "reprocessed"]

    # The file log holds the file as it is now: a run loads nothing, a second reprocess reads nothing.
    versions = {t: tables.current_version(spark, t) for t in ("bronze.products", "silver.products")}
    assert _run(spark, lakehouse, catalog, "products").runs == []
    again, rerun = run_reprocess(spark, lakehouse, catalog, "products", files=["2026-01-01/pim.jsonl"])
    assert (again.unchanged, again.runs, rerun.runs) == ([replayed.files[0]], [], [])
    assert {t: tables.current_version(spark, t) for t in versions} == versions


def test_an_append_datasets_file_read_again_replaces_its_records(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path)
    _land(lakehouse, "clicks", "2026-01-01", "web.csv", ["page,ms", "/a,1", "/a,1", "/b,x"])
    _land(lakehouse, "clicks", "2026-01-01", "app.csv", ["page,ms", "/c,3"])
    _run(spark, lakehouse, catalog, "clicks")
    assert spark.table("silver.clicks").count() == 3
    _land(lakehouse, "clicks", "2026-01-01", "web.csv", ["page,ms", "/a,1", "/b,2"], touch=5)
    replayed, result = run_reprocess(spark, lakehouse, catalog, "clicks", files=["2026-01-01/web.csv"])
    _closed(result)
    silver = next(r for r in result.by_layer(REPLAY) if r.table_name == "silver.clicks")
    assert (silver.rows_read, silver.inserted) == (2, 2)
    assert "2 record(s) the files held when read before removed" in silver.detail
    clicks = sorted((r["page"], r["ms"]) for r in spark.table("silver.clicks").collect())
    assert clicks == [("/a", 1), ("/b", 2), ("/c", 3)]  # app.csv's record untouched
