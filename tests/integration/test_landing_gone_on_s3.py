"""A landing file gone between the run's listing and its read, on the object store the cluster
lands in (a real MinIO, read by Spark's S3A client with the cluster's S3A settings): the same
one line as on a local disk (test_file_patterns.py runs the whole batch there). Spark runs in
a process of its own: this session's Spark has no S3A client."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.platform.object_store import s3_client
from tests.unit.minio_server import cluster_job, job_environment, minio

pytestmark = pytest.mark.integration

# Deletes the object after the listing and before the read, then again after the read counted
# it and before the write reads it again (Spark reads a file lazily, twice): what each raised.
READER = """
import glob, json, sys
from pyspark.sql import SparkSession
from lakehouse import spark as sessions
from lakehouse.config import load_settings
from lakehouse.formats import gone_when_read, read_file
from lakehouse.platform.object_store import s3_client
from lakehouse.specs import load_catalog

settings = load_settings()
s3a = {k: v for k, v in sessions.spark_conf(settings).items() if k.startswith("spark.hadoop.fs.s3a.")}
jars = sorted(glob.glob(f"{settings.cluster_jars_dir}/*.jar"))
assert s3a and any("hadoop-aws" in j for j in jars), ("no S3A settings or jars (make platform)", s3a, jars)
builder = SparkSession.builder.master("local[1]").config("spark.jars", ",".join(jars))
for key, value in s3a.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
spec = load_catalog(settings.specs_dir).datasets["customers"]
s3, key, body = s3_client(settings), sys.argv[1], sys.argv[2].encode()
path = f"s3a://{settings.landing_bucket}/{key}"


def outcome(step):
    try:
        step()
        return "nothing raised"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


said = {}
s3.put_object(Bucket=settings.landing_bucket, Key=key, Body=body)
s3.delete_object(Bucket=settings.landing_bucket, Key=key)  # gone after the listing, before the read
said["read"] = outcome(lambda: read_file(spark, spec, path))
s3.put_object(Bucket=settings.landing_bucket, Key=key, Body=body)
counted, records = read_file(spark, spec, path)
said["counted"] = counted.records
s3.delete_object(Bucket=settings.landing_bucket, Key=key)  # gone after it was counted, before the write


def write():
    with gone_when_read(spark, spec, [path]):
        records.count()


said["write"] = outcome(write)
print(json.dumps(said))
"""


def test_a_landing_object_gone_between_listing_and_read_or_write_is_one_line(tmp_path):
    with minio(tmp_path / "minio") as store:
        settings, env = cluster_job(*store, tmp_path / "home")
        s3_client(settings).create_bucket(Bucket=settings.landing_bucket)
        key = "customers/2026-01-02/customers.csv"
        body = ("customer_id,name,email,country,signup_date,updated_at\n"
                "C1,Ada,ada@example.com,DE,2026-01-01,2026-01-02T10:00:00\n")
        ran = subprocess.run([sys.executable, "-c", READER, key, body], capture_output=True, text=True, timeout=600,
                             cwd=PROJECT_ROOT, env=job_environment(env))
    assert ran.returncode == 0, ran.stderr[-3000:]
    said = json.loads(ran.stdout.strip().splitlines()[-1])
    gone = (f"LandingFileGone: s3a://{settings.landing_bucket}/{key}: listed, then gone when read (moved or deleted "
            "by its source?); bronze.customers wrote nothing: run again to load what has landed")
    assert said == {"read": gone, "counted": 1, "write": gone}, said
