"""A MinIO of a test's own (the binary `make platform` builds), for what reads and writes the
object store directly: the writer's lease, the layer tasks' records."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

from lakehouse.config import Settings, load_settings
from lakehouse.platform.minio import MINIO_BIN
from lakehouse.platform.process import http_ok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def minio(data: Path):
    """Its S3 endpoint and root account, generated per run like every secret of the platform."""
    assert MINIO_BIN.exists(), "make platform builds MinIO"
    port = free_port()
    user, password = f"test-{secrets.token_hex(6)}", secrets.token_urlsafe(16)
    proc = subprocess.Popen([str(MINIO_BIN), "server", str(data), "--quiet", "--address", f"127.0.0.1:{port}",
                             "--console-address", f"127.0.0.1:{free_port()}"],
                            env={**os.environ, "MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": password,
                                 "MINIO_UPDATE": "off"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{port}/minio/health/ready"):
            assert time.monotonic() < deadline and proc.poll() is None, "MinIO did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", user, password
    finally:
        proc.terminate()
        proc.wait(30)


def cluster_job(endpoint: str, user: str, password: str, home: Path, **more: str) -> tuple[Settings, dict[str, str]]:
    """The settings and LAKEHOUSE_ variables of a cluster job whose object store is this MinIO
    (its root account); `more`: other LAKEHOUSE_ variables."""
    env = {"LAKEHOUSE_PROFILE": "cluster", "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_S3_ENDPOINT": endpoint,
           "LAKEHOUSE_S3_ACCESS_KEY": user, "LAKEHOUSE_S3_SECRET_KEY": password, **more}
    return load_settings(**{k.removeprefix("LAKEHOUSE_").lower(): v for k, v in env.items()}), env


def job_environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its LAKEHOUSE_ variables, and with `env`'s."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}, **env}
