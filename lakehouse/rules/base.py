"""What an expectation type is: one RuleType, defined once, in a module of its own
(lakehouse.rules). It says which spec fields the type takes and what else its spec must
satisfy, how the router (transforms.silver) judges a record by it and why it names a broken
one, how Great Expectations judges the same apart from the router (quality.checks), and
which DQOps check watches it (quality.dqops_userhome).

Pure: no session, no I/O. Great Expectations is imported when a first check is built
(importing it costs seconds of CPU that a run with nothing to judge does not spend)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.column_types import in_column_type
from lakehouse.quality.gx_import import ready as gx_ready

if TYPE_CHECKING:
    import great_expectations.expectations as gxe

    from lakehouse.specs import Expectation


@dataclass(frozen=True)
class Evidence:
    """What the derived rules are judged against, gathered apart from the router: per foreign
    key rule, the referenced table (its key column); per batch, its records counted in bronze
    (the batches silver has applied or is applying, which row_count_change compares)."""

    references: dict[str, DataFrame] = field(default_factory=dict)
    batch_rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """A rule as Great Expectations judges it: its expectation, with the rule's name and
    action in `meta`, and for a rule GX cannot express on the frame alone, the column it
    judges derived from the Evidence."""

    rule: str
    action: str
    expectation: gxe.Expectation
    derived: Callable[[DataFrame, Evidence], DataFrame] | None = None  # adds the column GX judges
    typed: Expectation | None = None  # bounds or values given in the judged frame's types (RuleType.typed_gx)

    @property
    def column(self) -> str | None:
        return getattr(self.expectation, "column", None)

    @property
    def columns(self) -> list[str]:
        """Every column the expectation reads."""
        return [self.column] if self.column else list(getattr(self.expectation, "column_list", []))


@dataclass(frozen=True)
class DqopsCheck:
    """A DQOps monitoring check: on `target` (a column, or "" for the table), in `category`,
    named `name`, with its sensor's parameters and the rule's threshold (given the rule's
    severity by quality.dqops_userhome)."""

    target: str
    category: str
    name: str
    parameters: dict[str, Any] | None
    threshold: dict[str, Any]


class ExactNumber(Decimal):
    """A bound written as the spec's exact decimal text (9999.99, never 9999.98999...): DQOps
    reads it as it reads any YAML number (quality.dqops_userhome dumps it so)."""


def gxe():
    """GX's expectation classes, imported when the first check is built."""
    gx_ready()
    import great_expectations.expectations as expectations

    return expectations


def meta(rule: str, action: str) -> dict:
    return {"rule": rule, "action": action}


def literal_in_type(value, column_type: str | None) -> Column:
    """A bound or accepted value as a literal of the column's own type, so the comparison is
    the column's: 9999.99 cast from its text to decimal(15,2) is exactly 9999.99 (a double
    literal would make Spark compare doubles). With no declared type, an exact decimal."""
    if column_type is None:
        return F.lit(Decimal(format(Decimal(value), "f")))
    return F.lit(format(in_column_type(value, column_type), "f")).cast(column_type)


def valid_column(e: Expectation) -> str:
    """The column GX judges for a rule it reads from a derived column: true when valid."""
    return f"_gx_valid_{e.name}"


def derived_true(e: Expectation, derive: Callable[[DataFrame, Evidence], DataFrame]) -> Check:
    return Check(e.name, e.action, gxe().ExpectColumnValuesToBeInSet(
        column=valid_column(e), value_set=[True], meta=meta(e.name, e.action)), derive)


def value_reason(e: Expectation) -> Column:
    """`<rule>: <column> = <value>`: a reason names the record's value."""
    return F.concat(F.lit(f"{e.name}: {e.column} = "), F.coalesce(F.col(e.column).cast("string"), F.lit("null")))


class RuleType:
    """One expectation type. Subclasses set `name` and `needs` and define `violated`,
    `gx_check` and `dqops_check`; the rest has defaults."""

    name: str
    needs: tuple[str, ...]  # the Expectation fields it requires
    # Judges a batch as a whole (not a record): it can only warn or fail, gold has no batches,
    # and a replay of quarantined records (which judges records) leaves it out.
    table_level = False
    in_gold = True  # a gold spec may hold it
    # Not expressible in DQOps on the table DQOps sees: why (None: dqops_check maps it).
    dqops_unmapped: str | None = None

    # -- the spec -------------------------------------------------------------------------
    def check(self, e: Expectation) -> None:
        """Anything beyond the required fields (`needs`) that the rule's spec must satisfy;
        raises ValueError saying what is wrong."""

    def check_column_type(self, e: Expectation, column_type: str) -> None:
        """The rule against its column's declared type (a dataset's spec); raises ValueError."""

    def referenced(self, e: Expectation) -> tuple[str, str] | None:
        """(dataset, column) the rule reads besides the record's own dataset."""
        return None

    uses_batch_rows = False  # judged against each batch's record count (Evidence.batch_rows)

    # -- the router (transforms.silver) ---------------------------------------------------
    def context(self, typed: DataFrame, e: Expectation, references: dict[str, DataFrame],
                batch_changes: dict[str, float | None]) -> DataFrame:
        """`typed` with the columns `violated` reads beyond the record (a join, a batch's figure)."""
        return typed

    def violated(self, e: Expectation, column_type: str | None) -> Column:
        """True when a row breaks the rule; `column_type`: its column's DDL type, if declared."""
        raise NotImplementedError

    def reason(self, e: Expectation) -> Column:
        """Why a row breaks it: the text ops.quarantine keeps."""
        return value_reason(e)

    # -- Great Expectations (quality.checks) ----------------------------------------------
    def gx_check(self, e: Expectation) -> Check:
        raise NotImplementedError

    def typed_gx(self, e: Expectation, dtype) -> gxe.Expectation:
        """The expectation with its bounds or values in `dtype`, the judged frame's type of the
        column (for a Check built with `typed`)."""
        raise NotImplementedError

    # -- DQOps (quality.dqops_userhome) ---------------------------------------------------
    def dqops_check(self, e: Expectation, column_type: str | None) -> DqopsCheck | None:
        return None


def gx_value(value, dtype, rounding: str | None = None):
    """A spec's bound or value as GX's engines hold the column of Spark type `dtype`: an
    exact Decimal for a decimal column (pandas holds Decimals, Spark compares a decimal
    literal), an int for an integer column, a float (the nearest double, as Spark casts the
    router's literal) for a double, the text for any other. For an integer column a bound is
    rounded inwards (`rounding`: a min of 0.5 judges whole numbers as a min of 1 does); a
    value no whole number equals is None. No type known: as given."""
    from decimal import ROUND_FLOOR

    from pyspark.sql import types as ST

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
    return float(number)
