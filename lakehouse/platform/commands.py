"""`lakehouse up / down / status` and the containers' entry points (`serve`, `probe`,
`init-buckets`): the command line of the native platform."""

from __future__ import annotations

import os
import time
from enum import Enum
from pathlib import Path

import typer

from lakehouse.cli_support import HomeOpt, app, console, user_errors
from lakehouse.config import Settings, load_settings, secrets_file
from lakehouse.errors import LakehouseError


def _home(home: Path | None) -> Path:
    """The runtime directory, whatever the profile (the local profile needs no credentials)."""
    return load_settings(profile="local", home=home).home


def _platform_settings(home: Path | None) -> Settings:
    """The cluster profile's settings, with the credentials `up` generated."""
    settings = load_settings(profile="cluster", home=home)
    generated = secrets_file(settings.home)
    if not generated.exists() and settings.s3_access_key is None:
        raise LakehouseError(f"no platform here ({generated} does not exist): start it with `lakehouse up`")
    return settings


@app.command()
@user_errors
def up(home: Path = HomeOpt) -> None:
    """Start the native platform (PostgreSQL, MinIO, Hive Metastore, Spark master, worker,
    Thrift server, Airflow, Superset and DQOps) on loopback; generates credentials on first
    start. Idempotent."""
    from lakehouse.platform import lifecycle, secrets

    t0 = time.time()
    path, generated = secrets.ensure(_home(home))
    if generated:
        console.print(f"generated {len(generated)} credential(s) in {path} (mode 0600)")
    settings = _platform_settings(home)
    with console.status("starting") as status:
        def on_event(name: str, event: str) -> None:
            status.update(f"{name}: {event}")
            if event not in ("checking", "preparing", "starting"):
                console.print(f"  {name:<15} {event}", highlight=False)

        started = lifecycle.up(settings, on_event)
    _print_status(settings)
    console.print(f"platform up in {time.time() - t0:.1f}s ({len(started)} service(s) started); "
                  f"run the pipeline with `lakehouse run --profile cluster`", highlight=False)
    from lakehouse.platform import airflow, superset

    for name, url, user, key in (("Airflow", airflow.api_url(settings), settings.airflow_admin_user,
                                  "LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD"),
                                 ("Superset", superset.url(settings), settings.superset_admin_user,
                                  "LAKEHOUSE_SUPERSET_ADMIN_PASSWORD")):
        # The password is shown once, when it is made; afterwards, where it is kept.
        password = secrets.read(path).get(key) if key in generated else None
        where = f"password {password} (shown once; kept in {path})" if password else f"password: {key} in {path}"
        console.print(f"{name}: {url}  user {user}, {where}", highlight=False, soft_wrap=True)
    from lakehouse.platform import dqops

    if not dqops.missing(settings):
        console.print(f"DQOps: {dqops.url(settings)}  no login (its free edition has none): keep it on loopback",
                      highlight=False, soft_wrap=True)


@app.command()
@user_errors
def down(home: Path = HomeOpt) -> None:
    """Stop every service `lakehouse up` started. Data and credentials stay for the next `up`."""
    from lakehouse.platform import lifecycle

    # Only the runtime directory's pid files are needed: stopping works without credentials.
    settings = load_settings(profile="local", home=home)
    stopped = lifecycle.down(settings, lambda name, event: console.print(f"  {name:<15} {event}"))
    console.print(f"{len(stopped)} service(s) stopped" if stopped else "nothing was running")


class StatusFormat(str, Enum):
    table = "table"
    json = "json"


@app.command()
@user_errors
def status(fmt: StatusFormat = typer.Option(StatusFormat.table, "--format", "-f"), home: Path = HomeOpt) -> None:
    """Each service of the native platform: state, pid, port, URL, version, memory."""
    import json

    from lakehouse.platform import lifecycle

    settings = _platform_settings(home)
    if fmt is StatusFormat.json:
        print(json.dumps(lifecycle.status_dicts(settings), indent=2))
    else:
        _print_status(settings)


