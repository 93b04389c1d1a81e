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
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.encodings import is_utf8, java_charset

NOT_UTF8 = "not valid UTF-8 (undecodable bytes, shown as U+FFFD in _raw)"
QUOTE_OUT_OF_PLACE = ("quote out of place: a quoted field must be a whole field (from a delimiter to a "
                      "delimiter) and close before the file ends")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file separates and quotes its fields. `escape` equal to `quote`: a quote
    inside a quoted field is doubled (RFC 4180); another character (a backslash): it escapes
    the character after it, inside quoted fields only (outside them it is text, as Spark's
    CSV parser reads it)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    null_value: str | None = None  # a field holding it is null (an empty one is anyway)

    @property
    def options(self) -> dict[str, str]:
        nulls = {"nullValue": self.null_value} if self.null_value is not None else {}
        return {"sep": self.delimiter, "quote": self.quote, "escape": self.escape, **nulls}


RFC4180 = CsvDialect()


def _re(char: str) -> str:
    """One character as a Java regex literal (a backslash before any other than a letter or
    digit quotes it, in a character class too)."""
    return char if char.isalnum() else "\\" + char


def split_csv_header(header_line: str, dialect: CsvDialect = RFC4180) -> list[str]:
    """The header's column names. With an escape character other than the quote, a header
    holding it is refused (ValueError): Python's reader would take it for an escape outside
    quotes too, where Spark's takes it for text, and the two would name other columns."""
    doubled = dialect.escape == dialect.quote
    if not doubled and dialect.escape in header_line:
        raise ValueError(f"the header holds the escape character {dialect.escape!r}")
    reader = csv.reader([header_line.lstrip("\ufeff")], delimiter=dialect.delimiter, quotechar=dialect.quote,
                        doublequote=doubled, escapechar=None if doubled else dialect.escape)
    return [h.strip() for h in next(reader)]


def _unquoted(value: Column, dialect: CsvDialect = RFC4180) -> Column:
    """The line without its quoted fields: delimiters left are the fields' separators, and a
    quote left is out of place (it never closes on this line, or it is inside an unquoted
    field, where a CSV reader would split the line differently).

    A quoted field is a whole field (from a delimiter or the line's start to a delimiter or
    its end). Its pattern repeats only a character class or a group of at most two
    characters, possessively: Java's regex engine recurses once per repetition of any other
    group, and `"(?:[^"]|"")*"` overflowed the driver's stack on a field of ~2,000 characters.
    With doubled quotes, each "" goes first (an escaped quote, or an empty field, which leaves
    its delimiters): that keeps the parity of the quotes before every character, so what is
    outside quotes stays outside."""
    d, q, e = _re(dialect.delimiter), _re(dialect.quote), _re(dialect.escape)
    around = f"(?:^|(?<={d}))", f"(?={d}|$)"
    if dialect.escape == dialect.quote:
        value = F.replace(value, F.lit(dialect.quote * 2), F.lit(""))
        field = f"{q}[^{q}]*+{q}"
    else:
        field = f"{q}(?:[^{q}{e}]|{e}[\\s\\S])*+{q}"
    return F.regexp_replace(value, around[0] + field + around[1], "")


def _field_count(unquoted: Column, dialect: CsvDialect = RFC4180) -> Column:
    """Number of CSV fields in a line, counting delimiters outside quoted fields."""
    return F.size(F.split(unquoted, _re(dialect.delimiter), -1))


def decoded_text(encoding: str) -> Column:
    """Each line (`value`, its bytes as read) as text in `encoding` (UTF-8 as it is)."""
    return F.col("value") if is_utf8(encoding) else F.decode(F.col("value").cast("binary"), java_charset(encoding))


def opens_quoted_field(value: Column, dialect: CsvDialect = RFC4180) -> Column:
    """True when `value`, read from a field's start outside quotes, ends inside a quoted field:
    its last field opens with a quote (at a field's start: a quote inside an unquoted field
    is text to a CSV reader, not an opening) that the line does not close."""
    d, q, e = _re(dialect.delimiter), _re(dialect.quote), _re(dialect.escape)
    content = f"[^{q}]*+" if dialect.escape == dialect.quote else f"(?:[^{q}{e}]|{e}[\\s\\S])*+"
    return _unquoted(value, dialect).rlike(f"(?:^|{d}){q}{content}$")


