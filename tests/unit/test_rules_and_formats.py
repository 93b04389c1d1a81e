"""Each expectation type and each landing format is defined once, in its own module
(lakehouse.rules, lakehouse.formats): the spec's choices are exactly the modules listed, and
each module defines what its kind needs (what the router, GX and DQOps ask of a rule; what
bronze asks of a format)."""

from __future__ import annotations

import typing

from lakehouse import formats, rules
from lakehouse.formats.base import SourceFormat
from lakehouse.rules.base import RuleType
from lakehouse.specs import Expectation, Source


def test_the_spec_offers_exactly_the_rule_types_and_formats_defined():
    assert set(typing.get_args(Expectation.model_fields["type"].annotation)) == set(rules.TYPES)
    assert set(typing.get_args(Source.model_fields["format"].annotation)) == set(formats.TYPES)


def test_every_rule_type_defines_its_judges_and_its_dqops_check_or_why_not():
    for name, rule in rules.TYPES.items():
        assert rule.name == name and rule.needs, name
        assert type(rule).violated is not RuleType.violated, f"{name}: the router cannot judge it"
        assert type(rule).gx_check is not RuleType.gx_check, f"{name}: Great Expectations cannot judge it"
        maps = type(rule).dqops_check is not RuleType.dqops_check
        assert maps != (rule.dqops_unmapped is not None), f"{name}: a DQOps check, or a reason it has none"


def test_every_format_reads_files():
    for name, fmt in formats.TYPES.items():
        assert fmt.name == name and type(fmt).read is not SourceFormat.read, name
