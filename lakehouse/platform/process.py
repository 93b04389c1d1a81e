"""The shared process layer of the platform's services: how a service is declared (its
launch, probe and preparation) and the helpers every service module uses.

One definition serves both ways of running them: `lakehouse up` starts these commands as
local processes on loopback; the containers of docker-compose.yaml run `lakehouse serve
<name>`, which executes the same command in the foreground. Each service names the ones it
needs healthy before it starts (`needs`, earlier in the registry's order); `up` starts the
others side by side.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.config import Settings
from lakehouse.errors import LakehouseError


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # PostgreSQL refuses to run as root


@dataclass(frozen=True)
class Service:
    name: str
    port: Callable[[Settings], int | None]  # None: listens on no port of its own
    url: Callable[[Settings], str]
    launch: Callable[[Settings], Launch]
    probe: Callable[[Settings], bool]
    version: Callable[[Settings], str]
    prepare: Callable[[Settings], None] | None = None      # before the first start (init, schema)
    after_start: Callable[[Settings], None] | None = None  # once healthy, idempotent (roles, buckets)
    start_timeout: float = 120.0
    # Why this machine cannot run it (an optional service that is not installed), or None:
    # `up` reports the reason in one line and goes on without it.
    missing: Callable[[Settings], str | None] = lambda settings: None
    needs: tuple[str, ...] = ()  # services that must be healthy before this one starts


def data_dir(settings: Settings, name: str) -> Path:
    """Private to the platform: table files are readable here without S3 credentials."""
    root = settings.platform_dir / "data"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)  # traversable for PostgreSQL's own user, not listable
    path = root / name
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def http_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def http_ok(url: str) -> bool:
    """A health endpoint answers 200 (a service still starting refuses or answers 503)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def required_secret(settings: Settings, name: str) -> str:
    """A credential a service cannot start without, secret or login name (a Settings field
    name, e.g. "airflow_fernet_key", "dqops_thrift_user")."""
    value = getattr(settings, name)
    if value is None or value == "":
        raise LakehouseError(f"LAKEHOUSE_{name.upper()} is not set "
                             "(`lakehouse up` generates it; compose takes it from .env)")
    return value if isinstance(value, str) else value.get_secret_value()


def run_command(argv: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LakehouseError(f"{what} failed: {' | '.join(tail) or f'exit {proc.returncode}'}")
    return proc
