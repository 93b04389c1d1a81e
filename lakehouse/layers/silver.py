"""Silver: typed, validated, deduplicated; MERGE upsert (SCD1) or history (SCD2).

All pending batches of a dataset are planned together, as if applied oldest first, and
written in one MERGE (one atomic Delta commit; an append, into a table that holds no row).
Then their quarantine rows (replaced per batch, so a retry does not double them), then one
audit record per batch, which marks it done. A crash anywhere leaves silver at a committed
version; the retry re-plans against it, and batches already merged come out as all superseded.

A replay (`lakehouse reprocess`, lakehouse.layers.reprocess) goes the same way for the
records one rule quarantined: judged again, merged, and their quarantine rows replaced by
what still fails, with an audit record of layer `reprocess` per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from functools import partial, reduce
from datetime import date, datetime, timedelta
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import rules, runlog, tables, timings
from lakehouse.config import BRONZE, SILVER, Settings
from lakehouse.errors import AccountingError, ExpectationFailed, LakehouseError, SchemaDriftError
from lakehouse.ledger import Ledger
from lakehouse.quality import checks as Q
from lakehouse.quality import disputes as D
from lakehouse.quality.gate import QualityGate
from lakehouse.runs import REPLAY, BatchFilter, TableRun, finish_together
from lakehouse.specs import Catalog, DatasetSpec
from lakehouse.transforms import silver as T


def _count_fates(runs: dict[str, TableRun], classified, spec: DatasetSpec) -> dict[str, int]:
    """Every batch's fate, rule and warning counts; returns per expectation rule the parsed
    records the router found breaking it (what GX must find too). One Spark job."""
    rows = T.fate_summary(classified, spec).collect()
    warn_rules = T.warn_rule_names(spec)
    for row in rows:
        run, fate, n = runs[row["_batch_id"]], row["_fate"], row["n"]
        if fate == T.QUARANTINE:
            run.quarantined += n
            run.quarantined_by_rule[row["_rule"]] = n
        elif fate == T.DROP:
            run.dropped += n
        elif fate == T.FAIL:
            run.failed += n
        elif fate == T.DUPLICATE:
            run.duplicates += n
        elif fate == T.SUPERSEDED:
            run.superseded += n
        for i, name in enumerate(warn_rules):
            if row[f"w{i}"]:
                run.warnings[name] = run.warnings.get(name, 0) + row[f"w{i}"]
    return T.summary_violations(rows, spec)


def _raise_failure(classified, spec: DatasetSpec, docs_page: str | None) -> None:
    row = classified.where(F.col("_fate") == T.FAIL).groupBy("_batch_id", "_rule", "_source_file").agg(
        F.count("*").alias("n"), F.first("_reason").alias("reason")
    ).orderBy("_batch_id", "_rule").limit(1).collect()[0]
    where = f"silver.{spec.name} batch {row['_batch_id']}: {row['n']} record(s) in {row['_source_file']}"
    if row["_rule"] == "schema_drift":
        raise SchemaDriftError(f"{where} drifted from the spec: {row['reason']}; "
                               "bronze keeps them, silver refuses (schema_drift: fail); nothing was written")
    raise ExpectationFailed(f"{where} broke fail expectation {row['_rule']} ({row['reason']}); nothing was written"
                            + (f"; validation: {docs_page}" if docs_page else ""))


def _references(spark, settings: Settings, catalog: Catalog, spec: DatasetSpec, through: str | None,
                ledger: Ledger) -> dict:
    """Per foreign key, the referenced silver table, once it has applied every delivery of its
    own that has arrived (landed or in bronze) up to batch `through` (all of them when None):
    otherwise an order of a customer who arrived the same day would look orphaned. A dataset
    that lands once, or rarely, has nothing pending on the other days, so it is simply
    referenced as it is. (A run applies a referenced dataset's late batches first: see
    pipeline._run_layers.)"""
    from lakehouse.layers.discovery import landing_batches

    refs = {}
    for e in spec.expectations:
        referenced = rules.of(e).referenced(e)
        if referenced:
            dataset, column = referenced
            until = BatchFilter(end=date.fromisoformat(through) + timedelta(days=1)) if through else BatchFilter()
            loaded = ledger.done(f"{BRONZE}.{dataset}")
            landed = set(landing_batches(spark, settings, catalog.datasets[dataset], until, loaded, missing_ok=True))
            in_bronze = {b for b in loaded if until.accepts(b)}
            behind = sorted((landed | in_bronze) - ledger.done(f"{SILVER}.{dataset}"))
            table = f"{SILVER}.{dataset}"
            if behind or not spark.catalog.tableExists(table):
                where = (f"its batch {behind[0]} ({'in bronze' if behind[0] in in_bronze else 'landed'}), "
                         if behind else "no batch yet, ")
                raise LakehouseError(
                    f"{SILVER}.{spec.name}: foreign key {e.name} references {dataset}, which has not applied {where}"
                    f"so its keys cannot be judged; run {dataset} first; nothing was written")
            refs[e.name] = spark.table(table).select(column)
    return refs


def _batch_changes(spec: DatasetSpec, runs: dict[str, TableRun], ledger: Ledger) -> dict[str, float | None]:
    """Each batch's relative row-count change from the batch before it (done or pending)."""
    if not any(rules.of(e).uses_batch_rows for e in spec.expectations):
        return {}
    rows = {**ledger.rows_read(f"{SILVER}.{spec.name}"), **{b: r.rows_read for b, r in runs.items()}}
    ordered = sorted(rows)
    changes = {}
    for b in runs:
        previous = rows[ordered[ordered.index(b) - 1]] if ordered.index(b) > 0 else 0
        changes[b] = rows[b] / previous - 1 if previous else None
    return changes


