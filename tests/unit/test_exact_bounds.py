"""Bounds and accepted values mean what the spec says, in every judge (issue 24): for columns
of several types, values at, just inside and just outside each bound get the verdict exact
arithmetic in the column's type gives, from the router, from GX's pandas engine and from its
Spark engine, and the accounting (the router's counts against GX's) closes."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
import yaml

from lakehouse.errors import SpecError
from lakehouse.quality import checks as Q
from lakehouse.quality.gate import QualityGate
from lakehouse.specs import DatasetSpec, load_catalog
from lakehouse.transforms import silver as T

# Per column type: the bounds (exact text, as a spec gives them) and the step to the next value.
CASES = {
    "decimal(4,1)": (["0.1", "9.9", "99.8", "-99.8"], Decimal("0.1")),
    "decimal(10,2)": (["0.1", "9.99", "9999.99", "-999.99"], Decimal("0.01")),
    "decimal(15,2)": (["0.1", "9.99", "9999.99", "-999.99", "9999999999999.98"], Decimal("0.01")),
    # 14 digits before the point: beyond a double's precision, so only an exact comparison can tell.
    "decimal(18,4)": (["0.1", "9.99", "19.95", "-999.99", "12345678901234.5678"], Decimal("0.0001")),
    "int": (["0", "9", "9999", "-999", "2147483646"], Decimal(1)),
    # beyond 2**53: a double (pandas' float64 for a bigint column with a null) cannot tell 2**53 + 1 from 2**53
    "bigint": (["0", "-999", str(2**53 + 1)], Decimal(1)),
    "double": (["0.1", "9.99", "9999.99", "-999.99"], None),  # the neighbours are the adjacent doubles
}
COLS = "id string, v string, ts string, _malformed_reason string, _schema_drift string, _rescued_data string, " \
       "_raw string, _source_file string, _batch_id string"


def _spec(column_type: str, bounds: list[str]) -> DatasetSpec:
    rules = [{"name": f"{side}_{i}", "type": "range", "column": "v", side[:3]: b}
             for i, b in enumerate(bounds) for side in ("min", "max")]
    # The same values written two ways: 9.99 and 9.990 (a string and a number) are one value.
    values = [bounds[1], Decimal(bounds[1]) + 0, bounds[2] + ("0" if "." in bounds[2] else ""), Decimal(bounds[0])]
    rules.append({"name": "known", "type": "accepted_values", "column": "v", "values": values})
    return DatasetSpec.model_validate({
        "name": "t", "source": {"format": "csv"}, "keys": ["id"], "ordering": "ts", "expectations": rules,
        "columns": [{"name": "id", "type": "string", "required": True}, {"name": "v", "type": column_type},
                    {"name": "ts", "type": "timestamp", "required": True}]})


def _values(column_type: str, bounds: list[str], step: Decimal | None) -> list:
    """Each bound and its two neighbours, as the column holds them."""
    if step is None:
        return [x for b in bounds for x in (math.nextafter(float(b), -math.inf), float(b),
                                             math.nextafter(float(b), math.inf))]
    return [Decimal(b) + d for b in bounds for d in (-step, 0, step)]


def _truth(spec: DatasetSpec, values: list) -> dict[str, set]:
    """Per rule, the values exact arithmetic in the column's type finds breaking it."""
    as_type = float if isinstance(values[0], float) else Decimal
    broken = {}
    for e in spec.expectations:
        if e.type == "range":
            bound = as_type(e.min if e.min is not None else e.max)
            broken[e.name] = {v for v in values if (v < bound if e.min is not None else v > bound)}
        else:
            broken[e.name] = {v for v in values if v not in {as_type(x) for x in e.values}}
    return broken


def _text(value) -> str:
    return repr(value) if isinstance(value, float) else format(value, "f")


@pytest.mark.parametrize("column_type", list(CASES))
def test_router_and_both_gx_engines_agree_with_exact_arithmetic(spark, tmp_path, column_type):
    bounds, step = CASES[column_type]
    spec = _spec(column_type, bounds)
    values = _values(column_type, bounds, step)
    rows = [(f"r{i}", _text(v), "2026-01-01 10:00:00") for i, v in enumerate(values)] + [("null", None, "2026-01-01")]
    bronze = spark.createDataFrame([(*r, None, None, None, None, "f.csv", "2026-01-01") for r in rows], COLS)
    classified = T.classify(bronze, spec).cache()
    assert classified.where(~T.is_parsed()).count() == 0  # every value fits the type: the rules judge them all
    truth = _truth(spec, [v if isinstance(v, float) else Decimal(_text(v)) for v in values])
    judged = {r.name: r for r in T.rules(spec) if r.name in truth}
    router = {name: {_exact(row["v"]) for row in classified.where(rule.violated).select("v").collect()}
              for name, rule in judged.items()}
    assert router == truth

    checks = Q.silver_checks(spec)
    frame = Q.judged(classified.where(T.is_parsed()), checks)
    routed = T.violation_counts(classified, spec)
    assert {k: v for k, v in routed.items() if k in truth} == {k: len(v) for k, v in truth.items()}
    for limit, engine in ((10**6, "pandas"), (0, "spark")):
        gate = QualityGate(tmp_path / engine, pandas_max_rows=limit)
        validation = gate.validate("silver", "silver.t", "x", frame, checks)
        assert validation.engine == engine and validation.unexpected() == routed, engine
        found = gate.unexpected_values("silver.t", frame, [c for c in checks if c.rule in truth])
        assert {k: {_exact(v) for v in vs} for k, vs in found.items()} == truth, engine
    classified.unpersist()


