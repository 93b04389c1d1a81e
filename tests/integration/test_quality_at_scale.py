"""Issue 24: what went wrong only at scale, through the whole pipeline on small specs of
their own (one or two datasets, no gold): the quality gate switching between GX's engines
from run to run, and a large delivery with values on a decimal range's bounds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.pipeline import run_pipeline
from lakehouse.runs import BatchFilter
from lakehouse.specs import load_catalog
from tests.conftest import reset_catalog

pytestmark = pytest.mark.integration


def _specs(tmp_path: Path, specs: list[dict]) -> Path:
    root = tmp_path / "specs"
    (root / "datasets").mkdir(parents=True)
    for spec in specs:
        (root / "datasets" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def _land(settings, dataset: str, day: str, header: str, lines) -> None:
    folder = Path(settings.landing_uri) / dataset / day
    folder.mkdir(parents=True)
    with open(folder / "part-0.csv", "w") as out:
        out.write(header + "\n")
        out.writelines(line + "\n" for line in lines)


def _small(name: str) -> dict:
    return {"name": name, "source": {"format": "csv"},
            "columns": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "int"},
                        {"name": "updated_at", "type": "timestamp", "required": True}],
            "keys": ["id"], "ordering": "updated_at",
            "expectations": [{"name": "n_small", "type": "range", "column": "n", "max": 1000}]}


def test_the_gate_switches_engines_from_run_to_run(spark, tmp_path):
    """GX's Spark engine judges a batch above the (lowered) limit, its pandas engine the others:
    a large first run, a small one, then each dataset large while the other is small. Every
    run succeeds and closes its accounting (GX's stored state once broke every run after a
    Spark-engine run)."""
    reset_catalog(spark)
    specs = _specs(tmp_path, [_small("alpha"), _small("beta")])
    settings = load_settings(home=tmp_path / "home", shuffle_partitions=2, specs_dir=specs, gx_pandas_max_rows=20)
    sizes = {"2026-01-01": (30, 30), "2026-01-02": (5, 5), "2026-01-03": (30, 5), "2026-01-04": (5, 30)}
    for day, rows in sizes.items():
        for dataset, n in zip(("alpha", "beta"), rows):
            _land(settings, dataset, day, "id,n,updated_at", (f"{dataset}-{day}-{i},{i},{day} 10:00:00"
                                                              for i in range(n)))
    catalog = load_catalog(specs)
    for day, rows in sizes.items():
        result = run_pipeline(spark, settings, catalog, selection=BatchFilter(batch=day), layers=("bronze", "silver"))
        silver = {r.table_name: r for r in result.by_layer("silver")}
        engines = {v.table_name: v.engine for v in result.validations}
        for dataset, n in zip(("alpha", "beta"), rows):
            run = silver[f"silver.{dataset}"]
            assert run.rows_read == run.accounted == run.inserted == n, (day, dataset)
            assert engines[f"silver.{dataset}"] == ("spark" if n > 20 else "pandas"), (day, dataset)
    assert spark.table("ops.validations").count() == 2 * len(sizes) * 3  # id, updated_at required; n_small


def _cents(c: int) -> str:
    return f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}"


def test_a_large_delivery_with_balances_on_the_bounds_loads_whole(spark, tmp_path):
    """150,000 customers, every balance within -999.99..9999.99 and some on each bound: GX's
    pandas engine (below the 200,000-row limit) and the router both find nothing to quarantine.
    (GX once compared the exact decimal 9999.99 with the float 9999.98999... and stopped the run.)"""
    reset_catalog(spark)
    rows = 150_000
    specs = _specs(tmp_path, [{
        "name": "customers", "source": {"format": "csv"}, "keys": ["customer_id"], "ordering": "updated_at",
        "columns": [{"name": "customer_id", "type": "string", "required": True},
                    {"name": "balance", "type": "decimal(15,2)"},
                    {"name": "updated_at", "type": "timestamp", "required": True}],
        "expectations": [{"name": "balance_in_range", "type": "range", "column": "balance",
                          "min": -999.99, "max": 9999.99}]}])  # written as the YAML floats a user writes
    settings = load_settings(home=tmp_path / "home", shuffle_partitions=2, specs_dir=specs)
    low, high = -99_999, 999_999  # the bounds in cents
    # Both bounds every 1,000 rows; the rest spread over the range.
    balances = (low if i % 1000 == 0 else high if i % 1000 == 1 else low + (i * 7919) % (high - low + 1)
                for i in range(rows))
    _land(settings, "customers", "2026-01-01", "customer_id,balance,updated_at",
          (f"C{i:07d},{_cents(c)},2026-01-01 10:00:00" for i, c in enumerate(balances)))
    result = run_pipeline(spark, settings, load_catalog(specs), layers=("bronze", "silver"))
    (silver,) = result.by_layer("silver")
    assert (silver.rows_read, silver.inserted, silver.quarantined) == (rows, rows, 0)
    (validation,) = result.validations
    assert validation.engine == "pandas" and set(validation.unexpected().values()) == {0}
    extremes = spark.table("silver.customers").agg(F.min("balance"), F.max("balance"),
                                                   F.count_if(F.col("balance") == Decimal("9999.99"))).first()
    assert tuple(extremes) == (Decimal("-999.99"), Decimal("9999.99"), rows // 1000)
