"""Expectation types, one module each (lakehouse.rules.base says what a type defines: its
spec fields and checks, how the router judges a record and names why, its Great Expectations
expectation and its DQOps check). A new type is a module here, listed in TYPES, and its test."""

from __future__ import annotations

from lakehouse.rules import accepted_values, expression, foreign_key, not_null, regex, row_count_change, value_range
from lakehouse.rules.base import RuleType

TYPES: dict[str, RuleType] = {m.RULE.name: m.RULE for m in (
    not_null, accepted_values, value_range, regex, expression, foreign_key, row_count_change)}


def of(expectation) -> RuleType:
    """The type of a spec's expectation."""
    return TYPES[expectation.type]
