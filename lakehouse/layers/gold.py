"""Gold: business tables from the SQL in pipelines/gold, refreshed when silver changed.

Each build records the silver versions it read (in ops.audit). The next build:
- does nothing if no source moved (a rerun changes no table);
- for an incremental spec, reads the sources' Delta change feed since those versions,
  asks the spec's `touched_sql` which partitions that can affect, and recomputes only
  those;
- otherwise recomputes the whole table.
Either way it writes only the rows that differ (see tables.merge_by_difference).
"""

from __future__ import annotations

import hashlib

from pyspark.errors import AnalysisException

from lakehouse import tables
from lakehouse.config import GOLD, SILVER, Settings
from lakehouse.errors import AccountingError, ExpectationFailed, SpecError
from lakehouse.ledger import Ledger
from lakehouse.quality import checks as Q
from lakehouse.quality.gate import QualityGate
from lakehouse.runs import TableRun
from lakehouse.specs import GoldSpec


def spec_hash(spec: GoldSpec) -> str:
    """What decides the table's content: column descriptions do not (excluding them also
    keeps the hashes that specs written before they existed recorded)."""
    return hashlib.sha256(spec.model_dump_json(exclude={"columns"}).encode()).hexdigest()[:16]


def _change_feed_unreadable(exc: Exception) -> bool:
    """A read of change data files a VACUUM removed (Spark wraps Delta's error in its own), or
    of changes across a widened column type (schema evolution), which Delta does not convert:
    DELTA_CHANGE_DATA_FEED_INCOMPATIBLE_SCHEMA_CHANGE across several type changes,
    ..._INCOMPATIBLE_DATA_SCHEMA across one."""
    message = str(exc)
    return ("DELTA_CHANGE_DATA_FILE_NOT_FOUND" in message or "DELTA_CHANGE_DATA_FEED_INCOMPATIBLE_" in message
            or ("FAILED_READ_FILE" in message and "/_change_data/" in message))


def _touched_partitions(spark, spec: GoldSpec, previous: dict[str, int], current: dict[str, int]) -> list | None:
    """Partition values the changes since `previous` can affect; None means rebuild all."""
    if any(s not in previous or current[s] < previous[s] for s in spec.sources):
        return None  # a new source, or silver was restored to an older version: rebuild
    views = [f"changes_{s}" for s in spec.sources]
    try:
        for source, view in zip(spec.sources, views):
            if current[source] > previous[source]:
                try:
                    changes = spark.sql(f"SELECT * FROM table_changes('{SILVER}.{source}', "
                                        f"{previous[source] + 1}, {current[source]})")
                except AnalysisException:  # the change feed is gone or unreadable: rebuild everything
                    return None
            else:
                changes = spark.table(f"{SILVER}.{source}").where("false")
            changes.createOrReplaceTempView(view)
        try:
            return [r[0] for r in spark.sql(spec.incremental.touched_sql).distinct().collect() if r[0] is not None]
        except Exception as exc:  # noqa: BLE001 - only a vanished change feed, else raised again
            # The change feed is read lazily: change data files a VACUUM removed fail here,
            # at the read, not where table_changes was planned. A full rebuild needs none.
            if _change_feed_unreadable(exc):
                return None
            raise
    finally:
        for view in views:
            spark.catalog.dropTempView(view)


def _unchanged_since(spark, previous: dict[str, int] | None, current: dict[str, int]) -> bool:
    """No source's rows changed since the last build: each is at the version it read, or only
    maintenance committed since (which changes no row)."""
    if previous is None or set(previous) != set(current):
        return False
    return all(current[s] == previous[s] or (current[s] > previous[s] and not tables.data_changed(
        spark, f"{SILVER}.{s}", previous[s], current[s])) for s in current)


def _validate(gate: QualityGate, run: TableRun, result, spec: GoldSpec) -> None:
    """GX judges the rows the build would write; a broken fail rule stops it before it writes."""
    checks = Q.gold_checks(spec)
    scope = "silver versions " + ",".join(f"{s}={v}" for s, v in sorted(run.source_versions.items()))
    validation = gate.validate("gold", run.table_name, scope, Q.judged(result, checks), checks)
    run.warnings = {r.rule: r.unexpected_count for r in validation.failed("warn")}
    broken = validation.failed("fail")
    if broken:
        raise ExpectationFailed(
            f"{run.table_name}: {broken[0].unexpected_count} row(s) broke fail expectation {broken[0].rule}; "
            f"nothing was written; validation: {validation.docs_page}")


