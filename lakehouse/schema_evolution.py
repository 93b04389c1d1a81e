"""Schema evolution: how a dataset spec's change reaches its existing bronze and silver tables.

Applied (each one a metadata commit in the table's history, which no gold build or
publication takes for new data):
- a new column, declared without `required`, is added where the spec puts it; the rows
  already in the table read null for it;
- a widened type: int to bigint, or a decimal to one holding every value it held (Delta's
  type widening: as many or more digits before the point and after it).

Refused, before either table changes, with one line naming the table, the column and what
to do: a column the spec no longer declares, a new required column (the rows already there
have no value), any other type change, and a change of `scd` (a table keeps the history
type it was built with). A pure plan: lakehouse.tables applies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakehouse.errors import SpecError
from lakehouse.specs import ARRIVAL_COLUMN, SCD2_COLUMNS

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_SCD2_NAMES = {name for name, _ in SCD2_COLUMNS}


class SchemaChangeRefused(SpecError):
    """A spec change the table cannot follow without losing or inventing data."""


@dataclass(frozen=True)
class Wanted:
    """A column as the spec wants it: its DDL type (Spark's simpleString), whether every row
    must hold a value, and its comment."""

    name: str
    type: str
    required: bool = False
    comment: str = ""


@dataclass(frozen=True)
class AddColumn:
    name: str
    type: str
    comment: str
    after: str | None  # None: first


@dataclass(frozen=True)
class WidenType:
    name: str
    type: str


@dataclass(frozen=True)
class SetMode:
    """The silver table's dataset mode (lakehouse.tables.MODE_PROPERTY) follows the spec."""

    mode: str


def mode_change(table: str, held: str, wanted: str) -> SetMode | None:
    """An upsert table may become a snapshot one: both hold one row per key, versions by
    arrival or ordering. Nothing else changes mode: an append table holds equal records side
    by side, and a snapshot table's rows keep the arrival of the snapshot that last changed
    them (one that repeated them unchanged wrote nothing), so upserts compared with it would
    take a late day for newer."""
    if held == wanted:
        return None
    if (held, wanted) == ("upsert", "snapshot"):
        return SetMode(wanted)
    built = {"append": "an append table (every record)", "snapshot": "a snapshot table",
             "upsert": "an upsert table"}[held]
    raise SchemaChangeRefused(f"{table}: the spec's mode is {wanted}, the table was built as {built}: restore its "
                              "mode, or load the dataset under a new name")


def widens(held: str, wanted: str) -> bool:
    """Whether a column of type `held` can become `wanted` with every value kept as it is."""
    if (held, wanted) == ("int", "bigint"):
        return True
    old, new = _DECIMAL.match(held), _DECIMAL.match(wanted)
    if old and new:
        (p, s), (q, t) = map(int, old.groups()), map(int, new.groups())
        return t >= s and q - t >= p - s and (q, t) != (p, s)
    return False


def plan(table: str, held: dict[str, str], wanted: list[Wanted],
         operation: str | None = None) -> list[AddColumn | WidenType]:
    """The changes that make a table whose columns and types are `held` (name: DDL type) hold
    `wanted`, in the spec's order; raises SchemaChangeRefused for a change it cannot apply.
    `operation`: the spec's CDC operation column, which silver does not keep."""
    names = [w.name for w in wanted]
    added = [w for w in wanted if w.name not in held]
    dropped = [name for name in held if name not in names]
    if _SCD2_NAMES & {*dropped, *(w.name for w in added)}:
        raise SchemaChangeRefused(
            f"{table}: the spec's scd changed, and a table keeps the history type it was built with: "
            "restore the scd the table has, or load the dataset under a new name")
    if ARRIVAL_COLUMN[0] in dropped:
        raise SchemaChangeRefused(
            f"{table}: the table orders versions by arrival (column {ARRIVAL_COLUMN[0]}) and the spec now names an "
            "ordering column; the two cannot be compared: remove ordering from the spec, or load the dataset under "
            "a new name")
    if operation in dropped:
        raise SchemaChangeRefused(
            f"{table}: column {operation} became the spec's operation column, which silver does not keep, and "
            "columns are never dropped: name another column as operation.column, or load the dataset under a new "
            "name")
    if dropped:
        raise SchemaChangeRefused(
            f"{table}: column {dropped[0]} is in the table but no longer in the spec; columns are never dropped "
            "(that would lose their history): declare it again, without required if new data lacks it")
    changes: list[AddColumn | WidenType] = []
    for w in wanted:
        if w.name in held and held[w.name] != w.type:
            if not widens(held[w.name], w.type):
                raise SchemaChangeRefused(
                    f"{table}: column {w.name} is {held[w.name]} in the table and {w.type} in the spec; only a "
                    "widening (int to bigint, a decimal with as many or more digits before and after the point) is "
                    f"applied: declare it {held[w.name]} again, or load the changed column under a new name")
            changes.append(WidenType(w.name, w.type))
    for w in added:
        if w.required:
            raise SchemaChangeRefused(
                f"{table}: new column {w.name} is required, but the rows already in the table have no value for it: "
                "declare it without required: true")
        position = names.index(w.name)
        changes.append(AddColumn(w.name, w.type, w.comment, names[position - 1] if position else None))
    return changes
