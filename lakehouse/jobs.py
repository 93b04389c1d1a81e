"""The spark-submit jobs: one layer, some datasets, a batch or an interval; publish; and
table maintenance.

    spark-submit jobs/silver.py --dataset orders --start 2026-01-01 --end 2026-01-02
    spark-submit jobs/maintenance.py --step vacuum
    spark-submit jobs/dqops_results.py --table silver.orders --table gold.daily_revenue

Configuration comes from LAKEHOUSE_* variables (lakehouse.config), so the same job runs
in the local and cluster profiles. Bad input is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime, UTC

from lakehouse import timings
from lakehouse.errors import LakehouseError, object_store_refused, one_line


ALL = "pipeline"  # every layer, in one driver: what `lakehouse run --profile cluster` submits
PUBLISH = "publish"
MAINTENANCE = "maintenance"
DQOPS_RESULTS = "dqops_results"
REPROCESS = "reprocess"


def _parser(layer: str) -> argparse.ArgumentParser:
    what = {ALL: "bronze -> silver -> gold -> publish", PUBLISH: "publish the new versions of the gold tables",
            MAINTENANCE: "one maintenance step on every table",
            DQOPS_RESULTS: "copy DQOps's latest check results of the tables into ops.dqops_checks",
            REPROCESS: "the records a rule quarantined, or landing files, again, then gold and publish"}.get(
        layer, f"the {layer} layer")
    p = argparse.ArgumentParser(prog=f"jobs/{layer}.py", description=f"Run {what}.")
    if layer == MAINTENANCE:
        from lakehouse.maintenance import STEPS

        p.add_argument("--step", required=True, choices=STEPS)
        return p
    if layer == DQOPS_RESULTS:
        p.add_argument("--table", action="append", required=True, help="schema.table DQOps checks (repeatable)")
        return p
    if layer == REPROCESS:
        p.add_argument("--dataset", "-d", required=True, help="the dataset whose records to apply again")
        what = p.add_mutually_exclusive_group(required=True)
        what.add_argument("--rule", help="the rule that quarantined them")
        what.add_argument("--file", action="append", help="a landing file to read again, by its path under the "
                          "dataset's landing path (repeatable)")
        return p
    if layer not in ("gold", PUBLISH):
        p.add_argument("--dataset", "-d", action="append", help="dataset to run (repeatable); default all")
    p.add_argument("--batch", help="only this batch, YYYY-MM-DD")
    p.add_argument("--start", type=date.fromisoformat, help="interval start, inclusive, YYYY-MM-DD")
    p.add_argument("--end", type=date.fromisoformat, help="interval end, exclusive, YYYY-MM-DD")
    return p


def main(layer: str, argv: list[str]) -> int:
    args = _parser(layer).parse_args(argv)
    t0 = time.time()
    try:
        from lakehouse.config import load_settings
        from lakehouse.spark import build_session

        settings = load_settings()
        if layer == MAINTENANCE:
            return _maintenance(build_session(settings, f"lakehouse-{args.step}"), settings, args.step, t0)
        if layer == DQOPS_RESULTS:
            return _dqops_results(settings, args.table, t0)
        # What a layer task starts from is hashed before it reads any of it, and before the lease
        # (which may wait): a spec or file that changes meanwhile makes its next rerun look again.
        state = _task_state(settings, layer, argv)
        from lakehouse.specs import load_catalog

        catalog = load_catalog(settings.specs_dir)
        if layer == REPROCESS:
            return _reprocess(settings, catalog, args.dataset, args.rule, args.file, t0)
        datasets = getattr(args, "dataset", None)
        catalog.select(datasets)
        from lakehouse.runs import BatchFilter

        selection = BatchFilter(batch=args.batch, start=args.start, end=args.end)
        if state and (previous := _unchanged(settings, state)):
            print(f"{layer}: nothing new since run {previous.get('run_id', '?')} ({time.time() - t0:.1f}s, Spark not "
                  "started): its arguments, specs, settings and code are the same, and every commit since is a "
                  "later task's")
            return 0
        with timings.recording() as spent:
            with timings.phase("start-up"):
                spark = build_session(settings, f"lakehouse-{layer}")
            _label_commits(spark, layer)
            result = _layers(spark, settings, catalog, datasets, selection, layer)
        if state and not result.notices:  # a file waiting for a batch (it may load tomorrow), ops tables left
            # uncompacted: nothing to vouch for
            _record(state, result.run_id)
    except LakehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user; LAKEHOUSE_DEBUG=1 for the rest
        if os.environ.get("LAKEHOUSE_DEBUG") == "1":
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    if layer == ALL:
        from rich.console import Console

        from lakehouse.report import print_summary

        print_summary(Console(width=None if sys.stdout.isatty() else 140), result, time.time() - t0, spent)
    elif layer == PUBLISH:
        print(f"publish: {len(result.published)} new gold version(s) in {time.time() - t0:.1f}s (run {result.run_id}; "
              f"{timings.summary(spent)})")
    else:
        print(f"{layer}: {len(result.runs)} table batch(es) processed in {time.time() - t0:.1f}s (run {result.run_id}; "
              f"{timings.summary(spent)})")
        for notice in result.notices:
            print(f"  {notice}")
        for v in result.validations:  # one line per table a layer task judged, for the Airflow task log
            broken = ", ".join(f"{r.rule} {r.unexpected_count:,} {r.outcome}" for r in v.results if not r.success)
            print(f"  {v.table_name}: {len(v.results)} rules, {broken or 'all passed'} ({v.docs_page})")
    return 0


def _task_state(settings, layer: str, argv: list[str]):
    """The cluster's record of this layer task (lakehouse.task_state), if it keeps one."""
    from lakehouse import task_state

    if settings.profile != "cluster" or layer not in task_state.SKIPPABLE or not settings.skip_unchanged_tasks:
        return None
    try:
        return task_state.TaskState(settings, layer, argv)
    except Exception as exc:  # noqa: BLE001 - starting Spark is always right, only slower
        _starting_spark_after(layer, exc)
        return None


