"""Raw landing lines -> bronze records. Pure: DataFrames in, DataFrames out.

Every line becomes exactly one record. Fields stay strings (bronze is raw); a line that
cannot be parsed keeps its raw text and a `_malformed_reason`; columns the spec does not
know are kept in `_rescued_data` (JSON) and named in `_schema_drift`, so silver can reject
them by the spec's rule instead of losing them.

Lines are read as text on purpose: Spark's CSV reader silently pads short rows with nulls
and drops extra fields, and its JSON reader drops unknown keys.
"""

from __future__ import annotations

import csv

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# A quoted CSV field once its escaped quotes ("") are gone: no quote inside, and a whole field
# (from a delimiter or the line's start to a delimiter or its end). One possessive character
# class, no repeated group: Java's regex engine recurses once per repetition of a group, and
# `"(?:[^"]|"")*"` overflowed the driver's stack on a field of ~2,000 characters.
_QUOTED_FIELD = r'(?:^|(?<=,))"[^"]*+"(?=,|$)'
NOT_UTF8 = "not valid UTF-8 (undecodable bytes, shown as U+FFFD in _raw)"
QUOTE_OUT_OF_PLACE = ("quote out of place: a quoted field must be a whole field and end on its line "
                      "(a field spanning lines is not supported)")


def split_csv_header(header_line: str) -> list[str]:
    return [h.strip() for h in next(csv.reader([header_line.lstrip("\ufeff")]))]


def _unquoted(value: Column) -> Column:
    """The line without its quoted fields. Removing each "" first (an escaped quote, or an
    empty field, which leaves its delimiters) keeps the parity of the quotes before every
    character, so what is outside quotes stays outside: delimiters left are the fields'
    separators, and a quote left is out of place (it never closes on this line, or it is
    inside an unquoted field, where a CSV reader would split the line differently)."""
    return F.regexp_replace(F.replace(value, F.lit('""'), F.lit("")), _QUOTED_FIELD, "")


def _field_count(unquoted: Column) -> Column:
    """Number of CSV fields in a line, counting delimiters outside quoted fields."""
    return F.size(F.split(unquoted, ",", -1))


def _not_utf8(value: Column) -> Column:
    """spark.read.text keeps a line's bytes as they are; the parsers would decode them,
    turning each byte that is not UTF-8 into U+FFFD, a value that landed silently."""
    return ~F.is_valid_utf8(value)


def _raw(value: Column) -> Column:
    """The line as text for `_raw`: undecodable bytes as U+FFFD (the landing file keeps them)."""
    return F.when(_not_utf8(value), F.make_valid_utf8(value)).otherwise(value)


def _drift_text(extra: list[str], missing: list[str]) -> str | None:
    parts = []
    if extra:
        parts.append("unexpected column(s) " + ", ".join(extra))
    if missing:
        parts.append("missing column(s) " + ", ".join(missing))
    return "; ".join(parts) or None


def parse_csv(lines: DataFrame, header: list[str], expected: list[str]) -> DataFrame:
    """Parse the data lines of one CSV file whose header is `header`.

    `lines` has a `value` column (one raw line, header excluded). Columns are matched by
    name, so a reordered header still loads; extra and missing columns are drift.
    """
    ddl = ", ".join(f"`c{i}` STRING" for i in range(len(header)))
    # RFC 4180 quoting ("" inside quotes), as the field count above assumes.
    parsed = F.from_csv("value", ddl, {"mode": "PERMISSIVE", "escape": '"'})
    unquoted = _unquoted(F.col("value"))
    count = _field_count(unquoted)
    reason = (
        F.when(_not_utf8(F.col("value")), F.lit(NOT_UTF8))
        .when(F.instr(unquoted, '"') > 0, F.lit(QUOTE_OUT_OF_PLACE))
        .when(count > len(header), F.concat(F.lit("too many fields: "), count.cast("string"),
                                            F.lit(f" (expected {len(header)})")))
        .when(count < len(header), F.concat(F.lit("too few fields: "), count.cast("string"),
                                            F.lit(f" (expected {len(header)})")))
    )
    position = {name: i for i, name in enumerate(header)}
    extra = [h for h in header if h not in expected]
    missing = [e for e in expected if e not in position]
    df = lines.withColumn("_parsed", parsed).withColumn("_malformed_reason", reason)
    bad = F.col("_malformed_reason").isNotNull()
    fields = [
        F.when(bad, F.lit(None)).otherwise(F.col(f"_parsed.c{position[name]}")).alias(name)
        if name in position else F.lit(None).cast("string").alias(name)
        for name in expected
    ]
    rescued = (
        F.to_json(F.struct(*[F.col(f"_parsed.c{position[name]}").alias(name) for name in extra]))
        if extra else F.lit(None).cast("string")
    )
    drift = _drift_text(extra, missing)
    return df.select(
        *[c for c in lines.columns if c != "value"],
        *fields,
        F.col("_malformed_reason"),
        (F.when(bad, F.lit(None)).otherwise(F.lit(drift)) if drift
         else F.lit(None)).cast("string").alias("_schema_drift"),
        F.when(bad, F.lit(None)).otherwise(rescued).alias("_rescued_data"),
        F.when(bad | F.lit(drift is not None), _raw(F.col("value"))).alias("_raw"),
    )


def parse_jsonl(lines: DataFrame, expected: list[str]) -> DataFrame:
    """Parse JSON lines: one object per line; scalars of any JSON type are kept as text."""
    keys = F.json_object_keys("value")
    ddl = ", ".join(f"`{name}` STRING" for name in expected)
    parsed = F.from_json("value", ddl)
    as_map = F.from_json("value", "MAP<STRING, STRING>")
    expected_arr = F.array(*[F.lit(n) for n in expected])
    extra = F.array_sort(F.array_except(keys, expected_arr))
    # A key left out is drift like a CSV column left out (an explicit null is a value).
    missing = F.array_except(expected_arr, keys)
    df = (lines.withColumn("_keys", keys).withColumn("_parsed", parsed).withColumn("_extra", extra)
          .withColumn("_missing", missing))
    not_utf8 = _not_utf8(F.col("value"))
    bad = not_utf8 | F.col("_keys").isNull()
    has_extra = ~bad & (F.size("_extra") > 0)
    has_missing = ~bad & (F.size("_missing") > 0)
    drift = F.concat_ws("; ", F.when(has_extra, F.concat(F.lit("unexpected column(s) "), F.array_join("_extra", ", "))),
                        F.when(has_missing, F.concat(F.lit("missing column(s) "), F.array_join("_missing", ", "))))
    return df.select(
        *[c for c in lines.columns if c != "value"],
        *[F.when(bad, F.lit(None)).otherwise(F.col(f"_parsed.`{n}`")).alias(n) for n in expected],
        F.when(not_utf8, F.lit(NOT_UTF8)).when(bad, F.lit("not a valid JSON object")).alias("_malformed_reason"),
        F.when(has_extra | has_missing, drift).alias("_schema_drift"),
        F.when(has_extra,
               F.to_json(F.map_filter(as_map, lambda k, _: ~F.array_contains(expected_arr, k)))).alias("_rescued_data"),
        F.when(bad | has_extra | has_missing, _raw(F.col("value"))).alias("_raw"),
    )