def _evidence(spark, spec: DatasetSpec, batch_ids: list[str], ledger: Ledger, references: dict) -> Q.Evidence:
    """What GX judges the derived rules against, gathered apart from the router's inputs: the
    referenced tables (GX joins them itself) and, for a row-count change, the records of every
    batch silver has applied or is applying, counted again in bronze (the router takes them
    from the audit)."""
    rows = {}
    if any(rules.of(e).uses_batch_rows for e in spec.expectations):
        known = sorted(ledger.done(f"{SILVER}.{spec.name}") | set(batch_ids))
        # Each pending batch and the one before it: a count per batch, not of the whole history.
        needed = set(batch_ids) | {known[known.index(b) - 1] for b in batch_ids if known.index(b)}
        # A batch bronze holds no rows of (an append dataset's batch of copies only) is a batch
        # of 0 records, as the audit has it, not a batch that is not there.
        rows = {b: 0 for b in needed} | {r["_batch_id"]: r["count"] for r in spark.table(f"{BRONZE}.{spec.name}")
                                         .where(F.col("_batch_id").isin(sorted(needed))).groupBy("_batch_id").count()
                                         .collect()}
    return Q.Evidence(references=references, batch_rows=rows)


def _validate(gate: QualityGate, classified, spec: DatasetSpec, scope: str,
              routed: dict[str, int], evidence: Q.Evidence, log: Path, layer: str = "silver") -> str | None:
    """GX judges the parsed records; its counts must equal the rows the router gives each
    rule's action, or the run stops: the validation of record and what lands agree."""
    fqname = f"{SILVER}.{spec.name}"
    checks = Q.silver_checks(spec)
    frame = Q.judged(classified.where(T.is_parsed()), checks, evidence)
    validation = gate.validate(layer, fqname, scope, frame, checks)
    judged = validation.unexpected()
    if routed != judged:
        rule = next(r for r in routed if routed[r] != judged.get(r))
        check = next(c for c in checks if c.rule == rule)
        raise _disagreement(gate, fqname, frame, spec, check, (routed[rule], judged.get(rule)), log)
    return validation.docs_page


SHOWN_DISPUTES = 5


def _disagreement(gate: QualityGate, fqname: str, frame, spec: DatasetSpec, check: Q.Check,
                  counts: tuple[int, int | None], log: Path) -> AccountingError:
    """Say where the judges disagree: the values of the rule's column each finds breaking it,
    a few in the error and all in the run log. Computed only here (a Spark job and GX's
    COMPLETE result), never on a run where they agree."""
    violated = next(r.violated for r in T.rules(spec) if r.name == check.rule)
    router = [row[0] for row in frame.where(violated).select(F.col(f"`{check.column}`")).distinct().collect()]
    listed = D.disputes(router, gate.unexpected_values(fqname, frame, [check])[check.rule])
    where = f"{fqname}: rule {check.rule}, column {check.column}"
    runlog.append(log, [f"{where}: {len(listed)} value(s) judged differently", *(f"{where}: {d}" for d in listed)])
    shown = "; ".join(str(d) for d in listed[:SHOWN_DISPUTES]) or "no single value judged differently"
    return AccountingError(
        f"{fqname}: Great Expectations found {counts[1]} record(s) breaking {check.rule}, the router {counts[0]}; "
        f"column {check.column}, {min(len(listed), SHOWN_DISPUTES)} of {len(listed)} disputed value(s): {shown}; "
        f"every one in the run log {log}; nothing was written")


