"""Where the router and Great Expectations disagree about a rule: the values of its column
that one judge finds breaking it and the other does not, each with both verdicts. Pure: the
values come from the router's Spark job and from GX's COMPLETE result (layers.silver)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Dispute:
    value: object
    router_breaks: bool
    gx_breaks: bool

    def __str__(self) -> str:
        def verdict(breaks: bool) -> str:
            return "breaks" if breaks else "passes"

        shown = "null" if self.value is None else str(self.value)
        return f"{shown}: router {verdict(self.router_breaks)}, Great Expectations {verdict(self.gx_breaks)}"


def _plain(value):
    """A value as Python holds it, whichever engine gave it: numpy's and pandas' scalars as
    Python's (equal numbers of any type then hash alike), a missing value as None."""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    elif hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def disputes(router_breaks: Iterable, gx_breaks: Iterable) -> list[Dispute]:
    """Each value one judge finds breaking the rule and the other does not, once, in order."""
    router, gx = {_plain(v) for v in router_breaks}, {_plain(v) for v in gx_breaks}
    values = [v for v in router ^ gx if v is not None]
    try:
        values.sort()
    except TypeError:  # values of more than one type: in their text's order
        values.sort(key=str)
    nulls = [None] if None in router ^ gx else []
    return [Dispute(v, v in router, v in gx) for v in nulls + values]
