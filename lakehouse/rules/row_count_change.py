"""row_count_change: a batch's records change by at most `max_change` (0.5 = +/-50%) from the
previous batch's (none for the first). Judged per batch: the router from the audit's counts
(each batch's change, given to classify), GX from each batch's records counted again in
bronze (Evidence.batch_rows)."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.rules.base import Check, RuleType, gxe, meta

BATCH_CHANGE = "_batch_row_change"  # the column the router reads: the batch's relative change


def batch_changes(batch_rows: dict[str, int]) -> dict[str, float | None]:
    """Each batch's relative change in records from the batch before it (none for the first)."""
    ordered, changes = sorted(batch_rows), {}
    for i, batch in enumerate(ordered):
        previous = batch_rows[ordered[i - 1]] if i else 0
        changes[batch] = batch_rows[batch] / previous - 1 if previous else None
    return changes


def _by_batch(changes: dict[str, float | None]):
    mapped = F.create_map(*[F.lit(x) for b, c in sorted(changes.items()) for x in (b, c)]) if changes \
        else F.create_map().cast("map<string,double>")
    return F.element_at(mapped, F.col("_batch_id")).cast("double")


def change_column(e) -> str:
    """The column GX judges: the batch's change as counted from the Evidence."""
    return f"_gx_change_{e.name}"


class RowCountChange(RuleType):
    name = "row_count_change"
    needs = ("max_change",)
    table_level = True
    in_gold = False
    uses_batch_rows = True
    # DQOps sees the whole table, whose total moves by net inserts, not by the batch's size:
    # its row-count-change checks would measure something else.
    dqops_unmapped = "a batch's row count against the previous batch's is judged when silver applies the batch"

    def context(self, typed, e, references, batch_changes):
        return typed.withColumn(BATCH_CHANGE, _by_batch(batch_changes))

    def violated(self, e, column_type):
        return F.coalesce(F.abs(F.col(BATCH_CHANGE)) > F.lit(e.max_change), F.lit(False))

    def reason(self, e):
        return F.concat(F.lit(f"{e.name}: the batch's row count changed by "),
                        F.format_number(F.col(BATCH_CHANGE) * 100, 1), F.lit(f"% (at most {e.max_change:.0%})"))

    def gx_check(self, e):
        def derive(frame, evidence):
            return frame.withColumn(change_column(e), _by_batch(batch_changes(evidence.batch_rows)))
        return Check(e.name, e.action, gxe().ExpectColumnValuesToBeBetween(
            column=change_column(e), min_value=-e.max_change, max_value=e.max_change, meta=meta(e.name, e.action)),
            derive)


RULE = RowCountChange()
