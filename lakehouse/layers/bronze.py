"""Bronze: landing files as raw records with ingestion metadata, written once per batch.

A batch already in bronze is skipped, so rerunning it adds nothing; a write replaces what
bronze held of its batches (none, but after a write that failed its reconciliation). Every data line of a
file becomes one record (malformed ones keep their raw text); a zero-byte file or a
batch folder with no files fails the batch before anything is written.

The accounting is a reconciliation of two sides counted apart: each file's lines, counted
from the file (every line, then the blank ones and the header lines, which are not
records), and the rows bronze holds for that file after the commit, counted from the table.
A write that lost or added a record fails the run with an AccountingError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from py4j.protocol import Py4JJavaError
from pyspark.errors import SparkRuntimeException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import storage, tables
from lakehouse.config import BRONZE, Settings
from lakehouse.errors import AccountingError, LandingError
from lakehouse.ledger import Ledger
from lakehouse.runs import BatchFilter, TableRun, finish_together
from lakehouse.specs import DatasetSpec
from lakehouse.transforms.parse import parse_csv, parse_jsonl, split_csv_header


def landing_batches(spark, settings: Settings, spec: DatasetSpec, selection: BatchFilter,
                    missing_ok: bool = False) -> list[str]:
    """The batch folders under the dataset's landing path that `selection` accepts. A missing
    landing path is an error, or, with `missing_ok`, no batches (nothing has arrived)."""
    root = settings.landing_location(spec.landing_folder)
    if not storage.exists(spark, root):
        if missing_ok:
            return []
        raise LandingError(f"{spec.name}: landing path {root} does not exist")
    return [e.name for e in storage.list_dir(spark, root) if e.is_dir and selection.accepts(e.name)]


def batches_with_rows(spark, fqname: str, batch_ids: list[str]) -> dict[str, int]:
    """Rows per batch that bronze already holds, among `batch_ids` (one partition-pruned query)."""
    if not batch_ids:
        return {}
    rows = spark.table(fqname).where(F.col("_batch_id").isin(batch_ids)).groupBy("_batch_id").count().collect()
    return {r["_batch_id"]: r["count"] for r in rows}


@dataclass(frozen=True)
class FileLines:
    """One landing file's lines, counted from the file itself: `lines` in all, of which
    `blank` are empty and `header` repeat the CSV header (the first one included); the rest
    are records."""

    path: str
    lines: int
    blank: int
    header: int

    @property
    def records(self) -> int:
        return self.lines - self.blank - self.header


def _root_cause(exc: Exception) -> str:
    """The innermost JVM cause of a failed read (`java.io.EOFException: Unexpected end of input
    stream`), or the error's first line."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    while java.getCause() is not None:
        java = java.getCause()
    return str(java.toString())


def _read_file(spark, spec: DatasetSpec, path: str) -> tuple[FileLines, DataFrame]:
    """(the file's line counts, its records parsed). Blank and header lines are not records.
    A `.gz` file is read decompressed (Hadoop's codec, by its suffix); one that cannot be read
    to its end (a compressed file cut short) refuses the batch, naming the file and the cause."""
    raw = spark.read.text(storage.literal(path))
    blank = F.trim("value") == ""
    header_line = None
    try:
        if spec.source.format == "csv":
            first = raw.where(~blank).limit(1).collect()
            if not first:
                raise LandingError(f"{path}: CSV file has no header line")
            header_line = first[0]["value"]
        is_header = (F.col("value") == F.lit(header_line)) if header_line is not None else F.lit(False)
        lines, blanks, headers = raw.select(F.count(F.lit(1)), F.sum(blank.cast("long")),
                                            F.sum(is_header.cast("long"))).first()
    except (Py4JJavaError, SparkRuntimeException) as exc:
        if "FAILED_READ_FILE" not in str(exc):
            raise
        raise LandingError(f"{path}: cannot be read to its end ({_root_cause(exc)}; a compressed file cut "
                           "short?); the batch is refused rather than loaded in part") from None
    counted = FileLines(path, lines, blanks or 0, headers or 0)
    data = raw.where(~blank & ~is_header)
    if header_line is None:
        return counted, parse_jsonl(data, spec.column_names)
    return counted, parse_csv(data, split_csv_header(header_line), spec.column_names)


def _batch_files(spark, settings: Settings, spec: DatasetSpec, batch_id: str) -> list:
    folder = f"{settings.landing_location(spec.landing_folder)}/{batch_id}"
    files = [f for f in storage.list_dir(spark, folder) if not f.is_dir]
    if not files:
        raise LandingError(f"{folder}: batch folder has no files")
    empty = [f.path for f in files if f.size == 0]
    if empty:
        raise LandingError(f"{empty[0]}: empty file (0 bytes); the batch is refused rather than loaded in part")
    return files


