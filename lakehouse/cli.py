"""`lakehouse`: the command line of the platform (typer + rich).

Bad input (unknown table, bad spec, missing landing path, bad SQL, bad setting) is one
clear line on stderr and exit code 1, never a traceback. LAKEHOUSE_DEBUG=1 shows it.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from lakehouse import home_lock, timings
from lakehouse.cli_support import (HomeOpt, OutputFormat, Profile, ProfileOpt, WaitOpt, app, console, err_console,
                                   profile_settings, start_session, user_errors)
from lakehouse.config import Settings, load_settings
from lakehouse.errors import LakehouseError



@app.command()
@user_errors
def generate(
    profile: Profile = ProfileOpt,
    scale: float = typer.Option(None, help="data volume; 1.0 is about 34k records over 7 days"),
    days: int = typer.Option(None, help="number of daily batches"),
    seed: int = typer.Option(None, help="random seed; same seed, same data"),
    home: Path = HomeOpt,
    force: bool = typer.Option(False, "--force", help="regenerate even if landing data exists (local profile)"),
) -> None:
    """Write deterministic sample landing data (with known defects) and its manifest; with
    --profile cluster, upload it to the landing bucket if that is empty (for the DAGs)."""
    settings = profile_settings(profile, home=home, scale=scale, days=days, seed=seed)
    if settings.profile == "cluster":
        if force:
            raise LakehouseError("--force is for the local profile: the landing bucket is never overwritten")
        if not _seed_bucket(settings):
            console.print(f"s3a://{settings.landing_bucket} already holds landing data: nothing uploaded")
        return
    landing = Path(settings.landing_uri)
    if _has_landing_data(landing) and not force:
        console.print(f"landing data already in {landing} (use --force to regenerate)")
        return
    _generate(settings)


def _seed_bucket(settings: Settings) -> bool:
    """Upload the sample data to the landing bucket if it is empty (never mixed into a
    user's own files). True if it uploaded."""
    from lakehouse.platform import landing

    if landing.bucket_has_objects(settings, settings.landing_bucket):
        return False
    local = landing.sample_dir(settings)
    if not _has_landing_data(local):
        _generate(settings.model_copy(update={"landing_uri": str(local)}))
    count = landing.upload_tree(settings, local, settings.landing_bucket)
    console.print(f"uploaded {count} sample file(s) to s3a://{settings.landing_bucket}")
    return True


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
    wait: bool = WaitOpt,
) -> None:
    """The main job: generate sample data if there is none, then bronze -> silver -> gold
    for every batch not yet processed, and print a summary."""
    from lakehouse.pipeline import run_pipeline
    from lakehouse.report import print_summary
    from lakehouse.runs import BatchFilter
    from lakehouse.spark import build_session
    from lakehouse.specs import load_catalog

    t0 = time.time()
    settings = profile_settings(profile, wait, home=home)
    catalog = load_catalog(settings.specs_dir)
    catalog.select(dataset)  # unknown datasets fail before Spark starts
    selection = BatchFilter(batch=batch, start=_date(start, "start"), end=_date(end, "end"))
    if settings.profile == "local":  # before the sample data, which a second run would write too
        home_lock.hold_writer(settings)  # (on the cluster, the job's driver takes the lease)
    # Sample data only into an empty landing folder: never mixed into a user's own files.
    if settings.profile == "local" and not _has_landing_data(Path(settings.landing_uri)):
        _generate(settings)
    if settings.profile == "cluster":
        raise typer.Exit(_run_on_cluster(settings, dataset, batch, start, end))
    from lakehouse import run_state

    start_state = run_state.seen(settings, ["run", sorted(dataset or []), batch, start, end])
    if previous := run_state.unchanged(settings, start_state):
        console.print(f"[green]Nothing new to process[/] ({time.time() - t0:.1f}s, Spark not started): landing files, "
                      f"specs, settings and every table are as run {previous} left them.", highlight=False)
        return
    run_state.forget(settings)  # until this run ends cleanly
    with timings.recording() as spent, Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                                TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting Spark")
        with timings.phase("start-up"):
            spark = build_session(settings, "lakehouse-run")
        result = run_pipeline(
            spark, settings, catalog, dataset, selection,
            on_step=lambda step: progress.update(task, description=step),
            on_result=lambda r: progress.console.print(
                f"  {r.layer:<6} {r.table_name:<32} {r.batch_id or '':<10} "
                f"{r.rows_read:>8,} rows  {r.duration_s:5.1f}s",
                highlight=False),
        )
    if not result.notices:  # a file waiting for a batch (it may load tomorrow), ops tables left uncompacted:
        # nothing to vouch for
        run_state.record(settings, start_state, result.run_id)
    print_summary(console, result, time.time() - t0, spent)


