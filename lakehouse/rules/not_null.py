"""not_null: the column holds a value."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.rules.base import Check, DqopsCheck, RuleType, gxe, meta


class NotNull(RuleType):
    name = "not_null"
    needs = ("column",)

    def violated(self, e, column_type):
        return F.col(e.column).isNull()

    def gx_check(self, e):
        expectation = gxe().ExpectColumnValuesToNotBeNull(column=e.column, meta=meta(e.name, e.action))
        return Check(e.name, e.action, expectation)

    def dqops_check(self, e, column_type):
        return DqopsCheck(e.column, "nulls", "daily_nulls_count", None, {"max_count": 0})


RULE = NotNull()
