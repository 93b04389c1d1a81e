"""A snapshot dataset (`mode: snapshot`) is delivered whole each time: a key the latest
snapshot lacks is deleted (a marker keeps it deleted), a key it holds again comes back, and
the keys of records it quarantines are still in it. A snapshot with a record whose key cannot
be read deletes nothing for being absent, and says so."""

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
SPEC = """\
name: carriers
description: Airline codes and names, delivered whole.
source: {format: csv}
mode: snapshot
columns:
  - {name: carrier, type: string, required: true}
  - {name: name, type: string, required: true}
  - {name: fleet, type: int}
keys: [carrier]
expectations:
  - {name: fleet_is_sane, type: range, column: fleet, min: 0, max: 5000, action: quarantine}
"""


def _catalog(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    (specs / "datasets" / "carriers.yaml").write_text(SPEC)
    return load_catalog(specs)


def _land(settings, day: str, lines: list[str]) -> Path:
    path = Path(settings.landing_uri) / "carriers" / day / "carriers.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["carrier,name,fleet", *lines]) + "\n")
    return path


def _run(spark, settings, catalog):
    result = run_pipeline(spark, settings, catalog, datasets=["carriers"], layers=("bronze", "silver"))
    silver = result.by_layer("silver")
    assert all(r.rows_read == r.accounted for r in silver)
    return {r.batch_id: r for r in silver}


def _carriers(spark) -> dict[str, str]:
    return {r["carrier"]: r["name"] for r in spark.table("silver.carriers").collect()}


def _counts(run) -> tuple:
    return run.inserted, run.updated, run.deleted, run.quarantined, run.superseded


def test_a_snapshot_deletes_the_keys_it_lacks(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path)
    _land(lakehouse, "2026-01-01", ["AA,American,900", "UA,United,800", "DL,Delta,850"])
    assert _counts(_run(spark, lakehouse, catalog)["2026-01-01"]) == (3, 0, 0, 0, 0)
    # Day 2 lacks DL and renames UA; AA is unchanged (superseded: nothing to write).
    _land(lakehouse, "2026-01-02", ["AA,American,900", "UA,United Airlines,800"])
    day = _run(spark, lakehouse, catalog)["2026-01-02"]
    assert _counts(day) == (0, 1, 0, 0, 1) and "1 key(s) absent from the snapshot deleted" in day.detail
    assert _carriers(spark) == {"AA": "American", "UA": "United Airlines"}
    markers = spark.table(tables.DELETE_MARKERS_TABLE).collect()
    assert [(m["key"], m["ordering"]) for m in markers] == [('{"carrier":"DL"}', "2026-01-02")]
    before = tables.current_version(spark, "silver.carriers")
    assert _run(spark, lakehouse, catalog) == {}
    assert tables.current_version(spark, "silver.carriers") == before
    # Day 4 and then day 3, landing late: day 3 is older than the snapshot silver holds, so
    # neither its DL nor its lack of UA changes anything.
    _land(lakehouse, "2026-01-04", ["AA,American,901", "UA,United Airlines,800", "B6,JetBlue,5001"])
    day = _run(spark, lakehouse, catalog)["2026-01-04"]
    assert _counts(day) == (0, 1, 0, 1, 1)  # B6 quarantined, but still in the snapshot
    _land(lakehouse, "2026-01-03", ["AA,American,900", "DL,Delta,850"])
    day = _run(spark, lakehouse, catalog)["2026-01-03"]
    assert _counts(day) == (0, 0, 0, 0, 2) and "absent" not in (day.detail or "")
    assert _carriers(spark) == {"AA": "American", "UA": "United Airlines"}
    # Day 5 holds a line whose key cannot be read: nothing is deleted for being absent.
    _land(lakehouse, "2026-01-05", ['"AA,American,902', "DL,Delta,850"])
    day = _run(spark, lakehouse, catalog)["2026-01-05"]
    assert (day.inserted, day.quarantined) == (1, 1) and "none was deleted for being absent" in day.detail
    assert _carriers(spark) == {"AA": "American", "UA": "United Airlines", "DL": "Delta"}
    # Day 6 is whole again: UA is deleted, and B6, quarantined on day 4, never landed.
    _land(lakehouse, "2026-01-06", ["AA,American,902", "DL,Delta,850"])
    day = _run(spark, lakehouse, catalog)["2026-01-06"]
    assert _counts(day) == (0, 1, 0, 0, 1) and "1 key(s) absent from the snapshot deleted" in day.detail
    assert _carriers(spark) == {"AA": "American", "DL": "Delta"}
    # Day 7 holds the header alone: likelier a failed export than an empty table.
    _land(lakehouse, "2026-01-07", [])
    day = _run(spark, lakehouse, catalog)["2026-01-07"]
    assert day.rows_read == 0 and "holds no records: none was deleted" in day.detail
    assert _carriers(spark) == {"AA": "American", "DL": "Delta"}


def test_snapshots_of_one_run_apply_in_order(spark, lakehouse, tmp_path):
    """An upsert dataset becomes a snapshot one; then four days in one run: each whole
    snapshot deletes against every key held since the whole one before it (day 4, a header
    alone, deletes nothing and holds what day 3 held). A snapshot table does not go back."""
    catalog = _catalog(tmp_path)
    spec = tmp_path / "specs" / "datasets" / "carriers.yaml"
    spec.write_text(SPEC.replace("mode: snapshot\n", ""))
    _land(lakehouse, "2026-01-01", ["AA,American,900", "UA,United,800"])
    assert _counts(_run(spark, lakehouse, load_catalog(tmp_path / "specs"))["2026-01-01"]) == (2, 0, 0, 0, 0)
    spec.write_text(SPEC)
    _land(lakehouse, "2026-01-02", ["AA,American,900"])
    _land(lakehouse, "2026-01-03", ["AA,American,900", "UA,United,801"])
    _land(lakehouse, "2026-01-04", [])
    _land(lakehouse, "2026-01-05", ["AA,American,900"])
    runs = _run(spark, lakehouse, catalog)
    assert [_counts(runs[d]) for d in sorted(runs)] == [(0, 0, 0, 0, 1), (1, 0, 0, 0, 1), (0, 0, 0, 0, 0),
                                                        (0, 0, 0, 0, 1)]
    for day in ("2026-01-02", "2026-01-05"):
        assert "1 key(s) absent from the snapshot deleted" in runs[day].detail
    assert {r["carrier"]: r["fleet"] for r in spark.table("silver.carriers").collect()} == {"AA": 900}
    assert tables.table_mode(spark, "silver.carriers") == "snapshot"
    spec.write_text(SPEC.replace("mode: snapshot\n", ""))
    with pytest.raises(SchemaChangeRefused, match=r"^silver.carriers: the spec's mode is upsert, the table was built "
                                                  r"as a snapshot table"):
        _run(spark, lakehouse, load_catalog(tmp_path / "specs"))