def _run_on_cluster(settings: Settings, datasets: list[str] | None, batch: str | None,
                    start: str | None, end: str | None) -> int:
    """The cluster profile: sample data to the landing bucket if it is empty, then the
    pipeline as one spark-submit (jobs/pipeline.py) on the Spark master."""
    _seed_bucket(settings)
    args = [a for d in (datasets or []) for a in ("--dataset", d)]
    for flag, value in (("--batch", batch), ("--start", start), ("--end", end)):
        if value:
            args += [flag, value]
    return _submit_job(settings, "pipeline", args, "the pipeline")


def _submit_job(settings: Settings, job: str, args: list[str], what: str) -> int:
    import subprocess

    from lakehouse.submit import job_path, submit_command, submit_env

    console.print(f"submitting {what} to {settings.spark_master}", highlight=False)
    return subprocess.run(submit_command(settings, job_path(job), args, name=f"lakehouse-{job}"),
                          env=submit_env(settings)).returncode


@app.command()
@user_errors
def reprocess(
    dataset: str = typer.Argument(..., help="the dataset whose records to apply again"),
    rule: str = typer.Option(None, "--rule", "-r", help="the rule that quarantined them, such as customer_exists"),
    file: list[str] = typer.Option(None, "--file", "-f", help="a landing file to read again as it is now, by its "
                                   "path under the dataset's landing path (repeatable)"),
    profile: Profile = ProfileOpt,
    home: Path = HomeOpt,
    wait: bool = WaitOpt,
) -> None:
    """Apply records again, on purpose; gold and publish follow. --rule: the records a rule
    quarantined, once what they lacked is there (the data a foreign key references arrived,
    the rule changed): what still fails stays quarantined with its reason. --file: a landing
    file loaded before, as it is now (a corrected export under the same name, which a run
    refuses), in place of what it held. A rerun changes nothing."""
    from lakehouse.pipeline import run_reprocess
    from lakehouse.report import print_replay
    from lakehouse.specs import load_catalog

    t0 = time.time()
    if bool(rule) == bool(file):
        raise LakehouseError("reprocess takes --rule (quarantined records) or --file (landing files), one of the two")
    settings = profile_settings(profile, wait, home=home)
    catalog = load_catalog(settings.specs_dir)
    catalog.select([dataset])  # an unknown dataset fails before Spark starts
    if settings.profile == "cluster":
        args = ["--rule", rule] if rule else [a for f in file for a in ("--file", f)]
        raise typer.Exit(_submit_job(settings, "reprocess", ["--dataset", dataset, *args],
                                       f"the replay of {dataset}'s {rule + ' records' if rule else 'files'}"))
    home_lock.hold_writer(settings)
    spark = start_session(settings, "lakehouse-reprocess")
    what = f"the records of {dataset} that {rule} quarantined" if rule else f"{len(file)} file(s) of {dataset}"
    with console.status(f"replaying {what}"):
        replayed, result = run_reprocess(spark, settings, catalog, dataset, rule, file)
    print_replay(console, replayed, result, time.time() - t0)


def _embedded_views(spark, settings: Settings) -> None:
    """The ops views (lakehouse.ops_views) in a reader's own catalog, once a run made the ops
    tables: the embedded catalog keeps no view from one process to the next. They follow the
    specs (ops.volume): with a spec that does not load, the query runs without them."""
    from lakehouse import ops_views, tables
    from lakehouse.specs import load_catalog

    if not all(spark.catalog.tableExists(t) for t in tables.OPS_TABLES):
        return
    try:
        catalog = load_catalog(settings.specs_dir)
    except LakehouseError as exc:
        err_console.print(f"the ops views are not available: {exc}", highlight=False, soft_wrap=True)
        return
    ops_views.ensure_views(spark, catalog)


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LakehouseError(f"--{name} {value!r}: expected a date YYYY-MM-DD") from None


# What the table format shows of a larger result unless --limit says otherwise: a terminal
# table of more rows is not read. It says when it cuts; json and csv never cut.
TABLE_ROWS = 1000


