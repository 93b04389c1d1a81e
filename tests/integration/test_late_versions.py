"""Versions that arrive late through the whole pipeline (issue 18): a key deleted in SCD1
silver stays deleted when an older version of it lands afterwards."""

from __future__ import annotations

from datetime import date

import pytest

from lakehouse import tables
from lakehouse.config import load_settings
from lakehouse.pipeline import run_pipeline
from lakehouse.runs import BatchFilter
from lakehouse.specs import load_catalog
from tests.conftest import reset_catalog
from tests.integration.test_quality_at_scale import _land, _specs

pytestmark = pytest.mark.integration

SPEC = {"name": "things", "source": {"format": "csv"},
        "columns": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "int"},
                    {"name": "updated_at", "type": "timestamp", "required": True}, {"name": "op", "type": "string"}],
        "keys": ["id"], "ordering": "updated_at", "operation": {"column": "op", "delete_values": ["D"]}, "scd": 1}
DAYS = {
    "2026-01-01": ["k1,1,2026-01-01 10:00:00,I", "k2,1,2026-01-01 10:00:00,I"],
    "2026-01-02": ["k1,,2026-01-02 10:00:00,D"],
    # k1's version of noon on day 1 comes late, after its delete: it is superseded, not revived.
    "2026-01-03": ["k1,5,2026-01-01 12:00:00,U", "k2,,2026-01-03 10:00:00,D"],
}


def test_a_deleted_key_stays_deleted_when_an_older_version_lands_later(spark, tmp_path):
    reset_catalog(spark)
    specs = _specs(tmp_path, [SPEC])
    settings = load_settings(home=tmp_path / "home", shuffle_partitions=2, specs_dir=specs)
    for day, lines in DAYS.items():
        _land(settings, "things", day, "id,n,updated_at,op", lines)
    catalog = load_catalog(specs)
    runs = {}
    # Two runs: the insert and the delete, then the late version in a run of its own.
    for selection in (BatchFilter(end=date(2026, 1, 3)), BatchFilter(batch="2026-01-03")):
        result = run_pipeline(spark, settings, catalog, selection=selection, layers=("bronze", "silver"))
        runs.update({r.batch_id: r for r in result.by_layer("silver")})
    assert sorted(runs) == sorted(DAYS) and all(r.rows_read == r.accounted for r in runs.values())
    late = runs["2026-01-03"]
    assert (late.superseded, late.deleted, late.inserted, late.updated) == (1, 1, 0, 0)
    assert spark.table("silver.things").count() == 0
    markers = sorted((r["id"], str(r["updated_at"])) for r in spark.table("ops.things_deletes").collect())
    assert markers == [("k1", "2026-01-02 10:00:00"), ("k2", "2026-01-03 10:00:00")]

    versions = {t: tables.current_version(spark, t) for t in ("silver.things", "ops.things_deletes")}
    assert run_pipeline(spark, settings, catalog, layers=("bronze", "silver")).by_layer("silver") == []
    assert {t: tables.current_version(spark, t) for t in versions} == versions