def _quarantine_held(spark, dataset: str, batch_ids: list[str]) -> dict[str, int]:
    """Per batch, the rows ops.quarantine holds of the dataset."""
    return {r["batch_id"]: r["count"] for r in spark.table(tables.QUARANTINE_TABLE)
            .where((F.col("dataset") == dataset) & F.col("batch_id").isin(batch_ids)).groupBy("batch_id").count()
            .collect()}


def _quarantine_holds(spark, dataset: str, batch_ids: list[str], query: bool = True) -> bool | None:
    """Whether ops.quarantine holds rows of the batches (an earlier attempt's, to replace):
    from the files its checksum lists (tables.partitions_hold_files), else by a query, or
    without `query` None (not known)."""
    partitions = {"dataset": {dataset}, "batch_id": set(batch_ids)}
    held = tables.partitions_hold_files(spark, tables.QUARANTINE_TABLE, partitions)
    return bool(_quarantine_held(spark, dataset, batch_ids)) if held is None and query else held


def _reconcile_quarantine(spark, dataset: str, runs: dict[str, TableRun], kept: dict[str, int], before: int,
                          appended: bool) -> None:
    """The quarantine rows each batch has after the write (which made the version after
    `before`; `appended`: an append to batches that held none): those the write kept (a
    replay's other rules) and those the run quarantined. Counted from the record counts of the
    files the write added, in its commit (Delta answers a plain count of a table from them
    too); by a query of ops.quarantine, which rebuilds its snapshot and runs four Spark jobs,
    only when the log cannot tell (tables.replaced_partition_rows)."""
    held = tables.replaced_partition_rows(spark, tables.QUARANTINE_TABLE, before, {"dataset": dataset}, "batch_id",
                                          appended)
    if held is None:
        held = _quarantine_held(spark, dataset, list(runs))
    for batch_id, run in runs.items():
        expected = kept.get(batch_id, 0) + run.quarantined
        if held.get(batch_id, 0) != expected:
            raise AccountingError(f"{SILVER}.{dataset} batch {batch_id}: {run.quarantined} record(s) were quarantined "
                                  f"but ops.quarantine holds {held.get(batch_id, 0) - kept.get(batch_id, 0)} "
                                  "of them")