@app.command()
@user_errors
def sql(
    query: str = typer.Argument(..., help="Spark SQL, e.g. \"SELECT * FROM gold.daily_revenue\""),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    limit: int = typer.Option(None, min=0, help=f"at most this many rows; default every row (json, csv) or "
                              f"{TABLE_ROWS:,}, saying so when there are more (table)"),
    profile: Profile = ProfileOpt,
    home: Path = HomeOpt,
    wait: bool = WaitOpt,
) -> None:
    """Query the lakehouse's tables (also while a run writes them: each table as last
    committed). A statement that writes takes the writer's lock first, as a run does."""
    from lakehouse.embedded_catalog import writes
    from lakehouse.report import render_rows

    settings = profile_settings(profile, wait, home=home)
    spark = start_session(settings, "lakehouse-sql", writes=False)
    if writes(spark, query):
        home_lock.hold_writer(settings)
        home_lock.note_jvm(settings, spark)
    if settings.profile == "local" and "ops." in query.lower():
        _embedded_views(spark, settings)
    df = spark.sql(query)
    if limit is not None:
        df = df.limit(limit)
    if fmt is not OutputFormat.table or limit is not None:
        render_rows(df.columns, (tuple(r) for r in df.toLocalIterator(prefetchPartitions=True)), fmt.value, console)
        return
    rows = [tuple(r) for r in df.limit(TABLE_ROWS + 1).collect()]  # counted only if cut
    render_rows(df.columns, rows[:TABLE_ROWS], fmt.value, console)
    if len(rows) > TABLE_ROWS:
        err_console.print(f"showing {TABLE_ROWS:,} of {df.count():,} rows (--limit to change)", highlight=False)


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
    settings = profile_settings(profile, home=home)
    spark = start_session(settings, "lakehouse-history", writes=False)
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
    settings = profile_settings(profile, home=home)
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


@app.command()
@user_errors
def dags(check: bool = typer.Option(False, "--check", help="only check: exit 1 if the plan is stale")) -> None:
    """Compile the pipeline specs into airflow/dags/lakehouse_plan.py, what the DAGs read
    (they may not read files when Airflow parses them). `lakehouse up` does it too."""
    from lakehouse.orchestration.plan import PLAN_FILE, build_plan, render, write_plan
    from lakehouse.specs import load_catalog

    catalog = load_catalog(load_settings().specs_dir)
    if check:
        current = PLAN_FILE.is_file() and PLAN_FILE.read_text() == render(build_plan(catalog))
        if not current:
            raise LakehouseError(f"{PLAN_FILE} is stale: run `lakehouse dags`")
        console.print(f"{PLAN_FILE} is current")
        return
    changed = write_plan(catalog)
    console.print(f"{PLAN_FILE} {'written' if changed else 'already current'}: "
                  f"{len(catalog.datasets)} dataset(s), {len(catalog.gold)} gold table(s)")


dqops_app = typer.Typer(help="DQOps's configuration as code (dqops_userhome/).", no_args_is_help=True)
app.add_typer(dqops_app, name="dqops")


@dqops_app.command("userhome")
@user_errors
def dqops_userhome(
    check: bool = typer.Option(False, "--check", help="only check: exit 1 if the files are stale or invalid"),
) -> None:
    """Generate dqops_userhome/ (DQOps's connection to the Thrift server and the checks of
    every silver and gold table) from the pipeline specs."""
    from lakehouse.quality.dqops_userhome import USERHOME_DIR, stale_files, write_userhome
    from lakehouse.quality.dqops_validation import validate_userhome
    from lakehouse.specs import load_catalog

    catalog = load_catalog(load_settings().specs_dir)
    if check:
        stale = stale_files(catalog)
        if stale:
            raise LakehouseError(f"{USERHOME_DIR} is stale ({len(stale)} file(s), first {stale[0]}): "
                                 "run `lakehouse dqops userhome`")
    changed = [] if check else write_userhome(catalog)
    errors = validate_userhome(USERHOME_DIR, catalog)
    if errors:  # an edited policy, or a generator bug: say which file DQOps would refuse
        raise LakehouseError(f"{USERHOME_DIR}: {errors[0]}")
    if check:
        console.print(f"{USERHOME_DIR} is current")
        return
    console.print(f"{USERHOME_DIR} {'written' if changed else 'already current'}: "
                  f"{len(catalog.datasets)} silver and {len(catalog.gold)} gold table(s)"
                  + (f"; changed: {', '.join(changed)}" if changed else ""), highlight=False)


# The platform's commands register themselves on the same app.
import lakehouse.platform.commands  # noqa: E402,F401


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
