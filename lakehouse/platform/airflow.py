"""Airflow 3 as part of the platform: API server (with the UI), scheduler, DAG processor and
triggerer, LocalExecutor, metadata in the platform's PostgreSQL.

Airflow is configured entirely through AIRFLOW__* variables built here (no airflow.cfg to
keep in sync), the same for `lakehouse up` and the containers of docker-compose-airflow.yaml.
Its secrets (admin password, fernet key, API secret key, JWT secret, database password)
come from lakehouse.config, so they are generated on the first `up` or taken from `.env`.

The Spark tasks run in the scheduler's LocalExecutor workers: they inherit this
environment, find `spark-submit` on PATH and the cluster in AIRFLOW_CONN_SPARK_DEFAULT.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

from lakehouse.config import PROJECT_ROOT, Settings
from lakehouse.errors import LakehouseError
from lakehouse.files import write_private
from lakehouse.orchestration.dags import SPARK_CONN_ID, SPARK_POOL
from lakehouse.platform import dqops
from lakehouse.platform.postgres import ensure_database
from lakehouse.platform.process import Launch, Service, http_json, required_secret, run_command
from lakehouse.platform.spark_cluster import master_host_port

DAGS_FOLDER = PROJECT_ROOT / "airflow" / "dags"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def airflow_bin() -> str:
    path = Path(sys.executable).parent / "airflow"
    if not path.exists():
        raise LakehouseError(f"{path} not found: run `make install` (installs Airflow into the venv)")
    return str(path)


def airflow_home(settings: Settings) -> Path:
    return settings.platform_dir / "airflow"


def api_url(settings: Settings) -> str:
    """The API server as the other components (and users) reach it."""
    return f"http://{settings.airflow_host}:{settings.airflow_port}"


def airflow_env(settings: Settings) -> dict[str, str]:
    """Every Airflow process's configuration, and what its Spark tasks need."""
    from lakehouse.submit import submit_env

    db_password = quote(required_secret(settings, "airflow_db_password"), safe="")
    master_host, master_port = master_host_port(settings)
    driver = submit_env(settings)  # the tasks' drivers: this venv's Python, the cluster profile
    return {
        "AIRFLOW_HOME": str(airflow_home(settings)),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # Spark tasks queue on their pool; this bounds the rest
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        "AIRFLOW__CORE__FERNET_KEY": required_secret(settings, "airflow_fernet_key"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url(settings)}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
            f"postgresql+psycopg2://airflow:{db_password}@{settings.postgres_host}:{settings.postgres_port}/airflow",
        "AIRFLOW__API__HOST": settings.bind_host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": api_url(settings),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": required_secret(settings, "airflow_secret_key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": required_secret(settings, "airflow_jwt_secret"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home(settings) / "logs"),
        f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}": f"spark://{master_host}:{master_port}?deploy-mode=client",
        # spark-submit (pyspark's, in this venv) on PATH, as the Spark provider expects.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **{k: v for k, v in driver.items() if k.startswith(("PYSPARK_", "LAKEHOUSE_", "SPARK_", "PYTHONPATH"))},
        # The dqops_checks task's server: the platform's own DQOps, unless one is configured.
        **({"LAKEHOUSE_DQOPS_URL": dqops.url(settings)} if not settings.dqops_url and not dqops.missing(settings)
           else {}),
    }


def _airflow(settings: Settings, *args: str, what: str, stdin: str | None = None) -> str:
    env = {**os.environ, **airflow_env(settings), "PYTHONWARNINGS": "ignore"}
    # A session of its own has no terminal: getpass then reads the password from stdin
    # instead of prompting the terminal `lakehouse up` runs in.
    return run_command([airflow_bin(), *args], what, env=env, input=stdin, cwd=settings.platform_dir,
                       start_new_session=True).stdout


