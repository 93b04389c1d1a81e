"""B7: discovering landing files. A dataset's landing path holding N small files in day
folders, all of them already loaded (the file log holds every one): what a run pays each time
to find that nothing is new, and to find one late file among them. Local disk is walked by
Python; Hadoop's per-folder listing (how S3 and other file systems are listed) runs side by
side on the same files, for the ratio."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from benchmarks.common import Section, fresh_dir, local_session, markdown_table, median, side_by_side, timed
from lakehouse import storage
from lakehouse.file_pattern import DEFAULT, compile_pattern
from lakehouse.landing import LandedFile, Logged, plan
from lakehouse.runs import BatchFilter

FILES_PER_FOLDER = 100


def _landing(root: Path, files: int) -> None:
    for i in range(files):
        day = root / (date(2026, 1, 1) + timedelta(days=i // FILES_PER_FOLDER)).isoformat()
        if i % FILES_PER_FOLDER == 0:
            day.mkdir(parents=True)
        (day / f"part-{i % FILES_PER_FOLDER:03d}.csv").write_text(f"id\n{i}\n")


def _plan(listed) -> int:
    """The plan as discovery makes it: each file's batch by the default file pattern."""
    pattern = compile_pattern(DEFAULT)
    landed = [LandedFile(p, pattern.batch_of(rel) or "", size, ms, rel) for p, rel, size, ms in listed]
    logged = {f.path: Logged(f.path, f.size, f.modified_ms, "fp", f.batch, 1) for f in landed[1:]}
    found = plan(landed, logged, {f.batch for f in landed}, BatchFilter(), in_bronze={})
    if len(found.waiting) != 1:  # the one file the log lacks: a late file, with no batch after it
        raise RuntimeError(f"B7: the plan found {len(found.waiting)} late file(s), not 1")
    return len(landed)


def run(workdir: Path, files: int, reps: int) -> Section:
    root = fresh_dir(workdir / "landing") / "orders"
    _landing(root, files)
    spark = local_session(workdir)
    uri = str(root)

    def python_walk() -> float:
        return timed(lambda: _plan(storage.list_files(spark, uri)))

    def hadoop_listing() -> float:
        return timed(lambda: _plan(sorted(storage._walk_hadoop(spark, uri))))

    hadoop_listing()  # warm: the JVM's file system classes
    samples = side_by_side(reps, {"Python walk (local disk: what a run does)": python_walk,
                                  "Hadoop listing per folder (S3 and other file systems)": hadoop_listing}, "B7")
    medians = {name: median(s) for name, s in samples.items()}
    walk, hadoop = medians.values()
    rows = [[name, f"{s * 1000:,.1f}", f"{s / files * 1e6:,.1f}"] for name, s in medians.items()]
    table = markdown_table(["listing, then the plan", "wall (ms)", "per file (µs)"], rows)
    text = (f"{files:,} files of 2 lines in {files // FILES_PER_FOLDER} day folders, every one in the file log but "
            f"one (a late file): the listing and the plan that finds it; median of {reps}, order alternated.\n\n"
            f"{table}\n\nHadoop's listing takes {hadoop / walk:,.0f}x the Python walk here. Hadoop's recursive "
            "`listFiles`, used at first, forked a process per file for its permissions on local disk (about 100 s "
            "for 10,000 files), so neither path uses it.")
    return Section("B7", "B7: discovering landing files", text, {"files": files, "reps": reps, "samples": samples})
