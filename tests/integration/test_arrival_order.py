"""A dataset without an `ordering` column orders the versions of a key by arrival: the later
batch, then the later file (by path), then the later line. Silver keeps each row's place in
`_arrival`, so a later delivery is compared with it in any run; deletes leave markers by it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from lakehouse import tables
from lakehouse.config import PROJECT_ROOT
from lakehouse.pipeline import run_pipeline
from lakehouse.schema_evolution import SchemaChangeRefused
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration


def _catalog(tmp_path, ordering: str | None = None):
    specs = tmp_path / "specs"
    shutil.rmtree(specs, ignore_errors=True)
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    path = specs / "datasets" / "products.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.pop("ordering")
    if ordering:
        spec["ordering"] = ordering
    path.write_text(yaml.safe_dump(spec))
    return load_catalog(specs)


def _product(pid: str, price: str, at: str = "12:00:00", op: str = "") -> str:
    # updated_at runs against arrival in these tests, so an ordering by it would pick otherwise.
    return json.dumps({"product_id": pid, "name": f"Product {pid}", "category": "tools", "price": price,
                       "updated_at": f"2026-01-01T{at}", "op": op})


def _land(settings, day: str, name: str, lines: list[str]) -> Path:
    path = Path(settings.landing_uri) / "products" / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _run(spark, settings, catalog):
    result = run_pipeline(spark, settings, catalog, datasets=["products"], layers=("bronze", "silver"))
    silver = result.by_layer("silver")
    assert all(r.rows_read == r.accounted for r in silver)
    return {r.batch_id: r for r in silver}


def _prices(spark) -> dict[str, str]:
    return {r["product_id"]: str(r["price"]) for r in spark.table("silver.products").collect()}


def test_without_an_ordering_the_version_that_arrived_later_wins(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path)
    # Day 1, file a: P1 twice (the later line wins), P2 and an exact copy of it (a duplicate).
    # File b, after a by path: P1 again (the later file wins) and P3.
    _land(lakehouse, "2026-01-01", "a.jsonl", [_product("P1", "10.00", "15:00:00"), _product("P2", "20.00"),
                                                _product("P1", "11.00", "14:00:00"), _product("P2", "20.00")])
    _land(lakehouse, "2026-01-01", "b.jsonl", [_product("P3", "30.00"), _product("P1", "12.00", "09:00:00")])
    day = _run(spark, lakehouse, catalog)["2026-01-01"]
    assert (day.rows_read, day.inserted, day.duplicates, day.superseded) == (6, 3, 1, 2)
    assert _prices(spark) == {"P1": "12.00", "P2": "20.00", "P3": "30.00"}
    arrival = {r["product_id"]: r["_arrival"] for r in spark.table("silver.products").collect()}
    assert arrival["P1"].startswith("2026-01-01\t") and "/products/2026-01-01/b.jsonl\t" in arrival["P1"]
    before = tables.current_version(spark, "silver.products")
    assert _run(spark, lakehouse, catalog) == {}
    assert tables.current_version(spark, "silver.products") == before
    # Day 3 corrects P2 with an older updated_at: it arrived later, so it applies.
    _land(lakehouse, "2026-01-03", "a.jsonl", [_product("P2", "21.00", "08:00:00")])
    assert _run(spark, lakehouse, catalog)["2026-01-03"].updated == 1
    # Day 2 lands after day 3 was loaded: its batch is earlier, so its P2 is superseded.
    _land(lakehouse, "2026-01-02", "a.jsonl", [_product("P2", "25.00", "23:00:00"), _product("P4", "40.00")])
    day = _run(spark, lakehouse, catalog)["2026-01-02"]
    assert (day.inserted, day.superseded) == (1, 1)
    assert _prices(spark) == {"P1": "12.00", "P2": "21.00", "P3": "30.00", "P4": "40.00"}
    # A delete is a version by arrival too: a later batch's P3 brings it back, an earlier one's does not.
    _land(lakehouse, "2026-01-04", "a.jsonl", [_product("P3", "30.00", op="D")])
    assert _run(spark, lakehouse, catalog)["2026-01-04"].deleted == 1
    markers = spark.table(tables.DELETE_MARKERS_TABLE).collect()
    assert [(m["ordering_column"], m["batch_id"]) for m in markers] == [("_arrival", "2026-01-04")]
    assert markers[0]["ordering"].startswith("2026-01-04\t")
    _land(lakehouse, "2025-12-31", "a.jsonl", [_product("P3", "31.00", "23:00:00")])
    assert _run(spark, lakehouse, catalog)["2025-12-31"].superseded == 1
    assert "P3" not in _prices(spark)
    _land(lakehouse, "2026-01-05", "a.jsonl", [_product("P3", "33.00", "01:00:00")])
    assert _run(spark, lakehouse, catalog)["2026-01-05"].inserted == 1
    assert _prices(spark)["P3"] == "33.00"


def test_a_file_split_across_tasks_keeps_its_lines_in_order(spark, lakehouse, tmp_path):
    """2,000 versions of one key in one file read in several splits: the last line wins, and
    bronze's `_position` increases with the line."""
    catalog = _catalog(tmp_path)
    path = _land(lakehouse, "2026-01-01", "many.jsonl", [_product("P1", f"{i}.00") for i in range(1, 2001)])
    spark.conf.set("spark.sql.files.maxPartitionBytes", "16384")
    try:
        assert spark.read.text(str(path)).rdd.getNumPartitions() > 5
        day = _run(spark, lakehouse, catalog)["2026-01-01"]
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert (day.inserted, day.superseded) == (1, 1999)
    assert _prices(spark) == {"P1": "2000.00"}
    rows = spark.table("bronze.products").select("price", "_position").collect()
    assert [int(r["price"].split(".")[0]) for r in sorted(rows, key=lambda r: r["_position"])] == list(range(1, 2001))


