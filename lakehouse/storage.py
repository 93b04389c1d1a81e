"""Listing landing files through Hadoop's FileSystem, so the same code reads local disk
(file://) and S3 (s3a://) with the session's credentials."""

from __future__ import annotations

import os
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


def matches(spark, pattern: str) -> bool:
    """Whether any file matches a Hadoop glob pattern (one call to the file system)."""
    fs, path = _fs(spark, pattern)
    found = fs.globStatus(path)
    return found is not None and len(found) > 0


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


def list_files(spark, uri: str) -> list[tuple[str, str, int, int]]:
    """Every file under a folder, at any depth, as (path, path relative to the folder, size,
    modification time in ms), skipping hidden and marker files and folders (a name starting
    with . or _). Paths are written as Hadoop writes them (`file:/...`, `s3a://...`), the form
    bronze's `_source_file` holds.

    Local disk is walked by Python; S3 is listed flat by boto3 (a thousand keys a request)
    with the session's S3 settings (endpoint, keys, session token, path style; not S3A's
    per-bucket settings or a JVM trust store: boto3 trusts the system's CAs and
    AWS_CA_BUNDLE); any other file system folder by folder through Hadoop, whose few py4j
    calls a file cost about 0.6 ms (BENCHMARKS.md, B7). Not Hadoop's recursive `listFiles`:
    on local disk it forks a process per file for its permissions."""
    local = _local_path(uri)
    if local is not None:
        return sorted(_walk_local(local))
    if uri.startswith("s3a://"):
        return sorted(_walk_s3(spark, uri))
    return sorted(_walk_hadoop(spark, uri))


def _local_path(uri: str) -> str | None:
    if uri.startswith("file:"):
        return "/" + uri[len("file:"):].lstrip("/")
    return None if "://" in uri else os.path.abspath(uri)


def _walk_local(root: str) -> list[tuple[str, str, int, int]]:
    out, todo = [], [root]
    while todo:
        with os.scandir(todo.pop()) as entries:
            for entry in entries:
                if entry.name.startswith((".", "_")):
                    continue
                if entry.is_dir():
                    todo.append(entry.path)
                else:
                    st = entry.stat()
                    out.append((f"file:{entry.path}", os.path.relpath(entry.path, root), st.st_size,
                                st.st_mtime_ns // 1_000_000))
    return out


def _walk_s3(spark, uri: str) -> list[tuple[str, str, int, int]]:
    import boto3
    from botocore.config import Config

    conf = spark.sparkContext._jsc.hadoopConfiguration()
    endpoint = conf.get("fs.s3a.endpoint") or None
    if endpoint and "://" not in endpoint:  # S3A takes a host; boto3 a URL
        endpoint = ("http://" if conf.get("fs.s3a.connection.ssl.enabled") == "false" else "https://") + endpoint
    bucket, _, prefix = uri[len("s3a://"):].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    client = boto3.client(
        "s3", endpoint_url=endpoint,
        region_name=conf.get("fs.s3a.endpoint.region") or None,
        aws_access_key_id=conf.get("fs.s3a.access.key") or None,
        aws_secret_access_key=conf.get("fs.s3a.secret.key") or None,
        aws_session_token=conf.get("fs.s3a.session.token") or None,
        config=Config(s3={"addressing_style": "path" if conf.get("fs.s3a.path.style.access") == "true" else "auto"},
                      retries={"max_attempts": 3}))
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix):]
            if not relative or relative.endswith("/") or any(p.startswith((".", "_")) for p in relative.split("/")):
                continue  # a folder marker, a hidden file or one in a hidden folder
            out.append((f"s3a://{bucket}/{obj['Key']}", relative, obj["Size"],
                        int(obj["LastModified"].timestamp() * 1000)))
    return out


def _walk_hadoop(spark, uri: str) -> list[tuple[str, str, int, int]]:
    fs, path = _fs(spark, uri)
    root = fs.makeQualified(path).toString().rstrip("/") + "/"
    out, todo = [], [path]
    while todo:
        for status in fs.listStatus(todo.pop()):
            entry = status.getPath()
            if entry.getName().startswith((".", "_")):
                continue
            if status.isDirectory():
                todo.append(entry)
            else:
                full = entry.toString()
                out.append((full, full[len(root):], status.getLen(), status.getModificationTime()))
    return out


def delete(spark, uri: str) -> None:
    fs, path = _fs(spark, uri)
    fs.delete(path, True)


def literal(uri: str) -> str:
    """A path for Spark's readers that names exactly this file: they expand glob patterns, so a
    landing file called `orders[1].csv` or `a{b}.csv` would match other files or none."""
    return _GLOB_CHARACTERS.sub(r"\\\1", uri)
