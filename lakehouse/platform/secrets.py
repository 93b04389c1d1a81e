"""Credentials of the native platform: generated on the first `lakehouse up`, never defaults.

They live in one dotenv file (mode 0600) under the runtime directory, keyed by the same
LAKEHOUSE_* names that lakehouse.config reads and that docker compose takes from .env.
"""

from __future__ import annotations

import base64
import os
import secrets
import string
from pathlib import Path

from lakehouse.config import secrets_file
from lakehouse.errors import LakehouseError
from lakehouse.files import write_private

_ALNUM = string.ascii_letters + string.digits


def _token(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_password() -> str:
    """A password for a login a person adds (e.g. `lakehouse superset add-user`)."""
    return _token(24)


def _fernet_key() -> str:
    """A Fernet key: 32 random bytes, url-safe base64 (what cryptography's Fernet expects)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _access_key(prefix: str):
    """A MinIO access key (at most 20 characters) that says whose it is."""
    return lambda: prefix + _token(20 - len(prefix)).lower()


# Every credential the services need, and how to make a fresh one.
GENERATED = {
    "LAKEHOUSE_MINIO_ROOT_USER": _access_key("root"),          # MinIO's root: MinIO and provisioning only
    "LAKEHOUSE_MINIO_ROOT_PASSWORD": lambda: _token(40),
    "LAKEHOUSE_S3_ACCESS_KEY": _access_key("pipeline"),        # the jobs: read landing, write the warehouse
    "LAKEHOUSE_S3_SECRET_KEY": lambda: _token(40),
    "LAKEHOUSE_THRIFT_S3_ACCESS_KEY": _access_key("thrift"),   # the Thrift server: read the warehouse
    "LAKEHOUSE_THRIFT_S3_SECRET_KEY": lambda: _token(40),
    "LAKEHOUSE_METASTORE_S3_ACCESS_KEY": _access_key("metastore"),  # the metastore: write the warehouse
    "LAKEHOUSE_METASTORE_S3_SECRET_KEY": lambda: _token(40),
    "LAKEHOUSE_LANDING_S3_ACCESS_KEY": _access_key("landing"),  # the sample data's upload: write landing
    "LAKEHOUSE_LANDING_S3_SECRET_KEY": lambda: _token(40),
    "LAKEHOUSE_POSTGRES_PASSWORD": lambda: _token(32),       # superuser `lakehouse`
    "LAKEHOUSE_METASTORE_DB_PASSWORD": lambda: _token(32),   # role `hive`, owner of database metastore
    "LAKEHOUSE_THRIFT_USER": lambda: "lakehouse",
    "LAKEHOUSE_THRIFT_PASSWORD": lambda: _token(32),
    "LAKEHOUSE_DQOPS_THRIFT_USER": lambda: "dqops",          # DQOps's own (read-only) Thrift login
    "LAKEHOUSE_DQOPS_THRIFT_PASSWORD": lambda: _token(32),
    "LAKEHOUSE_THRIFT_KEYSTORE_PASSWORD": lambda: _token(32),  # the Thrift server's TLS key
    "LAKEHOUSE_THRIFT_TRUSTSTORE_PASSWORD": lambda: _token(24),  # Java clients' truststore of the CA
    "LAKEHOUSE_SPARK_AUTH_SECRET": lambda: _token(48),       # spark.authenticate.secret
    "LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD": lambda: _token(24),  # the UI's and REST API's `admin`
    "LAKEHOUSE_AIRFLOW_DB_PASSWORD": lambda: _token(32),     # role `airflow`, owner of database airflow
    "LAKEHOUSE_AIRFLOW_FERNET_KEY": _fernet_key,              # encrypts connections and variables
    "LAKEHOUSE_AIRFLOW_SECRET_KEY": lambda: _token(48),      # [api] secret_key: sessions, log fetching
    "LAKEHOUSE_AIRFLOW_JWT_SECRET": lambda: _token(48),      # [api_auth] jwt_secret: API and task tokens
    "LAKEHOUSE_SUPERSET_ADMIN_PASSWORD": lambda: _token(24), # the dashboards' `admin`
    "LAKEHOUSE_SUPERSET_SECRET_KEY": lambda: _token(48),     # sessions, and encrypts stored DB passwords
    "LAKEHOUSE_SUPERSET_DB_PASSWORD": lambda: _token(32),    # role `superset`, owner of database superset
}


# The credentials existing data depends on. Every other one is applied afresh at each start
# (role passwords, the Airflow admin's password) or holds no state, so a platform that
# predates it (an upgrade adding Airflow) simply gets a new one.
HELD_BY_DATA = {"LAKEHOUSE_MINIO_ROOT_USER", "LAKEHOUSE_MINIO_ROOT_PASSWORD", "LAKEHOUSE_POSTGRES_PASSWORD",
                "LAKEHOUSE_AIRFLOW_FERNET_KEY", "LAKEHOUSE_SUPERSET_SECRET_KEY"}
# Platforms from before the services had S3 accounts of their own used MinIO's root account
# as LAKEHOUSE_S3_*: it becomes the root account, and the jobs get an account of their own.
_ROOT_WAS = {"LAKEHOUSE_MINIO_ROOT_USER": "LAKEHOUSE_S3_ACCESS_KEY",
             "LAKEHOUSE_MINIO_ROOT_PASSWORD": "LAKEHOUSE_S3_SECRET_KEY"}


def read(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def ensure(home: Path) -> tuple[Path, list[str]]:
    """Create the secrets file, or add the keys it lacks; never change an existing value.
    Returns the file and the names generated now."""
    path = secrets_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Traversable (for services running as their own user), not listable.
    os.chmod(path.parent, 0o711)
    current = read(path)
    migrated = not set(_ROOT_WAS) & set(current) and set(_ROOT_WAS.values()) <= set(current)
    if migrated:
        current.update({root: current.pop(old) for root, old in _ROOT_WAS.items()})
    # A value the environment already sets (non-empty) wins and is not written down.
    fresh = {k: make() for k, make in GENERATED.items() if k not in current and not os.environ.get(k)}
    locked_out = sorted(set(fresh) & HELD_BY_DATA)
    if locked_out and (path.parent / "data").is_dir():
        # The data already holds the old values (PostgreSQL's superuser, MinIO's root user,
        # Airflow's and Superset's encrypted fields): a new one would lock the platform out
        # of its own data.
        raise LakehouseError(f"{path} lacks {', '.join(locked_out)} but {path.parent / 'data'} exists: "
                             "restore the file or set them in the environment")
    if fresh or migrated or not path.exists():
        lines = ["# Generated by `lakehouse up`. Keep private (mode 0600)."]
        write_private(path, "\n".join(lines + [f"{k}={v}" for k, v in {**current, **fresh}.items()]) + "\n")
    os.chmod(path, 0o600)
    return path, sorted(fresh)
