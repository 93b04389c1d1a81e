"""Superset as part of the platform: gunicorn serving Superset from its own environment
(its pins conflict with Airflow's), metadata in the platform's PostgreSQL, dashboards as code.

Before each start, `superset/manage.py provision` migrates the metadata schema, syncs the roles,
sets the admin account and imports superset/assets (the database connection to the Thrift
server, the dashboards' datasets, charts and dashboard) with a dataset for every other gold
and ops table, generated from the specs (superset_datasets). The same
environment serves `lakehouse up` and the `superset` container of docker-compose.yaml.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from urllib.parse import quote

from lakehouse.config import GOLD, PROJECT_ROOT, Settings
from lakehouse.errors import LakehouseError
from lakehouse.platform.postgres import ensure_database
from lakehouse.platform.process import Launch, Service, required_secret, run_command
from lakehouse.platform.thrift_server import thrift_tls_files
from lakehouse.platform.superset_datasets import write_bundle
from lakehouse.specs import load_catalog

SUPERSET_DIR = PROJECT_ROOT / "superset"
ASSETS_DIR = SUPERSET_DIR / "assets"


def _bin(settings: Settings, name: str) -> str:
    path = settings.superset_venv / "bin" / name
    if not path.exists():
        raise LakehouseError(f"{path} not found: run `make platform` (installs Superset into its own venv)")
    return str(path)


def url(settings: Settings) -> str:
    return f"http://{settings.superset_host}:{settings.superset_port}"


def thrift_uri(settings: Settings) -> str:
    """The analysts' connection: PyHive's hive:// dialect, password login (auth=CUSTOM, the
    Thrift server's check). The password is not in it: the import sets it apart."""
    if not settings.thrift_user:
        raise LakehouseError("LAKEHOUSE_THRIFT_USER is not set (`lakehouse up` generates it)")
    return (f"hive://{quote(settings.thrift_user, safe='')}@{settings.thrift_host}:{settings.thrift_port}"
            f"/{GOLD}?auth=CUSTOM")


def _home(settings: Settings) -> Path:
    """Superset's own folder (its home, the provisioning bundle): private."""
    home = settings.platform_dir / "superset"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def superset_env(settings: Settings) -> dict[str, str]:
    """Every Superset process's configuration (superset/superset_config.py reads it)."""
    db_password = quote(required_secret(settings, "superset_db_password"), safe="")
    home = settings.platform_dir / "superset"
    return {
        "SUPERSET_CONFIG_PATH": str(SUPERSET_DIR / "superset_config.py"),
        "SUPERSET_HOME": str(home),
        "SUPERSET_SECRET_KEY": required_secret(settings, "superset_secret_key"),
        "SUPERSET_METADATA_DB_URI":
            f"postgresql+psycopg2://superset:{db_password}@{settings.postgres_host}:{settings.postgres_port}/superset",
        "PYTHONWARNINGS": "ignore",
        # superset_config.py connects to the Thrift server over TLS, checked against this CA.
        **({"LAKEHOUSE_THRIFT_TLS_CA": str(thrift_tls_files(settings).ca_cert)} if settings.thrift_tls else {}),
    }


def _manage(settings: Settings, *args: str, extra_env: dict[str, str] | None = None) -> str:
    """superset/manage.py with Superset's Python and the platform's configuration; returns its
    one-line summary."""
    home = _home(settings)
    env = {**os.environ, **superset_env(settings), **(extra_env or {}),
           "SUPERSET_ADMIN_USER": settings.superset_admin_user,
           "SUPERSET_ADMIN_PASSWORD": required_secret(settings, "superset_admin_password"),
           "LAKEHOUSE_THRIFT_URI": thrift_uri(settings),
           "LAKEHOUSE_THRIFT_PASSWORD": required_secret(settings, "thrift_password")}
    out = run_command([_bin(settings, "python"), str(SUPERSET_DIR / "manage.py"), *args], f"superset {args[0]}",
                      env=env, cwd=home).stdout.strip()
    return out.splitlines()[-1] if out else ""


def provision(settings: Settings) -> str:
    """Metadata schema, roles, the admin account, the assets in superset/assets and a dataset
    for every gold and ops table the specs make (superset_datasets); idempotent."""
    ensure_database(settings, "superset", "superset", required_secret(settings, "superset_db_password"))
    bundle = write_bundle(load_catalog(settings.specs_dir), ASSETS_DIR, _home(settings) / "bundle")
    return _manage(settings, "provision", extra_env={"LAKEHOUSE_SUPERSET_BUNDLE": str(bundle)})


def add_user(settings: Settings, username: str, role: str, password: str) -> str:
    """A Superset login with one role, e.g. Analyst: dashboards and datasets, no SQL Lab."""
    return _manage(settings, "add-user", username, role, extra_env={"SUPERSET_NEW_USER_PASSWORD": password})


def export_assets(settings: Settings, target: Path = ASSETS_DIR) -> str:
    """What Superset holds now (dashboards changed in the UI included), written back as YAML."""
    return _manage(settings, "export", str(target.resolve()))


def _launch(settings: Settings) -> Launch:
    # One worker with threads: chart queries wait on the Thrift server, not on Python. Its
    # timeout exceeds SUPERSET_WEBSERVER_TIMEOUT so Superset, not gunicorn, ends a slow query.
    return Launch([_bin(settings, "gunicorn"), "--bind", f"{settings.bind_host}:{settings.superset_port}",
                   "--workers", "1", "--worker-class", "gthread", "--threads", "8",
                   "--timeout", "200", "--limit-request-line", "0", "--limit-request-field_size", "0",
                   "superset.app:create_app()"],
                  env={**superset_env(settings), "PATH": os.pathsep.join(
                      [str(Path(_bin(settings, "python")).parent), os.environ.get("PATH", "")])})


def _probe(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{url(settings)}/health", timeout=5) as resp:
            return resp.read().strip() == b"OK"
    except OSError:
        return False


def _version(settings: Settings) -> str:
    script = "import importlib.metadata as m; print(m.version('apache-superset'))"
    return run_command([_bin(settings, "python"), "-c", script], "superset version").stdout.strip()


SERVICES: tuple[Service, ...] = (
    Service("superset", lambda s: s.superset_port, url, _launch, _probe, _version,
            provision, None, 180, needs=("postgres", "spark-thrift")),
)