def _starting_spark_after(task: str, exc: Exception) -> None:
    """Say why the task starts Spark after all, unless the object store refused the jobs'
    account: it would refuse the job's every read and write too, so that is the job's error."""
    if object_store_refused(exc):
        raise exc
    print(f"{task}: could not read what is new ({one_line(exc)}): starting Spark", file=sys.stderr)


def _unchanged(settings, state) -> dict | None:
    """The task's last clean run, if it would find nothing new: checked under the lease, so
    nothing commits while it looks."""
    from lakehouse import home_lock

    home_lock.hold_writer(settings)
    try:
        previous, why = state.check()
    except Exception as exc:  # noqa: BLE001 - as above
        _starting_spark_after(state.task, exc)
        return None
    if not previous:
        print(f"{state.task}: starting Spark: {why}", flush=True)
    return previous


def _record(state, run_id: str) -> None:
    try:
        state.record(run_id)
    except Exception as exc:  # noqa: BLE001 - the run is done; its next rerun starts Spark
        print(f"{state.task}: could not record this run for a rerun to skip ({one_line(exc)})", file=sys.stderr)


def _label_commits(spark, task: str) -> None:
    """Every commit of this task names it, so a rerun of an earlier task can tell it apart."""
    from lakehouse import task_state
    from lakehouse.tables import USER_METADATA

    spark.conf.set(USER_METADATA, task_state.label(task))


def _layers(spark, settings, catalog, datasets, selection, layer: str):
    from lakehouse.pipeline import LAYERS, run_pipeline

    return run_pipeline(
        spark, settings, catalog, datasets, selection, layers=LAYERS if layer == ALL else (layer,),
        on_result=lambda r: print(
            f"{r.layer} {r.table_name} {r.batch_id or '-'}: read {r.rows_read}, inserted {r.inserted}, "
            f"updated {r.updated}, deleted {r.deleted}, quarantined {r.quarantined}, duplicates {r.duplicates}, "
            f"superseded {r.superseded} ({r.duration_s:.1f}s)", flush=True))


def _dqops_results(settings, tables: list[str], t0: float) -> int:
    from lakehouse.quality import dqops_results
    from lakehouse.runs import new_run_id
    from lakehouse.spark import build_session

    if not settings.dqops_url:  # said before a Spark session costs anything
        print("dqops_results: no DQOps server configured (LAKEHOUSE_DQOPS_URL unset): nothing recorded")
        return 0
    statuses, unknown = dqops_results.fetch_statuses(settings, tables)
    for table in unknown:
        print(f"dqops_results: DQOps has no {table} (its user home predates the spec?): not recorded")
    run_id = new_run_id()
    now = datetime.now(UTC)
    rows = [row for table, status in statuses.items() for row in dqops_results.status_rows(table, status, run_id, now)]
    spark = build_session(settings, "lakehouse-dqops-results")
    _label_commits(spark, DQOPS_RESULTS)
    from lakehouse import tables as ops

    ops.ensure_ops_tables(spark, settings)
    added = dqops_results.record(spark, rows)
    print(f"dqops_results: {len(rows)} check result(s) of {len(tables)} table(s) from DQOps, {added} new in "
          f"{ops.DQOPS_CHECKS_TABLE} in {time.time() - t0:.1f}s (run {run_id})")
    from lakehouse.maintenance import compact_ops_tables

    try:  # as a pipeline run ends (lakehouse.pipeline): the results are committed, this only tidies
        compact_ops_tables(spark, settings)
    except Exception as exc:  # noqa: BLE001
        print(f"dqops_results: {ops.DQOPS_CHECKS_TABLE} was not compacted ({one_line(exc)})", file=sys.stderr)
    return 0


def _reprocess(settings, catalog, dataset: str, rule: str | None, files: list[str] | None, t0: float) -> int:
    from rich.console import Console

    from lakehouse.pipeline import run_reprocess
    from lakehouse.report import print_replay
    from lakehouse.spark import build_session

    catalog.select([dataset])
    replayed, result = run_reprocess(build_session(settings, "lakehouse-reprocess"), settings, catalog, dataset, rule,
                                     files)
    print_replay(Console(width=None if sys.stdout.isatty() else 140), replayed, result, time.time() - t0)
    return 0


def _maintenance(spark, settings, step: str, t0: float) -> int:
    from lakehouse.maintenance import run_maintenance

    results = run_maintenance(spark, settings, step,
                              on_result=lambda r: print(f"{step} {r.table_name}: {r.detail}", flush=True))
    print(f"{step}: {len(results)} table(s) in {time.time() - t0:.1f}s")
    return 0