def _merge(spark, fqname: str, planned, spec: DatasetSpec, batch_ids: list[str],
           replay: Replay | None) -> tuple[int | None, dict[str, int]]:
    """Write the plan in one MERGE (or append); check Delta's own counts against it; return the version
    and, per batch, the rows it removed that no record of the plan deleted (see below).

    The MERGE's source is not persisted here: Delta materialises a source with joins and
    windows itself before reading it twice (merge.materializeSource, in memory: see
    lakehouse.spark; an insert-only MERGE reads it once), so a persisted copy was a third one.
    The counts are computed from `planned`, which is persisted (nothing between the two is
    non-deterministic).

    An append dataset's files read again replace what silver held of them (their records as
    read before): those rows are deleted in the same MERGE.

    A plan of inserts alone into a table that holds no row (a history load) is an append
    (tables.append_as_table): its commit is reconciled the same way."""
    removed: dict[str, int] = {}
    into_empty = tables.never_written(spark, fqname)
    if spec.mode == "append":
        rows = planned.where(F.col("_change") == T.INSERT)
        expected = {"numTargetRowsInserted": rows.count()}
        replaced = T.read_before(replay.files, replay.read_at, "t") if replay and replay.files else None
        if replaced is not None:
            removed = {r["_batch_id"]: r["count"] for r in spark.table(fqname).alias("t").where(replaced)
                       .groupBy("_batch_id").count().collect()}
            expected["numTargetRowsDeleted"] = sum(removed.values())

        def write(spark, fqname, rows, spec):
            tables.merge_append(spark, fqname, rows, spec, batch_ids, replaced, into_empty)
    elif spec.scd == 2:
        rows = T.versions_scd2(planned, spec)
        kinds = {r["_kind"]: r["count"] for r in rows.groupBy("_kind").count().collect()}
        expected = {"numTargetRowsInserted": kinds.get("version", 0), "numTargetRowsUpdated": kinds.get("close", 0)}
        write = partial(tables.merge_scd2, inserts_only=not kinds.get("close"),
                        into_empty=into_empty and not kinds.get("close"))
    else:
        rows = T.final_scd1(planned, spec)
        finals = {r["_final"]: r["count"] for r in rows.groupBy("_final").count().collect()}
        expected = {"numTargetRowsInserted": finals.get(T.INSERT, 0), "numTargetRowsUpdated": finals.get(T.UPDATE, 0),
                    "numTargetRowsDeleted": finals.get(T.DELETE, 0)}
        inserts_only = set(finals) == {T.INSERT}
        write = partial(tables.merge_scd1, inserts_only=inserts_only, into_empty=into_empty and inserts_only)
    if not any(expected.values()):
        return None, removed
    before = tables.current_version(spark, fqname)
    write(spark, fqname, rows, spec)
    commit = tables.commit_since(spark, fqname, before) or {"operation": "no commit", "metrics": {}}
    appended = commit["operation"] == "WRITE" and into_empty and not any(
        n for k, n in expected.items() if k != "numTargetRowsInserted")
    if commit["operation"] != "MERGE" and not appended:
        raise AccountingError(f"{fqname}: the plan was {expected} but the table has no new MERGE commit "
                              f"(operation {commit['operation']})")
    _reconcile(spark, fqname, commit["version"], expected)
    metrics = {"numTargetRowsInserted": commit["metrics"].get("numOutputRows", 0)} if appended else commit["metrics"]
    actual = {k: metrics.get(k, 0) for k in expected}
    if actual != expected:  # Delta's own count of the MERGE, a second opinion
        raise AccountingError(f"{fqname}: the {commit['operation']} wrote {actual}, the plan was {expected}")
    return commit["version"], removed


def _reconcile(spark, fqname: str, version: int, expected: dict[str, int]) -> None:
    """What the table holds after the MERGE (or append), counted from the table, against the plan: the
    rows the commit inserted, updated and deleted, counted in the change data it wrote (not
    taken from the plan, nor from the MERGE's own metrics). One Spark job over one commit."""
    changes = tables.committed_changes(spark, fqname, version)
    held = {"numTargetRowsInserted": changes.get("insert", 0),
            "numTargetRowsUpdated": changes.get("update_postimage", 0),
            "numTargetRowsDeleted": changes.get("delete", 0)}
    if {k: held[k] for k in expected} != expected:
        raise AccountingError(f"{fqname} v{version}: the table holds {held} changed rows after the commit; "
                              f"the plan was {expected}")


@dataclass(frozen=True)
class Replay:
    """Bronze records applied again (lakehouse.layers.reprocess), `counts` per batch: those one
    rule quarantined (`rule`, and `records`: their ops.quarantine rows' batch_id, source_file
    and raw), or every record of landing files re-ingested on purpose (`files`: per batch,
    their paths as bronze names them)."""

    counts: dict[str, int]
    rule: str | None = None
    records: DataFrame | None = None
    files: dict[str, list[str]] | None = None
    read_at: str | None = None  # when bronze read the files again (transforms.silver.READ_AT_FORMAT)

    @property
    def what(self) -> str:
        return self.rule or "files " + ", ".join(p for paths in self.files.values() for p in paths)

    def of_files(self, batch: str = "_batch_id", path: str = "_source_file"):
        """True for a row of the re-ingested files (named by these columns)."""
        return reduce(lambda a, b: a | b, [(F.col(batch) == b) & F.col(path).isin(paths)
                                           for b, paths in sorted(self.files.items())])


