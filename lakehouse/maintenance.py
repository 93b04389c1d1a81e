"""Table maintenance: compaction, VACUUM and statistics for every Delta table of the
lakehouse's databases (jobs/maintenance.py, the maintenance DAG).

- optimize: OPTIMIZE (bin-packing small files); a table with nothing to compact is left
  without a new version.
- vacuum: VACUUM with `vacuum_retention_hours`. Delta refuses a retention shorter than the
  table's deletedFileRetentionDuration (7 days), and we keep that check on: files younger
  than the retention are what time travel and running readers still need.
- analyze: row count, size and file count of each table as table properties
  (`lakehouse.stats.*`, SHOW TBLPROPERTIES), for catalog readers; Spark 4.1 refuses
  ANALYZE TABLE on Delta tables, and Delta keeps its own per-file statistics.

Between maintenance runs, a run that ends compacts the ops tables it wrote once they hold
more than COMPACT_OPS_ABOVE_FILES files (compact_ops_tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from delta.tables import DeltaTable

from lakehouse import tables
from lakehouse.config import DATABASES, Settings

STEPS = ("optimize", "vacuum", "analyze")


@dataclass(frozen=True)
class MaintenanceResult:
    table_name: str
    step: str
    detail: str


def delta_tables(spark) -> list[str]:
    """Every table of bronze, silver, gold and ops (the platform creates only Delta tables)."""
    return sorted(f"{db}.{t.name}" for db in DATABASES if spark.catalog.databaseExists(db)
                  for t in spark.catalog.listTables(db) if t.tableType != "VIEW")


def compact(table: DeltaTable) -> dict:
    """OPTIMIZE's metrics: numFilesRemoved is 0 when no bin held two files (and no commit)."""
    return table.optimize().executeCompaction().collect()[0]["metrics"]


def _optimize(spark, settings: Settings, fqname: str) -> str:
    metrics = compact(DeltaTable.forName(spark, fqname))
    return f"{metrics['numFilesRemoved']} file(s) compacted into {metrics['numFilesAdded']}"


def _vacuum(spark, settings: Settings, fqname: str) -> str:
    DeltaTable.forName(spark, fqname).vacuum(float(settings.vacuum_retention_hours))
    return f"files unreferenced for more than {settings.vacuum_retention_hours}h removed"


def _analyze(spark, settings: Settings, fqname: str) -> str:
    # Spark 4.1 refuses ANALYZE TABLE on Delta (v2) tables and OSS Delta 4.3 has no COMPUTE
    # DELTA STATISTICS; Delta keeps per-file statistics itself. What a catalog reader wants
    # on top (rows, bytes, files) is recorded as table properties.
    detail = spark.sql(f"DESCRIBE DETAIL {fqname}").first()
    stats = {"rowCount": spark.table(fqname).count(), "sizeInBytes": detail["sizeInBytes"],
             "numFiles": detail["numFiles"]}
    props = ", ".join(f"'lakehouse.stats.{k}' = '{v}'" for k, v in stats.items())
    spark.sql(f"ALTER TABLE {fqname} SET TBLPROPERTIES ({props})")
    return f"{stats['rowCount']} rows, {stats['numFiles']} file(s), {stats['sizeInBytes']} bytes"


_RUNNERS: dict[str, Callable] = {"optimize": _optimize, "vacuum": _vacuum, "analyze": _analyze}


def run_maintenance(spark, settings: Settings, step: str,
                    on_result: Callable[[MaintenanceResult], None] = lambda r: None) -> list[MaintenanceResult]:
    results = []
    for fqname in delta_tables(spark):
        result = MaintenanceResult(fqname, step, _RUNNERS[step](spark, settings, fqname))
        on_result(result)
        results.append(result)
    return results


# Every commit to an ops table adds a file (its records make one: tables.records_frame; the
# sample's day: 6 commits to ops.audit), and every task reads ops.audit whole, opening each
# file: the read grows by the day until the weekly maintenance compacts them, and for good where
# it does not run (a backfill, a paused DAG). The limit is more than ten days of the sample's
# audit commits, whatever the machine's cores: where the maintenance runs, a task pays the
# count alone (about 0.02 s on MinIO); where it does not, no read opens more.
# BENCHMARKS.md's B10 measures a month of both (an OPTIMIZE of ops.audit: 1-3 s on MinIO).
# Delta's own auto compaction decides from file counts it keeps in the writing JVM's memory,
# which a spark-submit per task never fills.
COMPACT_OPS_ABOVE_FILES = 64


def compact_if_fragmented(spark, location: str) -> bool:
    """OPTIMIZE the Delta table at `location` if it holds more than COMPACT_OPS_ABOVE_FILES
    files; whether it compacted any. Counting costs no Spark job (tables.file_count)."""
    if (tables.file_count(spark, location) or 0) <= COMPACT_OPS_ABOVE_FILES:  # no count: left to maintenance
        return False
    return compact(DeltaTable.forPath(spark, location))["numFilesRemoved"] > 0


def compact_ops_tables(spark, settings: Settings) -> list[str]:
    """Compact the ops tables this process wrote since the last call (tables.take_ops_written)
    that are fragmented; returns those compacted. Each is a commit that changes no row
    (NO_DATA_CHANGE), by the tables' writer under its lease and labelled as its other commits;
    a process that wrote no ops table commits nothing."""
    return [fqname for fqname in tables.take_ops_written()
            if compact_if_fragmented(spark, settings.table_location(*fqname.split(".")))]
