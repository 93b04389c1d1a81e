"""B5, second finding: the JVMs' garbage collector. Thread CPU of a small `lakehouse run` on
2 cores showed the JVM busy far beyond the Spark tasks' own work; with Java 17's default G1
(concurrent threads, costlier write barriers) the same run took more CPU than with
ParallelGC (single runs: up to a third; side by side, median of 3: 7% on a quiet host, 15%
on a busier one), which every JVM of the platform now uses (Settings.jvm_options).

Third finding: with Java's own C2 thresholds a new driver JVM spent about as much CPU in C2
as on everything else, compiling planning code that runs thousands of times; the platform's
options raise them about 10x (Settings.jvm_options).

Here: the same command in a fresh process on a fresh home, side by side: with G1 (the
platform's options, G1 for ParallelGC), with ParallelGC and Java's C2 thresholds (the
platform's options before the thresholds), and with the platform's options. CPU is the
machine's (/proc/stat) over the run: the command's JVM is not a child Python waits for, so
its own counters are lost at exit; run it on an otherwise quiet machine.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import LAKEHOUSE, fresh_dir, lakehouse_env, markdown_table, median, run_checked, side_by_side
from lakehouse.config import C2_THRESHOLDS, PARALLEL_GC, Settings
from lakehouse.generate import generate

DEFAULT = Settings.model_fields["jvm_options"].default
G1 = f"-XX:+UseG1GC {C2_THRESHOLDS}"


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
    contenders = {"G1": G1, "java_c2": PARALLEL_GC, "default": DEFAULT}
    runs = {name: _command(workdir, landing, options, scale or 0.01, days) for name, options in contenders.items()}
    samples = side_by_side(reps, {name: run for name, (run, _) in runs.items()}, "B5 JVM options")
    cpu = {name: cpu for name, (_, cpu) in runs.items()}
    data = {"scale": scale, "days": days, "default_options": DEFAULT, "options": contenders, "samples": samples,
            "cpu": cpu, "wall_s": {name: median(samples[name]) for name in contenders},
            "cpu_s": {name: median(cpu[name]) for name in contenders}}
    labels = {"G1": "G1 (Java 17's default collector)", "java_c2": "ParallelGC, Java's C2 thresholds",
              "default": "the platform's"}
    rows = [[f"{labels[name]} (`{options}`)", data["wall_s"][name], data["cpu_s"][name]]
            for name, options in contenders.items()]
    what = (f"`lakehouse run` of {days} daily batch(es) at scale {scale:g} (every dataset, every layer, GX gates)"
            if landing else "`lakehouse sql` of one statement")

    def ratio(name: str, key: str) -> str:
        return f"{data[key][name] / data[key]['default']:.2f}x"

    text = (f"{what}, a fresh process on a fresh home per run; median of {reps}, order alternated. CPU: the "
            f"machine's, over the run.\n\n"
            + markdown_table(["JVM options", "wall (s)", "CPU (s)"], rows)
            + f"\n\nAgainst the platform's: G1 wall {ratio('G1', 'wall_s')}, CPU {ratio('G1', 'cpu_s')}; "
              f"Java's C2 thresholds wall {ratio('java_c2', 'wall_s')}, CPU {ratio('java_c2', 'cpu_s')}.")
    return text, data
