"""The specs' expectations as Great Expectations expectations, and the DataFrames they judge.

Pure: no session, no context, no I/O. Each Check carries the rule's name and action in its
GX `meta`, so a validation result maps back to the rule that ops.quarantine, the audit and
the summary name.

Rules GX cannot express on a single DataFrame (a foreign key, a batch's row-count change,
a SQL expression) are judged on a column derived here, apart from the router
(transforms.silver), from Evidence gathered apart from it: the foreign key by a join of its
own with the referenced table, the row-count change from each batch's rows counted again in
bronze, the expression evaluated on its own. So a fault in the router's rule (its join, its
count, its composition of rules) makes the two judges disagree instead of agree.

A range's bounds and an accepted_values' set reach GX in the Python type GX's engines hold
for the judged column (in_frame_types): an exact Decimal for a decimal column (pandas holds
Decimals, Spark compares a decimal literal), an int for an integer column, a float for a
double. So GX compares what the router compares, in the column's type, whichever engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as ST

from lakehouse.specs import DatasetSpec, Expectation, GoldSpec
from lakehouse.transforms import silver as T

if TYPE_CHECKING:
    import great_expectations.expectations as gxe

FAIL = "fail"


@dataclass(frozen=True)
class Evidence:
    """What the derived rules are judged against, gathered apart from the router: per foreign
    key rule, the referenced table (its key column); per batch, its records counted in bronze
    (the batches silver has applied or is applying, which row_count_change compares)."""

    references: dict[str, DataFrame] = field(default_factory=dict)
    batch_rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    rule: str
    action: str
    expectation: gxe.Expectation
    derived: Callable[[DataFrame, Evidence], DataFrame] | None = None  # adds the column GX judges
    typed: Expectation | None = None  # a range or accepted_values rule: see in_frame_types

    @property
    def column(self) -> str | None:
        return getattr(self.expectation, "column", None)

    @property
    def columns(self) -> list[str]:
        """Every column the expectation reads."""
        return [self.column] if self.column else list(getattr(self.expectation, "column_list", []))


def _gxe():
    """GX's expectation classes, imported when the first check is built: importing GX costs
    seconds of CPU, more than a bronze or publish task's own work on a small batch, and only
    the layers that validate need it."""
    import great_expectations.expectations as gxe

    return gxe


def _meta(rule: str, action: str) -> dict:
    return {"rule": rule, "action": action}


def _valid_column(e: Expectation) -> str:
    return f"_gx_valid_{e.name}"


def _expression_valid(e: Expectation):
    def derive(frame: DataFrame, evidence: Evidence) -> DataFrame:
        return frame.withColumn(_valid_column(e), F.coalesce(F.expr(e.expr), F.lit(False)))  # null is not true
    return derive


def _foreign_key_valid(e: Expectation):
    """Valid: a null, or a value the referenced table holds, by a join of its own."""
    def derive(frame: DataFrame, evidence: Evidence) -> DataFrame:
        found = f"_gx_ref_{e.name}"
        held = evidence.references[e.name].select(F.col(e.referenced[1]).alias(found)).distinct()
        joined = frame.join(held, frame[e.column] == held[found], "left")
        return joined.withColumn(_valid_column(e), F.col(e.column).isNull() | F.col(found).isNotNull()).drop(found)
    return derive


def batch_change_column(e: Expectation) -> str:
    return f"_gx_change_{e.name}"


def batch_changes(batch_rows: dict[str, int]) -> dict[str, float | None]:
    """Each batch's relative change in records from the batch before it (none for the first)."""
    ordered, changes = sorted(batch_rows), {}
    for i, batch in enumerate(ordered):
        previous = batch_rows[ordered[i - 1]] if i else 0
        changes[batch] = batch_rows[batch] / previous - 1 if previous else None
    return changes


def _batch_change(e: Expectation):
    def derive(frame: DataFrame, evidence: Evidence) -> DataFrame:
        changes = batch_changes(evidence.batch_rows)
        mapped = F.create_map(*[F.lit(x) for b, c in sorted(changes.items()) for x in (b, c)]) if changes \
            else F.create_map().cast("map<string,double>")
        return frame.withColumn(batch_change_column(e), F.element_at(mapped, F.col("_batch_id")).cast("double"))
    return derive


def _derived_true(e: Expectation, derive) -> Check:
    gxe = _gxe()
    return Check(e.name, e.action, gxe.ExpectColumnValuesToBeInSet(
        column=_valid_column(e), value_set=[True], meta=_meta(e.name, e.action)), derive)


