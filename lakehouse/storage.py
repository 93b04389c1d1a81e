"""Listing landing files through Hadoop's FileSystem, so the same code reads local disk
(file://) and S3 (s3a://) with the session's credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Characters Hadoop's path globbing (Spark's readers) treats as a pattern, and its escape.
_GLOB_CHARACTERS = re.compile(r"([\\{}\[\]*?])")


@dataclass(frozen=True)
class FileInfo:
    path: str
    name: str
    size: int
    is_dir: bool


def _fs(spark, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def exists(spark, uri: str) -> bool:
    fs, path = _fs(spark, uri)
    return fs.exists(path)


def list_dir(spark, uri: str) -> list[FileInfo]:
    """Entries of a folder, skipping hidden and marker files (names starting with . or _)."""
    fs, path = _fs(spark, uri)
    out = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if name.startswith((".", "_")):
            continue
        out.append(FileInfo(status.getPath().toString(), name, status.getLen(), status.isDirectory()))
    return sorted(out, key=lambda f: f.name)


def delete(spark, uri: str) -> None:
    fs, path = _fs(spark, uri)
    fs.delete(path, True)


def literal(uri: str) -> str:
    """A path for Spark's readers that names exactly this file: they expand glob patterns, so a
    landing file called `orders[1].csv` or `a{b}.csv` would match other files or none."""
    return _GLOB_CHARACTERS.sub(r"\\\1", uri)
