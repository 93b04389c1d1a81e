"""The object store refusing an account's requests (a real MinIO, its accounts and policies made
as `lakehouse up` makes them): a cluster job with a wrong key or secret, or with an account its
policy does not let write the warehouse, exits in one line naming the settings to correct,
before its Spark session starts; so does `lakehouse generate`'s upload with the landing
account's. Spark's side (S3A's 403): tests/unit/test_errors.py, and `lakehouse sql` on the
platform in tests/system/test_platform.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr

from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.errors import LakehouseError
from lakehouse.platform import landing, object_store, secrets
from tests.unit.minio_server import job_environment, minio


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """The platform's settings (its generated accounts, provisioned) and a cluster job's
    environment, whose keys come from the home's secrets file."""
    home = tmp_path_factory.mktemp("home")
    secrets.ensure(home)
    with minio(tmp_path_factory.mktemp("minio")) as (endpoint, user, password):
        settings = load_settings(profile="cluster", home=home, s3_endpoint=endpoint, minio_root_user=user,
                                 minio_root_password=password)
        object_store.provision(settings)
        yield settings, {"LAKEHOUSE_PROFILE": "cluster", "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_S3_ENDPOINT": endpoint}


def _wrong(settings, case: str) -> dict[str, str]:
    access_key, secret_key = settings.s3_keys("pipeline")
    if case == "secret":
        return {"LAKEHOUSE_S3_SECRET_KEY": "wrong-" + secret_key}
    if case == "key":
        return {"LAKEHOUSE_S3_ACCESS_KEY": "wrong-" + access_key}
    reader = settings.s3_keys("thrift")  # may read the warehouse, not write it
    return {"LAKEHOUSE_S3_ACCESS_KEY": reader[0], "LAKEHOUSE_S3_SECRET_KEY": reader[1]}


@pytest.mark.parametrize("case, code", [("secret", "SignatureDoesNotMatch"), ("key", "InvalidAccessKeyId"),
                                        ("policy", "AccessDenied")])
@pytest.mark.parametrize("job", ["silver", "maintenance"])
def test_a_job_whose_account_is_refused_exits_in_one_line_naming_the_settings(accounts, case, code, job):
    settings, env = accounts
    args = ["--step", "optimize"] if job == "maintenance" else []
    ran = subprocess.run([sys.executable, f"jobs/{job}.py", *args], capture_output=True, text=True,
                         env=job_environment({**env, **_wrong(settings, case)}), cwd=PROJECT_ROOT, timeout=120)
    assert ran.returncode == 1 and ran.stdout == "", (ran.stdout, ran.stderr)
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert ran.stderr.startswith(f"error: the object store refused the request ({code} on "), ran.stderr
    assert (f"correct LAKEHOUSE_S3_ACCESS_KEY and LAKEHOUSE_S3_SECRET_KEY (the native platform keeps them in "
            f"{settings.home}/platform/secrets.env, compose in .env), or the bucket's policy") in ran.stderr


def test_the_landing_accounts_refusal_names_its_own_settings(accounts):
    settings, _ = accounts
    wrong = settings.model_copy(update={"landing_s3_secret_key": SecretStr("wrong")})
    with pytest.raises(LakehouseError, match=r"^the object store refused the request \(SignatureDoesNotMatch on "
                                             r"ListObjectsV2\); correct LAKEHOUSE_LANDING_S3_ACCESS_KEY and "
                                             r"LAKEHOUSE_LANDING_S3_SECRET_KEY"):
        landing.bucket_has_objects(wrong, settings.landing_bucket)
    assert landing.bucket_has_objects(settings, settings.landing_bucket) is False  # the right secret is let in
