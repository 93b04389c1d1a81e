"""The lines of a text landing file (CSV or JSON lines, gzip-compressed or not: Hadoop's
codec by the `.gz` suffix), counted in one pass: every line, the blank ones, those equal to
the header, and a fingerprint of them. Shared by the text formats."""

from __future__ import annotations

from py4j.protocol import Py4JJavaError
from pyspark.errors import SparkRuntimeException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import LandingError
from lakehouse.formats.base import FileLines, fingerprint, root_cause, with_position


def read_lines(spark, path: str, header: bool) -> tuple[FileLines, DataFrame, bytes | None]:
    """(the file's line counts, its record lines with `_position`, the header line's bytes).
    With `header`, the first non-blank line is the header, compared with each line as bytes
    (as it is in the file, whatever its encoding); a line equal to it is a header, not a
    record. A file that cannot be read to its end (a compressed file cut short) refuses the
    batch, naming the file and the cause."""
    raw = spark.read.text(storage.literal(path))
    blank = F.trim("value") == ""
    header_bytes = None
    try:
        if header:
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
        raise LandingError(f"{path}: cannot be read to its end ({root_cause(exc)}; a compressed file cut "
                           "short?); the batch is refused rather than loaded in part") from None
    counted = FileLines(path, lines, blanks or 0, headers or 0, fingerprint(lines, hashed))
    return counted, with_position(raw).where(~blank & ~is_header), header_bytes
