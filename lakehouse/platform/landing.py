"""Landing files on S3 for the cluster profile: the sample data, uploaded once.

The sample is generated on local disk (under the runtime directory, never into a user's
folder) with the same seed and scale as the embedded profile, so both profiles process the
same records and must produce the same gold tables.
"""

from __future__ import annotations

from pathlib import Path

from lakehouse.config import Settings
from lakehouse.errors import refusals_named
from lakehouse.platform.object_store import s3_client


def bucket_has_objects(settings: Settings, bucket: str) -> bool:
    with refusals_named("landing"):
        return s3_client(settings, "landing").list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0) > 0


def upload_tree(settings: Settings, local: Path, bucket: str) -> int:
    """Every file under `local` to the bucket, keyed by its relative path. Returns the count."""
    s3 = s3_client(settings, "landing")
    files = sorted(p for p in local.rglob("*") if p.is_file())
    with refusals_named("landing"):
        for path in files:
            s3.upload_file(str(path), bucket, path.relative_to(local).as_posix())
    return len(files)


def sample_dir(settings: Settings) -> Path:
    return settings.platform_dir / "sample-landing"
