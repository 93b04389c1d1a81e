"""Reading one landing file: its lines counted (every line, the blank ones, the header
lines), a fingerprint of them, and its records parsed (CSV or JSON lines, gzip-compressed or
not). Bronze's reconciliation counts from here; discovery fingerprints with it."""

from __future__ import annotations

from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.errors import SparkRuntimeException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import LandingError
from lakehouse.specs import DatasetSpec
from lakehouse.transforms.parse import parse_csv, parse_jsonl, split_csv_header


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


def read_file(spark, spec: DatasetSpec, path: str) -> tuple[FileLines, DataFrame]:
    """(the file's line counts, its records parsed). Blank and header lines are not records.
    A `.gz` file is read decompressed (Hadoop's codec, by its suffix); one that cannot be read
    to its end (a compressed file cut short) refuses the batch, naming the file and the cause."""
    raw = spark.read.text(storage.literal(path))
    blank = F.trim("value") == ""
    header_line = None
    try:
        if spec.source.format == "csv":
            first = raw.where(~blank).limit(1).collect()
            if not first:
                raise LandingError(f"{path}: CSV file has no header line")
            header_line = first[0]["value"]
        is_header = (F.col("value") == F.lit(header_line)) if header_line is not None else F.lit(False)
        lines, blanks, headers, hashed = raw.select(
            F.count(F.lit(1)), F.sum(blank.cast("long")), F.sum(is_header.cast("long")),
            F.sum(F.xxhash64("value").cast("decimal(38,0)"))).first()
    except (Py4JJavaError, SparkRuntimeException) as exc:
        if "FAILED_READ_FILE" not in str(exc):
            raise
        raise LandingError(f"{path}: cannot be read to its end ({_root_cause(exc)}; a compressed file cut "
                           "short?); the batch is refused rather than loaded in part") from None
    counted = FileLines(path, lines, blanks or 0, headers or 0, f"xxh64sum:{lines}:{hashed or 0}")
    data = raw.where(~blank & ~is_header)
    if header_line is None:
        return counted, parse_jsonl(data, spec.column_names)
    return counted, parse_csv(data, split_csv_header(header_line), spec.column_names)
