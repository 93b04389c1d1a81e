"""What ops.audit says is done, read once per run and kept current as the run writes.

Finding out that there is nothing to do must be cheap: one small query for the whole run,
not one per table and layer.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.runs import TableRun


class Ledger:
    def __init__(self, spark):
        self._spark = spark
        self._done: dict[str, set[str]] = {}
        self._builds: dict[str, tuple] = {}
        self._rows: dict[str, dict[str, int]] = {}
        rows = (
            spark.table(tables.AUDIT_TABLE).where(F.col("status") == "ok")
            .select("table_name", "batch_id", "rows_read", "source_versions", "spec_hash", "started_at").collect()
        )
        for r in sorted(rows, key=lambda r: r["started_at"]):
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
        tables.append_audit(self._spark, [r.audit_record(run_id) for r in runs])
        for r in runs:
            if r.status == "ok":
                self._remember(r.table_name, r.batch_id, r.rows_read, r.source_versions, r.spec_hash)
