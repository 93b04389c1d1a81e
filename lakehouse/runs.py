"""What a run did, per table and batch: the accounting that is written to ops.audit and
shown in the run summary, and the selection of batches a run works on."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from lakehouse.errors import AccountingError, LakehouseError

BATCH_ID = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Where a batch's records end up. rows_read must equal their sum (see check_closed).
OUTCOMES = ("inserted", "updated", "deleted", "quarantined", "dropped", "duplicates", "superseded")
COUNTS = ("rows_read", *OUTCOMES)
# The audit layer of quarantined records applied again (lakehouse reprocess).
REPLAY = "reprocess"


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class BatchFilter:
    """Which batches (days) a run may touch: one batch, or the interval [start, end)."""

    batch: str | None = None
    start: date | None = None
    end: date | None = None

    def __post_init__(self):
        if self.batch is not None and not BATCH_ID.match(self.batch):
            raise LakehouseError(f"batch {self.batch!r}: expected a date YYYY-MM-DD")
        if self.start and self.end and self.end <= self.start:
            raise LakehouseError(f"interval end {self.end} must be after its start {self.start}")

    def and_earlier(self) -> BatchFilter:
        """This selection with every batch before it: what a referenced dataset applies, so a
        delivery of it that landed after its own day's run is not passed over."""
        if self.batch is not None:
            return BatchFilter(end=date.fromisoformat(self.batch) + timedelta(days=1))
        return BatchFilter(end=self.end)

    def arrival_day(self, today: date) -> str | None:
        """The batch of a file arriving now (a pattern naming no day): the last day the
        selection takes, today at the latest; None if it takes no day up to today."""
        last = date.fromisoformat(self.batch) if self.batch else (self.end - timedelta(days=1) if self.end else today)
        day = min(last, today)
        return day.isoformat() if self.accepts(day.isoformat()) else None

    def accepts(self, batch_id: str) -> bool:
        if not BATCH_ID.match(batch_id):
            return False
        if self.batch is not None:
            return batch_id == self.batch
        try:
            day = date.fromisoformat(batch_id)
        except ValueError:  # a folder such as 2026-02-30 is not a batch
            return False
        return (self.start is None or day >= self.start) and (self.end is None or day < self.end)


@dataclass
class TableRun:
    layer: str
    table_name: str
    batch_id: str | None = None
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    quarantined: int = 0
    dropped: int = 0
    duplicates: int = 0
    superseded: int = 0
    failed: int = 0  # records that broke a `fail` rule: the batch wrote nothing
    warnings: dict[str, int] = field(default_factory=dict)
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    delta_version: int | None = None
    source_versions: dict[str, int] | None = None
    spec_hash: str | None = None
    status: str = "ok"
    detail: str = ""
    started: float = field(default_factory=time.time)
    duration_s: float = 0.0

    @property
    def accounted(self) -> int:
        return sum(getattr(self, k) for k in OUTCOMES)

    def check_closed(self) -> None:
        """Every record read must be landed, quarantined, dropped, a duplicate or superseded."""
        if self.accounted != self.rows_read:
            self.status = "accounting_failed"
            raise AccountingError(
                f"{self.table_name} batch {self.batch_id}: accounting does not close: read {self.rows_read}, "
                f"accounted for {self.accounted} ({self.counts()})"
            )

    def finish(self) -> TableRun:
        self.duration_s = round(time.time() - self.started, 3)
        return self

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in COUNTS}

    def audit_record(self, run_id: str) -> dict:
        record = asdict(self)
        record.pop("started")
        record.pop("failed")
        record.update(run_id=run_id, started_at=datetime.fromtimestamp(self.started, UTC))
        return record


def finish_together(runs: list[TableRun]) -> list[TableRun]:
    """Batches written in one commit share its time: each gets an equal part, so sums add up."""
    for run in runs:
        run.finish()
        run.duration_s = round(run.duration_s / len(runs), 3)
    return runs
