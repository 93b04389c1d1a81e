"""B5, second finding: the JVMs' garbage collector. Thread CPU of a small `lakehouse run` on
2 cores showed the JVM busy far beyond the Spark tasks' own work; with Java 17's default G1
(concurrent threads, costlier write barriers) the same run took more CPU than with
ParallelGC (single runs: up to a third; side by side, median of 3: 7% on a quiet host, 15%
on a busier one), which every JVM of the platform now uses (Settings.jvm_options).

Here: the same command in a fresh process on a fresh home, once with `-XX:+UseG1GC` and once
with the platform's default, side by side. CPU is the machine's (/proc/stat) over the run:
the command's JVM is not a child Python waits for, so its own counters are lost at exit; run
it on an otherwise quiet machine.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import LAKEHOUSE, fresh_dir, lakehouse_env, markdown_table, median, run_checked, side_by_side
from lakehouse.config import Settings
from lakehouse.generate import generate

G1 = "-XX:+UseG1GC"
DEFAULT = Settings.model_fields["jvm_options"].default


def _machine_cpu_seconds() -> float:
    """User + system + irq time of every CPU since boot (/proc/stat's first line), in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / 100  # USER_HZ


def _command(workdir: Path, landing: Path | None, jvm_options: str, scale: float, days: int):
    """A contender: `lakehouse run` on the landing files, or (tiny) one SQL statement."""
    cpu: list[float] = []

    def run() -> float:
        home = fresh_dir(workdir / "home")
        env = lakehouse_env(home, jvm_options=jvm_options, scale=scale, days=days,
                            **({"landing_uri": landing} if landing else {}))
        argv = [LAKEHOUSE, "run"] if landing else [LAKEHOUSE, "sql", "SELECT count(*) FROM range(100000)"]
        cpu0, t0 = _machine_cpu_seconds(), time.perf_counter()
        run_checked(argv, env)
        elapsed = time.perf_counter() - t0
        cpu.append(_machine_cpu_seconds() - cpu0)
        return elapsed
    return run, cpu


def measure(workdir: Path, scale: float | None, days: int, reps: int) -> tuple[str, dict]:
    """`scale` None: the tiny form (`lakehouse sql`), which only keeps the script working."""
    landing = None
    if scale is not None:
        landing = fresh_dir(workdir / "landing")
        generate(landing, scale=scale, seed=42, days=days)
    g1, g1_cpu = _command(workdir, landing, G1, scale or 0.01, days)
    default, default_cpu = _command(workdir, landing, DEFAULT, scale or 0.01, days)
    samples = side_by_side(reps, {"G1": g1, "default": default}, "B5 JVM garbage collector")
    data = {"scale": scale, "days": days, "default_options": DEFAULT, "samples": samples,
            "cpu": {"G1": g1_cpu, "default": default_cpu},
            "wall_s": {"G1": median(samples["G1"]), "default": median(samples["default"])},
            "cpu_s": {"G1": median(g1_cpu), "default": median(default_cpu)}}
    rows = [[f"G1 (`{G1}`, Java 17's default)", data["wall_s"]["G1"], data["cpu_s"]["G1"]],
            [f"the platform's (`{DEFAULT}`)", data["wall_s"]["default"], data["cpu_s"]["default"]]]
    what = (f"`lakehouse run` of {days} daily batch(es) at scale {scale:g} (every dataset, every layer, GX gates)"
            if landing else "`lakehouse sql` of one statement")
    text = (f"{what}, a fresh process on a fresh home per run; median of {reps}, order alternated. CPU: the "
            f"machine's, over the run.\n\n"
            + markdown_table(["JVM options", "wall (s)", "CPU (s)"], rows)
            + f"\n\nG1 / ParallelGC: wall {data['wall_s']['G1'] / data['wall_s']['default']:.2f}x, "
              f"CPU {data['cpu_s']['G1'] / data['cpu_s']['default']:.2f}x.")
    return text, data
