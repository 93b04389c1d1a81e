"""Bronze: append landing files as raw records with ingestion metadata, once per batch.

A batch already in bronze is skipped, so rerunning it adds nothing. Every data line of a
file becomes one record (malformed ones keep their raw text); a zero-byte file or a
batch folder with no files fails the batch before anything is written.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import storage, tables
from lakehouse.config import BRONZE, Settings
from lakehouse.errors import AccountingError, LandingError
from lakehouse.ledger import Ledger
from lakehouse.runs import BatchFilter, TableRun, finish_together
from lakehouse.specs import DatasetSpec
from lakehouse.transforms.parse import parse_csv, parse_jsonl, split_csv_header


def landing_batches(spark, settings: Settings, spec: DatasetSpec, selection: BatchFilter) -> list[str]:
    root = settings.landing_location(spec.landing_folder)
    if not storage.exists(spark, root):
        raise LandingError(f"{spec.name}: landing path {root} does not exist")
    return [e.name for e in storage.list_dir(spark, root) if e.is_dir and selection.accepts(e.name)]


def batches_with_rows(spark, fqname: str, batch_ids: list[str]) -> dict[str, int]:
    """Rows per batch that bronze already holds, among `batch_ids` (one partition-pruned query)."""
    if not batch_ids:
        return {}
    rows = spark.table(fqname).where(F.col("_batch_id").isin(batch_ids)).groupBy("_batch_id").count().collect()
    return {r["_batch_id"]: r["count"] for r in rows}


def _read_file(spark, spec: DatasetSpec, path: str) -> tuple[DataFrame, DataFrame]:
    """(data lines as `value`, the same lines parsed). Blank lines are not records."""
    lines = spark.read.text(path).where(F.trim("value") != "")
    if spec.source.format == "jsonl":
        return lines, parse_jsonl(lines, spec.column_names)
    first = lines.limit(1).collect()
    if not first:
        raise LandingError(f"{path}: CSV file has no header line")
    header_line = first[0]["value"]
    data = lines.where(F.col("value") != F.lit(header_line))
    header = split_csv_header(header_line)
    return data, parse_csv(data, header, spec.column_names)


def _batch_files(spark, settings: Settings, spec: DatasetSpec, batch_id: str) -> list:
    folder = f"{settings.landing_location(spec.landing_folder)}/{batch_id}"
    files = [f for f in storage.list_dir(spark, folder) if not f.is_dir]
    if not files:
        raise LandingError(f"{folder}: batch folder has no files")
    empty = [f.path for f in files if f.size == 0]
    if empty:
        raise LandingError(f"{empty[0]}: empty file (0 bytes); the batch is refused rather than loaded in part")
    return files


def ingest_batches(spark, settings: Settings, spec: DatasetSpec, batch_ids: list[str]) -> list[TableRun]:
    """Append the given batches in one Delta commit: all of them land, or none."""
    fqname = f"{BRONZE}.{spec.name}"
    runs, parts = [], []
    for batch_id in batch_ids:
        run = TableRun("bronze", fqname, batch_id)
        for f in _batch_files(spark, settings, spec, batch_id):
            lines, records = _read_file(spark, spec, f.path)
            run.rows_read += lines.count()
            parts.append(records.withColumn("_source_file", F.lit(f.path)).withColumn("_batch_id", F.lit(batch_id)))
        runs.append(run)
    if not runs:
        return []
    out = reduce(DataFrame.unionByName, parts).withColumn("_ingested_at", F.current_timestamp())
    before = tables.current_version(spark, fqname)
    tables.append(out.select(*tables.bronze_schema(spec).fieldNames()), fqname)
    commit = tables.commit_since(spark, fqname, before) or {"version": before, "metrics": {}}
    appended, read = commit["metrics"].get("numOutputRows", 0), sum(r.rows_read for r in runs)
    if appended != read:
        raise AccountingError(f"{fqname}: read {read} lines from {len(runs)} batch(es) but appended {appended} records")
    for run in runs:
        run.inserted, run.delta_version = run.rows_read, commit["version"]
    return finish_together(runs)


def run_bronze(spark, settings: Settings, spec: DatasetSpec, selection: BatchFilter, ledger: Ledger,
               run_id: str, on_result=None) -> list[TableRun]:
    """Ingest every landing batch in `selection` that bronze does not hold yet.

    A batch is done once the audit says so. A batch whose rows are in bronze but that the
    audit does not know (a crash between the two writes) is recorded, not appended again."""
    fqname = f"{BRONZE}.{spec.name}"
    tables.ensure_table(spark, settings, fqname, tables.bronze_schema(spec), partition_by=("_batch_id",))
    pending = [b for b in landing_batches(spark, settings, spec, selection) if b not in ledger.done(fqname)]
    present = batches_with_rows(spark, fqname, pending)
    recovered = [TableRun("bronze", fqname, b, rows_read=n, inserted=n, detail="already in bronze").finish()
                 for b, n in sorted(present.items())]
    results = recovered + ingest_batches(spark, settings, spec, [b for b in pending if b not in present])
    if results:
        ledger.record(results, run_id)
    for run in results:
        if on_result:
            on_result(run)
    return results
