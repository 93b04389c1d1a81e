"""B10: the ops tables after a month of daily tasks. Every task of a day commits its audit
records to ops.audit (the sample: bronze one commit of 4 records, silver one per dataset,
gold one of 3), and every task begins by reading the whole table (lakehouse.ledger): with a
file more per commit (lakehouse.tables.records_frame), each read costs more than the one before
until the files are compacted. Three copies of the same month, side by side: never compacted (a
backfill, or a paused maintenance DAG), compacted weekly (the maintenance DAG's OPTIMIZE every
seventh day) and compacted as each task ends (lakehouse.maintenance.compact_ops_tables, what runs do now).
After each day, the ledger's query of each copy as a new task's process finds it (its Delta
log not cached), the copies in alternating order; and what each way's compaction cost.

It runs as a job (`lakehouse submit` of this file, which prints `RESULT <json>`), once in the
embedded profile (local disk) and once on the native platform (MinIO), where a file costs
more to open. The job creates the database `b10` and drops it at its end.
"""

from __future__ import annotations

import json
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import LAKEHOUSE, Section, fresh_dir, lakehouse_env, log, markdown_table, run_checked, timed
from lakehouse import ledger, tables
from lakehouse.maintenance import COMPACT_OPS_ABOVE_FILES, compact, compact_if_fragmented

DATABASE = "b10"
NEVER, WEEKLY, AS_TASKS_END = "never compacted", "compacted weekly", "compacted as each task ends"
TABLES = {NEVER: f"{DATABASE}.never", WEEKLY: f"{DATABASE}.weekly", AS_TASKS_END: f"{DATABASE}.as_tasks_end"}
# A day's audit commits, by task: records in each commit (the sample's 4 datasets and 3 gold tables).
DAY = {"bronze": [4], "silver": [1, 1, 1, 1], "gold": [3]}
PROFILES = {"local": "local disk (embedded profile)", "cluster": "MinIO (native platform)"}


def _records(day: int, task: str, commit: int, n: int) -> list[dict]:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    return [{"run_id": f"d{day}-{task}", "layer": task, "table_name": f"{task}.t{commit}-{i}",
             "batch_id": at.date().isoformat(), "started_at": at, "rows_read": 1000 + i, "status": "ok"}
            for i in range(n)]


def _ledger_read(spark, name: str) -> float:
    """The ledger's query of `name`, its Delta log not cached (as a task's new process finds it)."""
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    return timed(lambda: ledger.completed(spark, name))


def _optimize(spark, location: str) -> float:
    from delta.tables import DeltaTable

    return timed(lambda: compact(DeltaTable.forPath(spark, location)))


def measure(spark, days: int) -> dict:
    spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    spark.sql(f"CREATE DATABASE {DATABASE}")
    try:
        for name in TABLES.values():
            spark.createDataFrame([], tables.AUDIT_SCHEMA).writeTo(name).using("delta").create()
        where = {way: spark.sql(f"DESCRIBE DETAIL {name}").first()["location"] for way, name in TABLES.items()}
        reads = {way: [] for way in TABLES}
        upkeep = {way: 0.0 for way in TABLES}
        _ledger_read(spark, TABLES[NEVER])  # warm: the query's classes and plan
        for day in range(days):
            for task, commits in DAY.items():
                for commit, n in enumerate(commits):
                    frame = tables.records_frame(spark, _records(day, task, commit, n), tables.AUDIT_SCHEMA)
                    for name in TABLES.values():
                        frame.writeTo(name).append()
                upkeep[AS_TASKS_END] += timed(lambda: compact_if_fragmented(spark, where[AS_TASKS_END]))
            if (day + 1) % 7 == 0:
                upkeep[WEEKLY] += _optimize(spark, where[WEEKLY])
            for way in (TABLES if day % 2 == 0 else reversed(TABLES)):
                reads[way].append(_ledger_read(spark, TABLES[way]))
            if (day + 1) % 10 == 0:
                log(f"B10 day {day + 1}/{days}: files " + ", ".join(
                    f"{way} {tables.file_count(spark, where[way])}" for way in TABLES))
        files = {way: tables.file_count(spark, where[way]) for way in TABLES}
    finally:
        spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    return {"files": files, "reads": reads, "upkeep_s": upkeep, "tasks": days * len(DAY)}


def run(workdir: Path, platform_home: Path, days: int) -> Section:
    results = {}
    for profile, home in (("local", fresh_dir(workdir / "home")), ("cluster", platform_home)):
        log(f"B10 {profile}: {days} days of audit commits")
        output = run_checked([LAKEHOUSE, "submit", Path(__file__), str(days), "--profile", profile],
                             lakehouse_env(home))
        results[profile] = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    return Section("B10", "B10: the ops tables after a month", _markdown(results, days), {"days": days, **results})


def _markdown(results: dict, days: int) -> str:
    rows = []
    for profile, r in results.items():
        for way in TABLES:
            mean, upkeep = statistics.mean(r["reads"][way]), r["upkeep_s"][way] / r["tasks"]
            rows.append([PROFILES[profile], way, r["files"][way], r["reads"][way][-1], mean, upkeep, mean + upkeep])
    table = markdown_table(["storage", "ops.audit", "files at the end", "read on the last day (s)",
                            "mean read (s)", "compaction per task (s)", "read + compaction per task (s)"], rows)
    per_day = sum(map(len, DAY.values()))
    return (f"{days} days of the sample's audit commits ({per_day} a day, {per_day * days} in all; one file "
            "each), three copies side by side. After each day, the ledger's read "
            "of each (every task's first query), its Delta log not cached, the copies in alternating order; the "
            "mean is over the days. Compaction per task: the copy's compaction time over the month (with the file "
            f"counts, for the copy compacted as each task ends) divided by its {days * len(DAY)} tasks.\n\n{table}"
            f"\n\nIn production both run: the weekly maintenance keeps a table under the per-task limit "
            f"({COMPACT_OPS_ABOVE_FILES} files, more than {COMPACT_OPS_ABOVE_FILES // per_day} days of the sample's), "
            "so its tasks pay the count alone; "
            "where the maintenance does not run (a backfill, as here, or a paused DAG), the per-task compaction "
            "keeps the read near the weekly one's instead of growing with the month.")


if __name__ == "__main__":  # the job: python b10_ops_tables.py DAYS, through `lakehouse submit`
    from lakehouse.config import load_settings
    from lakehouse.spark import build_session

    session = build_session(load_settings(), "lakehouse-b10")
    print("RESULT " + json.dumps(measure(session, int(sys.argv[1]))), flush=True)
    session.stop()