def _bronze_records(spark, spec: DatasetSpec, batch_ids: list[str], references: dict, changes: dict,
                    replay: Replay | None):
    """The batches' bronze records, classified; for a replay only those the rule quarantined
    (the same batch, file and raw text) or those of the re-ingested files, judged without the
    rules about whole batches."""
    bronze = spark.table(f"{BRONZE}.{spec.name}").where(F.col("_batch_id").isin(batch_ids))
    if replay is None:
        return T.classify(bronze, spec, references, changes)
    if replay.files:
        return T.classify(bronze.where(replay.of_files()), spec, references, {})
    quarantined = replay.records.select(F.col("batch_id").alias("_batch_id"),
                                        F.col("source_file").alias("_source_file"), F.col("raw").alias("_raw"))
    return T.classify(bronze, spec, references, {}).join(
        quarantined, ["_batch_id", "_source_file", "_raw"], "left_semi")


def apply_batches(spark, settings: Settings, catalog: Catalog, spec: DatasetSpec, batch_ids: list[str], run_id: str,
                  ledger: Ledger, gate: QualityGate, replay: Replay | None = None) -> list[TableRun]:
    fqname = f"{SILVER}.{spec.name}"
    runs = {b: TableRun(REPLAY if replay else "silver", fqname, b) for b in batch_ids}
    references = _references(spark, settings, catalog, spec, None if replay else max(batch_ids), ledger)
    if replay:
        # A replay judges records, not batches: the batch's row count was judged when it landed.
        spec = spec.model_copy(update={"expectations": [e for e in spec.expectations if not rules.of(e).table_level]})
        for b in batch_ids:
            runs[b].rows_read = replay.counts[b]
    else:
        for row in spark.table(f"{BRONZE}.{spec.name}").where(F.col("_batch_id").isin(batch_ids)) \
                .groupBy("_batch_id").count().collect():
            runs[row["_batch_id"]].rows_read = row["count"]
    classified = _bronze_records(spark, spec, batch_ids, references,
                                 {} if replay else _batch_changes(spec, runs, ledger), replay)
    classified = classified.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        if replay and replay.rule:
            _found_in_bronze(classified, spec, replay)
        with timings.phase("classify"):
            routed = _count_fates(runs, classified, spec)
        if replay and replay.rule and all(r.quarantined_by_rule == {replay.rule: r.rows_read} for r in runs.values()):
            return []  # every record still breaks the rule: nothing to write
        evidence = _evidence(spark, spec, batch_ids, ledger, references)
        scope = (f"{REPLAY} {replay.what} in run {run_id}: " if replay else "") + "batches " + ",".join(batch_ids)
        docs_page = _validate(gate, classified, spec, scope, routed, evidence, runlog.path(settings, run_id),
                              layer=REPLAY if replay else "silver")
        if any(r.failed for r in runs.values()):
            _raise_failure(classified, spec, docs_page)

        with timings.phase("plan"):
            planned = _plan(spark, fqname, spec, classified, runs, replay, ledger).persist(StorageLevel.MEMORY_AND_DISK)
            changes = planned.groupBy("_batch_id", "_change", "_absent").agg(
                F.count("*").alias("count"), F.sum(F.col("_marks").cast("long")).alias("marks")).collect()
        marks = 0
        for row in changes:
            run = runs[row["_batch_id"]]
            marks += row["marks"] or 0
            if row["_absent"]:  # no record: a key the snapshot lacks, deleted (or already gone)
                if row["_change"] == T.DELETE:
                    run.detail = "; ".join(filter(None, [run.detail, f"{row['count']} key(s) absent from the "
                                                                     "snapshot deleted"]))
                continue
            attr = {T.INSERT: "inserted", T.UPDATE: "updated", T.DELETE: "deleted"}.get(row["_change"], "superseded")
            setattr(run, attr, getattr(run, attr) + row["count"])
        for run in runs.values():
            run.check_closed()
        try:
            # Taken before silver's MERGE, which drops every cached plan that read silver: planned
            # read again afterwards would plan against the new silver (a snapshot's absent keys
            # are gone from it, and with them their deletes).
            markers = T.new_markers(planned, spec).localCheckpoint() if marks else None
            with timings.phase("merge"):
                version, removed = _merge(spark, fqname, planned, spec, batch_ids, replay)
            for batch_id, n in removed.items():
                runs[batch_id].detail = "; ".join(filter(None, [runs[batch_id].detail, f"{n} record(s) the files "
                                                                "held when read before removed"]))
            if markers is not None:
                # After silver's MERGE: written first, a marker would make the retry of a crash
                # between the two take the delete for superseded and keep the row.
                with timings.phase("delete markers"):
                    none_yet = tables.partitions_hold_files(spark, tables.DELETE_MARKERS_TABLE,
                                                            {"dataset": {spec.name}}) is False
                    tables.merge_delete_markers(spark, spec, markers.select(
                        F.lit(spec.name).alias("dataset"), "*", F.lit(run_id).alias("run_id"),
                        F.current_timestamp().alias("marked_at")), T.normalized_marker_key_sql("t.key", spec),
                        into_empty=none_yet)
        finally:
            planned.unpersist()
        for run in runs.values():
            run.delta_version = version
        finish_together(list(runs.values()))
        with timings.phase("quarantine"):
            _write_quarantine(spark, spec, classified, runs, run_id, replay)
    finally:
        classified.unpersist()
    return [runs[b] for b in batch_ids]


