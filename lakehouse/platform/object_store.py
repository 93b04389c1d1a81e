"""The object store's buckets and accounts.

MinIO's root account creates the landing and warehouse buckets, and one MinIO user per
service with a policy that allows exactly what that service does (lakehouse.config's
S3_IDENTITIES: the jobs read landing and write the warehouse, the Thrift server reads the
warehouse, the metastore writes it, the landing writer writes landing). Nothing but MinIO
and this provisioning holds the root keys. It runs natively once MinIO is healthy (`lakehouse
up`) and in compose as the one-shot minio-init (`lakehouse init-buckets`); it is idempotent,
and each start sets every user's secret and policy afresh and removes the users of a
lakehouse policy whose access key is no longer configured, so a rotated key or a changed
policy applies at the next start and the old key stops working.
"""

from __future__ import annotations

import json

from urllib.parse import urlparse

from lakehouse.config import S3_IDENTITIES, S3Identity, Settings
from lakehouse.errors import refusals_named

POLICY_PREFIX = "lakehouse-"
_BUCKET_READ = ["s3:GetBucketLocation", "s3:ListBucket"]
_OBJECT_READ = ["s3:GetObject"]
# s3a's writes: plain and multipart uploads, deletes (renames are copies and deletes).
_BUCKET_WRITE = ["s3:ListBucketMultipartUploads"]
_OBJECT_WRITE = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]


def s3_client(settings: Settings, identity: str = "pipeline", timeout_s: float | None = None, attempts: int = 3):
    """A boto3 S3 client signed as one identity ("root" for MinIO's root account). `timeout_s`:
    for connecting and for each read (botocore's default is 60 s each)."""
    import boto3
    from botocore.config import Config

    access_key, secret_key = settings.s3_keys(identity)
    timeouts = {"connect_timeout": timeout_s, "read_timeout": timeout_s} if timeout_s else {}
    return boto3.client(
        "s3", endpoint_url=settings.s3_endpoint, region_name="us-east-1",
        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": attempts}, **timeouts))


def policy(settings: Settings, identity: S3Identity) -> dict:
    """The identity's IAM policy: read its read buckets, read and write its write buckets."""
    statements = []
    for field in (*identity.reads, *identity.writes):
        bucket, writes = getattr(settings, field), field in identity.writes
        statements.append({"Effect": "Allow", "Action": _BUCKET_READ + (_BUCKET_WRITE if writes else []),
                           "Resource": [f"arn:aws:s3:::{bucket}"]})
        statements.append({"Effect": "Allow", "Action": _OBJECT_READ + (_OBJECT_WRITE if writes else []),
                           "Resource": [f"arn:aws:s3:::{bucket}/*"]})
    return {"Version": "2012-10-17", "Statement": statements}


def provision(settings: Settings) -> None:
    """The buckets, then every identity's policy and user, as MinIO's root account."""
    root = s3_client(settings, "root")
    with refusals_named("root"):  # a root account changed after MinIO's data was made with another
        existing = {b["Name"] for b in root.list_buckets().get("Buckets", [])}
        for bucket in (settings.landing_bucket, settings.warehouse_bucket):
            if bucket not in existing:
                root.create_bucket(Bucket=bucket)
    admin = _admin(settings)
    current = set()
    for identity in S3_IDENTITIES.values():
        access_key, secret_key = settings.s3_keys(identity.name)
        name = POLICY_PREFIX + identity.name
        admin.policy_add(name, policy=policy(settings, identity))
        admin.user_add(access_key, secret_key)
        admin.policy_set(name, user=access_key)
        current.add(access_key)
    for access_key, user in json.loads(admin.user_list() or "{}").items():
        if access_key not in current and str(user.get("policyName", "")).startswith(POLICY_PREFIX):
            admin.user_remove(access_key)  # a key rotated away


def _admin(settings: Settings):
    from minio import MinioAdmin
    from minio.credentials import StaticProvider

    endpoint = urlparse(settings.s3_endpoint)
    user, password = settings.s3_keys("root")
    return MinioAdmin(endpoint=endpoint.netloc, credentials=StaticProvider(user, password),
                      secure=endpoint.scheme == "https")
