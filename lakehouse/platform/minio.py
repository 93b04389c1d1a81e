"""MinIO: the S3 server holding landing files and every table."""

from __future__ import annotations

from urllib.parse import urlparse

from lakehouse.config import BUILD_DIR, Settings
from lakehouse.errors import LakehouseError
from lakehouse.platform import object_store
from lakehouse.platform.process import Launch, Service, data_dir, http_ok

MINIO_BIN = BUILD_DIR / "bin" / "minio"


def _minio_port(settings: Settings) -> int:
    return urlparse(settings.s3_endpoint).port or 9000


def _minio_launch(settings: Settings) -> Launch:
    if not MINIO_BIN.exists():
        raise LakehouseError(f"{MINIO_BIN} not found: run `make platform` (builds MinIO with Go)")
    return Launch(
        [str(MINIO_BIN), "server", str(data_dir(settings, "minio")), "--quiet",
         "--address", f"{settings.bind_host}:{_minio_port(settings)}",
         "--console-address", f"{settings.bind_host}:{settings.minio_console_port}"],
        env={"MINIO_ROOT_USER": settings.s3_keys("root")[0], "MINIO_ROOT_PASSWORD": settings.s3_keys("root")[1],
             "MINIO_UPDATE": "off", "MINIO_BROWSER_REDIRECT": "off"})


def _minio_probe(settings: Settings) -> bool:
    return http_ok(f"{settings.s3_endpoint}/minio/health/ready")


def _minio_version(settings: Settings) -> str:
    stamp = MINIO_BIN.parent / "minio.version"
    return stamp.read_text().strip() if stamp.exists() else "unknown"


# Once healthy: its buckets and each service's own account (lakehouse.platform.object_store).
SERVICE = Service("minio", _minio_port, lambda s: f"http://{s.bind_host}:{s.minio_console_port} (console)",
                  _minio_launch, _minio_probe, _minio_version, None, object_store.provision, 60)