def test_a_dataset_that_drops_its_ordering_compares_by_arrival_from_then_on(spark, lakehouse, tmp_path):
    _land(lakehouse, "2026-01-01", "a.jsonl", [_product("P1", "10.00", "15:00:00"), _product("P2", "20.00")])
    _run(spark, lakehouse, _catalog(tmp_path, ordering="updated_at"))
    # Day 2: P1's older version, and a delete of P3, which silver never held (a marker by updated_at).
    _land(lakehouse, "2026-01-02", "a.jsonl", [_product("P1", "11.00", "09:00:00"), _product("P3", "1.00", op="D")])
    assert _run(spark, lakehouse, _catalog(tmp_path, ordering="updated_at"))["2026-01-02"].superseded == 2
    # Without the ordering, silver gains `_arrival` (null in its older rows): day 3's older
    # updated_at applies, and day 2, already applied, stays as it was.
    _land(lakehouse, "2026-01-03", "a.jsonl", [_product("P1", "12.00", "08:00:00")])
    catalog = _catalog(tmp_path)
    assert _run(spark, lakehouse, catalog)["2026-01-03"].updated == 1
    assert _prices(spark) == {"P1": "12.00", "P2": "20.00"}
    assert "_arrival" in spark.table("silver.products").columns
    # P2's row has no arrival: it stands at its batch, day 1, so an earlier day landing late
    # is superseded, whatever its updated_at.
    # So does P3's delete marker, by updated_at: P3 of an earlier day stays deleted.
    _land(lakehouse, "2025-12-30", "a.jsonl", [_product("P2", "25.00", "23:59:00"), _product("P3", "3.00")])
    assert _run(spark, lakehouse, catalog)["2025-12-30"].superseded == 2
    assert _prices(spark) == {"P1": "12.00", "P2": "20.00"}
    # Naming an ordering again is refused with one line: the table keeps its arrival column.
    with pytest.raises(SchemaChangeRefused, match=r"^silver.products: the table orders versions by arrival"):
        _run(spark, lakehouse, _catalog(tmp_path, ordering="updated_at"))