def build_gold(spark, settings: Settings, spec: GoldSpec, ledger: Ledger, versions: dict[str, int],
               gate: QualityGate) -> TableRun | None:
    fqname = f"{GOLD}.{spec.name}"
    current = {s: versions[s] for s in spec.sources}
    previous, previous_hash = ledger.last_build(fqname)
    exists = spark.catalog.tableExists(fqname)
    if exists:  # the spec's descriptions are no part of its hash: they change no row
        tables.set_comments(spark, fqname, spec.columns)
    same_spec = previous_hash == spec_hash(spec)
    if same_spec and exists and _unchanged_since(spark, previous, current):
        return None
    run = TableRun("gold", fqname, source_versions=current, spec_hash=spec_hash(spec))
    result = spark.sql(spec.sql)
    unknown = [c for c in spec.columns if c not in result.columns]
    if unknown:
        raise SpecError(f"gold spec {spec.name}: columns describes {', '.join(unknown)}, which its SQL "
                        f"does not return (it returns {', '.join(result.columns)})")
    scope = None  # the rebuilt partitions, a condition on the target's columns (unqualified)
    # The spec changed the columns, or a source's widened type changed theirs: build anew, in
    # the table replaced (once the build is validated), so its versions go on rising for publish.
    replace = exists and not tables.same_columns(spark.table(fqname).schema, result.schema)
    if spec.incremental and previous is not None and exists and same_spec and not replace:
        touched = _touched_partitions(spark, spec, previous, current)
        if touched == []:
            run.detail = "no partition touched"
            return run.finish()
        if touched is not None:
            column = spec.incremental.partition_column
            values = ", ".join(tables.sql_literal(v) for v in sorted(touched))
            scope = f"`{column}` IN ({values})"
            result = result.where(scope)
            run.detail = f"recomputed {len(touched)} {column} partition(s)"
    result = result.persist()  # judged by GX, counted, then merged: computed once
    try:
        _validate(gate, run, result, spec)
        computed = result.count()
        if replace or not exists:
            tables.ensure_table(spark, settings, fqname, result.schema, comments=spec.columns, replace=replace)
        # From the table's log, not the catalog: a table registered again over its folder (a
        # DROP TABLE keeps an external table's files) holds its rows under a creation of nothing.
        empty = replace or tables.never_written(spark, fqname)
        before = tables.current_version(spark, fqname)
        differing = tables.merge_by_difference(spark, fqname, result, spec.keys, scope and f"t.{scope}", empty=empty)
    finally:
        result.unpersist()
    commit = tables.commit_since(spark, fqname, before)
    run.rows_read = computed
    run.delta_version = commit["version"] if commit else before
    read = 0  # the rows the write read: a MERGE's source, or an append's rows
    if commit is None:  # nothing differed: no MERGE ran (tables.merge_by_difference)
        run.superseded = computed
        run.detail = run.detail or "unchanged"
    else:
        # An append only where one was meant: any other commit reads as none, and fails below.
        m, appended = commit["metrics"], empty and commit["operation"] == "WRITE"
        read = m.get("numOutputRows" if appended else "numSourceRows", 0)
        run.inserted = m.get("numOutputRows" if appended else "numTargetRowsInserted", 0)
        run.updated, run.deleted = m.get("numTargetRowsUpdated", 0), m.get("numTargetRowsDeleted", 0)
        run.superseded = computed - run.inserted - run.updated  # unchanged rows, not rewritten
        run.detail = run.detail or ("into an empty table" if appended else "full recompute")
    _reconcile(spark, run, scope, differing, read)
    return run.finish()


def _reconcile(spark, run: TableRun, scope: str | None, differing: int, merged: int) -> None:
    """The build's counts against the table, counted after the commit: within the rebuilt
    scope the table holds exactly the rows the build computed, and the write read every row
    that differed and did one thing with each. So what it did not rewrite (superseded) is
    measured, not only the remainder of a subtraction."""
    held = tables.row_count(spark, run.table_name, run.delta_version, scope)
    applied = run.inserted + run.updated + run.deleted
    where = f"{run.table_name} v{run.delta_version}: the build computed {run.rows_read} row(s), {differing} differing"
    if held != run.rows_read:
        raise AccountingError(f"{where}; the table holds {held} of them after the commit")
    if merged != differing or applied != differing:
        raise AccountingError(f"{where}; the write read {merged} and inserted {run.inserted}, updated {run.updated} "
                              f"and deleted {run.deleted}")


def run_gold(spark, settings: Settings, specs: list[GoldSpec], ledger: Ledger, run_id: str, gate: QualityGate,
             on_result=None) -> list[TableRun]:
    sources = sorted({s for spec in specs for s in spec.sources})
    versions = {s: tables.current_version(spark, f"{SILVER}.{s}") for s in sources}
    results = []
    for spec in specs:
        run = build_gold(spark, settings, spec, ledger, versions, gate)
        if run is None:
            continue
        ledger.record([run], run_id)
        results.append(run)
        if on_result:
            on_result(run)
    return results