def _exact(value):
    """A value as a Python number (equal numbers of any type hash alike): numpy's scalars as
    Python's, a whole number as a Decimal."""
    value = value.item() if hasattr(value, "item") else value
    return Decimal(value) if isinstance(value, int) else value


@pytest.mark.parametrize("rule, message", [
    ({"type": "range", "column": "balance", "max": 9.999},
     "expectations.r.max: column balance (decimal(15,2)) cannot hold it: 9.999 has more decimal places "
     "than the scale of decimal(15,2) (2)"),
    ({"type": "range", "column": "balance", "min": "-99999999999999"}, "more digits before the point"),
    ({"type": "range", "column": "n", "min": 0.5}, "expectations.r.min: column n (int) cannot hold it: 0.5 is not "
                                                    "a whole number"),
    ({"type": "range", "column": "n", "max": 2**31}, "outside the range of int"),
    ({"type": "accepted_values", "column": "balance", "values": ["1.5", 1.505]}, "expectations.r.values: "),
    ({"type": "accepted_values", "column": "n", "values": ["one"]}, "'one' is not a number"),
    ({"type": "range", "column": "id", "min": 1}, "expectations.r: a range needs a numeric column; id is string"),
    ({"type": "range", "column": "balance", "min": 2, "max": 1}, "min 2 is above max 1"),
    ({"type": "range", "column": "balance", "max": float("nan")}, "finite number"),  # YAML .nan
])
def test_validate_refuses_a_bound_the_column_cannot_hold(tmp_path, rule, message):
    (tmp_path / "datasets").mkdir()
    spec = {"name": "t", "source": {"format": "csv"}, "keys": ["id"], "ordering": "id",
            "columns": [{"name": "id", "type": "string", "required": True},
                        {"name": "balance", "type": "decimal(15, 2)"}, {"name": "n", "type": "int"}],
            "expectations": [{"name": "r", **rule}]}
    (tmp_path / "datasets" / "t.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError) as err:
        load_catalog(tmp_path)
    assert str(err.value).startswith(f"{tmp_path}/datasets/t.yaml: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_yaml_numbers_are_read_as_exact_decimals(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "t.yaml").write_text(
        "name: t\nsource: {format: csv}\ncolumns: [{name: id, type: string, required: true},"
        " {name: b, type: 'decimal(15,2)'}, {name: d, type: double}]\nkeys: [id]\nordering: id\n"
        "expectations:\n  - {name: b_range, type: range, column: b, min: -999.99, max: 9999.99}\n"
        "  - {name: b_known, type: accepted_values, column: b, values: [1.50, '2.5', 3]}\n"
        "  - {name: d_range, type: range, column: d, min: 0.1}\n"
        "  - {name: volume, type: row_count_change, max_change: 0.25, action: warn}\n")
    rules = {e.name: e for e in load_catalog(tmp_path).datasets["t"].expectations}
    assert (rules["b_range"].min, rules["b_range"].max) == (Decimal("-999.99"), Decimal("9999.99"))
    assert str(rules["b_range"].max) == "9999.99" and rules["b_known"].values == [Decimal("1.50"), "2.5", Decimal(3)]
    assert rules["d_range"].min == Decimal("0.1") and rules["volume"].max_change == 0.25


def test_gx_gets_bounds_in_the_judged_frames_types(spark):
    """Gold declares no types: the frame's decide. A bound between whole numbers judges an
    integer column as the whole number inside it; a value no whole number equals matches none."""
    spec = DatasetSpec.model_validate({
        "name": "t", "source": {"format": "csv"}, "keys": ["id"], "ordering": "id",
        "columns": [{"name": "id", "type": "string", "required": True}, {"name": "x", "type": "double"}],
        "expectations": [{"name": "r", "type": "range", "column": "x", "min": "0.1", "max": "9.99"},
                         {"name": "s", "type": "accepted_values", "column": "x", "values": ["1.5", 2]}]})
    checks = Q.silver_checks(spec)[1:]
    schema = spark.createDataFrame([], "x decimal(10,2)").schema
    bounds = {c.rule: c.expectation for c in Q.in_frame_types(checks, schema)}
    assert (bounds["r"].min_value, bounds["r"].max_value) == (Decimal("0.1"), Decimal("9.99"))
    assert bounds["s"].value_set == [Decimal("1.5"), Decimal(2)]
    bounds = {c.rule: c.expectation for c in Q.in_frame_types(checks, spark.createDataFrame([], "x int").schema)}
    assert (bounds["r"].min_value, bounds["r"].max_value, bounds["s"].value_set) == (1, 9, [2])
    bounds = {c.rule: c.expectation for c in Q.in_frame_types(checks, spark.createDataFrame([], "x double").schema)}
    assert (bounds["r"].min_value, bounds["r"].max_value) == (0.1, 9.99)
    assert type(bounds["r"].min_value) is float
    router = T.expectation_violation(spec.expectations[0], "double")  # the bounds as the nearest doubles
    rows = spark.createDataFrame([(0.1,), (9.99,), (math.nextafter(9.99, 10),)], "x double")
    assert [r.x for r in rows.where(router).collect()] == [math.nextafter(9.99, 10)]
