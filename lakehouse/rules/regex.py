"""regex: the column's value, as text, matches `pattern` somewhere (a null passes)."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.rules.base import Check, DqopsCheck, RuleType, gxe, meta


class Regex(RuleType):
    name = "regex"
    needs = ("column", "pattern")

    def violated(self, e, column_type):
        # The Column API, not SQL text: Spark SQL literals would eat the pattern's backslashes.
        col = F.col(e.column)
        return col.isNotNull() & ~col.cast("string").rlike(e.pattern)

    def gx_check(self, e):
        return Check(e.name, e.action, gxe().ExpectColumnValuesToMatchRegex(column=e.column, regex=e.pattern,
                                                                            meta=meta(e.name, e.action)))

    def dqops_check(self, e, column_type):
        return DqopsCheck(e.column, "patterns", "daily_texts_not_matching_regex_percent", {"regex": e.pattern},
                          {"max_percent": 0.0})


RULE = Regex()
