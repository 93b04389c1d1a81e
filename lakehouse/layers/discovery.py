"""Discovery: the files under a dataset's landing path and the batch each loads with
(lakehouse.landing's plan), checked against the file log and bronze before anything is read:
a file no batch takes (outside any day folder), an empty day folder and a loaded file that
changed are refused here, with one line each."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pyspark.sql import Column
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.config import BRONZE, Settings
from lakehouse.errors import LandingError, LandingFileGone
from lakehouse.file_log import FileLog
from lakehouse.file_pattern import ARRIVAL, FilePattern
from lakehouse.landing import LandedFile, LandingPlan, arrival_batch, plan
from lakehouse.formats import read_file
from lakehouse.runs import BatchFilter
from lakehouse.specs import DatasetSpec


def landing_batches(spark, settings: Settings, spec: DatasetSpec, selection: BatchFilter, done: set[str],
                    missing_ok: bool = False) -> list[str]:
    """The batches that `selection` accepts under the dataset's landing path: its day folders
    (one listing of the folder), or the days its files' names hold (a listing of every file),
    or in arrival order the batch a file the file log lacks takes now (landing.arrival_batch:
    `done` holds bronze's loaded batches). A missing landing path is an error, or, with
    `missing_ok`, no batches (nothing has arrived)."""
    root = settings.landing_location(spec.landing_folder)
    if not storage.exists(spark, root):
        if missing_ok:
            return []
        raise LandingError(f"{spec.name}: landing path {root} does not exist")
    if spec.source.file_pattern.is_day_folders:
        batches = {e.name for e in storage.list_dir(spark, root) if e.is_dir}
    elif not spec.source.file_pattern.names_day:
        logged = FileLog(spark).of(spec.name)
        arrived = any(f.path not in logged for f in landed_files(spark, settings, spec) if f.batch)
        batches = {arrival_batch(selection.arrival_day(_today()), done)} - {None} if arrived else set()
    else:
        batches = {f.batch for f in landed_files(spark, settings, spec) if f.batch}
    return sorted(b for b in batches if selection.accepts(b))


def landed_files(spark, settings: Settings, spec: DatasetSpec) -> list[LandedFile]:
    """Every file under the dataset's landing path, at any depth (one recursive listing), with
    the batch its path names (the spec's file pattern)."""
    pattern = spec.source.file_pattern
    listed = storage.list_files(spark, settings.landing_location(spec.landing_folder))
    return [LandedFile(path, pattern.batch_of(relative) or "", size, modified, relative)
            for path, relative, size, modified in listed]


def plan_landing(spark, settings: Settings, spec: DatasetSpec, selection: BatchFilter, done: set[str],
                 file_log: FileLog,
                 sharing: dict[str, FilePattern] | None = None) -> tuple[LandingPlan, dict[str, int]]:
    """Which files load with which batch (lakehouse.landing), and for files bronze holds that
    the log does not, the records bronze holds of each (see _held_unlogged). `sharing`: the
    file patterns of the other datasets whose landing path is this one's (one export folder
    for several tables), by dataset: their files are theirs, and a file two patterns take is
    refused."""
    root = settings.landing_location(spec.landing_folder)
    if not storage.exists(spark, root):
        raise LandingError(f"{spec.name}: landing path {root} does not exist")
    listed, logged = landed_files(spark, settings, spec), file_log.of(spec.name)
    if sharing:
        listed = _own_files(spec, listed, sharing)
    arrival_day = selection.arrival_day(_today())
    found, held = plan(listed, logged, done, selection, arrival_day=arrival_day), {}
    if found.unlogged:
        in_bronze, held = _held_unlogged(spark, spec, found.unlogged)
        found = plan(listed, logged, done, selection, in_bronze, arrival_day)
    pattern = spec.source.file_pattern
    if found.unplaced:
        more = f" (and {len(found.unplaced) - 1} more)" if len(found.unplaced) > 1 else ""
        day = ", a real day" if pattern.names_day else ""
        where = (f"not in a batch folder ({root}/<YYYY-MM-DD>/), so no batch would load it; move it into the day "
                 "folder it belongs to") if pattern.is_day_folders else (
                 f"does not match the dataset's files ({root}/{pattern.text}{day}), so no batch would load it; "
                 "rename or move it, or change source.files")
        raise LandingError(f"{found.unplaced[0].path}{more}: {where}")
    if pattern.is_day_folders:
        days = {f.batch for f in listed}
        empty = [e.name for e in storage.list_dir(spark, root)
                 if e.is_dir and selection.accepts(e.name) and e.name not in done and e.name not in days]
        if empty:
            raise LandingError(f"{root}/{sorted(empty)[0]}: batch folder has no files")
    return found, held


def _own_files(spec: DatasetSpec, listed: list[LandedFile], sharing: dict[str, FilePattern]) -> list[LandedFile]:
    """The files of a landing path several datasets share that are this dataset's: another's
    pattern takes the rest. A file two patterns take would load into both: refused."""
    own = []
    for f in listed:
        others = [name for name, pattern in sharing.items() if pattern.batch_of(f.relative)]
        if others and f.batch:
            raise LandingError(f"{f.path}: both {spec.name} ({spec.source.files}) and {others[0]} "
                               f"({sharing[others[0]].text}) take it; make their source.files patterns apart")
        if not others:
            own.append(f)
    return own


def relative_under(spec: DatasetSpec, unlogged: list[LandedFile]) -> Column:
    """A bronze row's path under the landing path (`_source_file`), as the listing names it: a
    file bronze read from this landing path by its path; one read from another (the landing
    path moved) by the pattern after a folder of the dataset's name. Such a folder may be an
    ancestor of the old landing path or one under it: the path after the first or after the
    last of them, whichever is one of the files looked for."""
    pattern, folder = spec.source.file_pattern.java_regex, re.escape(spec.landing_folder)
    wanted = [f.relative for f in unlogged]
    after_first = F.regexp_extract("_source_file", f"^.*?/{folder}/({pattern})$", 1)
    after_last = F.regexp_extract("_source_file", f"^.*/{folder}/({pattern})$", 1)
    first = unlogged[0]
    root = first.path[: len(first.path) - len(first.relative)]  # as the listing writes it, with its /
    here = F.col("_source_file").startswith(root)
    return (F.when(here, F.expr(f"substring(_source_file, {len(root) + 1})"))
            .when(after_last.isin(wanted), after_last).otherwise(after_first))


def _held_unlogged(spark, spec: DatasetSpec, unlogged: list[LandedFile]) -> tuple[dict[str, str], dict[str, int]]:
    """For files of loaded days the log lacks: the batch bronze holds each under, and its rows
    there, matched on the path under the landing path (relative_under), so a landing path that
    moved (another home, another mount) finds its files loaded. Only batches from the oldest
    such day on are read (a file loads with its day's batch or a later one)."""
    wanted = [f.relative for f in unlogged]
    under = relative_under(spec, unlogged)
    days = [f.batch for f in unlogged if f.batch != ARRIVAL]  # a file of arrival order may be in any batch
    since = min(days) if len(days) == len(unlogged) else "0000-00-00"
    rows = (spark.table(f"{BRONZE}.{spec.name}").where(F.col("_batch_id") >= since)
            .select(under.alias("relative"), "_batch_id").where(F.col("relative").isin(wanted))
            .groupBy("relative", "_batch_id").count().collect())
    found = {r["relative"]: (r["_batch_id"], r["count"]) for r in rows}
    in_bronze = {f.path: found[f.relative][0] for f in unlogged if f.relative in found}
    return in_bronze, {f.path: found[f.relative][1] for f in unlogged if f.relative in found}


def _changed(spec: DatasetSpec, f: LandedFile, batch_id: str, then: str) -> LandingError:
    return LandingError(
        f"{f.path}: changed after batch {batch_id} loaded it ({then}); loading it again would count its records twice "
        "and skipping it would lose the new ones: land the new records as a new file, and put this one back as it "
        f"was (or remove it), or load it as it is now in place of what it held: lakehouse reprocess {spec.name} "
        f"--file {f.relative or f.path}")


def check_changed(spark, spec: DatasetSpec, found: LandingPlan, held: dict[str, int], file_log: FileLog,
                  run_id: str) -> None:
    """A file whose size or modification time changed since it was loaded is read again: the
    same lines re-delivered are logged as such; anything else is refused, naming the file. A
    file bronze holds that the log lacks is logged if it still holds the records bronze has
    of it."""
    for f, entry in found.changed:
        then = (f"{entry.size:,} bytes modified {_when(entry.modified_ms)} then, {f.size:,} bytes modified "
                f"{_when(f.modified_ms)} now")
        try:
            counted, _ = read_file(spark, spec, f.path)
        except LandingFileGone:
            raise
        except LandingError:
            raise _changed(spec, f, entry.batch_id, then) from None
        if entry.fingerprint is None or counted.fingerprint != entry.fingerprint:
            raise _changed(spec, f, entry.batch_id, then)
        file_log.record(spec.name, f, entry.batch_id, counted.records, counted.fingerprint, "re-delivered unchanged",
                        run_id)
    for f, batch_id in found.recovered:
        counted, _ = read_file(spark, spec, f.path)
        if counted.records != held[f.path]:
            raise _changed(spec, f, batch_id, f"bronze holds {held[f.path]:,} record(s) of it, the file now has "
                                        f"{counted.records:,}")
        file_log.record(spec.name, f, batch_id, counted.records, counted.fingerprint, "loaded", run_id)


def _today() -> date:
    return datetime.now(UTC).date()


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
