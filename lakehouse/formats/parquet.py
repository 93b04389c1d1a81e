"""Parquet: a file, or a folder of part files as Spark writes them. Its schema is checked
against the spec first (a type that cannot hold the spec's refuses the batch with one line
naming the file, the column and both types; a string column holds any, judged per record),
then each row becomes a JSON object (nulls kept) parsed like a JSON line, so drift, rescued
data, type mismatches and accounting are those of every format. Parquet files carry their
own encoding and no dialect."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import LandingError
from lakehouse.formats.base import FileLines, SourceFormat, csv_options_given, fingerprint, root_cause, with_position
from lakehouse.transforms.parse import parse_jsonl


# Parquet types that can hold a spec type's values (by Spark's simple type names); a string
# column holds any of them as text, judged per record by silver like a CSV field. A decimal
# of scale 0 is a whole number (database exports; Spark reads uint64 so).
_INTEGRAL = ("tinyint", "smallint", "int", "bigint", "decimal(*,0)")
_NUMBERS = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
_HOLDS = {"int": _INTEGRAL, "bigint": _INTEGRAL, "decimal": _NUMBERS, "double": _NUMBERS, "date": ("date",),
          "timestamp": ("timestamp", "timestamp_ntz", "date"), "boolean": ("boolean",)}
_SCALARS = (*_NUMBERS, "string", "boolean", "date", "timestamp", "timestamp_ntz")
# Spark's refusals of a file it can open but not read as these rows: nanosecond timestamps,
# two columns of one name (or names differing only in case).
_UNREADABLE = ("FAILED_READ_FILE", "CANNOT_READ_FILE_FOOTER", "not a Parquet file", "UNABLE_TO_INFER_SCHEMA",
               "PARQUET_TYPE_ILLEGAL", "PARQUET_TYPE_NOT_SUPPORTED", "COLUMN_ALREADY_EXISTS")


def _family(simple: str) -> str:
    if simple.startswith("decimal(") and simple.endswith(",0)"):
        return "decimal(*,0)"
    return simple.split("(")[0]


def _incompatible(spec, schema) -> str | None:
    """The first spec column the file's type cannot hold, described; None when all can."""
    held = {f.name: f.dataType.simpleString() for f in schema.fields}
    for column in spec.columns:
        found = held.get(column.name)
        if found is None:
            continue  # a missing column is schema drift, judged per record like CSV's
        family, want = _family(found), column.type.split("(")[0]
        holds = _HOLDS.get(want, ())
        if family == "string" or (want == "string" and family.split("(")[0] in _SCALARS) or family in holds \
                or (family == "decimal(*,0)" and "decimal" in holds):
            continue
        return f"column {column.name} is {found} in the file, the spec says {column.type}"
    return None


def _as_text(field) -> Column:
    """A column as the text its JSON object carries: decimals as their exact digits (to_json
    writes a number that from_json would read back as a double: 9999999999999999.99 became
    1.0E16)."""
    col = F.col("`" + field.name.replace("`", "``") + "`")
    return col.cast("string") if field.dataType.simpleString().startswith("decimal") else col


def _read(spark, spec, path: str) -> tuple[FileLines, DataFrame]:
    """A Parquet file's rows as records: its schema checked against the spec first (a type
    that cannot hold the spec's refuses the batch), then each row as a JSON object (nulls
    kept, so a null is a value and a missing column is drift) parsed like a JSON line. Every
    row is one record: no blank or header lines."""
    try:
        frame = spark.read.parquet(storage.literal(path))
        wrong = _incompatible(spec, frame.schema)
        if wrong:
            raise LandingError(f"{path}: {wrong}; the batch is refused rather than loaded in part")
        as_json = F.to_json(F.struct(*[_as_text(f).alias(f.name) for f in frame.schema.fields]),
                            {"ignoreNullFields": "false", "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
                             "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"})
        lines = frame.select(as_json.alias("value"))
        rows, hashed = lines.select(F.count(F.lit(1)), F.sum(F.xxhash64("value").cast("decimal(38,0)"))).first()
    except LandingError:
        raise
    except Exception as exc:  # noqa: BLE001 - Spark's errors for a file that is not Parquet, or cut short, vary
        if not any(s in str(exc) for s in _UNREADABLE):
            raise
        raise LandingError(f"{path}: cannot be read as Parquet ({root_cause(exc)}); the batch is refused rather "
                           "than loaded in part") from None
    return FileLines(path, rows, 0, 0, fingerprint(rows, hashed)), parse_jsonl(with_position(lines), spec.column_names)


class Parquet(SourceFormat):
    name = "parquet"

    def check(self, source):
        from lakehouse import encodings

        given = csv_options_given(source)
        if given:
            raise ValueError(f"{', '.join(given)}: CSV options, but the format is {self.name}")
        if not encodings.is_utf8(source.encoding):
            raise ValueError("encoding: Parquet files carry their own; the option is for CSV and JSON lines")

    def read(self, spark, spec, path):
        return _read(spark, spec, path)


FORMAT = Parquet()
