"""range: the column's value is at least `min` and at most `max` (either may be left out; a
null passes). Bounds are exact: compared in the column's type, never rounded into it."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR
from functools import reduce

from pyspark.sql import functions as F

from lakehouse.column_types import in_column_type, is_numeric
from lakehouse.rules.base import Check, DqopsCheck, ExactNumber, RuleType, gx_value, literal_in_type, meta


class Range(RuleType):
    name = "range"
    needs = ("column",)

    def check(self, e):
        if e.min is None and e.max is None:
            raise ValueError(f"range expectation {e.name!r} needs min or max")
        if e.min is not None and e.max is not None and e.min > e.max:
            raise ValueError(f"range expectation {e.name!r}: min {e.min} is above max {e.max}")

    def check_column_type(self, e, column_type):
        if not is_numeric(column_type):
            raise ValueError(f"expectations.{e.name}: a range needs a numeric column; {e.column} is {column_type}")
        for field, value in (("min", e.min), ("max", e.max)):
            if value is None:
                continue
            try:
                in_column_type(value, column_type)
            except ValueError as exc:
                raise ValueError(f"expectations.{e.name}.{field}: column {e.column} ({column_type}) cannot hold it: "
                                 f"{exc}") from None

    def violated(self, e, column_type):
        col = F.col(e.column)
        bounds = []
        if e.min is not None:
            bounds.append(col < literal_in_type(e.min, column_type))
        if e.max is not None:
            bounds.append(col > literal_in_type(e.max, column_type))
        return col.isNotNull() & reduce(lambda a, b: a | b, bounds)

    def gx_check(self, e):
        return Check(e.name, e.action, self.typed_gx(e, None), typed=e)

    def typed_gx(self, e, dtype):
        from lakehouse.quality.exact import ExpectColumnValuesToBeBetweenExactly  # imports GX

        low = None if e.min is None else gx_value(e.min, dtype, ROUND_CEILING)
        high = None if e.max is None else gx_value(e.max, dtype, ROUND_FLOOR)
        return ExpectColumnValuesToBeBetweenExactly(column=e.column, min_value=low, max_value=high,
                                                    meta=meta(e.name, e.action))

    def dqops_check(self, e, column_type):
        bounds = {k: ExactNumber(v) for k, v in (("min_value", e.min), ("max_value", e.max)) if v is not None}
        if len(bounds) == 2:
            return DqopsCheck(e.column, "numeric", "daily_number_in_range_percent", bounds, {"min_percent": 100.0})
        if e.min is not None:
            return DqopsCheck(e.column, "numeric", "daily_number_below_min_value", bounds, {"max_count": 0})
        return DqopsCheck(e.column, "numeric", "daily_number_above_max_value", bounds, {"max_count": 0})


RULE = Range()
