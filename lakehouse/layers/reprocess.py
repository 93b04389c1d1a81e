"""Quarantined records applied again once what they lacked is there: orders quarantined by
`customer_exists` land when the customers they name have arrived, records a rule held back
land after the spec's rule changed. `lakehouse reprocess orders --rule customer_exists`.

The records are the ones ops.quarantine holds for the rule, found again in bronze (same
batch, file and raw text), judged by every rule of today's spec and merged as silver merges
a batch (lakehouse.layers.silver, Replay): a newer version of a key already in silver
supersedes a replayed older one. What still fails stays quarantined, with its reason. Each
batch gets an audit record of layer `reprocess` whose accounting closes: every replayed
record inserted, updated, deleted, superseded, a duplicate, dropped or quarantined again.
A replay that would change nothing writes nothing, so it can be rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.layers.silver import Replay, apply_batches
from lakehouse.ledger import Ledger
from lakehouse.quality.gate import QualityGate
from lakehouse.runs import TableRun
from lakehouse.specs import TABLE_RULES, Catalog


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
    held = spark.table(tables.QUARANTINE_TABLE).where(F.col("dataset") == dataset)
    quarantined = held.where(F.col("rule") == rule)
    counts = {r["batch_id"]: r["count"] for r in quarantined.groupBy("batch_id").count().collect()}
    replayed = Replayed(dataset, rule, sum(counts.values()))
    if not counts:
        row_rules = [e.name for e in spec.expectations if e.type not in TABLE_RULES]
        if rule not in row_rules:  # a typo, not a rule whose records were all replayed already
            holding = sorted(r["rule"] for r in held.select("rule").distinct().collect())
            raise LakehouseError(f"{dataset} has no rule {rule!r} and ops.quarantine no records of it "
                                 f"(its rules: {', '.join(row_rules) or 'none'}; quarantined records are of: "
                                 f"{', '.join(holding) or 'none'})")
        return replayed
    records = quarantined.select("batch_id", "source_file", "raw")
    replayed.runs = apply_batches(spark, settings, catalog, spec, sorted(counts), run_id, ledger, gate,
                                  Replay(rule, records, counts))
    ledger.record(replayed.runs, run_id)
    return replayed
