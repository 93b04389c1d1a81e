"""B3: fixed overhead. The same trivial job (benchmarks/trivial_job.py: the sum of
0..99,999) as a direct Python call, on a warm local SparkSession, as a bare spark-submit
(local master, no configuration of ours), as `lakehouse submit` with the embedded profile
(Delta, catalog, jars) and with the cluster profile (the native platform's standalone
master: executors start for it). Each step down the list adds one layer.

Then a layer job with nothing to do, as an Airflow task submits it: with Spark started to
find nothing, and with lakehouse/task_state.py's check before the session.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from benchmarks import trivial_job
from benchmarks.common import (LAKEHOUSE, Section, fresh_dir, lakehouse_env, local_session, markdown_table, median,
                               run_checked, side_by_side, timed)
from lakehouse.config import PROJECT_ROOT, load_settings
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
    idle = _nothing_new(platform_home, reps)
    return Section("B3", "B3: fixed overhead per layer", _markdown(medians, reps) + _idle_markdown(idle, reps),
                   {"reps": reps, "samples": samples, "nothing_new": idle})


# What both answer when gold has nothing to do (the cluster run built every day).
SPARK_STARTED, NOT_STARTED = "gold: 0 table batch(es) processed", "gold: nothing new since run"


def _nothing_new(platform_home: Path, reps: int) -> dict[str, list[float]]:
    """The gold job as an Airflow task submits it, for the first day, which has nothing new:
    with the check before its session (lakehouse/task_state.py), and with Spark started to
    find the same. The first run records what the check compares with."""
    day = load_settings(profile="cluster", home=platform_home).start_date
    job = [LAKEHOUSE, "submit", "--profile", "cluster", PROJECT_ROOT / "jobs" / "gold.py",
           "--start", day.isoformat(), "--end", (day + timedelta(days=1)).isoformat()]
    env = lakehouse_env(platform_home)

    def said(expected: str, output: str) -> None:
        if expected not in output:
            raise RuntimeError(f"the gold job did not say {expected!r}:\n{output[-2000:]}")

    run_checked(job, env)
    return side_by_side(reps, {
        "Spark started": lambda: timed(lambda: said(SPARK_STARTED, run_checked(
            job, {**env, "LAKEHOUSE_SKIP_UNCHANGED_TASKS": "false"}))),
        "checked before Spark": lambda: timed(lambda: said(NOT_STARTED, run_checked(job, env))),
    }, "B3 gold with nothing new")


def _idle_markdown(samples: dict[str, list[float]], reps: int) -> str:
    started, checked = median(samples["Spark started"]), median(samples["checked before Spark"])
    table = markdown_table(["the gold job with nothing new (cluster)", "wall (s)"],
                           [["Spark started (`LAKEHOUSE_SKIP_UNCHANGED_TASKS=false`)", started],
                            ["checked before Spark starts (lakehouse/task_state.py)", checked]])
    return (f"\n\nA layer job as an Airflow task submits it (`jobs/gold.py` for one day) when it has nothing to do, "
            f"`lakehouse submit --profile cluster` (the task's spark-submit, without Airflow's own task start); "
            f"median of {reps}, order alternated: **{checked / started:.2f}x** the time (goal: an Airflow task "
            f"with nothing to do at most 10 s).\n\n{table}")


def _markdown(medians: dict[str, float], reps: int) -> str:
    rows, previous = [], None
    for name, seconds in medians.items():
        rows.append([name, f"{seconds * 1000:,.1f}",
                     "" if previous is None else f"{(seconds - previous) * 1000:+,.0f}"])
        previous = seconds
    table = markdown_table(["how the job runs", "wall (ms)", "adds (ms)"], rows)
    return (f"The same trivial job (the sum of 0..99,999) through each layer; median of {reps}, order alternated.\n\n"
            f"{table}")
