"""foreign_key: the column's value is held by `references` (<dataset>.<column>) in silver (a
null passes). The router joins the referenced table in (`context`); GX judges a column
derived by a join of its own with the table from the Evidence, so a fault in either join
makes the judges disagree."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.config import SILVER
from lakehouse.rules.base import DqopsCheck, RuleType, derived_true, valid_column, value_reason


def reference_column(e) -> str:
    """The column the router joins in: the referenced key, null if absent."""
    return f"_ref_{e.name}"


class ForeignKey(RuleType):
    name = "foreign_key"
    needs = ("column", "references")
    in_gold = False  # gold reads silver, whose rows passed it

    def referenced(self, e):
        return e.referenced

    def context(self, typed, e, references, batch_changes):
        ref = references[e.name].select(F.col(e.referenced[1]).alias(reference_column(e))).distinct()
        return typed.join(ref, F.col(e.column) == F.col(reference_column(e)), "left")

    def violated(self, e, column_type):
        return F.col(e.column).isNotNull() & F.col(reference_column(e)).isNull()

    def reason(self, e):
        return F.concat(value_reason(e), F.lit(f" not in {e.references}"))

    def gx_check(self, e):
        def derive(frame, evidence):
            found = f"_gx_ref_{e.name}"
            held = evidence.references[e.name].select(F.col(e.referenced[1]).alias(found)).distinct()
            joined = frame.join(held, frame[e.column] == held[found], "left")
            return joined.withColumn(valid_column(e), F.col(e.column).isNull() | F.col(found).isNotNull()).drop(found)
        return derived_true(e, derive)

    def dqops_check(self, e, column_type):
        dataset, column = e.referenced
        return DqopsCheck(e.column, "integrity", "daily_lookup_key_not_found",
                          {"foreign_table": f"{SILVER}.{dataset}", "foreign_column": column}, {"max_count": 0})


RULE = ForeignKey()
