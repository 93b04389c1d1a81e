"""Landing file formats, one module each (lakehouse.formats.base says what a format defines:
the source options it takes, and how it reads a file's lines and records). A new format is a
module here, listed in TYPES, and its test."""

from __future__ import annotations

from lakehouse.formats import csv, jsonl, parquet
from lakehouse.formats.base import FileLines, SourceFormat

__all__ = ["TYPES", "FileLines", "SourceFormat", "of", "read_file"]

TYPES: dict[str, SourceFormat] = {m.FORMAT.name: m.FORMAT for m in (csv, jsonl, parquet)}


def of(source) -> SourceFormat:
    """The format of a spec's source."""
    return TYPES[source.format]


def read_file(spark, spec, path: str) -> tuple[FileLines, object]:
    """One landing file of the dataset: its line counts and its records parsed (its format's
    SourceFormat.read)."""
    return of(spec.source).read(spark, spec, path)
