"""What ops.audit says is done, read once per run and kept current as the run writes.

Finding out that there is nothing to do must be cheap: one small query for the whole run,
not one per table and layer. A replay of quarantined records (layer `reprocess`) marks no
batch done: its batch was done when silver applied it.
"""

from __future__ import annotations

from contextlib import contextmanager, suppress

from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.runs import REPLAY, TableRun


class Ledger:
    def __init__(self, spark):
        self._spark = spark
        self._done: dict[str, set[str]] = {}
        self._builds: dict[str, tuple] = {}
        self._rows: dict[str, dict[str, int]] = {}
        self._pending: list[dict] | None = None  # audit records held for one commit (see one_commit)
        for r in sorted(completed(spark), key=lambda r: r["started_at"]):
            self._remember(r["table_name"], r["batch_id"], r["rows_read"], r["source_versions"], r["spec_hash"])

    def _remember(self, table: str, batch_id, rows_read, source_versions, spec_hash) -> None:
        if batch_id is not None:
            self._done.setdefault(table, set()).add(batch_id)
            self._rows.setdefault(table, {})[batch_id] = rows_read
        if source_versions is not None:
            self._builds[table] = (dict(source_versions), spec_hash)

    def done(self, table: str) -> set[str]:
        """Batches of `table` that a run completed."""
        return set(self._done.get(table, set()))

    def rows_read(self, table: str) -> dict[str, int]:
        """Per completed batch of `table`, the records it read."""
        return dict(self._rows.get(table, {}))

    def last_build(self, table: str) -> tuple[dict[str, int] | None, str | None]:
        """The source versions and spec hash a gold table was last built from."""
        return self._builds.get(table, (None, None))

    def record(self, runs: list[TableRun], run_id: str) -> None:
        """Append the runs to ops.audit (marking their batches done) and remember them."""
        records = [r.audit_record(run_id) for r in runs]
        if self._pending is not None:
            self._pending.extend(records)
        else:
            tables.append_audit(self._spark, records)
        for r in runs:
            if r.status == "ok" and r.layer != REPLAY:
                self._remember(r.table_name, r.batch_id, r.rows_read, r.source_versions, r.spec_hash)

    @contextmanager
    def one_commit(self):
        """Within the block, records go to ops.audit together, in one commit at its end, also
        when an error ends it: a Delta commit costs about as much as a small table's write.
        Only for writes that a lost audit record cannot falsify: a bronze batch found in
        bronze is recorded again from its rows; a gold build is redone and, as nothing
        differs, writes nothing. Silver records each dataset as it goes (its retry would
        re-plan the batch and count its rows as superseded)."""
        if self._pending is not None:  # already inside one: that block commits
            yield
            return
        self._pending = []
        try:
            yield
        except BaseException:
            records, self._pending = self._pending, None
            with suppress(Exception):  # the error that ended the block is the one to report
                tables.append_audit(self._spark, records)
            raise
        records, self._pending = self._pending, None
        tables.append_audit(self._spark, records)


def completed(spark, audit_table: str = tables.AUDIT_TABLE) -> list:
    """The audit's records of completed runs (one query of the whole table)."""
    if tables.never_written(spark, audit_table):
        return []
    return (spark.table(audit_table).where((F.col("status") == "ok") & (F.col("layer") != REPLAY))
            .select("table_name", "batch_id", "rows_read", "source_versions", "spec_hash", "started_at").collect())
