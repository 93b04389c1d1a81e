"""accepted_values: the column's value is one of `values` (a null passes). Values are
compared in the column's type: 1.5 and 1.50 are one decimal value."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.column_types import in_column_type, is_numeric
from lakehouse.errors import LakehouseError
from lakehouse.rules.base import Check, DqopsCheck, RuleType, gx_value, gxe, literal_in_type, meta


class AcceptedValues(RuleType):
    name = "accepted_values"
    needs = ("column", "values")

    def check_column_type(self, e, column_type):
        for value in e.values:
            try:
                in_column_type(value, column_type)
            except ValueError as exc:
                raise ValueError(f"expectations.{e.name}.values: column {e.column} ({column_type}) cannot hold it: "
                                 f"{exc}") from None

    def violated(self, e, column_type):
        col = F.col(e.column)
        if column_type and is_numeric(column_type):
            return col.isNotNull() & ~col.isin(*[literal_in_type(v, column_type) for v in e.values])
        return col.isNotNull() & ~col.cast("string").isin([str(v) for v in e.values])

    def gx_check(self, e):
        return Check(e.name, e.action, self.typed_gx(e, None), typed=e)

    def typed_gx(self, e, dtype):
        values = [v for v in (gx_value(v, dtype) for v in e.values) if v is not None]
        return gxe().ExpectColumnValuesToBeInSet(column=e.column, value_set=values, meta=meta(e.name, e.action))

    def dqops_check(self, e, column_type):
        if column_type is None or not is_numeric(column_type):
            # Nulls pass, as in silver: the Spark sensor divides by COUNT(column).
            return DqopsCheck(e.column, "accepted_values", "daily_text_found_in_set_percent",
                              {"expected_values": [str(v) for v in e.values]}, {"min_percent": 100.0})
        numbers = [in_column_type(v, column_type) for v in e.values]
        if any(n != n.to_integral_value() for n in numbers):
            raise LakehouseError(f"expectation {e.name!r}: DQOps checks a {column_type} column against whole "
                                 "numbers only (daily_number_found_in_set_percent)")
        return DqopsCheck(e.column, "accepted_values", "daily_number_found_in_set_percent",
                          {"expected_values": [int(n) for n in numbers]}, {"min_percent": 100.0})


RULE = AcceptedValues()
