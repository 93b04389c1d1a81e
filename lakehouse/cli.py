"""`lakehouse`: the command line of the platform (typer + rich).

Bad input (unknown table, bad spec, missing landing path, bad SQL, bad setting) is one
clear line on stderr and exit code 1, never a traceback. LAKEHOUSE_DEBUG=1 shows it.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from datetime import date
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from lakehouse.config import Settings, load_settings
from lakehouse.errors import LakehouseError, one_line

app = typer.Typer(help="Medallion lakehouse: Spark + Delta Lake, bronze -> silver -> gold.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
# Rich assumes 80 columns when output is not a terminal (CI logs, pipes): the summary needs more.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class Profile(str, Enum):
    local = "local"
    cluster = "cluster"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def user_errors(fn):
    """Turn any failure into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except LakehouseError as exc:
            err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            err_console.print("[red]error:[/] interrupted; every batch is atomic, rerun to resume")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the user gets one line, the debug flag the rest
            if os.environ.get("LAKEHOUSE_DEBUG") == "1":
                raise
            err_console.print(f"[red]error:[/] {one_line(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)

    return wrapper


def _settings(profile: Profile | None, **overrides) -> Settings:
    return load_settings(profile=profile.value if profile else None, **overrides)


def _session(settings: Settings, app_name: str):
    from lakehouse.spark import build_session

    with console.status("starting Spark"):
        return build_session(settings, app_name)


ProfileOpt = typer.Option(None, "--profile", "-p", help="local (default) or cluster; env LAKEHOUSE_PROFILE")
HomeOpt = typer.Option(None, "--home", help="runtime directory; env LAKEHOUSE_HOME")


@app.command()
@user_errors
def generate(
    scale: float = typer.Option(None, help="data volume; 1.0 is about 60k records"),
    days: int = typer.Option(None, help="number of daily batches"),
    seed: int = typer.Option(None, help="random seed; same seed, same data"),
    home: Path = HomeOpt,
    force: bool = typer.Option(False, "--force", help="regenerate even if landing data exists"),
) -> None:
    """Write deterministic sample landing data (with known defects) and its manifest."""
    settings = load_settings(scale=scale, days=days, seed=seed, home=home)
    if settings.profile != "local":
        raise LakehouseError("generate writes sample data for the local profile only")
    landing = Path(settings.landing_uri)
    if _has_landing_data(landing) and not force:
        console.print(f"landing data already in {landing} (use --force to regenerate)")
        return
    _generate(settings)


def _has_landing_data(landing: Path) -> bool:
    return landing.is_dir() and any(landing.iterdir())


def _generate(settings: Settings) -> dict:
    from lakehouse.generate import generate as write

    landing = Path(settings.landing_uri)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as p:
        task = p.add_task("generating sample data", total=settings.days)
        manifest = write(landing, scale=settings.scale, seed=settings.seed, days=settings.days,
                         start_date=settings.start_date, on_batch=lambda b: p.update(task, advance=1))
    rows = sum(d["rows"] for b in manifest["batches"].values() for d in b.values())
    console.print(f"generated {rows:,} landing records in {settings.days} daily batches under {landing}")
    return manifest


@app.command()
@user_errors
def run(
    profile: Profile = ProfileOpt,
    dataset: list[str] = typer.Option(None, "--dataset", "-d", help="dataset(s) to run; default all"),
    batch: str = typer.Option(None, help="only this batch (YYYY-MM-DD)"),
    start: str = typer.Option(None, help="interval start, inclusive (YYYY-MM-DD)"),
    end: str = typer.Option(None, help="interval end, exclusive (YYYY-MM-DD)"),
    home: Path = HomeOpt,
) -> None:
    """The main job: generate sample data if there is none, then bronze -> silver -> gold
    for every batch not yet processed, and print a summary."""
    from lakehouse.pipeline import run_pipeline
    from lakehouse.report import print_summary
    from lakehouse.runs import BatchFilter
    from lakehouse.specs import load_catalog

    t0 = time.time()
    settings = _settings(profile, home=home)
    catalog = load_catalog(settings.specs_dir)
    catalog.select(dataset)  # unknown datasets fail before Spark starts
    selection = BatchFilter(batch=batch, start=_date(start, "start"), end=_date(end, "end"))
    # Sample data only into an empty landing folder: never mixed into a user's own files.
    if settings.profile == "local" and not _has_landing_data(Path(settings.landing_uri)):
        _generate(settings)
    if settings.profile == "cluster":
        raise typer.Exit(_run_on_cluster(settings, dataset, batch, start, end))
    spark = _session(settings, "lakehouse-run")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("starting")
        result = run_pipeline(
            spark, settings, catalog, dataset, selection,
            on_step=lambda step: progress.update(task, description=step),
            on_result=lambda r: progress.console.print(
                f"  {r.layer:<6} {r.table_name:<32} {r.batch_id or '':<10} {r.rows_read:>8,} rows  {r.duration_s:5.1f}s",
                highlight=False),
        )
    print_summary(console, result, time.time() - t0)


def _run_on_cluster(settings: Settings, datasets: list[str] | None, batch: str | None,
                    start: str | None, end: str | None) -> int:
    """The cluster profile: sample data to the landing bucket if it is empty, then the
    pipeline as one spark-submit (jobs/pipeline.py) on the Spark master."""
    import subprocess

    from lakehouse.platform import landing
    from lakehouse.submit import job_path, submit_command, submit_env

    if not landing.bucket_has_objects(settings, settings.landing_bucket):
        local = landing.sample_dir(settings)
        if not _has_landing_data(local):
            _generate(settings.model_copy(update={"landing_uri": str(local)}))
        count = landing.upload_tree(settings, local, settings.landing_bucket)
        console.print(f"uploaded {count} sample file(s) to s3a://{settings.landing_bucket}")
    args = [a for d in (datasets or []) for a in ("--dataset", d)]
    for flag, value in (("--batch", batch), ("--start", start), ("--end", end)):
        if value:
            args += [flag, value]
    console.print(f"submitting the pipeline to {settings.spark_master}", highlight=False)
    return subprocess.run(submit_command(settings, job_path("pipeline"), args, name="lakehouse-pipeline"),
                          env=submit_env(settings)).returncode


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LakehouseError(f"--{name} {value!r}: expected a date YYYY-MM-DD") from None


@app.command()
@user_errors
def sql(
    query: str = typer.Argument(..., help="Spark SQL, e.g. \"SELECT * FROM gold.daily_revenue\""),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    limit: int = typer.Option(1000, help="at most this many rows"),
    profile: Profile = ProfileOpt,
    home: Path = HomeOpt,
) -> None:
    """Query the lakehouse's tables."""
    from lakehouse.report import render_rows

    settings = _settings(profile, home=home)
    spark = _session(settings, "lakehouse-sql")
    df = spark.sql(query)
    rows = [tuple(r) for r in df.limit(limit).collect()]
    render_rows(df.columns, rows, fmt.value, console)


@app.command()
@user_errors
def history(
    table: str = typer.Argument(..., help="database.table, e.g. silver.orders"),
    limit: int = typer.Option(20),
    profile: Profile = ProfileOpt,
    home: Path = HomeOpt,
) -> None:
    """Show a Delta table's history: versions, operations and their row counts."""
    from lakehouse.report import render_rows

    if table.count(".") != 1:
        raise LakehouseError(f"{table!r}: expected database.table, e.g. silver.orders")
    settings = _settings(profile, home=home)
    spark = _session(settings, "lakehouse-history")
    if not spark.catalog.tableExists(table):
        raise LakehouseError(f"table {table} does not exist (run `lakehouse run` first?)")
    rows = spark.sql(f"DESCRIBE HISTORY {table} LIMIT {int(limit)}").select(
        "version", "timestamp", "operation", "operationMetrics").collect()
    keep = ("numOutputRows", "numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted",
            "numTargetRowsCopied", "numFiles")
    render_rows(["version", "timestamp", "operation", "metrics"],
                [(r[0], r[1], r[2], ", ".join(f"{k}={v}" for k, v in sorted((r[3] or {}).items()) if k in keep))
                 for r in rows], "table", console)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def submit(
    ctx: typer.Context,
    script: Path = typer.Argument(..., help="a PySpark script, e.g. jobs/silver.py or your own"),
    profile: Profile = ProfileOpt,
    home: Path = HomeOpt,
) -> None:
    """spark-submit a script with the platform's configuration; extra arguments go to it."""
    import subprocess

    from lakehouse.submit import submit_command, submit_env

    if not script.is_file():
        raise LakehouseError(f"{script}: no such script")
    settings = _settings(profile, home=home)
    proc = subprocess.run(submit_command(settings, script, list(ctx.args)), env=submit_env(settings))
    raise typer.Exit(proc.returncode)


@app.command()
@user_errors
def validate(home: Path = HomeOpt) -> None:
    """Load and validate every pipeline spec."""
    from lakehouse.specs import load_catalog

    settings = load_settings(home=home)
    catalog = load_catalog(settings.specs_dir)
    console.print(f"{len(catalog.datasets)} dataset spec(s) and {len(catalog.gold)} gold spec(s) are valid: "
                  + ", ".join([*catalog.datasets, *catalog.gold]))


def _platform_settings(home: Path | None) -> Settings:
    """The cluster profile's settings, with the credentials `up` generated."""
    return load_settings(profile="cluster", home=home)


@app.command()
@user_errors
def up(home: Path = HomeOpt) -> None:
    """Start the native platform (PostgreSQL, MinIO, Hive Metastore, Spark master, worker and
    Thrift server) on loopback; generates credentials on first start. Idempotent."""
    from lakehouse.platform import lifecycle, secrets

    t0 = time.time()
    path, generated = secrets.ensure(load_settings(home=home).home)
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


@app.command()
@user_errors
def down(home: Path = HomeOpt) -> None:
    """Stop every service `lakehouse up` started. Data and credentials stay for the next `up`."""
    from lakehouse.platform import lifecycle

    settings = _platform_settings(home)
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

    rows = [(s.name, s.state, s.pid or "", s.port, s.url, s.version, f"{s.memory_mb:,.0f}" if s.memory_mb else "")
            for s in lifecycle.status(settings)]
    render_rows(["service", "state", "pid", "port", "url", "version", "memory MB"], rows, "table", console)


@app.command(hidden=True)
@user_errors
def serve(name: str = typer.Argument(..., help="service name, as in `lakehouse status`")) -> None:
    """Run one service in the foreground (the containers' entry point): the same command
    `lakehouse up` starts, after the same one-time preparation."""
    from lakehouse.platform.services import service

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
    from lakehouse.platform.services import service

    raise typer.Exit(0 if service(name).probe(load_settings(profile="cluster")) else 1)


@app.command("init-buckets", hidden=True)
@user_errors
def init_buckets() -> None:
    """Create the landing and warehouse buckets if missing (compose's minio-init)."""
    from lakehouse.platform.services import create_buckets

    settings = load_settings(profile="cluster")
    create_buckets(settings)
    console.print(f"buckets ready: {settings.landing_bucket}, {settings.warehouse_bucket}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
