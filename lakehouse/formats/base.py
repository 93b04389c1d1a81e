"""What a landing file format is: one SourceFormat, defined once, in a module of its own
(lakehouse.formats). It says which `source` options of a spec it takes and refuses the others,
and reads one landing file: its lines counted (bronze's reconciliation and the file log's
fingerprint count from here) and its records parsed into bronze's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from lakehouse.specs import DatasetSpec, Source

# The source options only some formats take, with their defaults.
CSV_DIALECT = {"delimiter": ",", "quote": '"', "escape": None, "null_value": None}


@dataclass(frozen=True)
class FileLines:
    """One landing file's lines, counted from the file itself: `lines` in all, of which
    `blank` are empty and `header` repeat the CSV header (the first one included), and
    `continued` continue a record begun on a line before (a CSV field holding line breaks);
    the rest each begin a record. `fingerprint`: its line count and the sum of its lines'
    64-bit xxHash, which tells a re-delivery of the same lines (in any order) from a changed
    file."""

    path: str
    lines: int
    blank: int
    header: int
    fingerprint: str
    continued: int = 0

    @property
    def records(self) -> int:
        return self.lines - self.blank - self.header - self.continued


def root_cause(exc: Exception) -> str:
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


def fingerprint(lines: int, hashed) -> str:
    return f"xxh64sum:{lines}:{hashed or 0}"


def csv_options_given(source: Source) -> list[str]:
    """The CSV dialect options a source sets (not at their defaults)."""
    return [name for name, default in CSV_DIALECT.items() if getattr(source, name) != default]


class SourceFormat:
    """One landing file format. Subclasses set `name` and define `read`; `check` refuses the
    source options the format does not read."""

    name: str

    def check(self, source: Source) -> None:
        """Raises ValueError naming a source option the format cannot read, or a combination
        of them it cannot."""

    def read(self, spark, spec: DatasetSpec, path: str) -> tuple[FileLines, DataFrame]:
        """(the file's line counts, its records parsed: bronze's columns as text, with
        `_malformed_reason`, `_schema_drift`, `_rescued_data`, `_raw` and `_position`). A file
        that cannot be read whole raises LandingError naming it."""
        raise NotImplementedError
