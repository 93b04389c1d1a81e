"""PostgreSQL: the metastore's database (and Airflow's and Superset's)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.files import write_private
from lakehouse.platform.process import Launch, Service, data_dir, required_secret, run_command


def postgres_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(tool)
    if not path:
        raise LakehouseError(f"PostgreSQL's {tool} not found: run `make platform` (installs Debian's postgresql)")
    return path


def _postgres_user() -> str | None:
    """PostgreSQL will not run as root; as root we run it as Debian's `postgres` user."""
    return "postgres" if os.geteuid() == 0 else None


def _chown_for_postgres(path: Path) -> None:
    if _postgres_user():
        shutil.chown(path, user="postgres", group="postgres")


def _check_reachable_by_postgres(path: Path) -> None:
    """As root, the server runs as `postgres`: every folder above its data must let it pass."""
    blocked = [p for p in path.parents if p.exists() and p.stat().st_mode & 0o001 == 0 and p.owner() != "postgres"]
    if blocked:
        raise LakehouseError(f"PostgreSQL runs as user postgres, which cannot enter {blocked[-1]}: "
                             f"choose a LAKEHOUSE_HOME outside it, or `chmod o+x {blocked[-1]}`")


def _postgres_prepare(settings: Settings) -> None:
    pgdata = data_dir(settings, "postgres")
    if (pgdata / "PG_VERSION").exists():
        return
    if _postgres_user():
        _check_reachable_by_postgres(pgdata)
    os.chmod(pgdata, 0o700)
    _chown_for_postgres(pgdata)
    pwfile = write_private(settings.platform_dir / "run" / "postgres.pw",
                           required_secret(settings, "postgres_password") + "\n")
    _chown_for_postgres(pwfile)
    try:
        run_command([postgres_bin("initdb"), "-D", str(pgdata), "-U", "lakehouse", f"--pwfile={pwfile}",
                     "-A", "scram-sha-256", "-E", "UTF8", "--no-instructions"],
                    "initdb", user=_postgres_user(), group=_postgres_user(),
                    extra_groups=[] if _postgres_user() else None, cwd="/")
    finally:
        pwfile.unlink(missing_ok=True)


def _postgres_launch(settings: Settings) -> Launch:
    return Launch([postgres_bin("postgres"), "-D", str(data_dir(settings, "postgres")),
                   "-p", str(settings.postgres_port), "-c", f"listen_addresses={settings.bind_host}",
                   "-c", "unix_socket_directories="], user=_postgres_user())


def _postgres_probe(settings: Settings) -> bool:
    return subprocess.run([postgres_bin("pg_isready"), "-q", "-h", settings.postgres_host,
                           "-p", str(settings.postgres_port)]).returncode == 0


def psql(settings: Settings, sql: str, database: str = "postgres", env: dict[str, str] | None = None) -> str:
    """Run SQL as the platform's superuser; the SQL goes on stdin, never the command line."""
    env = {**os.environ, **(env or {}), "PGPASSWORD": required_secret(settings, "postgres_password")}
    return run_command([postgres_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                        "-h", settings.postgres_host, "-p", str(settings.postgres_port), "-U", "lakehouse",
                        "-d", database], "psql", input=sql, env=env).stdout


def ensure_database(settings: Settings, name: str, owner: str, password: str) -> None:
    """A role and a database it owns, created once; the password is (re)set every time.
    psql reads the password from its environment and quotes it: never spliced into SQL."""
    psql(settings, f"""
\\getenv pw LAKEHOUSE_ROLE_PASSWORD
SELECT 'CREATE ROLE {owner} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}')\\gexec
ALTER ROLE {owner} PASSWORD :'pw';
SELECT 'CREATE DATABASE {name} OWNER {owner}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}')\\gexec
""", env={"LAKEHOUSE_ROLE_PASSWORD": password})


def _postgres_after_start(settings: Settings) -> None:
    ensure_database(settings, "metastore", "hive", required_secret(settings, "metastore_db_password"))


def _postgres_version(settings: Settings) -> str:
    return run_command([postgres_bin("postgres"), "--version"], "postgres --version").stdout.split()[2]


SERVICE = Service("postgres", lambda s: s.postgres_port, lambda s: f"postgresql://{s.postgres_host}:{s.postgres_port}",
                  _postgres_launch, _postgres_probe, _postgres_version, _postgres_prepare, _postgres_after_start, 60)
