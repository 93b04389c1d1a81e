"""The specs' expectations as Great Expectations expectations, and the DataFrames they judge.

Pure: no session, no context, no I/O. Each Check carries the rule's name and action in its
GX `meta`, so a validation result maps back to the rule that ops.quarantine, the audit and
the summary name.

Rules GX cannot express on a single DataFrame (a foreign key, a batch's row-count change,
a SQL expression) are judged on a column each rule type derives (lakehouse.rules), apart from the router
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

from dataclasses import replace

from pyspark.sql import DataFrame
from pyspark.sql import types as ST

from lakehouse import rules
from lakehouse.rules.base import Check, Evidence, gxe, meta
from lakehouse.specs import DatasetSpec, Expectation, GoldSpec
from lakehouse.transforms import silver as T

__all__ = ["Check", "Evidence", "expectation_check", "gold_checks", "in_frame_types", "judged", "silver_checks"]
FAIL = "fail"


def in_frame_types(checks: list[Check], schema: ST.StructType) -> list[Check]:
    """The checks with their bounds and value sets in the types of the frame GX judges (gold
    declares no column types: only the frame knows them)."""
    types = {f.name: f.dataType for f in schema.fields}
    return [replace(c, expectation=rules.of(c.typed).typed_gx(c.typed, types.get(c.column))) if c.typed else c
            for c in checks]


def expectation_check(e: Expectation) -> Check:
    return rules.of(e).gx_check(e)


def silver_checks(spec: DatasetSpec) -> list[Check]:
    """What bronze -> silver validates: required columns, then the spec's expectations."""
    required = [Check(f"not_null:{c.name}", T.QUARANTINE, gxe().ExpectColumnValuesToNotBeNull(
        column=c.name, meta=meta(f"not_null:{c.name}", T.QUARANTINE))) for c in spec.columns if c.required]
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
    expectations = gxe()
    keys = [Check(f"not_null:{k}", FAIL, expectations.ExpectColumnValuesToNotBeNull(
        column=k, meta=meta(f"not_null:{k}", FAIL))) for k in spec.keys]
    unique = (expectations.ExpectCompoundColumnsToBeUnique(column_list=spec.keys, meta=meta("keys_unique", FAIL))
              if len(spec.keys) > 1
              else expectations.ExpectColumnValuesToBeUnique(column=spec.keys[0], meta=meta("keys_unique", FAIL)))
    return keys + [Check("keys_unique", FAIL, unique)] + [expectation_check(e) for e in spec.expectations]
