"""Landing file formats, one module each (lakehouse.formats.base says what a format defines:
the source options it takes, and how it reads a file's lines and records). A new format is a
module here, listed in TYPES, and its test."""

from __future__ import annotations

from contextlib import contextmanager

from lakehouse import storage
from lakehouse.errors import LandingFileGone
from lakehouse.formats import csv, jsonl, parquet
from lakehouse.formats.base import FileLines, SourceFormat

__all__ = ["TYPES", "FileLines", "SourceFormat", "gone_when_read", "of", "read_file"]

TYPES: dict[str, SourceFormat] = {m.FORMAT.name: m.FORMAT for m in (csv, jsonl, parquet)}


def of(source) -> SourceFormat:
    """The format of a spec's source."""
    return TYPES[source.format]


def read_file(spark, spec, path: str) -> tuple[FileLines, object]:
    """One landing file of the dataset: its line counts and its records parsed (its format's
    SourceFormat.read; the records are read again when written). A file gone when read is
    LandingFileGone (see gone_when_read)."""
    with gone_when_read(spark, spec, [path]):
        return of(spec.source).read(spark, spec, path)


@contextmanager
def gone_when_read(spark, spec, paths: list[str]):
    """A failure while reading or writing landing files, one of which is gone (its source
    moved or deleted it after the run listed it), as LandingFileGone naming it: bronze writes
    a dataset's files in one commit, so it wrote nothing of them, and the next run lists what
    has landed then. Any other failure, or one where asking the storage fails too, is raised
    as it is."""
    try:
        yield
    except Exception as exc:
        try:
            gone = [p for p in paths if not storage.exists(spark, p)]
        except Exception:  # noqa: BLE001 - the storage cannot say: the read's own error is the one to show
            raise exc from None
        if not gone:
            raise
        raise LandingFileGone(f"{gone[0]}: listed, then gone when read (moved or deleted by its source?); "
                              f"bronze.{spec.name} wrote nothing: run again to load what has landed") from None
