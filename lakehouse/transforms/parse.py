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

# A quoted CSV field, with "" as an escaped quote inside it.
_QUOTED_FIELD = r'"(?:[^"]|"")*"'


def split_csv_header(header_line: str) -> list[str]:
    return [h.strip() for h in next(csv.reader([header_line.lstrip("\ufeff")]))]


def _field_count(value: Column) -> Column:
    """Number of CSV fields in a line, counting delimiters outside quoted fields."""
    return F.size(F.split(F.regexp_replace(value, _QUOTED_FIELD, ""), ",", -1))


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
    count = _field_count(F.col("value"))
    reason = (
        F.when(count > len(header), F.concat(F.lit("too many fields: "), count.cast("string"), F.lit(f" (expected {len(header)})")))
        .when(count < len(header), F.concat(F.lit("too few fields: "), count.cast("string"), F.lit(f" (expected {len(header)})")))
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
        (F.when(bad, F.lit(None)).otherwise(F.lit(drift)) if drift else F.lit(None)).cast("string").alias("_schema_drift"),
        F.when(bad, F.lit(None)).otherwise(rescued).alias("_rescued_data"),
        F.when(bad | F.lit(drift is not None), F.col("value")).alias("_raw"),
    )


def parse_jsonl(lines: DataFrame, expected: list[str]) -> DataFrame:
    """Parse JSON lines: one object per line; scalars of any JSON type are kept as text."""
    keys = F.json_object_keys("value")
    ddl = ", ".join(f"`{name}` STRING" for name in expected)
    parsed = F.from_json("value", ddl)
    as_map = F.from_json("value", "MAP<STRING, STRING>")
    expected_arr = F.array(*[F.lit(n) for n in expected])
    extra = F.array_sort(F.array_except(keys, expected_arr))
    df = lines.withColumn("_keys", keys).withColumn("_parsed", parsed).withColumn("_extra", extra)
    bad = F.col("_keys").isNull()
    has_extra = ~bad & (F.size("_extra") > 0)
    return df.select(
        *[c for c in lines.columns if c != "value"],
        *[F.when(bad, F.lit(None)).otherwise(F.col(f"_parsed.`{n}`")).alias(n) for n in expected],
        F.when(bad, F.lit("not a valid JSON object")).alias("_malformed_reason"),
        F.when(has_extra, F.concat(F.lit("unexpected column(s) "), F.array_join("_extra", ", "))).alias("_schema_drift"),
        F.when(has_extra, F.to_json(F.map_filter(as_map, lambda k, _: ~F.array_contains(expected_arr, k)))).alias("_rescued_data"),
        F.when(bad | has_extra, F.col("value")).alias("_raw"),
    )