def _plan(spark, fqname: str, spec: DatasetSpec, classified, runs: dict[str, TableRun], replay: Replay | None,
          ledger: Ledger):
    """What each candidate does to silver (transforms.silver.plan_changes, or plan_appends)."""
    cands = T.candidates(classified, spec)
    if spec.mode == "append":
        unplaced = classified.where(F.col("_position").isNull()).select("_batch_id").limit(1).collect()
        if unplaced:  # their arrival, each record's identity, would tie within a file
            raise LakehouseError(
                f"{fqname}: bronze holds records of batch {unplaced[0][0]} loaded before bronze kept each record's "
                "place in its file, so an append dataset cannot tell equal ones apart: load the dataset under a new "
                "name, or keep it an upsert dataset")
        return T.plan_appends(cands, spark.table(fqname).where(F.col("_batch_id").isin(list(runs))))
    late = None
    if spec.mode == "snapshot":
        cands, late = _snapshot_candidates(spark, fqname, spec, classified, cands, runs, replay, ledger)
    state = (T.target_state_scd2 if spec.scd == 2 else T.target_state_scd1)(spark.table(fqname), spec)
    # Read whether or not the spec has a CDC column now: deletes it recorded still count. None
    # when the dataset has none (most have no deletes): the plan then neither reads nor joins them.
    markers = None
    if tables.partitions_hold_files(spark, tables.DELETE_MARKERS_TABLE, {"dataset": {spec.name}}) is not False:
        markers = T.marker_state(spark.table(tables.DELETE_MARKERS_TABLE).where(F.col("dataset") == spec.name), spec)
    planned = T.plan_changes(cands, state, spec, markers)
    return planned if late is None else planned.unionByName(T.late_snapshot(late), allowMissingColumns=True)


def _snapshot_candidates(spark, fqname: str, spec: DatasetSpec, classified, cands, runs: dict[str, TableRun],
                         replay: Replay | None, ledger: Ledger):
    """A snapshot dataset's candidates to plan, with the deletes of the keys each batch lacks
    (transforms.silver.absent_keys), and apart, those of snapshots older than the newest batch
    silver applied (superseded whole). A batch with a record whose key cannot be read deletes
    nothing for being absent, and its run's detail says why; a replay applies some records of
    a batch, not its snapshot, so it deletes nothing either."""
    latest = max(ledger.done(fqname), default="")
    late = cands.where(F.col("_batch_id") < latest)
    current = [b for b in runs if b >= latest]
    if replay or not current:
        return cands.where(F.col("_batch_id") >= latest), late
    keyless = {r["_batch_id"]: r["count"] for r in classified.where(T.keyless(spec) & F.col("_batch_id").isin(current))
               .groupBy("_batch_id").count().collect()}
    for batch_id, n in keyless.items():
        runs[batch_id].detail = (f"{n} record(s) without a readable key: the snapshot cannot tell which keys it "
                                 "lacks, so none was deleted for being absent")
    empty = [b for b in current if not runs[b].rows_read]
    for batch_id in empty:  # a header alone is likelier a failed export than an empty table
        runs[batch_id].detail = "the snapshot holds no records: none was deleted for being absent"
    complete = [b for b in current if b not in keyless and b not in empty]
    absent = T.absent_keys(classified, spark.table(fqname), spec, current, complete)
    return cands.where(F.col("_batch_id") >= latest).unionByName(absent), late


