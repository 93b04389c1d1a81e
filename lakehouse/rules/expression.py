"""expression: `expr`, SQL over the record's columns, is true (null counts as a violation).
GX judges a column derived by evaluating it on its own, apart from the router."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.rules.base import DqopsCheck, RuleType, derived_true, valid_column


def _holds(e):
    return F.coalesce(F.expr(e.expr), F.lit(False))  # null is not true


class Expression(RuleType):
    name = "expression"
    needs = ("expr",)

    def violated(self, e, column_type):
        return ~_holds(e)

    def reason(self, e):
        return F.lit(f"{e.name}: {e.expr}")

    def gx_check(self, e):
        return derived_true(e, lambda frame, evidence: frame.withColumn(valid_column(e), _holds(e)))

    def dqops_check(self, e, column_type):
        return DqopsCheck("", "custom_sql", "daily_sql_condition_passed_percent_on_table", {"sql_condition": e.expr},
                          {"min_percent": 100.0})


RULE = Expression()
