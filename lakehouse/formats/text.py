"""The lines of a text landing file (CSV or JSON lines, gzip-compressed or not: Hadoop's
codec by the `.gz` suffix), counted in one pass: every line, the blank ones, those equal to
the header, and a fingerprint of them. Shared by the text formats."""

from __future__ import annotations

from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.errors import SparkRuntimeException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import LandingError
from lakehouse.formats.base import FileLines, fingerprint, root_cause, with_position


@dataclass(frozen=True)
class TextFile:
    """A text file read: its lines counted, every line (`value`, `_position`), its header
    line's bytes (CSV) and whether a line matched `flagged` (read_lines)."""

    counted: FileLines
    lines: DataFrame
    header: bytes | None
    flagged: bool = False


def blank() -> Column:
    return F.trim("value") == ""


def is_header(header: bytes | None) -> Column:
    """A line equal to the header, compared as bytes (as it is in the file, whatever its
    encoding)."""
    return (F.col("value").cast("binary") == F.lit(header)) if header is not None else F.lit(False)


def records(text: TextFile) -> DataFrame:
    """The lines that are records: not blank, not the header (nor a repeat of it)."""
    return text.lines.where(~blank() & ~is_header(text.header))


def read_lines(spark, path: str, header: bool, flag: Column | None = None) -> TextFile:
    """With `header`, the first non-blank line is the header. `flag`: a condition on a line,
    asked in the same pass (whether any line meets it). A file that cannot be read to its end
    (a compressed file cut short) refuses the batch, naming the file and the cause."""
    raw = spark.read.text(storage.literal(path))
    header_bytes = None
    try:
        if header:
            first = raw.where(~blank()).select(F.col("value").cast("binary")).limit(1).collect()
            if not first:
                raise LandingError(f"{path}: CSV file has no header line")
            header_bytes = bytes(first[0][0])
        flagged = F.max(flag) if flag is not None else F.lit(False)
        lines, blanks, headers, hashed, any_flagged = raw.select(
            F.count(F.lit(1)), F.sum(blank().cast("long")), F.sum(is_header(header_bytes).cast("long")),
            F.sum(F.xxhash64("value").cast("decimal(38,0)")), flagged).first()
    except (Py4JJavaError, SparkRuntimeException) as exc:
        if "FAILED_READ_FILE" not in str(exc):
            raise
        raise LandingError(f"{path}: cannot be read to its end ({root_cause(exc)}; a compressed file cut "
                           "short?); the batch is refused rather than loaded in part") from None
    counted = FileLines(path, lines, blanks or 0, headers or 0, fingerprint(lines, hashed))
    return TextFile(counted, with_position(raw), header_bytes, bool(any_flagged))
