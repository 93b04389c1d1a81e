"""B6, fixed costs: the Spark drivers' class-data-sharing archive (lakehouse.jvm_archive).
Every job, test and Airflow task starts a new driver JVM, which read and verified about
20,000 classes from 300 jars before doing anything; with the archive `make run` dumps,
it maps them from one file.

Here: `lakehouse run` in a fresh process on a fresh home, then again with nothing new (a
second fresh process), with the archive and without it (LAKEHOUSE_CLASS_DATA_SHARING=false),
side by side. CPU is the machine's, as in the garbage collector's comparison.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import (LAKEHOUSE, Section, fresh_dir, lakehouse_env, machine_cpu_seconds, markdown_table,
                               median, run_checked, side_by_side)
from lakehouse import jvm_archive
from lakehouse.config import load_settings
from lakehouse.generate import generate

CONTENDERS = {"without the archive": {"class_data_sharing": "false"}, "with the archive": {}}


def _runs(workdir: Path, landing: Path | None, scale: float, days: int, settings: dict) -> tuple:
    """A contender: the first run and the run with nothing new, each in a new process (tiny:
    two `lakehouse sql` statements)."""
    samples = {"first": [], "nothing new": [], "cpu": []}
    argv = [LAKEHOUSE, "run"] if landing else [LAKEHOUSE, "sql", "SELECT count(*) FROM range(1000)"]

    def run() -> float:
        home = fresh_dir(workdir / "home")
        env = lakehouse_env(home, scale=scale, days=days, **({"landing_uri": landing} if landing else {}), **settings)
        cpu0, t0 = machine_cpu_seconds(), time.perf_counter()
        run_checked(argv, env)
        t1 = time.perf_counter()
        samples["cpu"].append(machine_cpu_seconds() - cpu0)
        run_checked(argv, env)
        samples["first"].append(t1 - t0)
        samples["nothing new"].append(time.perf_counter() - t1)
        return t1 - t0
    return run, samples


def measure(workdir: Path, scale: float | None, days: int, reps: int) -> tuple[str, dict]:
    """`scale` None: the tiny form (`lakehouse sql`), which only keeps the script working."""
    archive = jvm_archive.archive_path(load_settings(), "local")
    if not archive.is_file():  # both contenders would run without one
        raise RuntimeError(f"no class archive at {archive}: `make run` (or python -m lakehouse.jvm_archive) dumps it")
    landing = None
    if scale is not None:
        landing = fresh_dir(workdir / "landing")
        generate(landing, scale=scale, seed=42, days=days)
    runs = {name: _runs(workdir, landing, scale or 0.01, days, settings) for name, settings in CONTENDERS.items()}
    side_by_side(reps, {name: run for name, (run, _) in runs.items()}, "B6 class archive")
    medians = {name: {k: median(v) for k, v in samples.items()} for name, (_, samples) in runs.items()}
    without, with_ = medians["without the archive"], medians["with the archive"]
    rows = [[name, m["first"], m["cpu"], m["nothing new"]] for name, m in medians.items()]
    what = (f"`lakehouse run` of {days} daily batch(es) at scale {scale:g}, a fresh process on a fresh home, "
            "then a run with nothing new (another process)" if landing else "`lakehouse sql` of one statement, twice")
    text = (f"{what}; median of {reps}, order alternated. CPU: the machine's, over the first run.\n\n"
            + markdown_table(["drivers", "run (s)", "CPU (s)", "nothing new (s)"], rows)
            + f"\n\nWith the archive / without: run {with_['first'] / without['first']:.2f}x, CPU "
              f"{with_['cpu'] / without['cpu']:.2f}x, nothing new {with_['nothing new'] / without['nothing new']:.2f}x.")
    return text, {"scale": scale, "days": days, "samples": {n: s for n, (_, s) in runs.items()}, "median": medians}


def run(workdir: Path, scale: float | None, days: int, reps: int) -> Section:
    text, data = measure(workdir, scale, days, reps)
    return Section("B6", "B6: fixed costs, the drivers' class archive", text, data)