def _print_status(settings: Settings) -> None:
    from lakehouse.platform import lifecycle
    from lakehouse.report import render_rows

    rows = [(s.name, s.state, s.pid or "", s.port or "", s.url, s.version, f"{s.memory_mb:,.0f}" if s.memory_mb else "")
            for s in lifecycle.status(settings)]
    render_rows(["service", "state", "pid", "port", "url", "version", "memory MB"], rows, "table", console)


@app.command("airflow", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def airflow_cli(ctx: typer.Context, home: Path = HomeOpt) -> None:
    """Airflow's own CLI with the platform's configuration, e.g. `lakehouse airflow dags list`
    or `lakehouse airflow backfill create --dag-id lakehouse_medallion --from-date 2026-01-01
    --to-date 2026-01-07`."""
    import subprocess

    from lakehouse.platform.airflow import airflow_bin, airflow_env

    settings = _platform_settings(home)
    argv = [airflow_bin(), *ctx.args]
    raise typer.Exit(subprocess.run(argv, env={**os.environ, **airflow_env(settings)}).returncode)


superset_app = typer.Typer(help="Superset's dashboards as code (superset/assets).", no_args_is_help=True)
app.add_typer(superset_app, name="superset")


@superset_app.command("provision")
@user_errors
def superset_provision(home: Path = HomeOpt) -> None:
    """Import superset/assets and the datasets the specs make into the running platform's
    Superset (what `up` does at start); a removed spec's generated dataset goes."""
    from lakehouse.platform.superset import provision

    console.print(provision(_platform_settings(home)), highlight=False, soft_wrap=True)


@superset_app.command("add-user")
@user_errors
def superset_add_user(username: str = typer.Argument(..., help="the login name"),
                      role: str = typer.Option("Analyst", help="Analyst (dashboards, no SQL Lab), Gamma, sql_lab, "
                                               "Alpha or Admin"),
                      home: Path = HomeOpt) -> None:
    """Add a Superset login (or reset its password and role) with a generated password, shown once."""
    from lakehouse.platform.secrets import new_password
    from lakehouse.platform.superset import add_user

    password = new_password()
    console.print(add_user(_platform_settings(home), username, role, password), highlight=False)
    console.print(f"password {password} (shown once)", highlight=False)


@superset_app.command("export")
@user_errors
def superset_export(target: Path = typer.Option(None, "--to", help="default: superset/assets"),
                    home: Path = HomeOpt) -> None:
    """Write Superset's databases, datasets, charts and dashboards back into superset/assets
    (after changing a dashboard in the UI); review the diff and commit it."""
    from lakehouse.platform.superset import ASSETS_DIR, export_assets

    console.print(export_assets(_platform_settings(home), target or ASSETS_DIR), highlight=False)


@app.command(hidden=True)
@user_errors
def serve(name: str = typer.Argument(..., help="service name, as in `lakehouse status`")) -> None:
    """Run one service in the foreground (the containers' entry point): the same command
    `lakehouse up` starts, after the same one-time preparation."""
    from lakehouse.platform.registry import service

    settings = load_settings(profile="cluster")
    svc = service(name)
    if svc.prepare:
        svc.prepare(settings)
    launch = svc.launch(settings)
    os.execvpe(launch.argv[0], launch.argv, {**os.environ, **launch.env})


@app.command(hidden=True)
@user_errors
def probe(name: str = typer.Argument(..., help="service name")) -> None:
    """Exit 0 if the service answers its health probe (the containers' healthcheck)."""
    from lakehouse.platform.registry import service

    raise typer.Exit(0 if service(name).probe(load_settings(profile="cluster")) else 1)


@app.command("init-buckets", hidden=True)
@user_errors
def init_buckets() -> None:
    """Create the buckets and every service's own MinIO user and policy (compose's minio-init)."""
    from lakehouse.config import S3_IDENTITIES
    from lakehouse.platform.object_store import provision

    settings = load_settings(profile="cluster")
    provision(settings)
    console.print(f"buckets ready: {settings.landing_bucket}, {settings.warehouse_bucket}; "
                  f"users: {', '.join(S3_IDENTITIES)}")
