"""GX's range expectation with exact bounds.

Great Expectations 1.24 types ExpectColumnValuesToBeBetween's min_value and max_value as
float: pydantic turns Decimal("9999.99") into the binary 9999.98999..., and GX's pandas
engine, comparing a decimal column's exact Decimal values with it, judged 9999.99 above a
maximum of 9999.99. This subclass only widens the two fields, so a Decimal stays a Decimal
(pandas compares it exactly with a decimal column's Decimal values, Spark as a decimal
literal) and an int stays an int. Its metric and renderers are the original's; GX registers
it as a type of its own, expect_column_values_to_be_between_exactly.

A module of its own because importing it imports GX, which costs seconds: lakehouse.rules.
value_range imports it when it builds the first range check.
"""

from decimal import Decimal

from lakehouse.quality.gx_import import ready

ready()  # a preload's import of GX under way ends first (lakehouse.quality.gx_import)
import great_expectations.expectations as gxe  # noqa: E402


class ExpectColumnValuesToBeBetweenExactly(gxe.ExpectColumnValuesToBeBetween):
    """ExpectColumnValuesToBeBetween, its bounds kept as given (Decimal, int or float)."""

    min_value: Decimal | int | float | None = None
    max_value: Decimal | int | float | None = None
