"""B3: fixed overhead. The same trivial job (benchmarks/trivial_job.py: the sum of
0..99,999) as a direct Python call, on a warm local SparkSession, as a bare spark-submit
(local master, no configuration of ours), as `lakehouse submit` with the embedded profile
(Delta, catalog, jars) and with the cluster profile (the native platform's standalone
master: executors start for it). Each step down the list adds one layer.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import trivial_job
from benchmarks.common import (LAKEHOUSE, Section, fresh_dir, lakehouse_env, local_session, markdown_table, median,
                               run_checked, side_by_side, timed)
from lakehouse.platform.spark_cluster import spark_bin

SCRIPT = Path(trivial_job.__file__)


def _checked(output: str) -> None:
    if f"RESULT {trivial_job.EXPECTED}" not in output:
        raise RuntimeError(f"the trivial job printed no correct result:\n{output[-2000:]}")


def _expect(value: int) -> None:
    if value != trivial_job.EXPECTED:
        raise RuntimeError(f"the trivial job returned {value}, not {trivial_job.EXPECTED}")


def run(workdir: Path, platform_home: Path, reps: int) -> Section:
    local_home = fresh_dir(workdir / "b3-home")
    spark = local_session(workdir)
    trivial_job.job(spark)  # warm: the JVM, the session and the code paths are loaded
    bare_env = lakehouse_env(local_home)
    layers = {
        "direct Python call": lambda: timed(lambda: _expect(trivial_job.direct())),
        "warm SparkSession (local)": lambda: timed(lambda: _expect(trivial_job.job(spark))),
        "bare spark-submit (local[*])": lambda: timed(lambda: _checked(run_checked(
            [spark_bin("spark-submit"), "--master", "local[*]", SCRIPT], bare_env))),
        "lakehouse submit (embedded profile)": lambda: timed(lambda: _checked(run_checked(
            [LAKEHOUSE, "submit", SCRIPT, "--platform"], lakehouse_env(local_home)))),
        "lakehouse submit (cluster profile)": lambda: timed(lambda: _checked(run_checked(
            [LAKEHOUSE, "submit", SCRIPT, "--profile", "cluster", "--platform"], lakehouse_env(platform_home)))),
    }
    samples = side_by_side(reps, layers, "B3")
    medians = {name: median(s) for name, s in samples.items()}
    return Section("B3", "B3: fixed overhead per layer", _markdown(medians, reps), {"reps": reps, "samples": samples})


def _markdown(medians: dict[str, float], reps: int) -> str:
    rows, previous = [], None
    for name, seconds in medians.items():
        rows.append([name, f"{seconds * 1000:,.1f}",
                     "" if previous is None else f"{(seconds - previous) * 1000:+,.0f}"])
        previous = seconds
    table = markdown_table(["how the job runs", "wall (ms)", "adds (ms)"], rows)
    return (f"The same trivial job (the sum of 0..99,999) through each layer; median of {reps}, order alternated.\n\n"
            f"{table}")
