"""B10: the ops tables after a month of daily tasks. Every task of a day commits its audit
records to ops.audit (the sample: bronze one commit of 4 records, silver one per dataset,
gold one of 3), and every task begins by reading the whole table (lakehouse.ledger): with a
file or two more per commit, every task of the month is slower than the one before. Side by
side, two copies of the same month: as the tables were before (a file per commit, compacted
only by the weekly maintenance DAG, which a backfill or a missed week does not run) and as
runs keep them now (lakehouse.tables.compact_ops_tables as each task ends). Then the ledger's
query, as a new task's process finds the table (its Delta log not cached).

It runs as a job (`lakehouse submit` of this file, which prints `RESULT <json>`), once in the
embedded profile (local disk) and once on the native platform (MinIO), where a file costs
more to open.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import (LAKEHOUSE, Section, fresh_dir, lakehouse_env, log, markdown_table, median, run_checked,
                               side_by_side, timed)
from lakehouse import ledger, tables

DATABASE = "b10"
PLAIN, COMPACTED = f"{DATABASE}.audit_as_before", f"{DATABASE}.audit_compacted"
CONTENDERS = {PLAIN: "as before (a file per commit)", COMPACTED: "compacted as each task ends"}
# A day's audit commits, by task: records in each commit (the sample's 4 datasets and 3 gold tables).
DAY = {"bronze": [4], "silver": [1, 1, 1, 1], "gold": [3]}
PROFILES = {"local": "local disk (embedded profile)", "cluster": "MinIO (native platform)"}


def _records(day: int, task: str, commit: int, n: int) -> list[dict]:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    return [{"run_id": f"d{day}-{task}", "layer": task, "table_name": f"{task}.t{commit}-{i}",
             "batch_id": at.date().isoformat(), "started_at": at, "rows_read": 1000 + i, "status": "ok"}
            for i in range(n)]


def _month(spark, days: int) -> dict:
    """The month's commits to both tables; the compacted one compacted as each task ends."""
    compaction_s, compactions = 0.0, 0
    for day in range(days):
        for task, commits in DAY.items():
            for commit, n in enumerate(commits):
                frame = tables.records_frame(spark, _records(day, task, commit, n), tables.AUDIT_SCHEMA)
                for name in CONTENDERS:
                    frame.writeTo(name).append()
            t0 = time.perf_counter()
            compactions += len(tables.compact_ops_tables(spark, [COMPACTED]))
            compaction_s += time.perf_counter() - t0
        if (day + 1) % 10 == 0:
            log(f"B10 day {day + 1}/{days}: {tables.file_count(spark, PLAIN)} files as before, "
                f"{tables.file_count(spark, COMPACTED)} compacted")
    return {"compaction_s": compaction_s, "compactions": compactions, "tasks": days * len(DAY)}


def _ledger_read(spark, name: str) -> float:
    """The ledger's query of `name`, its Delta log not cached (as a task's new process finds it)."""
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    return timed(lambda: ledger.completed(spark, name))


def measure(spark, days: int, reps: int) -> dict:
    spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    spark.sql(f"CREATE DATABASE {DATABASE}")
    try:
        for name in CONTENDERS:
            spark.createDataFrame([], tables.AUDIT_SCHEMA).writeTo(name).using("delta").create()
        month = _month(spark, days)
        files = {CONTENDERS[name]: tables.file_count(spark, name) for name in CONTENDERS}
        _ledger_read(spark, PLAIN)  # warm: the query's classes and plan
        samples = side_by_side(reps, {label: (lambda n=name: _ledger_read(spark, n))
                                      for name, label in CONTENDERS.items()}, "B10")
    finally:
        spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    return {"files": files, "samples": samples, **month}


def run(workdir: Path, platform_home: Path, days: int, reps: int) -> Section:
    results = {}
    for profile, home in (("local", fresh_dir(workdir / "home")), ("cluster", platform_home)):
        log(f"B10 {profile}: {days} days of audit commits")
        output = run_checked([LAKEHOUSE, "submit", Path(__file__), str(days), str(reps), "--profile", profile],
                             lakehouse_env(home))
        results[profile] = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    rows, ratios, costs = [], [], []
    for profile, r in results.items():
        medians = {label: median(s) for label, s in r["samples"].items()}
        rows += [[PROFILES[profile], label, r["files"][label], s] for label, s in medians.items()]
        before, after = medians.values()
        ratios.append(f"{before / after:.1f}x on {PROFILES[profile]}")
        costs.append(f"{PROFILES[profile]}: {r['compactions']} compactions, {r['compaction_s']:.1f}s in all with the "
                     f"file counts, {r['compaction_s'] / r['tasks']:.2f}s per task")
    table = markdown_table(["storage", "ops.audit after the month", "files", "the ledger's read (s)"], rows)
    per_day = sum(map(len, DAY.values()))
    text = (f"{days} days of the sample's audit commits ({per_day} a day, {per_day * days} in all; a commit of "
            f"several records writes up to 2 files); the ledger's read with its Delta log not cached, median of "
            f"{reps}, order alternated.\n\n{table}\n\nAs before / compacted: **{', '.join(ratios)}**. What the "
            f"compaction cost over the month's {days * len(DAY)} tasks: {'; '.join(costs)}.")
    return Section("B10", "B10: the ops tables after a month", text, {"days": days, "reps": reps, **results})


if __name__ == "__main__":  # the job: python b10_ops_tables.py DAYS REPS, through `lakehouse submit`
    from lakehouse.config import load_settings
    from lakehouse.spark import build_session

    session = build_session(load_settings(), "lakehouse-b10")
    print("RESULT " + json.dumps(measure(session, int(sys.argv[1]), int(sys.argv[2]))), flush=True)
    session.stop()
