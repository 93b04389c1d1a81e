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
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from delta.tables import DeltaTable

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


def _optimize(spark, settings: Settings, fqname: str) -> str:
    metrics = DeltaTable.forName(spark, fqname).optimize().executeCompaction().collect()[0]["metrics"]
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