# The most lines one record may span. An open quote that spans more is taken for a stray one
# (an unquoted field that begins with a quote), not a field: its lines stay records of their
# own (the one with the quote quarantined as a quote out of place, the others judged as any
# line), instead of one record swallowing the file. A real quoted field of more lines is split
# the same way, its lines judged as records of their own (README, "Bad input").
MAX_RECORD_LINES = 1000


def join_quoted_lines(lines: DataFrame, dialect: CsvDialect = RFC4180, text: Column | None = None) -> DataFrame:
    """The lines of one file (`value`, `_position`) as its records: a line that ends inside a
    quoted field is joined (by a line break, "\\n") with the lines after it, up to the one that
    closes the field (RFC 4180: a quoted field may hold line breaks). `_lines`: the lines a
    record spans; `_position`: its first line's.

    Whether a line starts inside a quoted field depends on every line before it, so the file
    is read in order (one task): each line either leaves the state as it found it (most
    lines), sets it (it closes a field, or opens one, whatever came before) or flips it, so
    the state after a line is the last setting line's, flipped once per flipping line since.
    A field still open when the file ends, or spanning more than MAX_RECORD_LINES lines, is
    not joined: each of its lines stays a record of its own (a quote out of place), so a stray
    quote costs its lines, not the rest of the file. `text`: each line as text, when `value`
    holds bytes of another encoding than UTF-8 (a multi-byte set's trail byte may be a
    backslash: the quotes are found in the decoded text)."""
    text = F.col("value") if text is None else text
    opens = opens_quoted_field(text, dialect)
    reopens = opens_quoted_field(F.concat(F.lit(dialect.quote), text), dialect)  # read from inside
    order = Window.orderBy("_position")
    upto = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    whole = order.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    df = (lines.withColumn("_opens", opens).withColumn("_sets", opens == reopens)
          .withColumn("_flips", F.sum((opens & ~reopens).cast("long")).over(upto)))
    last_set = F.last(F.when(F.col("_sets"), F.struct(F.col("_opens").alias("open"), F.col("_flips").alias("at"))),
                      ignorenulls=True).over(upto)
    df = df.withColumn("_last_set", last_set)
    flipped = (F.col("_flips") - F.coalesce(F.col("_last_set.at"), F.lit(0))) % 2 == 1
    df = df.withColumn("_open", F.coalesce(F.col("_last_set.open"), F.lit(False)) != flipped)
    df = df.withColumn("_inside", F.coalesce(F.lag("_open").over(order), F.lit(False)))
    df = df.withColumn("_record", F.sum((~F.col("_inside")).cast("long")).over(upto))
    unclosed = F.last("_open").over(whole) & (F.col("_record") == F.max("_record").over(whole))
    too_long = F.count(F.lit(1)).over(Window.partitionBy("_record")) > MAX_RECORD_LINES
    df = df.withColumn("_key", F.when(unclosed | too_long, -1 - F.col("_position")).otherwise(F.col("_record")))
    in_order = F.array_sort(F.collect_list(F.struct("_position", "value")))
    return df.groupBy("_key").agg(
        F.array_join(F.transform(in_order, lambda line: line["value"]), "\n").alias("value"),
        F.min("_position").alias("_position"), F.count(F.lit(1)).alias("_lines")).drop("_key")


def _not_valid(encoding: str) -> str:
    if is_utf8(encoding):
        return NOT_UTF8
    return f"not valid {encoding} (bytes it does not define, shown as U+FFFD in _raw)"


