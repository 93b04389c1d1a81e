"""Publish: make each gold table's new version official, once, after a key check.

ops.published gets one row per (gold table, Delta version): when it was published, by
which run, for which interval, with how many rows. Readers (dashboards, quality checks)
learn from it how fresh each table is. A version already published is skipped, so
rerunning an interval whose gold did not change writes nothing. A gold table whose keys
are not unique is not published and fails the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, UTC

from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.config import GOLD
from lakehouse.errors import LakehouseError
from lakehouse.runs import BatchFilter
from lakehouse.specs import GoldSpec


@dataclass(frozen=True)
class Publication:
    table_name: str
    delta_version: int
    row_count: int


def _duplicate_keys(spark, fqname: str, keys: list[str]) -> int:
    return spark.table(fqname).groupBy(*keys).count().where(F.col("count") > 1).count()


def run_publish(spark, specs: list[GoldSpec], selection: BatchFilter, run_id: str) -> list[Publication]:
    """Publish every gold table whose data changed since its newest published version
    (maintenance's commits change none)."""
    already = tables.published_versions(spark)
    pending = []
    for spec in specs:
        fqname = f"{GOLD}.{spec.name}"
        version, published = tables.current_version(spark, fqname), already.get(fqname)
        if published and (version in published or not tables.data_changed(spark, fqname, max(published), version)):
            continue
        duplicates = _duplicate_keys(spark, fqname, spec.keys)
        if duplicates:
            raise LakehouseError(f"{fqname} v{version}: {duplicates} key(s) of ({', '.join(spec.keys)}) "
                                 "appear more than once; not published")
        rows = spark.read.format("delta").option("versionAsOf", version).table(fqname).count()
        pending.append(Publication(fqname, version, rows))
    tables.append_published(spark, [
        {"table_name": p.table_name, "delta_version": p.delta_version, "row_count": p.row_count,
         "interval_start": _day(selection.start or selection.batch), "interval_end": _day(selection.end),
         "run_id": run_id, "published_at": datetime.now(UTC)}
        for p in pending])
    return pending


def _day(value) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value
