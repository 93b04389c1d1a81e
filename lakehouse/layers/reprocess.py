"""Quarantined records applied again once what they lacked is there: orders quarantined by
`customer_exists` land when the customers they name have arrived, records a rule held back
land after the spec's rule changed. `lakehouse reprocess orders --rule customer_exists`.

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

from dataclasses import dataclass, field

from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.config import SILVER, Settings
from lakehouse.errors import LakehouseError
from lakehouse.layers.silver import Replay, apply_batches, audit_records_of
from lakehouse.ledger import Ledger
from lakehouse.quality.gate import QualityGate
from lakehouse.runs import REPLAY, TableRun
from lakehouse.specs import Catalog
from lakehouse.transforms import silver as T


@dataclass
class Replayed:
    """What a replay found and did: the records of the rule it found, and one run per batch
    (none when every record still breaks the rule)."""

    dataset: str
    rule: str
    found: int = 0
    runs: list[TableRun] = field(default_factory=list)


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
                                  Replay(rule, records, counts))
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
