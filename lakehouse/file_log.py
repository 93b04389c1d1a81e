"""ops.landing_files, the file log: read once per run (one small query), kept current as the
run loads files, and written in one commit after bronze's audit records (see
lakehouse.landing for why that order does not matter to a crash)."""

from __future__ import annotations

from datetime import UTC, datetime

from lakehouse import tables
from lakehouse.landing import LandedFile, Logged


class FileLog:
    def __init__(self, spark):
        self._spark = spark
        self._logged: dict[str, dict[str, Logged]] | None = None
        self._pending: list[dict] = []

    def _load(self) -> dict[str, dict[str, Logged]]:
        if self._logged is None:
            self._logged = {}
            rows = [] if tables.never_written(self._spark, tables.LANDING_FILES_TABLE) else (
                self._spark.table(tables.LANDING_FILES_TABLE).select(
                    "dataset", "path", "size", "modified_ms", "fingerprint", "batch_id", "records", "outcome",
                    "recorded_at").collect())
            for r in sorted(rows, key=lambda r: r["recorded_at"]):
                self._logged.setdefault(r["dataset"], {})[r["path"]] = Logged(
                    r["path"], r["size"], r["modified_ms"], r["fingerprint"], r["batch_id"], r["records"], r["outcome"])
        return self._logged

    def of(self, dataset: str) -> dict[str, Logged]:
        """What the log holds of each of the dataset's paths."""
        return dict(self._load().get(dataset, {}))

    def record(self, dataset: str, f: LandedFile, batch_id: str, records: int, fingerprint: str | None,
               outcome: str, run_id: str) -> None:
        now = datetime.now(UTC)
        self._pending.append({
            "dataset": dataset, "path": f.path, "size": f.size, "modified_ms": f.modified_ms,
            "modified_at": datetime.fromtimestamp(f.modified_ms / 1000, UTC), "fingerprint": fingerprint,
            "batch_id": batch_id, "records": records, "outcome": outcome, "run_id": run_id, "recorded_at": now})
        self._load().setdefault(dataset, {})[f.path] = Logged(f.path, f.size, f.modified_ms, fingerprint,
                                                               batch_id, records, outcome)

    def flush(self) -> None:
        """The records held so far, in one commit."""
        records, self._pending = self._pending, []
        tables.append_landing_files(self._spark, records)
