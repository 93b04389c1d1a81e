"""A delete is a version like any other: it leaves a marker (ops.delete_markers), so an older
version of the key arriving later, in another run, cannot bring the key back. Only a newer
version does. Deletes of keys silver does not hold are markers too, and a crash between
silver's MERGE and the markers' write is repaired by the retry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse import tables
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]


def _product(pid: str, at: str, price: str = "10.00", op: str = "") -> dict:
    return {"product_id": pid, "name": f"Product {pid}", "category": "tools", "price": price,
            "updated_at": f"2026-01-01T{at}", "op": op}


def _customer(cid: str, at: str, op: str = "") -> dict:
    return {"customer_id": cid, "email": f"{cid}@example.com", "full_name": f"Name {cid}", "country": "DE",
            "segment": "consumer", "signup_date": "2025-06-01", "updated_at": f"2026-01-01 {at}", "op": op}


def _land(settings, dataset: str, day: str, records: list[dict]) -> None:
    folder = Path(settings.landing_uri) / dataset / day
    folder.mkdir(parents=True, exist_ok=True)
    if dataset == "products":
        (folder / "products.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        header = list(records[0])
        lines = [",".join(header)] + [",".join(r[c] for c in header) for r in records]
        (folder / "customers.csv").write_text("\n".join(lines) + "\n")


def _run(spark, settings, dataset: str):
    result = run_pipeline(spark, settings, load_catalog(settings.specs_dir), datasets=[dataset],
                          layers=("bronze", "silver"))
    silver = result.by_layer("silver")
    assert all(r.rows_read == r.accounted for r in silver)
    return {r.batch_id: r for r in silver}


def _products(spark) -> dict[str, str]:
    return {r["product_id"]: str(r["price"]) for r in spark.table("silver.products").collect()}


def _markers(spark, dataset: str) -> dict[str, tuple[str, str]]:
    rows = spark.table(tables.DELETE_MARKERS_TABLE).where(f"dataset = '{dataset}'").collect()
    return {r["key"]: (r["ordering"], r["batch_id"]) for r in rows}


def test_an_older_version_arriving_after_a_delete_does_not_bring_the_key_back(spark, lakehouse):
    _land(lakehouse, "products", DAYS[0], [_product("P1", "10:00:00"), _product("P2", "10:00:00")])
    _run(spark, lakehouse, "products")
    # Day 2 deletes P1 at noon, and deletes P3, which silver never held.
    _land(lakehouse, "products", DAYS[1], [_product("P1", "12:00:00", op="D"), _product("P3", "12:00:00", op="D")])
    runs = _run(spark, lakehouse, "products")
    assert (runs[DAYS[1]].deleted, runs[DAYS[1]].superseded) == (1, 1)
    assert _products(spark) == {"P2": "10.00"}
    assert _markers(spark, "products") == {'{"product_id":"P1"}': ("2026-01-01 12:00:00.000000Z", DAYS[1]),
                                           '{"product_id":"P3"}': ("2026-01-01 12:00:00.000000Z", DAYS[1])}
    assert _markers_write(spark) == ("WRITE", "Append")  # the dataset's first markers: nothing to merge with
    # Day 3 brings versions older than the deletes: both stay deleted.
    _land(lakehouse, "products", DAYS[2], [_product("P1", "11:00:00", "11.00"), _product("P3", "11:30:00", "13.00")])
    runs = _run(spark, lakehouse, "products")
    assert (runs[DAYS[2]].inserted, runs[DAYS[2]].superseded) == (0, 2)
    assert _products(spark) == {"P2": "10.00"}
    before = {t: tables.current_version(spark, t) for t in ("silver.products", tables.DELETE_MARKERS_TABLE)}
    assert _run(spark, lakehouse, "products") == {}
    assert {t: tables.current_version(spark, t) for t in before} == before
    # Day 4: a version newer than the delete brings P1 back; the marker stays, older than it.
    _land(lakehouse, "products", DAYS[3], [_product("P1", "13:00:00", "14.00")])
    runs = _run(spark, lakehouse, "products")
    assert runs[DAYS[3]].inserted == 1
    assert _products(spark) == {"P1": "14.00", "P2": "10.00"}
    assert _markers(spark, "products")['{"product_id":"P1"}'] == ("2026-01-01 12:00:00.000000Z", DAYS[1])
    # Day 5 deletes P1 again, later: its marker moves on (one row per key), and day 6's
    # version between the two deletes is superseded.
    _land(lakehouse, "products", "2026-01-05", [_product("P1", "15:00:00", op="D")])
    assert _run(spark, lakehouse, "products")["2026-01-05"].deleted == 1
    assert _markers(spark, "products")['{"product_id":"P1"}'] == ("2026-01-01 15:00:00.000000Z", "2026-01-05")
    assert _markers_write(spark)[0] == "MERGE"
    assert spark.table(tables.DELETE_MARKERS_TABLE).count() == 2
    _land(lakehouse, "products", "2026-01-06", [_product("P1", "14:30:00")])
    assert _run(spark, lakehouse, "products")["2026-01-06"].superseded == 1
    assert _products(spark) == {"P2": "10.00"}


def _markers_write(spark) -> tuple[str, str | None]:
    """The operation of the markers table's newest commit, and its mode if a WRITE."""
    (row,) = spark.sql(f"DESCRIBE HISTORY {tables.DELETE_MARKERS_TABLE} LIMIT 1").collect()
    return row["operation"], row["operationParameters"].get("mode")