def _batch_records(spark, settings: Settings, spec: DatasetSpec, batch_id: str):
    """A batch's run (records counted from its files), the files' line counts and their
    records parsed, one DataFrame per file."""
    run, files, parts = TableRun("bronze", f"{BRONZE}.{spec.name}", batch_id), [], []
    for f in _batch_files(spark, settings, spec, batch_id):
        counted, records = _read_file(spark, spec, f.path)
        files.append(counted)
        run.rows_read += counted.records
        parts.append(records.withColumn("_source_file", F.lit(f.path)).withColumn("_batch_id", F.lit(batch_id)))
    run.detail = _not_records(files)
    return run, files, parts


def ingest_batches(spark, settings: Settings, spec: DatasetSpec, batch_ids: list[str]) -> list[TableRun]:
    """Write the given batches in one Delta commit, replacing whatever bronze held of them (a
    write that failed its reconciliation): all of them land, or none."""
    fqname = f"{BRONZE}.{spec.name}"
    read = [_batch_records(spark, settings, spec, b) for b in batch_ids]
    if not read:
        return []
    runs, files = [r for r, _, _ in read], [f for _, batch_files, _ in read for f in batch_files]
    out = reduce(DataFrame.unionByName, [p for _, _, parts in read for p in parts])
    out = out.withColumn("_ingested_at", F.current_timestamp()).select(*tables.bronze_schema(spec).fieldNames())
    before = tables.current_version(spark, fqname)
    tables.replace_batches(out, fqname, batch_ids)
    commit = tables.commit_since(spark, fqname, before) or {"version": before, "metrics": {}}
    _reconcile(fqname, files, _held_by_file(spark, fqname, batch_ids), commit["metrics"].get("numOutputRows", 0))
    for run in runs:
        run.inserted, run.delta_version = run.rows_read, commit["version"]
    return finish_together(runs)


def _not_records(files: list[FileLines]) -> str:
    blank, header = sum(f.blank for f in files), sum(f.header for f in files)
    return f"{blank} blank and {header} header line(s) are not records" if blank or header else ""


def _held_by_file(spark, fqname: str, batch_ids: list[str]) -> dict[str, int]:
    """The rows bronze holds per landing file of these batches, counted from the table (one
    partition-pruned query)."""
    return {r["_source_file"]: r["count"] for r in spark.table(fqname).where(F.col("_batch_id").isin(batch_ids))
            .groupBy("_source_file").count().collect()}


def _reconcile(fqname: str, files: list[FileLines], held: dict[str, int], written: int | None) -> None:
    """Each file's records, counted from the file, against the rows bronze holds of it, counted
    from the table; and (after a write) against Delta's count of the rows it wrote."""
    for f in files:
        if held.get(f.path, 0) != f.records:
            raise AccountingError(f"{fqname}: {f.path} has {f.records} record(s) ({f.lines} lines, {f.blank} blank, "
                                  f"{f.header} header) but bronze holds {held.get(f.path, 0)} of it")
    expected = sum(f.records for f in files)
    if sum(held.values()) != expected or written not in (None, expected):
        raise AccountingError(f"{fqname}: the files hold {expected} record(s); bronze holds {sum(held.values())}"
                              + (f", Delta wrote {written}" if written is not None else ""))


def _recover(spark, settings: Settings, spec: DatasetSpec, present: list[str]) -> tuple[list[TableRun], list[str]]:
    """Batches bronze holds but the audit does not know (a crash between the two writes): each
    is counted again from its files; one that reconciles is recorded as it is, one that does
    not is to be written again (replacing what bronze holds of it)."""
    fqname, recovered, again = f"{BRONZE}.{spec.name}", [], []
    for batch_id in present:
        run, files, _ = _batch_records(spark, settings, spec, batch_id)
        try:
            _reconcile(fqname, files, _held_by_file(spark, fqname, [batch_id]), None)
        except AccountingError:
            again.append(batch_id)
            continue
        run.inserted, run.detail = run.rows_read, "already in bronze"
        recovered.append(run.finish())
    return recovered, again


def run_bronze(spark, settings: Settings, spec: DatasetSpec, selection: BatchFilter, ledger: Ledger,
               run_id: str, on_result=None) -> list[TableRun]:
    """Ingest every landing batch in `selection` that bronze does not hold yet.

    A batch is done once the audit says so. A batch whose rows are in bronze but that the
    audit does not know (a crash between the two writes) is recorded, not written again, if
    it reconciles with its files (see _recover)."""
    fqname = f"{BRONZE}.{spec.name}"
    tables.ensure_table(spark, settings, fqname, tables.bronze_schema(spec), partition_by=("_batch_id",),
                        comments=spec.column_comments)
    pending = [b for b in landing_batches(spark, settings, spec, selection) if b not in ledger.done(fqname)]
    present = batches_with_rows(spark, fqname, pending)
    recovered, again = _recover(spark, settings, spec, sorted(present))
    results = recovered + ingest_batches(spark, settings, spec,
                                         sorted([b for b in pending if b not in present] + again))
    if results:
        ledger.record(results, run_id)
    for run in results:
        if on_result:
            on_result(run)
    return results
