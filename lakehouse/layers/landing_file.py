"""Reading one landing file: its lines counted (every line, the blank ones, the header
lines), a fingerprint of them, and its records parsed (CSV or JSON lines, gzip-compressed or
not). Bronze's reconciliation counts from here; discovery fingerprints with it."""

from __future__ import annotations

from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.errors import SparkRuntimeException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import LandingError
from lakehouse.specs import DatasetSpec
from lakehouse.transforms.parse import CsvDialect, parse_csv, parse_jsonl, split_csv_header


@dataclass(frozen=True)
class FileLines:
    """One landing file's lines, counted from the file itself: `lines` in all, of which
    `blank` are empty and `header` repeat the CSV header (the first one included); the rest
    are records. `fingerprint`: its line count and the sum of its lines' 64-bit xxHash, which
    tells a re-delivery of the same lines (in any order) from a changed file."""

    path: str
    lines: int
    blank: int
    header: int
    fingerprint: str

    @property
    def records(self) -> int:
        return self.lines - self.blank - self.header


def _root_cause(exc: Exception) -> str:
    """The innermost JVM cause of a failed read (`java.io.EOFException: Unexpected end of input
    stream`), or the error's first line."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    while java.getCause() is not None:
        java = java.getCause()
    return str(java.toString())


def with_position(lines: DataFrame) -> DataFrame:
    """`_position`: each line's place in its file, increasing with the line (its partition, a
    split of the file, then its row in the split). Spark lists one file's splits in file
    order, so no line number (a window over the whole file, in one task) is needed."""
    return lines.withColumn("_position", F.monotonically_increasing_id())


def dialect(spec: DatasetSpec) -> CsvDialect:
    source = spec.source
    return CsvDialect(source.delimiter, source.quote, source.escape_char, source.null_value)


def read_file(spark, spec: DatasetSpec, path: str) -> tuple[FileLines, DataFrame]:
    """(the file's line counts, its records parsed). Blank and header lines are not records.
    A `.gz` file is read decompressed (Hadoop's codec, by its suffix); one that cannot be read
    to its end (a compressed file cut short) refuses the batch, naming the file and the cause."""
    if spec.source.format == "parquet":
        return _read_parquet(spark, spec, path)
    encoding = spec.source.encoding
    raw = spark.read.text(storage.literal(path))
    blank = F.trim("value") == ""
    header_bytes = None
    try:
        if spec.source.format == "csv":
            # As bytes: the header is compared with each line as it is in the file, and
            # decoded here in the file's encoding.
            first = raw.where(~blank).select(F.col("value").cast("binary")).limit(1).collect()
            if not first:
                raise LandingError(f"{path}: CSV file has no header line")
            header_bytes = bytes(first[0][0])
        is_header = (F.col("value").cast("binary") == F.lit(header_bytes)) if header_bytes is not None \
            else F.lit(False)
        lines, blanks, headers, hashed = raw.select(
            F.count(F.lit(1)), F.sum(blank.cast("long")), F.sum(is_header.cast("long")),
            F.sum(F.xxhash64("value").cast("decimal(38,0)"))).first()
    except (Py4JJavaError, SparkRuntimeException) as exc:
        if "FAILED_READ_FILE" not in str(exc):
            raise
        raise LandingError(f"{path}: cannot be read to its end ({_root_cause(exc)}; a compressed file cut "
                           "short?); the batch is refused rather than loaded in part") from None
    counted = FileLines(path, lines, blanks or 0, headers or 0, f"xxh64sum:{lines}:{hashed or 0}")
    data = with_position(raw).where(~blank & ~is_header)
    if header_bytes is None:
        return counted, parse_jsonl(data, spec.column_names, encoding)
    try:
        header = split_csv_header(header_bytes.decode(encoding, errors="replace"), dialect(spec))
    except ValueError as exc:
        raise LandingError(f"{path}: {exc}; name the columns without it") from None
    return counted, parse_csv(data, header, spec.column_names, dialect(spec), encoding)


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


def _incompatible(spec: DatasetSpec, schema) -> str | None:
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


def _read_parquet(spark, spec: DatasetSpec, path: str) -> tuple[FileLines, DataFrame]:
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
        raise LandingError(f"{path}: cannot be read as Parquet ({_root_cause(exc)}); the batch is refused rather "
                           "than loaded in part") from None
    return FileLines(path, rows, 0, 0, f"xxh64sum:{rows}:{hashed or 0}"), parse_jsonl(with_position(lines),
                                                                                      spec.column_names)
