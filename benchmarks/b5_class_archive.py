"""B5, third finding: a new driver JVM spends most of a small run loading, verifying and
linking Spark's, Hadoop's, Hive's and Delta's classes (issue 19). The install builds a
class-data-sharing archive of them for the exact JDK and class path (lakehouse/class_archive.py),
which every driver maps instead.

Here: `lakehouse run` from a new process, with the archive and without
(LAKEHOUSE_CLASS_ARCHIVES=false), side by side: a first run on a fresh home, and a run with
nothing new on a home already filled.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import LAKEHOUSE, fresh_dir, lakehouse_env, markdown_table, median, run_checked, side_by_side
from lakehouse.config import load_settings
from lakehouse.class_archive import archive_path
from lakehouse.generate import generate

CONTENDERS = {"with the archive": "true", "without": "false"}


def measure(workdir: Path, scale: float | None, days: int, reps: int) -> tuple[str, dict]:
    """`scale` None: the tiny form (one `lakehouse sql` statement), which only keeps the script working."""
    archive = archive_path(load_settings())
    if archive is None or not archive.is_file():
        raise RuntimeError("no class archive for this JDK and class path: run `make install` first")
    landing = None  # the tiny form's statement reads no landing file: none is generated
    if scale is not None:
        landing = fresh_dir(workdir / "landing")
        generate(landing, scale=scale, seed=42, days=days)

    def lakehouse(home: Path, archives: str, *args: str) -> None:
        run_checked([LAKEHOUSE, *args], lakehouse_env(home, class_archives=archives,
                                                      **({"landing_uri": landing} if landing else {})))

    def first_run(archives: str):
        return lambda: lakehouse(fresh_dir(workdir / f"first-{archives}"), archives, "run")

    def nothing_new(archives: str):
        lakehouse(home := fresh_dir(workdir / f"filled-{archives}"), archives, "run")
        return lambda: lakehouse(home, archives, "run")

    def one_statement(archives: str):
        return lambda: lakehouse(fresh_dir(workdir / f"sql-{archives}"), archives, "sql", "SELECT 1")

    kinds = {"first": first_run, "again": nothing_new} if scale is not None else {"sql": one_statement}
    samples = {kind: side_by_side(reps, {n: make(a) for n, a in CONTENDERS.items()}, f"B5 class archive, {kind}")
               for kind, make in kinds.items()}
    wall = {kind: {n: median(s) for n, s in by_name.items()} for kind, by_name in samples.items()}
    ratio = {kind: wall[kind]["without"] / wall[kind]["with the archive"] for kind in wall}
    saved = {kind: wall[kind]["without"] - wall[kind]["with the archive"] for kind in wall}
    data = {"scale": scale, "days": days, "samples": samples, "wall_s": wall}
    headers = {"first": "first run (s)", "again": "nothing new (s)", "sql": "`lakehouse sql` (s)"}
    rows = [[name, *(wall[kind][name] for kind in kinds)] for name in CONTENDERS]
    what = (f"`lakehouse run` of {days} daily batch(es) at scale {scale:g} from a new process: a first run on a "
            f"fresh home, and a run with nothing new on a filled one" if scale is not None
            else "`lakehouse sql` of one statement from a new process")
    text = (f"{what}; median of {reps}, order alternated.\n\n"
            + markdown_table(["drivers", *(headers[k] for k in kinds)], rows) + "\n\nWithout / with the archive: "
            + ", ".join(f"{headers[k].split(' (')[0]} {ratio[k]:.2f}x ({saved[k]:.1f} s)" for k in kinds) + ".")
    return text, data
