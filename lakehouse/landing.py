"""Which landing files a bronze run loads, and with which batch: a plan made from the files
listed under a dataset's landing path and what the file log (ops.landing_files) says was
loaded. Pure: no Spark, so every case is a unit test.

A batch is a day. The dataset's file pattern (lakehouse.file_pattern) says which day each
file belongs to: by default its day folder, `<landing path>/<YYYY-MM-DD>/`, with its files at
any depth. Each file is loaded once:
- a file of a day bronze has not loaded belongs to that day's batch;
- a file that lands for a day already loaded ("late") is loaded with the next batch
  after it that the run loads, and waits (reported) while there is none: never ignored,
  never loaded twice;
- a file the log holds with another size or modification time has changed since it was
  loaded: bronze reads it again and compares its fingerprint (the same records re-delivered
  are recorded, anything else is refused: loading it would count its records twice);
- a file the pattern does not place (outside any day folder) is reported as unplaced;
- a file of a pattern naming no day (arrival order) belongs to the run's arrival day (the
  last day its selection takes, today at the latest), and waits (reported) when that day's
  batch, or a later one, is loaded already. A file of it the log lacks is first looked for in bronze (a crash
  between bronze's commit and the log's), where it keeps its batch: its path is all that
  tells it.

The log only counts for batches the audit has done: a file logged for a batch whose audit
record was never written (a crash between the two commits) belongs to that batch again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lakehouse.file_pattern import ARRIVAL
from lakehouse.runs import BATCH_ID, BatchFilter

COPY_OF = "copy of "


@dataclass(frozen=True)
class LandedFile:
    path: str
    batch: str  # the day its path names (the pattern's), ARRIVAL for a pattern naming none, "" when not taken
    size: int
    modified_ms: int
    relative: str = ""  # the path under the landing path (`2026-01-03/region=eu/part-0.csv`)


@dataclass(frozen=True)
class Logged:
    """What the file log holds of a path: the last time it was loaded or re-delivered."""

    path: str
    size: int
    modified_ms: int
    fingerprint: str | None
    batch_id: str
    records: int
    outcome: str = "loaded"  # or "re-delivered unchanged", or "copy of <path>" (lakehouse.layers.bronze.Copy)

    @property
    def is_copy(self) -> bool:
        return self.outcome.startswith(COPY_OF)


@dataclass
class LandingPlan:
    batches: dict[str, list[LandedFile]] = field(default_factory=dict)  # batch -> its files
    waiting: list[LandedFile] = field(default_factory=list)  # late, no later batch to load with
    changed: list[tuple[LandedFile, Logged]] = field(default_factory=list)
    unplaced: list[LandedFile] = field(default_factory=list)
    unlogged: list[LandedFile] = field(default_factory=list)  # of loaded days: bronze may hold them
    # Loaded with a done batch, but the log never heard of it (its write was lost, or the
    # lakehouse predates the log): to be logged as it is.
    recovered: list[tuple[LandedFile, str]] = field(default_factory=list)


def is_batch_folder(name: str) -> bool:
    if not BATCH_ID.match(name):
        return False
    try:
        date.fromisoformat(name)
    except ValueError:  # 2026-02-30
        return False
    return True


def plan(listed: list[LandedFile], logged: dict[str, Logged], done: set[str], selection: BatchFilter,
         in_bronze: dict[str, str] | None = None, arrival_day: str | None = None) -> LandingPlan:
    """The plan for one dataset. `done`: the batches the audit has done; `in_bronze`: for
    files of done days the log does not hold (or of arrival order), the batch bronze holds
    them under (found by the caller after a first plan listed them as `unlogged`; None before
    that look-up); `arrival_day`: the batch of a file arriving now (arrival order)."""
    out = LandingPlan()
    logged = {p: entry for p, entry in logged.items() if entry.batch_id in done}
    late = []
    for f in listed:
        entry = logged.get(f.path)
        if entry and entry.is_copy and (entry.size, entry.modified_ms) != (f.size, f.modified_ms):
            entry = None  # a copy that changed: none of its lines were loaded, so it is a new file
        if entry:  # loaded: whatever a changed spec's file pattern makes of it now
            if (entry.size, entry.modified_ms) != (f.size, f.modified_ms):
                out.changed.append((f, entry))
        elif f.batch == ARRIVAL:
            _arrived(out, f, done, selection, in_bronze, arrival_day)
        elif not is_batch_folder(f.batch):
            out.unplaced.append(f)
        elif f.batch not in done:
            if selection.accepts(f.batch):
                out.batches.setdefault(f.batch, []).append(f)
        elif in_bronze is None:
            out.unlogged.append(f)
        elif f.path in in_bronze:
            batch = in_bronze[f.path]
            if batch in done:
                out.recovered.append((f, batch))
            elif selection.accepts(batch):  # a late file loaded with a batch whose audit record is missing
                out.batches.setdefault(batch, []).append(f)
        else:
            late.append(f)
    for f in late:
        later = sorted(b for b in out.batches if b > f.batch)
        if later:
            out.batches[later[0]].append(f)
        else:
            out.waiting.append(f)
    out.batches = {b: sorted(files, key=lambda f: f.path) for b, files in sorted(out.batches.items())}
    return out


def _arrived(out: LandingPlan, f: LandedFile, done: set[str], selection: BatchFilter, in_bronze: dict[str, str] | None,
             arrival_day: str | None) -> None:
    """A file of arrival order the log does not hold: bronze's, if bronze holds it, else the
    arrival day's, or waiting if that batch is loaded already or older than one that is (a
    run of an earlier interval: what arrives now is newer than every batch loaded)."""
    if in_bronze is None:
        out.unlogged.append(f)
    elif f.path in in_bronze:
        batch = in_bronze[f.path]
        if batch in done:
            out.recovered.append((f, batch))
        elif selection.accepts(batch):
            out.batches.setdefault(batch, []).append(f)
    elif (batch := arrival_batch(arrival_day, done)) is None:
        out.waiting.append(LandedFile(f.path, arrival_day or ARRIVAL, f.size, f.modified_ms, f.relative))
    else:
        out.batches.setdefault(batch, []).append(f)


def arrival_batch(arrival_day: str | None, done: set[str]) -> str | None:
    """The batch a file of arrival order that arrives now takes: the run's arrival day, unless
    a batch as new or newer is loaded already (a run of an earlier interval), when it waits
    for the next run's (None)."""
    return arrival_day if arrival_day and arrival_day > max(done, default="") else None