def _python_value(value, dtype: ST.DataType | None, rounding: str | None = None):
    """A spec's bound or value as GX's engines hold the column: see the module docstring.
    For an integer column a bound is rounded inwards (a min of 0.5 judges whole numbers as
    a min of 1 does); a value no whole number equals is None. No type known: as given."""
    if dtype is None:
        return value
    if not isinstance(dtype, ST.NumericType):
        return str(value)
    try:
        number = Decimal(value)
    except ArithmeticError:  # text no number equals
        return None
    if isinstance(dtype, ST.DecimalType):
        return number
    if isinstance(dtype, ST.IntegralType):
        whole = number.to_integral_value(rounding or ROUND_FLOOR)
        return int(whole) if rounding or whole == number else None
    return float(number)  # the nearest double, as Spark casts the router's literal


def _typed_expectation(e: Expectation, dtype: ST.DataType | None) -> gxe.Expectation:
    meta = _meta(e.name, e.action)
    if e.type == "accepted_values":
        values = [v for v in (_python_value(v, dtype) for v in e.values) if v is not None]
        return _gxe().ExpectColumnValuesToBeInSet(column=e.column, value_set=values, meta=meta)
    from lakehouse.quality.exact import ExpectColumnValuesToBeBetweenExactly

    low = None if e.min is None else _python_value(e.min, dtype, ROUND_CEILING)
    high = None if e.max is None else _python_value(e.max, dtype, ROUND_FLOOR)
    return ExpectColumnValuesToBeBetweenExactly(column=e.column, min_value=low, max_value=high, meta=meta)


def in_frame_types(checks: list[Check], schema: ST.StructType) -> list[Check]:
    """The checks with their bounds and value sets in the types of the frame GX judges (gold
    declares no column types: only the frame knows them)."""
    types = {f.name: f.dataType for f in schema.fields}
    return [replace(c, expectation=_typed_expectation(c.typed, types.get(c.column))) if c.typed else c
            for c in checks]


def expectation_check(e: Expectation) -> Check:
    gxe = _gxe()
    meta = _meta(e.name, e.action)
    if e.type == "not_null":
        return Check(e.name, e.action, gxe.ExpectColumnValuesToNotBeNull(column=e.column, meta=meta))
    if e.type in ("accepted_values", "range"):
        return Check(e.name, e.action, _typed_expectation(e, None), typed=e)
    if e.type == "regex":
        return Check(e.name, e.action, gxe.ExpectColumnValuesToMatchRegex(column=e.column, regex=e.pattern, meta=meta))
    if e.type == "row_count_change":
        return Check(e.name, e.action, gxe.ExpectColumnValuesToBeBetween(
            column=batch_change_column(e), min_value=-e.max_change, max_value=e.max_change, meta=meta),
            _batch_change(e))
    return _derived_true(e, _foreign_key_valid(e) if e.type == "foreign_key" else _expression_valid(e))


def silver_checks(spec: DatasetSpec) -> list[Check]:
    """What bronze -> silver validates: required columns, then the spec's expectations."""
    gxe = _gxe()
    required = [Check(f"not_null:{c.name}", T.QUARANTINE, gxe.ExpectColumnValuesToNotBeNull(
        column=c.name, meta=_meta(f"not_null:{c.name}", T.QUARANTINE))) for c in spec.columns if c.required]
    return required + [expectation_check(e) for e in spec.expectations]


def judged(frame: DataFrame, checks: list[Check], evidence: Evidence = Evidence()) -> DataFrame:
    """`frame` with the columns the checks derive from `evidence`. For silver, `frame` is the
    records that parsed (T.is_parsed); for gold, the rows a build would write."""
    for check in checks:
        if check.derived:
            frame = check.derived(frame, evidence)
    return frame


def gold_checks(spec: GoldSpec) -> list[Check]:
    """What silver -> gold validates before a build writes: keys present and unique, then
    the spec's expectations. A broken key would make the build's MERGE ambiguous."""
    gxe = _gxe()
    keys = [Check(f"not_null:{k}", FAIL, gxe.ExpectColumnValuesToNotBeNull(column=k, meta=_meta(f"not_null:{k}", FAIL)))
            for k in spec.keys]
    unique = (gxe.ExpectCompoundColumnsToBeUnique(column_list=spec.keys, meta=_meta("keys_unique", FAIL))
              if len(spec.keys) > 1
              else gxe.ExpectColumnValuesToBeUnique(column=spec.keys[0], meta=_meta("keys_unique", FAIL)))
    return keys + [Check("keys_unique", FAIL, unique)] + [expectation_check(e) for e in spec.expectations]
