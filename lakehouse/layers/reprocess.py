"""Bronze records applied again, on purpose (`lakehouse reprocess`):

- quarantined records, once what they lacked is there: orders quarantined by
  `customer_exists` land when the customers they name have arrived, records a rule held back
  land after the spec's rule changed. `lakehouse reprocess orders --rule customer_exists`;
- landing files read again (`lakehouse reprocess orders --file 2026-01-03/orders.csv`): a
  file that changed after it was loaded (a source's corrected export under the same name),
  which a run refuses, loads as it is now in place of what it held (reingest_files).

For quarantined records:

The records are the ones ops.quarantine holds for the rule, found again in bronze (same
batch, file and raw text), judged by every rule of today's spec and merged as silver merges
a batch (lakehouse.layers.silver, Replay): a newer version of a key already in silver
supersedes a replayed older one. What still fails stays quarantined, with its reason. Each
batch holding such records gets an audit record of layer `reprocess` whose accounting
closes: every replayed record inserted, updated, deleted, superseded, a duplicate, dropped or
quarantined again. A replay that would change nothing writes nothing, so it can be rerun.

Crashes: the MERGE, then one ops.quarantine commit that lets the records out and carries
their audit records, then the audit. A replay that dies after the MERGE is redone whole (its
merged records then count as superseded, as a retried silver batch's do); one that dies
after the quarantine commit has its audit records appended by the next replay.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.config import BRONZE, SILVER, Settings
from lakehouse.errors import LakehouseError
from lakehouse.file_log import FileLog
from lakehouse.landing import LandedFile
from lakehouse.layers.bronze import reingest_files as reingest_in_bronze
from lakehouse.layers.discovery import landed_files
from lakehouse.layers.silver import Replay, apply_batches, audit_records_of
from lakehouse.ledger import Ledger
from lakehouse.quality.gate import QualityGate
from lakehouse.runs import REPLAY, TableRun
from lakehouse.specs import Catalog
from lakehouse.transforms import silver as T


@dataclass
class Replayed:
    """What a replay found and did: the records of the rule it found (or of the files it read
    again), and one run per table and batch (none when every record still breaks the rule)."""

    dataset: str
    rule: str | None
    found: int = 0
    runs: list[TableRun] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # files as they were when last loaded or read: not read


def replay_quarantined(spark, settings: Settings, catalog: Catalog, dataset: str, rule: str, run_id: str,
                       ledger: Ledger, gate: QualityGate) -> Replayed:
    (spec,) = catalog.select([dataset])
    fqname = f"{SILVER}.{dataset}"
    tables.evolve_dataset(spark, spec)  # judged by today's spec, merged into tables that fit it
    _recover_audit(spark)
    held = spark.table(tables.QUARANTINE_TABLE).where(F.col("dataset") == dataset)
    quarantined = held.where(F.col("rule") == rule)
    counts = {r["batch_id"]: r["count"] for r in quarantined.groupBy("batch_id").count().collect()}
    replayed = Replayed(dataset, rule, sum(counts.values()))
    if not counts:
        rules = [r.name for r in T.rules(spec) if r.action == T.QUARANTINE]
        if rule not in rules:  # a typo, not a rule whose records were all let out already
            holding = sorted(r["rule"] for r in held.select("rule").distinct().collect())
            raise LakehouseError(f"{dataset} has no rule {rule!r} that quarantines, and ops.quarantine no records of "
                                 f"it (its rules that quarantine: {', '.join(rules)}; quarantined records are of: "
                                 f"{', '.join(holding) or 'none'})")
        return replayed
    unfinished = sorted(set(counts) - ledger.done(fqname))
    if unfinished:  # quarantined by a silver write whose batch did not complete
        raise LakehouseError(f"{fqname} has not completed batch {unfinished[0]}, which holds records {rule} "
                             f"quarantined; run {dataset} first; nothing was written")
    records = quarantined.select("batch_id", "source_file", "raw")
    replayed.runs = apply_batches(spark, settings, catalog, spec, sorted(counts), run_id, ledger, gate,
                                  Replay(counts, rule=rule, records=records))
    ledger.record(replayed.runs, run_id)
    return replayed


def _recover_audit(spark) -> None:
    """The audit records of a replay that let records out of quarantine and died before it
    recorded them, appended from that quarantine commit (it carries them): the records it
    released are accounted for, once."""
    recorded = {r["run_id"] for r in spark.table(tables.AUDIT_TABLE).where(F.col("layer") == REPLAY)
                .select("run_id").distinct().collect()}
    for metadata in tables.commit_metadata(spark, tables.QUARANTINE_TABLE):
        records = audit_records_of(metadata)
        if records and records[0]["run_id"] not in recorded:
            tables.append_audit(spark, records)
            recorded.add(records[0]["run_id"])


def reingest_files(spark, settings: Settings, catalog: Catalog, dataset: str, paths: list[str], run_id: str,
                   ledger: Ledger, gate: QualityGate) -> Replayed:
    """Landing files loaded before, read again as they are now: bronze's records of each are
    replaced by the file's (in the batch that loaded it, lakehouse.layers.bronze), then
    applied to silver as a replay of those files (judged by today's spec; a version applies
    as any record's does: newer by `ordering`, or, without it, it arrived later than what the
    file held before; an append dataset's rows of the files are replaced by their records
    now; a snapshot's keys are updated, none deleted for being absent), then the file log
    holds them as they are. Accounting closes per table and batch in audit records of layer
    reprocess. A replay that dies before the file log's commit is redone whole by running it
    again (the file log still holds the files as they were)."""
    (spec,) = catalog.select([dataset])
    bronze_table, silver_table = f"{BRONZE}.{dataset}", f"{SILVER}.{dataset}"
    tables.evolve_dataset(spark, spec)
    _recover_audit(spark)
    file_log = FileLog(spark)
    applied = ledger.done(bronze_table) & ledger.done(silver_table)
    chosen, unchanged = _chosen_files(spark, settings, spec, paths, file_log, applied)
    replayed = Replayed(dataset, None, files=[f.path for files in chosen.values() for f in files],
                        unchanged=unchanged)
    if not chosen:  # read again already, or never changed: a rerun changes nothing
        return replayed
    logged = file_log.of(dataset)
    loaded = {f.path: logged[f.path].records for batch_files in chosen.values() for f in batch_files}
    bronze = reingest_in_bronze(spark, spec, chosen, loaded)
    counts = {run.batch_id: run.rows_read for run, _ in bronze}
    replayed.found = sum(counts.values())
    files = {b: [f.path for f in batch_files] for b, batch_files in chosen.items()}
    held = spark.table(bronze_table).where(Replay(counts, files=files).of_files())
    # when bronze read them again; now when the files hold no record (bronze has none to date them)
    read_at = held.select(F.date_format(F.coalesce(F.max("_ingested_at"), F.current_timestamp()),
                                        T.READ_AT_FORMAT)).first()[0]
    silver = apply_batches(spark, settings, catalog, spec, sorted(counts), run_id, ledger, gate,
                           Replay(counts, files=files, read_at=read_at))
    replayed.runs = [run for run, _ in bronze] + silver
    ledger.record(replayed.runs, run_id)
    by_path = {f.path: (b, f) for b, batch_files in chosen.items() for f in batch_files}
    for _, counted in bronze:
        for lines in counted:
            batch_id, landed = by_path[lines.path]
            file_log.record(dataset, landed, batch_id, lines.records, lines.fingerprint, "reprocessed", run_id)
    file_log.flush()
    return replayed


def _chosen_files(spark, settings: Settings, spec, paths: list[str], file_log: FileLog,
                  done: set[str]) -> tuple[dict[str, list[LandedFile]], list[str]]:
    """The landing files named (by their path under the dataset's landing path, or whole), per
    batch that loaded them, but those of the size and modification time the file log holds
    (unchanged since they were loaded or last read again: listed apart); one line for a name
    that is none of its files or one not loaded."""
    root = settings.landing_location(spec.landing_folder)
    listed = landed_files(spark, settings, spec)
    by_name = {f.relative: f for f in listed} | {f.path: f for f in listed}
    logged = file_log.of(spec.name)
    chosen: dict[str, list[LandedFile]] = {}
    unchanged = []
    seen = set()
    for name in paths:
        whole = f"file:{os.path.normpath(name)}" if name.startswith("/") else name  # as listings write a path
        found = by_name.get(os.path.normpath(name)) or by_name.get(whole)
        if found is None:
            raise LakehouseError(f"{name}: no file of {spec.name} under {root} by that name (give its path under "
                                 "the landing path, as the run that refused it names it)")
        if found.path in seen:  # named twice (relative and whole): read once
            continue
        seen.add(found.path)
        entry = logged.get(found.path)
        if entry is None or entry.is_copy or entry.batch_id not in done:
            raise LakehouseError(f"{found.path}: {spec.name} has not loaded it, so there is nothing to read again: "
                                 "lakehouse run loads it")
        if (entry.size, entry.modified_ms) == (found.size, found.modified_ms):
            unchanged.append(found.path)
            continue
        chosen.setdefault(entry.batch_id, []).append(found)
    return chosen, unchanged
