"""CSV (RFC 4180 by default): a header line naming the columns (in any order), fields
separated by `delimiter`, quoted with `quote`, a quote inside a quoted field doubled or
escaped by `escape`; `null_value` for a missing value; any character set whose line break and
comma are ASCII bytes (`encoding`). Each line is parsed on its own (transforms.parse)."""

from __future__ import annotations

from lakehouse.errors import LandingError
from lakehouse.formats.base import SourceFormat
from lakehouse.formats.text import read_lines
from lakehouse.transforms.parse import CsvDialect, parse_csv, split_csv_header

_LINE_BREAKS = ("\n", "\r")


def dialect(spec) -> CsvDialect:
    source = spec.source
    return CsvDialect(source.delimiter, source.quote, source.escape_char, source.null_value)


class Csv(SourceFormat):
    name = "csv"

    def check(self, source):
        chars = {"delimiter": source.delimiter, "quote": source.quote, "escape": source.escape_char}
        if any(c in _LINE_BREAKS for c in chars.values()):
            raise ValueError("delimiter, quote and escape cannot be line breaks")
        if source.delimiter in (source.quote, source.escape_char):
            raise ValueError(f"delimiter {source.delimiter!r} is also the quote or the escape character")
        if source.delimiter == "\\":  # Spark's CSV options read it as the start of an escape (\t)
            raise ValueError("a backslash cannot be the delimiter")

    def read(self, spark, spec, path):
        counted, lines, header_bytes = read_lines(spark, path, header=True)
        encoding = spec.source.encoding
        try:
            header = split_csv_header(header_bytes.decode(encoding, errors="replace"), dialect(spec))
        except ValueError as exc:
            raise LandingError(f"{path}: {exc}; name the columns without it") from None
        return counted, parse_csv(lines, header, spec.column_names, dialect(spec), encoding)


FORMAT = Csv()