def _delete_killed_at(spark, settings, monkeypatch, module, step: str) -> None:
    """P1 loaded on day 1, deleted on day 2 by a run killed when it reaches `step` of `module`."""
    _land(settings, "products", DAYS[0], [_product("P1", "10:00:00")])
    _run(spark, settings, "products")
    _land(settings, "products", DAYS[1], [_product("P1", "12:00:00", op="D")])

    def crash(*args, **kwargs):
        raise RuntimeError(f"killed at {step}")

    monkeypatch.setattr(module, step, crash)
    with pytest.raises(RuntimeError, match="killed"):
        _run(spark, settings, "products")
    monkeypatch.undo()


def test_a_crash_between_the_merge_and_the_markers_is_repaired_by_the_retry(spark, lakehouse, monkeypatch):
    _delete_killed_at(spark, lakehouse, monkeypatch, tables, "merge_delete_markers")
    assert _products(spark) == {} and _markers(spark, "products") == {}
    runs = _run(spark, lakehouse, "products")  # the retry: silver's MERGE is done, the marker is not
    assert runs[DAYS[1]].superseded == 1
    assert _markers(spark, "products") == {'{"product_id":"P1"}': ("2026-01-01 12:00:00.000000Z", DAYS[1])}
    _land(lakehouse, "products", DAYS[2], [_product("P1", "11:00:00")])
    _run(spark, lakehouse, "products")
    assert _products(spark) == {}


def test_a_crash_after_the_markers_leaves_a_retry_that_rewrites_nothing(spark, lakehouse, monkeypatch):
    """Killed after the markers' commit, before the quarantine and audit: the retry finds the
    delete already applied and marked (superseded) and writes no marker again."""
    from lakehouse.layers import silver

    _delete_killed_at(spark, lakehouse, monkeypatch, silver, "_write_quarantine")
    version = tables.current_version(spark, tables.DELETE_MARKERS_TABLE)
    assert _markers(spark, "products") == {'{"product_id":"P1"}': ("2026-01-01 12:00:00.000000Z", DAYS[1])}
    assert _run(spark, lakehouse, "products")[DAYS[1]].superseded == 1
    assert tables.current_version(spark, tables.DELETE_MARKERS_TABLE) == version


def test_scd2_history_does_not_reopen_a_key_deleted_before_it_arrived(spark, lakehouse):
    """The delete of a customer silver never held lands first; its older version after it."""
    _land(lakehouse, "customers", DAYS[0], [_customer("C1", "10:00:00"), _customer("C2", "12:00:00", op="D")])
    _run(spark, lakehouse, "customers")
    _land(lakehouse, "customers", DAYS[1], [_customer("C2", "11:00:00"), _customer("C1", "09:00:00")])
    runs = _run(spark, lakehouse, "customers")
    assert runs[DAYS[1]].superseded == 2
    rows = spark.table("silver.customers").collect()
    assert [(r["customer_id"], r["is_current"]) for r in rows] == [("C1", True)]
    assert list(_markers(spark, "customers")) == ['{"customer_id":"C2"}']
