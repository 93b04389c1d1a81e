"""A cluster job whose S3 key or secret the object store refuses (a real MinIO): one line
saying so and which settings to correct, before its Spark session starts, however the job is
run (its Airflow task, `lakehouse run --profile cluster` and spark-submit all run jobs/*.py).
The Spark side's message (S3A's 403) is tests/unit/test_errors.py's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.platform.object_store import s3_client
from tests.unit.minio_server import cluster_job, job_environment, minio


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory):
    with minio(tmp_path_factory.mktemp("minio")) as store:
        settings, env = cluster_job(*store, tmp_path_factory.mktemp("home"))
        s3_client(settings).create_bucket(Bucket=settings.warehouse_bucket)
        yield env


@pytest.mark.parametrize("wrong, code", [("LAKEHOUSE_S3_SECRET_KEY", "SignatureDoesNotMatch"),
                                         ("LAKEHOUSE_S3_ACCESS_KEY", "InvalidAccessKeyId")])
@pytest.mark.parametrize("job", ["silver", "maintenance"])
def test_a_job_with_a_wrong_key_or_secret_exits_in_one_line_naming_the_settings(cluster_env, wrong, code, job):
    env = job_environment({**cluster_env, wrong: "wrong-" + cluster_env[wrong]})
    args = ["--step", "optimize"] if job == "maintenance" else []
    ran = subprocess.run([sys.executable, f"jobs/{job}.py", *args], capture_output=True, text=True, env=env,
                         cwd=PROJECT_ROOT, timeout=120)
    assert ran.returncode == 1 and ran.stdout == "", (ran.stdout, ran.stderr)
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert ran.stderr.startswith(f"error: the object store refused the credentials ({code} on "), ran.stderr
    assert "correct LAKEHOUSE_S3_ACCESS_KEY and LAKEHOUSE_S3_SECRET_KEY" in ran.stderr
