"""Landing file formats, one module each (lakehouse.formats.base says what a format defines:
the source options it takes, and how it reads a file's lines and records). A new format is a
module here, listed in TYPES, and its test."""

from __future__ import annotations

from lakehouse import storage
from lakehouse.errors import LandingError
from lakehouse.formats import csv, jsonl, parquet
from lakehouse.formats.base import FileLines, SourceFormat

__all__ = ["TYPES", "FileLines", "SourceFormat", "of", "read_file"]

TYPES: dict[str, SourceFormat] = {m.FORMAT.name: m.FORMAT for m in (csv, jsonl, parquet)}


def of(source) -> SourceFormat:
    """The format of a spec's source."""
    return TYPES[source.format]


def read_file(spark, spec, path: str) -> tuple[FileLines, object]:
    """One landing file of the dataset: its line counts and its records parsed (its format's
    SourceFormat.read). A file listed but gone when read (its source moved or deleted it) is a
    LandingError naming it, raised before bronze writes (it reads every pending file first): the
run writes nothing, and the next one lists what is there."""
    try:
        return of(spec.source).read(spark, spec, path)
    except Exception:
        if storage.exists(spark, path):
            raise
        raise LandingError(f"{path}: listed, then gone when read (moved or deleted by its source?); nothing was "
                           "written: run again to load what has landed") from None