def _prepare(settings: Settings) -> None:
    """Database, schema, admin user, pool and the DAGs' plan; each step idempotent."""
    from lakehouse.orchestration.plan import write_plan
    from lakehouse.specs import load_catalog
    from lakehouse.spark import write_properties

    airflow_home(settings).mkdir(mode=0o700, parents=True, exist_ok=True)
    write_plan(load_catalog(settings.specs_dir))
    write_properties(settings)  # the Spark tasks' --properties-file
    ensure_database(settings, "airflow", "airflow", required_secret(settings, "airflow_db_password"))
    # Each airflow CLI call costs seconds: skip them when nothing they depend on changed.
    stamp = airflow_home(settings) / "prepared"
    fingerprint = hashlib.sha256("\0".join([
        _version(settings), settings.airflow_admin_user, required_secret(settings, "airflow_admin_password"),
        SPARK_POOL,
    ]).encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == fingerprint:
        return
    _airflow(settings, "db", "migrate", what="airflow db migrate")
    _ensure_admin(settings)
    _airflow(settings, "pools", "set", SPARK_POOL, "1",
             "One Spark writer at a time: Delta on S3 is safe for one writing driver per table",
             what="airflow pools set")
    write_private(stamp, fingerprint)


def _ensure_admin(settings: Settings) -> None:
    """The admin account with the generated password. The password goes on stdin (the CLI
    prompts for it), never on a command line."""
    user = settings.airflow_admin_user
    password = required_secret(settings, "airflow_admin_password")
    out = _airflow(settings, "users", "list", "--output", "json", what="airflow users list")
    # Airflow logs to stdout too: the JSON list starts at the first line that opens one.
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
    listed = json.loads("\n".join(lines[start:]) or "[]")
    if any(u.get("username") == user for u in listed):
        _airflow(settings, "users", "reset-password", "--username", user,
                 what="airflow users reset-password", stdin=f"{password}\n{password}\n")
        return
    _airflow(settings, "users", "create", "--username", user, "--role", "Admin", "--email", f"{user}@localhost",
             "--firstname", "Lakehouse", "--lastname", "Admin", what="airflow users create",
             stdin=f"{password}\n{password}\n")


def _launch(*args: str):
    def launch(settings: Settings) -> Launch:
        return Launch([airflow_bin(), *args], env=airflow_env(settings))
    return launch


def health(settings: Settings) -> dict:
    """The API server's own view of every component (public endpoint, no login)."""
    return http_json(f"{api_url(settings)}/api/v2/monitor/health") or {}


def _healthy(component: str):
    def probe(settings: Settings) -> bool:
        return health(settings).get(component, {}).get("status") == "healthy"
    return probe


def _version(settings: Settings) -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def _url(path: str = ""):
    return lambda s: api_url(s) + path


# The API server first: the others' probes read its health endpoint. The log servers are
# skipped (they listen on every interface): the API server reads task logs from disk.
# Its metadata is in PostgreSQL. The scheduler, which starts the tasks, waits for the cluster
# (the Thrift server: the metastore and a worker before it), so that a run due at `up` does not
# spend its retries on a Spark not yet up.
SERVICES: tuple[Service, ...] = (
    Service("airflow-api-server", lambda s: s.airflow_port, _url(), _launch("api-server"),
            _healthy("metadatabase"), _version, _prepare, None, 180, needs=("postgres",)),
    Service("airflow-scheduler", lambda s: None, _url("/dags"), _launch("scheduler", "--skip-serve-logs"),
            _healthy("scheduler"), _version, None, None, 120, needs=("airflow-api-server", "spark-thrift")),
    Service("airflow-dag-processor", lambda s: None, _url("/dags"), _launch("dag-processor"),
            _healthy("dag_processor"), _version, None, None, 120, needs=("airflow-api-server",)),
    Service("airflow-triggerer", lambda s: None, _url(), _launch("triggerer", "--skip-serve-logs"),
            _healthy("triggerer"), _version, None, None, 120, needs=("airflow-api-server",)),
)
