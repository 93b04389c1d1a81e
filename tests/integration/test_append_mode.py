"""An append dataset (`mode: append`) has no keys: every record lands once, equal records
included, and none replaces another. A file holding exactly the lines of one already loaded is
a copy: not loaded (its records would count twice), logged and reported. A retry after a crash
between silver's write and its audit inserts nothing twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lakehouse import tables
from lakehouse.config import PROJECT_ROOT
from lakehouse.pipeline import run_pipeline
from lakehouse.schema_evolution import SchemaChangeRefused
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
HEADER = "clicked_at,page,user_id,ms"
SPEC = """\
name: clicks
description: Page clicks from the web server, as CSV; no record has a key.
source: {format: csv}
mode: append
columns:
  - {name: clicked_at, type: timestamp, required: true}
  - {name: page, type: string, required: true}
  - {name: user_id, type: string}
  - {name: ms, type: int}
expectations:
  - {name: ms_is_sane, type: range, column: ms, min: 0, max: 60000, action: quarantine}
  - {name: volume_is_steady, type: row_count_change, max_change: 0.5, action: warn}
"""


def _catalog(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    (specs / "datasets" / "clicks.yaml").write_text(SPEC)
    return load_catalog(specs)


def _land(settings, day: str, name: str, lines: list[str]) -> Path:
    path = Path(settings.landing_uri) / "clicks" / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def _run(spark, settings, catalog):
    result = run_pipeline(spark, settings, catalog, datasets=["clicks"], layers=("bronze", "silver"))
    assert all(r.rows_read == r.accounted for r in result.by_layer("silver"))
    return result


def _silver(result) -> dict[str, tuple]:
    return {r.batch_id: (r.rows_read, r.inserted, r.quarantined, r.duplicates, r.superseded)
            for r in result.by_layer("silver")}


def _clicks(spark) -> list[tuple]:
    return sorted((str(r["clicked_at"]), r["page"], r["ms"]) for r in spark.table("silver.clicks").collect())


DAY1 = ["2026-01-01 10:00:00,/home,U1,120", "2026-01-01 10:00:00,/home,U1,120",  # the same click twice
        "2026-01-01 10:00:05,/cart,U2,99999", "2026-01-01 10:00:07,/cart,,80"]


def test_every_record_lands_once_and_a_copied_file_is_not_loaded_again(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path)
    _land(lakehouse, "2026-01-01", "web-1.csv", DAY1)
    result = _run(spark, lakehouse, catalog)
    assert _silver(result) == {"2026-01-01": (4, 3, 1, 0, 0)}
    assert _clicks(spark) == [("2026-01-01 10:00:00", "/home", 120), ("2026-01-01 10:00:00", "/home", 120),
                              ("2026-01-01 10:00:07", "/cart", 80)]
    assert _run(spark, lakehouse, catalog).runs == []
    # Day 2: the source sends day 1's file again under another name, and a new one.
    _land(lakehouse, "2026-01-02", "web-1-resent.csv", DAY1)
    _land(lakehouse, "2026-01-02", "web-2.csv", ["2026-01-02 09:00:00,/home,U3,50"])
    result = _run(spark, lakehouse, catalog)
    assert _silver(result) == {"2026-01-02": (1, 1, 0, 0, 0)}
    assert any(n.startswith("not loaded: ") and "web-1-resent.csv holds the same lines as" in n and "web-1.csv" in n
               for n in result.notices)
    bronze = result.by_layer("bronze")[0]
    # The copy's records are read and counted as duplicates: the audit accounts for every line landed.
    assert (bronze.rows_read, bronze.inserted, bronze.duplicates) == (5, 1, 4)
    assert "1 file(s) not loaded, exact copies" in bronze.detail
    log = {r["path"].rsplit("/", 1)[1]: r["outcome"] for r in spark.table(tables.LANDING_FILES_TABLE).collect()}
    assert log["web-2.csv"] == "loaded" and log["web-1-resent.csv"].startswith("copy of ")
    assert spark.table("silver.clicks").count() == 4
    # Day 3 holds only a copy: the batch loads nothing, and says so. Day 4, in the same run,
    # has no batch of records before it to compare its volume with (the router and Great
    # Expectations agree: a batch of 0 records is a batch).
    _land(lakehouse, "2026-01-03", "again.csv", ["2026-01-02 09:00:00,/home,U3,50"])
    _land(lakehouse, "2026-01-04", "web-4.csv", [f"2026-01-04 09:00:0{i},/home,U{i},50" for i in range(3)])
    result = _run(spark, lakehouse, catalog)
    assert _silver(result) == {"2026-01-03": (0, 0, 0, 0, 0), "2026-01-04": (3, 3, 0, 0, 0)}
    assert all(r.warnings == {} for r in result.by_layer("silver"))
    assert spark.table("silver.clicks").count() == 7
    # An append table cannot become an upsert one (nor the other way): refused with one line.
    upsert = (tmp_path / "specs" / "datasets" / "clicks.yaml")
    upsert.write_text(SPEC.replace("mode: append", "keys: [clicked_at, page]"))
    with pytest.raises(SchemaChangeRefused, match=r"^silver.clicks: the spec's mode is upsert, the table was built "
                                                  r"as an append table"):
        _run(spark, lakehouse, load_catalog(tmp_path / "specs"))


def test_a_retry_after_silver_wrote_inserts_nothing_twice(spark, lakehouse, tmp_path, monkeypatch):
    from lakehouse.layers import silver

    catalog = _catalog(tmp_path)
    _land(lakehouse, "2026-01-01", "web-1.csv", DAY1)

    def crash(*args, **kwargs):
        raise RuntimeError("killed after silver's write")

    monkeypatch.setattr(silver, "_write_quarantine", crash)
    with pytest.raises(RuntimeError, match="killed"):
        _run(spark, lakehouse, catalog)
    monkeypatch.undo()
    assert spark.table("silver.clicks").count() == 3
    # The retry finds the three records in silver (superseded) and writes no row twice.
    assert _silver(_run(spark, lakehouse, catalog)) == {"2026-01-01": (4, 0, 1, 0, 3)}
    assert spark.table("silver.clicks").count() == 3
