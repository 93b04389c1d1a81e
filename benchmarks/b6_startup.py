"""B6: what the native platform costs to start and to keep idle, with DQOps and without it.

Each cycle, from a new home: `lakehouse up` (the first start: secrets, TLS, PostgreSQL's
initdb, Airflow's and Superset's migrations and provisioning, DQOps's user home), the
platform left idle for IDLE_SECONDS, its memory read as `lakehouse status` reports it
(proportional set size of each service's processes: shared pages counted once), then
`down` and `up` again (a restart) and `down`. Without DQOps is a home whose
LAKEHOUSE_DQOPS_HOME names no installation: `up` skips it in one line, as on a machine
without one. The two alternate, so drift favours neither. It needs the platform's ports
free: it cannot run beside a running platform (so neither `make test` nor `make bench-smoke` runs it).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from benchmarks.common import (LAKEHOUSE, Section, fresh_dir, lakehouse_env, log, markdown_table, median,
                               new_platform_home, run_checked, timed)

IDLE_SECONDS = 30
VARIANTS = ("with DQOps", "without DQOps")


def _cycle(workdir: Path, with_dqops: bool) -> dict:
    home = new_platform_home("lakehouse-b6-")
    env = lakehouse_env(home, **({} if with_dqops else {"dqops_home": workdir / "no-dqops-here"}))
    try:
        first = timed(lambda: run_checked([LAKEHOUSE, "up"], env))
        time.sleep(IDLE_SECONDS)
        services = json.loads(run_checked([LAKEHOUSE, "status", "--format", "json"], env))
        running = [s for s in services if s["state"] == "running"]
        run_checked([LAKEHOUSE, "down"], env)
        restart = timed(lambda: run_checked([LAKEHOUSE, "up"], env))
        return {"first_up_s": first, "restart_up_s": restart, "services": len(running),
                "idle_mb": sum(s["memory_mb"] or 0 for s in running),
                "dqops_mb": sum(s["memory_mb"] or 0 for s in running if s["name"] == "dqops")}
    finally:
        run_checked([LAKEHOUSE, "down"], env)
        shutil.rmtree(home, ignore_errors=True)


def run(workdir: Path, reps: int) -> Section:
    fresh_dir(workdir)
    samples: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        for variant in VARIANTS if rep % 2 == 0 else reversed(VARIANTS):
            samples[variant].append(_cycle(workdir, variant == "with DQOps"))
            s = samples[variant][-1]
            log(f"B6 {variant} rep {rep + 1}/{reps}: up {s['first_up_s']:.1f}s, restart {s['restart_up_s']:.1f}s, "
                f"idle {s['idle_mb']:,.0f} MB ({s['services']} services)")
    if samples["with DQOps"][0]["dqops_mb"] <= 0:
        raise RuntimeError("B6: DQOps was not running in the 'with DQOps' cycles (is it installed? make platform)")
    medians = {v: {k: median([s[k] for s in samples[v]]) for k in samples[v][0]} for v in VARIANTS}
    return Section("B6", "B6: starting the native platform, with and without DQOps", _markdown(medians, reps),
                   {"reps": reps, "idle_seconds": IDLE_SECONDS, "samples": samples})


def _markdown(medians: dict[str, dict], reps: int) -> str:
    rows = [[v, int(m["services"]), m["first_up_s"], m["restart_up_s"], m["idle_mb"], m["dqops_mb"]]
            for v, m in medians.items()]
    with_, without = medians["with DQOps"], medians["without DQOps"]
    table = markdown_table(["platform", "services", "first `up` (s)", "restart `up` (s)",
                            f"idle memory after {IDLE_SECONDS} s (MB)", "of which DQOps (MB)"], rows)
    return (f"{table}\n\nMedian of {reps} cycle(s) each, alternated. DQOps adds "
            f"{with_['first_up_s'] - without['first_up_s']:+.1f} s to the first `up` "
            f"({with_['first_up_s'] / without['first_up_s']:.2f}x), "
            f"{with_['restart_up_s'] - without['restart_up_s']:+.1f} s to a restart "
            f"({with_['restart_up_s'] / without['restart_up_s']:.2f}x) and "
            f"{with_['idle_mb'] - without['idle_mb']:+,.0f} MB to the idle platform "
            f"({with_['idle_mb'] / without['idle_mb']:.2f}x). Services start side by side once "
            "those they need are healthy (DQOps after the Thrift server, beside Superset and Airflow), "
            "so DQOps's start mostly overlaps the others'.")
