"""Bronze: landing files as raw records with ingestion metadata, written once per batch.

Which files a batch holds is discovery's plan (lakehouse.layers.discovery); every file loaded
goes to the file log. A batch already in bronze is skipped, so rerunning it adds nothing; a
write replaces what bronze held of its batches (none, but after a write that failed its
reconciliation). Every data line of a file becomes one record (malformed ones keep their raw
text); a zero-byte file or a batch folder with no files fails the batch before anything is
written.

The accounting is a reconciliation of two sides counted apart: each file's lines, counted
from the file (every line, then the blank ones and the header lines, which are not
records), and the rows bronze holds for that file after the commit, counted from the table.
A write that lost or added a record fails the run with an AccountingError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import tables, timings
from lakehouse.config import BRONZE, Settings
from lakehouse.errors import AccountingError, LandingError
from lakehouse.file_log import FileLog
from lakehouse.file_pattern import FilePattern
from lakehouse.landing import COPY_OF, LandedFile
from lakehouse.layers.discovery import check_changed, plan_landing
from lakehouse.formats import FileLines, gone_when_read, read_file
from lakehouse.ledger import Ledger
from lakehouse.runs import REPLAY, BatchFilter, TableRun, finish_together
from lakehouse.specs import DatasetSpec


def batches_with_rows(spark, fqname: str, batch_ids: list[str]) -> dict[str, int]:
    """Rows per batch that bronze already holds, among `batch_ids` (one partition-pruned query)."""
    if not batch_ids:
        return {}
    rows = spark.table(fqname).where(F.col("_batch_id").isin(batch_ids)).groupBy("_batch_id").count().collect()
    return {r["_batch_id"]: r["count"] for r in rows}


@dataclass(frozen=True)
class Copy:
    """A landing file of an append dataset holding exactly the lines of one already loaded
    (`of`): not loaded, or its records would count twice; logged as a copy."""

    counted: FileLines
    of: str


def _batch_records(spark, spec: DatasetSpec, batch_id: str, landed: list[LandedFile],
                   loaded: dict[str, str] | None = None):
    """A batch's run (records counted from its files), the files' line counts, their records
    parsed (one DataFrame per file) and the copies left out. A zero-byte file refuses the
    batch. `loaded` (append datasets): the fingerprints of the files loaded so far, and their
    paths; a file with one of them is a copy, and each file loaded here joins them."""
    empty = [f.path for f in landed if f.size == 0]
    if empty:
        raise LandingError(f"{empty[0]}: empty file (0 bytes); batch {batch_id} is refused rather than loaded in part")
    run, files, parts, copies = TableRun("bronze", f"{BRONZE}.{spec.name}", batch_id), [], [], []
    for f in landed:
        counted, records = read_file(spark, spec, f.path)
        if loaded is not None and counted.records:  # files without records (a header) are no copies
            original = loaded.setdefault(counted.fingerprint, f.path)
            if original != f.path:  # read and accounted for as duplicates, not written
                copies.append(Copy(counted, original))
                run.rows_read += counted.records
                run.duplicates += counted.records
                continue
        files.append(counted)
        run.rows_read += counted.records
        parts.append(records.withColumn("_source_file", F.lit(f.path)).withColumn("_batch_id", F.lit(batch_id)))
    copied = (f"{len(copies)} file(s) not loaded, exact copies of files loaded before "
              f"({sum(c.counted.records for c in copies)} record(s))") if copies else ""
    run.detail = "; ".join(filter(None, [_not_records(files), copied]))
    return run, files, parts, copies


def ingest_batches(spark, spec: DatasetSpec, batches: dict[str, list[LandedFile]],
                   loaded: dict[str, str] | None = None,
                   replaces: bool = True) -> list[tuple[TableRun, list, list[Copy]]]:
    """Write the given batches (each with its files) in one Delta commit, replacing whatever
    bronze held of them (a write that failed its reconciliation): all of them land, or none.
    `replaces`: False when bronze holds no row of them (the caller looked): the write appends.
    Returns each batch's run, its files' line counts and its copies (see _batch_records)."""
    fqname = f"{BRONZE}.{spec.name}"
    with timings.phase("read"):
        read = [_batch_records(spark, spec, b, landed, loaded) for b, landed in sorted(batches.items())]
    if not read:
        return []
    batch_ids = sorted(batches)
    runs, files = [r for r, *_ in read], [f for _, batch_files, _, _ in read for f in batch_files]
    schema = tables.bronze_schema(spec)
    parts = [p for _, _, batch_parts, _ in read for p in batch_parts]
    out = reduce(DataFrame.unionByName, parts) if parts else spark.createDataFrame([], schema)  # all copies
    out = out.withColumn("_ingested_at", F.current_timestamp()).select(*schema.fieldNames())
    with timings.phase("write"):
        before = tables.current_version(spark, fqname)
        with gone_when_read(spark, spec, [f.path for landed in batches.values() for f in landed]):
            tables.replace_batches(out, fqname, batch_ids, held=replaces)
        commit = tables.commit_since(spark, fqname, before) or {"version": before, "metrics": {}}
        held = _held_by_file(spark, fqname, batch_ids)
    _reconcile(fqname, files, held, commit["metrics"].get("numOutputRows", 0))
    for run in runs:
        run.inserted, run.delta_version = run.rows_read - run.duplicates, commit["version"]
    finish_together(runs)
    return [(run, batch_files, copies) for run, batch_files, _, copies in read]


def _not_records(files: list[FileLines]) -> str:
    """The lines that are not a record each: blank, header, and those continuing a record (a
    CSV field holding line breaks)."""
    blank, header = sum(f.blank for f in files), sum(f.header for f in files)
    continued = sum(f.continued for f in files)
    parts = [f"{blank} blank and {header} header line(s) are not records" if blank or header else "",
             f"{continued} line(s) continue a record begun on the line before" if continued else ""]
    return "; ".join(filter(None, parts))


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


def _recover(spark, spec: DatasetSpec, present: dict[str, list[LandedFile]], loaded: dict[str, str] | None):
    """Batches bronze holds but the audit does not know (a crash between the two writes): each
    is counted again from its files; one that reconciles is recorded as it is (its run and
    files' line counts returned), one that does not is to be written again (replacing what
    bronze holds of it)."""
    fqname, recovered, again = f"{BRONZE}.{spec.name}", [], []
    for batch_id, landed in sorted(present.items()):
        run, files, _, copies = _batch_records(spark, spec, batch_id, landed, loaded)
        try:
            _reconcile(fqname, files, _held_by_file(spark, fqname, [batch_id]), None)
        except AccountingError:
            again.append(batch_id)
            continue
        run.inserted = run.rows_read - run.duplicates
        copied = f"{len(copies)} file(s) not loaded, exact copies of files loaded before" if copies else ""
        run.detail = "; ".join(filter(None, ["already in bronze", copied]))
        recovered.append((run.finish(), files, copies))
    return recovered, again


def _loaded_fingerprints(file_log: FileLog, spec: DatasetSpec, done: set[str]) -> dict[str, str]:
    """Per fingerprint, the first path the file log holds with it among the done batches
    (a log entry of a batch the audit never finished is not loaded)."""
    loaded: dict[str, str] = {}
    for entry in file_log.of(spec.name).values():
        if entry.fingerprint and entry.batch_id in done and not entry.is_copy:
            loaded.setdefault(entry.fingerprint, entry.path)
    return loaded


def run_bronze(spark, settings: Settings, spec: DatasetSpec, selection: BatchFilter, ledger: Ledger,
               run_id: str, file_log: FileLog, on_result=None, on_notice=None,
               sharing: dict[str, FilePattern] | None = None) -> list[TableRun]:
    """Ingest every landing file in `selection` that bronze has not loaded (lakehouse.landing).

    A batch is done once the audit says so. A batch whose rows are in bronze but that the
    audit does not know (a crash between the two writes) is recorded, not written again, if
    it reconciles with its files (see _recover). Every file loaded goes to the file log."""
    fqname = f"{BRONZE}.{spec.name}"
    with timings.phase("plan"):
        tables.ensure_table(spark, settings, fqname, tables.bronze_schema(spec), partition_by=("_batch_id",),
                            comments=spec.column_comments)
        done = ledger.done(fqname)
        found, held = plan_landing(spark, settings, spec, selection, done, file_log, sharing)
        check_changed(spark, spec, found, held, file_log, run_id)
        # A table never written holds no batch: the query (about a second, even of an empty
        # table) is skipped. Any other may hold one a crash left unaudited, of any age.
        present = batches_with_rows(spark, fqname, sorted(found.batches)) if found.batches and not (
            tables.never_written(spark, fqname)) else {}
        skips_copies = spec.mode == "append" and spec.source.copies == "skip"
        loaded = _loaded_fingerprints(file_log, spec, done) if skips_copies else None
        recovered, again = _recover(spark, spec, {b: found.batches[b] for b in present}, loaded)
    written = ingest_batches(spark, spec, {b: landed for b, landed in found.batches.items()
                                           if b not in present or b in again}, loaded, replaces=bool(again))
    results = sorted(recovered + written, key=lambda pair: pair[0].batch_id)
    for run, *_ in results:
        late = [f for f in found.batches[run.batch_id] if f.batch != run.batch_id]
        if late:
            run.detail = "; ".join(filter(None, [run.detail, f"{len(late)} file(s) landed late for loaded batch(es) "
                                                 + ", ".join(sorted({f.batch for f in late}))]))
    if results:
        ledger.record([run for run, *_ in results], run_id)
    by_path = {f.path: f for landed in found.batches.values() for f in landed}
    for run, files, copies in results:
        for counted in files:
            file_log.record(spec.name, by_path[counted.path], run.batch_id, counted.records, counted.fingerprint,
                            "loaded", run_id)
        for c in copies:
            file_log.record(spec.name, by_path[c.counted.path], run.batch_id, c.counted.records,
                            c.counted.fingerprint, f"{COPY_OF}{c.of}", run_id)
            if on_notice:
                on_notice(f"not loaded: {c.counted.path} holds the same lines as {c.of}, loaded before; "
                          f"{spec.name} appends every record, so a copy would count its {c.counted.records} twice "
                          "(source.copies: load loads copies)")
    arrival = not spec.source.file_pattern.names_day  # a drop folder: the batch is the run's
    for f in found.waiting:
        if on_notice:
            why = (f"arrived in a run of batch {f.batch}, not after every batch loaded" if arrival
                   else f"landed after batch {f.batch} was loaded")
            on_notice(f"waiting: {f.path} {why}: it loads with the next batch of {spec.name} to land")
    for run, *_ in results:
        if on_result:
            on_result(run)
    return [run for run, *_ in results]


def reingest_files(spark, spec: DatasetSpec, chosen: dict[str, list[LandedFile]],
                   logged: dict[str, int]) -> list[tuple[TableRun, list]]:
    """Landing files read again on purpose (lakehouse reprocess --file): what bronze holds of
    each is replaced by what the file holds now, in one commit, each file in the batch that
    loaded it. `logged` is the records the file log says each file held when loaded. Returns
    per batch a run of layer reprocess (its records read and inserted; the records replaced in
    its detail) and its files' line counts."""
    fqname = f"{BRONZE}.{spec.name}"
    paths = {b: [f.path for f in files] for b, files in chosen.items()}
    replaced = reduce(lambda a, b: a | b, [(F.col("_batch_id") == b) & F.col("_source_file").isin(p)
                                           for b, p in sorted(paths.items())])
    before = _held_by_file(spark, fqname, sorted(chosen))
    for path in (p for batch_paths in paths.values() for p in batch_paths):
        if logged.get(path, 0) and not before.get(path):  # its records are in bronze under another path
            raise LandingError(f"{path}: the file log says it loaded {logged[path]} record(s), but {fqname} holds "
                                 "none under this path (the landing path moved since?); reading it again would "
                                 "load its records twice, so nothing was written")
    read, parts = [], []
    for batch_id, files in sorted(chosen.items()):
        run = TableRun(REPLAY, fqname, batch_id)
        counted = []
        for f in files:
            lines, records = read_file(spark, spec, f.path)
            counted.append(lines)
            run.rows_read += lines.records
            parts.append(records.withColumn("_source_file", F.lit(f.path)).withColumn("_batch_id", F.lit(batch_id)))
        held = sum(before.get(p, 0) for p in paths[batch_id])
        run.detail = "; ".join(filter(None, [f"{len(files)} file(s) read again, in place of the {held} record(s) "
                                             "bronze held of them", _not_records(counted)]))
        read.append((run, counted))
    schema = tables.bronze_schema(spec)
    out = reduce(DataFrame.unionByName, parts).withColumn("_ingested_at", F.current_timestamp())
    version = tables.current_version(spark, fqname)
    with gone_when_read(spark, spec, [p for batch_paths in paths.values() for p in batch_paths]):
        out.select(*schema.fieldNames()).writeTo(fqname).overwrite(replaced)
    commit = tables.commit_since(spark, fqname, version) or {"version": version, "metrics": {}}
    now = _held_by_file(spark, fqname, sorted(chosen))
    _reconcile(fqname, [f for _, files in read for f in files],
               {p: now.get(p, 0) for batch_paths in paths.values() for p in batch_paths},
               None)  # numOutputRows also counts the rows the overwrite copied from files it rewrote
    for run, _ in read:
        run.inserted, run.delta_version = run.rows_read, commit["version"]
    finish_together([run for run, _ in read])
    return read
