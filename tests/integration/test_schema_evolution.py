"""Schema evolution (issue 18, item 5): a spec that adds a nullable column or widens a type
changes the existing bronze and silver tables in place; any other change is refused with one
line, before either table changes."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline
from lakehouse.runs import OUTCOMES, BatchFilter
from lakehouse.schema_evolution import SchemaChangeRefused
from lakehouse.specs import load_catalog
from tests.integration.test_pipeline import _sorted, _versions

pytestmark = pytest.mark.integration
DAYS = ("2026-01-01", "2026-01-02")
TIER = {"name": "loyalty_tier", "type": "string", "description": "the customer's loyalty programme tier"}


def _edit_spec(specs: Path, dataset: str, edit) -> None:
    path = specs / "datasets" / f"{dataset}.yaml"
    spec = yaml.safe_load(path.read_text())
    edit(spec)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def _column(spec: dict, name: str) -> dict:
    return next(c for c in spec["columns"] if c["name"] == name)


def _add_tier(spec: dict) -> None:  # declared after segment; the files carry it last (CSV is read by header)
    spec["columns"].insert(spec["columns"].index(_column(spec, "segment")) + 1, TIER)


def _widen(spec: dict) -> None:
    # One type change alone: Delta's change feed then fails with an error of its own
    # (..._INCOMPATIBLE_DATA_SCHEMA, not the ..._SCHEMA_CHANGE of several); int to bigint is
    # the cluster profile's case (tests/system/test_schema_evolution.py).
    _column(spec, "unit_price")["type"] = "decimal(12,3)"


def _widen_price(spec: dict) -> None:  # gold.product_performance's list_price is products.price as it is
    _column(spec, "price")["type"] = "decimal(12,2)"


def _land_day_two_in_the_new_shape(landing: Path) -> tuple[str, int]:
    """Day 2's customers carry a loyalty_tier column (appended to every line: a malformed line
    stays malformed); one of its order lines a price with three decimal places, which only the
    widened type holds. Returns that line's key."""
    for f in (landing / "customers" / DAYS[1]).iterdir():
        lines = f.read_text().split("\n")
        f.write_text("\n".join(line + (",loyalty_tier" if i == 0 else ",gold") if line.strip() else line
                               for i, line in enumerate(lines)))
    f = next((landing / "order_items" / DAYS[1]).iterdir())
    lines = f.read_text().split("\n")
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("op") == "I" and isinstance(record.get("unit_price"), float) and record.get("quantity") == 1:
            lines[i] = line.replace(f'"unit_price": {record["unit_price"]}', '"unit_price": 311.855')
            f.write_text("\n".join(lines))
            return record["order_id"], record["line_no"]
    raise AssertionError("no order line to give a third decimal place")


def _operations(spark, fqname: str) -> list[str]:
    return [r[0] for r in spark.sql(f"DESCRIBE HISTORY {fqname}").orderBy("version").select("operation").collect()]


def test_a_spec_adds_a_column_and_widens_types_then_refuses_what_it_cannot_apply(spark, lakehouse, tmp_path):
    landing = Path(lakehouse.landing_uri)
    generate(landing, scale=0.1, seed=7, days=len(DAYS))
    specs = tmp_path / "specs"
    shutil.copytree(lakehouse.specs_dir, specs)
    settings = lakehouse.model_copy(update={"specs_dir": specs})
    run_pipeline(spark, settings, load_catalog(specs), selection=BatchFilter(batch=DAYS[0]))
    first_prices = {(r.order_id, r.line_no): r.unit_price for r in spark.table("silver.order_items").collect()}

    _edit_spec(specs, "customers", _add_tier)
    _edit_spec(specs, "order_items", _widen)
    _edit_spec(specs, "products", _widen_price)
    key = _land_day_two_in_the_new_shape(landing)
    result = run_pipeline(spark, settings, load_catalog(specs), selection=BatchFilter(batch=DAYS[1]))
    assert all(r.status == "ok" for r in result.runs)

    # The new column sits where the spec declares it, with its description; older rows read null.
    for fqname in ("bronze.customers", "silver.customers"):
        fields = spark.table(fqname).schema.fields
        names = [f.name for f in fields]
        assert names[names.index("segment") + 1] == "loyalty_tier", fqname
        assert fields[names.index("loyalty_tier")].metadata.get("comment") == TIER["description"]
        assert "ADD COLUMNS" in _operations(spark, fqname), fqname
        tiers = {(r["_batch_id"], r["loyalty_tier"]) for r in spark.table(fqname).select("_batch_id", "loyalty_tier")
                 .distinct().collect()}
        assert tiers == {(DAYS[0], None), (DAYS[1], "gold")}, fqname

    # The widened types hold what the old ones did, and what only they can.
    items = spark.table("silver.order_items")
    assert dict(items.dtypes)["unit_price"] == "decimal(12,3)"
    assert _operations(spark, "silver.order_items").count("CHANGE COLUMN") == 1
    prices = {(r.order_id, r.line_no): r.unit_price for r in items.collect()}
    assert prices[key] == Decimal("311.855")
    still_day_one = {(r.order_id, r.line_no) for r in items.where(f"_batch_id = '{DAYS[0]}'").collect()}
    kept = [k for k in first_prices if k in prices and k != key and k in still_day_one]
    assert kept and all(prices[k] == first_prices[k] for k in kept)

    # Gold follows: every table equals its SQL over silver now (its change feed across the
    # widened type cannot be read, so gold rebuilt what it needed), a table whose column types
    # followed the widening was replaced, and publish published every table's newest version.
    catalog = load_catalog(specs)
    published = {r.table_name: r.v for r in spark.sql("SELECT table_name, max(delta_version) AS v "
                                                      "FROM ops.published GROUP BY table_name").collect()}
    replaced, now = 0, _versions(spark)
    for name, spec in catalog.gold.items():
        assert _sorted(spark.table(f"gold.{name}").collect()) == _sorted(spark.sql(spec.sql).collect()), name
        replaced += "CREATE OR REPLACE TABLE" in _operations(spark, f"gold.{name}")
        assert published[f"gold.{name}"] == now[f"gold.{name}"], name
    assert replaced == 1 and dict(spark.table("gold.product_performance").dtypes)["list_price"] == "decimal(12,2)"
    audit = spark.table("ops.audit").where("status = 'ok'").collect()
    assert audit and all(r.rows_read == sum(r[c] for c in OUTCOMES) for r in audit if r.layer == "silver")

    versions = _versions(spark)
    run_pipeline(spark, settings, catalog)  # a rerun changes nothing
    assert _versions(spark) == versions

    # What cannot be applied is refused with one line, and no table changes.
    refused = {
        "order_items": (lambda s: _column(s, "unit_price").update(type="decimal(10,2)"),
                        r"^silver\.order_items: column unit_price is decimal\(12,3\) in the table and "
                        r"decimal\(10,2\) in the spec"),
        "customers": (lambda s: s["columns"].remove(_column(s, "full_name")),
                      r"^bronze\.customers: column full_name is in the table but no longer in the spec"),
        "products": (lambda s: s["columns"].append({"name": "origin", "type": "string", "required": True}),
                     r"^bronze\.products: new column origin is required"),
    }
    for dataset, (edit, message) in refused.items():
        saved = (specs / "datasets" / f"{dataset}.yaml").read_text()
        _edit_spec(specs, dataset, edit)
        with pytest.raises(SchemaChangeRefused, match=message):
            run_pipeline(spark, settings, load_catalog(specs), datasets=[dataset])
        (specs / "datasets" / f"{dataset}.yaml").write_text(saved)
    assert _versions(spark) == versions
