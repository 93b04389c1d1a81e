"""JSON lines: one JSON object per line, its keys the columns; any character set whose line
break is an ASCII byte (`encoding`). Each line is parsed on its own (transforms.parse)."""

from __future__ import annotations

from lakehouse.formats.base import SourceFormat, csv_options_given
from lakehouse.formats.text import read_lines, records
from lakehouse.transforms.parse import parse_jsonl


class JsonLines(SourceFormat):
    name = "jsonl"

    def check(self, source):
        given = csv_options_given(source)
        if given:
            raise ValueError(f"{', '.join(given)}: CSV options, but the format is {self.name}")

    def read(self, spark, spec, path):
        text = read_lines(spark, path, header=False)
        return text.counted, parse_jsonl(records(text), spec.column_names, spec.source.encoding)


FORMAT = JsonLines()