def _decoded(lines: DataFrame, encoding: str) -> DataFrame:
    """The lines as text in `value`, with `_undecodable` true for a line whose bytes are not
    valid in the encoding. spark.read.text keeps a line's bytes as they are: the parsers would
    decode them as UTF-8, turning each byte that is not into U+FFFD, a value that landed
    silently. In another encoding, a line is valid when its text encodes back to its bytes."""
    raw = F.col("value")
    if is_utf8(encoding):
        invalid = ~F.is_valid_utf8(raw)
        text = F.when(invalid, F.make_valid_utf8(raw)).otherwise(raw)
    else:
        data, charset = raw.cast("binary"), java_charset(encoding)
        text = decoded_text(encoding)
        # Java's decoder writes U+FFFD for bytes the set does not define. A set that can
        # encode U+FFFD itself (GB18030) tells them apart by encoding the text back; a set
        # with two byte sequences for one character (Big5, cp932) must not be asked alone.
        invalid = F.contains(text, F.lit("\ufffd")) & (F.encode(text, charset) != data)
    return lines.withColumn("_undecodable", invalid).withColumn("value", text)


def _drift_text(extra: list[str], missing: list[str]) -> str | None:
    parts = []
    if extra:
        parts.append("unexpected column(s) " + ", ".join(extra))
    if missing:
        parts.append("missing column(s) " + ", ".join(missing))
    return "; ".join(parts) or None


def parse_csv(lines: DataFrame, header: list[str], expected: list[str], dialect: CsvDialect = RFC4180,
              encoding: str = "utf-8") -> DataFrame:
    """Parse the data lines of one CSV file whose header is `header`.

    `lines` has a `value` column (one raw line, header excluded). Columns are matched by
    name, so a reordered header still loads; extra and missing columns are drift.
    """
    ddl = ", ".join(f"`c{i}` STRING" for i in range(len(header)))
    lines = _decoded(lines, encoding)
    parsed = F.from_csv("value", ddl, {"mode": "PERMISSIVE", **dialect.options})
    unquoted = _unquoted(F.col("value"), dialect)
    count = _field_count(unquoted, dialect)
    reason = (
        F.when(F.col("_undecodable"), F.lit(_not_valid(encoding)))
        .when(F.instr(unquoted, dialect.quote) > 0, F.lit(QUOTE_OUT_OF_PLACE))
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
        *[c for c in lines.columns if c not in ("value", "_undecodable")],
        *fields,
        F.col("_malformed_reason"),
        (F.when(bad, F.lit(None)).otherwise(F.lit(drift)) if drift
         else F.lit(None)).cast("string").alias("_schema_drift"),
        F.when(bad, F.lit(None)).otherwise(rescued).alias("_rescued_data"),
        F.when(bad | F.lit(drift is not None), F.col("value")).alias("_raw"),
    )


def parse_jsonl(lines: DataFrame, expected: list[str], encoding: str = "utf-8") -> DataFrame:
    """Parse JSON lines: one object per line; scalars of any JSON type are kept as text."""
    lines = _decoded(lines, encoding)
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
    undecodable = F.col("_undecodable")
    bad = undecodable | F.col("_keys").isNull()
    has_extra = ~bad & (F.size("_extra") > 0)
    has_missing = ~bad & (F.size("_missing") > 0)
    drift = F.concat_ws("; ", F.when(has_extra, F.concat(F.lit("unexpected column(s) "), F.array_join("_extra", ", "))),
                        F.when(has_missing, F.concat(F.lit("missing column(s) "), F.array_join("_missing", ", "))))
    return df.select(
        *[c for c in lines.columns if c not in ("value", "_undecodable")],
        *[F.when(bad, F.lit(None)).otherwise(F.col(f"_parsed.`{n}`")).alias(n) for n in expected],
        F.when(undecodable, F.lit(_not_valid(encoding))).when(bad, F.lit("not a valid JSON object"))
        .alias("_malformed_reason"),
        F.when(has_extra | has_missing, drift).alias("_schema_drift"),
        F.when(has_extra,
               F.to_json(F.map_filter(as_map, lambda k, _: ~F.array_contains(expected_arr, k)))).alias("_rescued_data"),
        F.when(bad | has_extra | has_missing, F.col("value")).alias("_raw"),
    )