def _found_in_bronze(classified, spec: DatasetSpec, replay: Replay) -> None:
    """Every quarantined record the replay looks for is found in bronze, once: counted on both
    sides. They differ when bronze lost a batch, or when the spec's columns changed since the
    records were quarantined (a parsed record's raw text is its fields as the spec names them)."""
    found = {r["_batch_id"]: r["count"] for r in classified.groupBy("_batch_id").count().collect()}
    for batch_id, n in sorted(replay.counts.items()):
        if found.get(batch_id, 0) != n:
            raise AccountingError(
                f"{SILVER}.{spec.name} batch {batch_id}: ops.quarantine holds {n} record(s) of rule {replay.rule}, "
                f"bronze {found.get(batch_id, 0)} of them (same file and raw text); did the spec's columns change "
                "since they were quarantined? nothing was written")


def _write_quarantine(spark, spec: DatasetSpec, classified, runs: dict[str, TableRun], run_id: str,
                      replay: Replay | None) -> None:
    """The batches' quarantine rows, always replaced, so a retried batch never keeps rows of an
    earlier attempt (appended where the batches hold none: tables.append_as_table says why). A
    replay replaces its rule's rows (or its files') with what still fails and keeps the others:
    one commit either way."""
    batch_ids = list(runs)
    quarantined = any(r.quarantined for r in runs.values())
    # None: not known (the checksum lists no files), so replaced; asked by a query only when
    # nothing was quarantined, to know whether anything is to be written at all.
    held = True if replay else _quarantine_holds(spark, spec.name, batch_ids, query=not quarantined)
    if not quarantined and not held:
        return
    rows = classified.where(F.col("_fate") == T.QUARANTINE).select(
        F.lit(spec.name).alias("dataset"), F.col("_batch_id").alias("batch_id"), F.col("_rule").alias("rule"),
        F.col("_reason").alias("reason"), F.col("_raw").alias("raw"),
        F.col("_source_file").alias("source_file"), F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("quarantined_at"),
    )
    kept, metadata = {}, None
    if replay:
        replayed = (F.col("rule") == replay.rule) if replay.rule else replay.of_files("batch_id", "source_file")
        others = spark.table(tables.QUARANTINE_TABLE).where(
            (F.col("dataset") == spec.name) & F.col("batch_id").isin(batch_ids) & ~replayed)
        kept = {r["batch_id"]: r["count"] for r in others.groupBy("batch_id").count().collect()}
        rows = others.unionByName(rows)
        # This commit lets the records out of quarantine: it carries their audit records, so
        # a replay that dies before writing them leaves them to the next (see reprocess).
        metadata = replay_commit_metadata([r.audit_record(run_id) for r in runs.values()])
    before = tables.current_version(spark, tables.QUARANTINE_TABLE)
    tables.replace_quarantine(spark, rows, spec.name, batch_ids, metadata, held=held is not False)
    _reconcile_quarantine(spark, spec.name, runs, kept, before, appended=held is False)


REPLAY_METADATA = "lakehouse-replay:"


def replay_commit_metadata(records: list[dict]) -> str:
    return REPLAY_METADATA + json.dumps(records, default=lambda v: v.isoformat())


def audit_records_of(metadata: str | None) -> list[dict] | None:
    """The audit records a replay's quarantine commit carries, or None if it is no such commit."""
    if not metadata or not metadata.startswith(REPLAY_METADATA):
        return None
    records = json.loads(metadata.removeprefix(REPLAY_METADATA))
    for r in records:
        r["started_at"] = datetime.fromisoformat(r["started_at"])
    return records


def run_silver(spark, settings: Settings, catalog: Catalog, spec: DatasetSpec, selection: BatchFilter,
               ledger: Ledger, run_id: str, gate: QualityGate, on_result=None) -> list[TableRun]:
    """Apply every bronze batch in `selection` that silver has not applied yet."""
    fqname = f"{SILVER}.{spec.name}"
    tables.ensure_table(spark, settings, fqname, tables.silver_schema(spec), merge_target=True,
                        comments=spec.column_comments, properties={tables.MODE_PROPERTY: spec.mode})
    landed = ledger.done(f"{BRONZE}.{spec.name}")
    pending = sorted(b for b in landed - ledger.done(fqname) if selection.accepts(b))
    if not pending:
        return []
    results = apply_batches(spark, settings, catalog, spec, pending, run_id, ledger, gate)
    with timings.phase("audit"):
        ledger.record(results, run_id)
    for run in results:
        if on_result:
            on_result(run)
    return results
