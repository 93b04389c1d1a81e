"""CSV (RFC 4180 by default): a header line naming the columns (in any order), fields
separated by `delimiter`, quoted with `quote`, a quote inside a quoted field doubled or
escaped by `escape`, a quoted field holding delimiters, quotes and line breaks; `null_value`
for a missing value; any character set whose line break and comma are ASCII bytes
(`encoding`). Each record is parsed on its own (transforms.parse)."""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import functions as F

from lakehouse.errors import LandingError
from lakehouse.formats.base import SourceFormat
from lakehouse.formats.text import TextFile, blank, is_header, read_lines, records
from lakehouse.transforms.parse import (CsvDialect, decoded_text, join_quoted_lines, opens_quoted_field, parse_csv,
                                       split_csv_header)

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
        encoding = spec.source.encoding
        text = read_lines(spark, path, header=True, flag=opens_quoted_field(decoded_text(encoding), dialect(spec)))
        try:
            header = split_csv_header(text.header.decode(encoding, errors="replace"), dialect(spec))
        except ValueError as exc:
            raise LandingError(f"{path}: {exc}; name the columns without it") from None
        counted, lines = _multiline(text, dialect(spec), encoding) if text.flagged else (text.counted, records(text))
        return counted, parse_csv(lines, header, spec.column_names, dialect(spec), encoding)


def _multiline(text: TextFile, dialect: CsvDialect, encoding: str):
    """A file with a line that opens a quoted field it does not close: its lines joined into
    records (transforms.parse.join_quoted_lines) and counted again, one more pass: a blank
    line or one equal to the header inside a quoted field is a field's text, and the lines
    after a record's first continue it."""
    joined = join_quoted_lines(text.lines, dialect, decoded_text(encoding))
    single = F.col("_lines") == 1
    n, blanks, headers = joined.select(F.count(F.lit(1)), F.sum((single & blank()).cast("long")),
                                       F.sum((single & is_header(text.header)).cast("long"))).first()
    counted = replace(text.counted, blank=blanks or 0, header=headers or 0, continued=text.counted.lines - n)
    kept = joined.where(~(F.col("_lines") == 1) | (~blank() & ~is_header(text.header)))
    return counted, kept.drop("_lines")


FORMAT = Csv()
