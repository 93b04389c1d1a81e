"""B1: end-to-end throughput. `lakehouse run` (embedded profile: local Spark, Delta on disk,
GX gates) vs the hand-written DuckDB script (benchmarks/duckdb_pipeline.py) on the same
landing files, each a fresh process on a fresh warehouse, at two or more scales.

The marginal ratio compares what one more scale step costs each engine: (platform's time
at the largest scale - at the smallest) / (DuckDB's likewise). It removes fixed costs
(JVM start, session, per-table commits) and leaves the per-row cost.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from benchmarks.common import (LAKEHOUSE, Section, fresh_dir, lakehouse_env, log, markdown_table, median,
                               run_checked, side_by_side)
from lakehouse.generate import generate

SEED = 42


def _records(manifest: dict, dataset: str | None = None) -> int:
    return sum(counts["rows"] for batch in manifest["batches"].values() for name, counts in batch.items()
               if dataset in (None, name))


def _platform(workdir: Path, landing: Path, manifest: dict):
    def run() -> float:
        home = fresh_dir(workdir / "platform-home")
        env = lakehouse_env(home, landing_uri=landing, days=manifest["days"], scale=manifest["scale"])
        t0 = time.perf_counter()
        run_checked([LAKEHOUSE, "run"], env)
        return time.perf_counter() - t0
    return run


def _duckdb(workdir: Path, landing: Path):
    def run() -> float:
        db = fresh_dir(workdir / "duckdb") / "lakehouse.duckdb"
        t0 = time.perf_counter()
        run_checked([sys.executable, "-m", "benchmarks.duckdb_pipeline", "--landing", landing, "--db", db])
        return time.perf_counter() - t0
    return run


def generator_alone(workdir: Path, scale: float, days: int) -> dict:
    """The generator at a size no pipeline run here needs: tens of millions of order lines."""
    landing = fresh_dir(workdir / "generator")
    log(f"B1 generator alone: scale {scale:g}, {days} days")
    t0 = time.perf_counter()
    manifest = generate(landing, scale=scale, seed=SEED, days=days)
    seconds = time.perf_counter() - t0
    shutil.rmtree(landing)
    return {"scale": scale, "days": days, "records": _records(manifest),
            "order_lines": _records(manifest, "order_items"), "seconds": seconds}


def run(workdir: Path, scales: list[float], days: int, reps: int, generator: tuple[float, int]) -> Section:
    alone = generator_alone(workdir, *generator)
    results = []
    for scale in scales:
        landing = fresh_dir(workdir / f"landing-{scale:g}")
        log(f"B1 generating scale {scale:g}, {days} day(s)")
        t0 = time.perf_counter()
        manifest = generate(landing, scale=scale, seed=SEED, days=days)
        generated = time.perf_counter() - t0
        samples = side_by_side(reps, {"platform": _platform(workdir, landing, manifest),
                                      "duckdb": _duckdb(workdir, landing)}, f"B1 scale {scale:g}")
        results.append({"scale": scale, "records": _records(manifest), "order_lines": _records(manifest, "order_items"),
                        "generate_s": generated, "samples": samples,
                        "platform_s": median(samples["platform"]), "duckdb_s": median(samples["duckdb"])})
    return Section("B1", "B1: end-to-end throughput, platform vs DuckDB", _markdown(results, days, reps, alone),
                   {"days": days, "reps": reps, "scales": results, "generator_alone": alone})


def _markdown(results: list[dict], days: int, reps: int, alone: dict) -> str:
    rows = [[f"{r['scale']:g}", r["records"], r["order_lines"], r["generate_s"], r["order_lines"] / r["generate_s"],
             r["platform_s"], r["duckdb_s"], r["records"] / r["platform_s"], r["records"] / r["duckdb_s"],
             f"{r['platform_s'] / r['duckdb_s']:.1f}x"] for r in results]
    table = markdown_table(["scale", "input records", "order lines", "generate (s)", "generated lines/s",
                            "platform (s)", "DuckDB (s)", "platform records/s", "DuckDB records/s",
                            "platform / DuckDB"], rows)
    small, large = results[0], results[-1]
    extra_records = large["records"] - small["records"]
    d_platform, d_duckdb = large["platform_s"] - small["platform_s"], large["duckdb_s"] - small["duckdb_s"]
    marginal = (f"Marginal, scale {small['scale']:g} -> {large['scale']:g} ({extra_records:,} more records): "
                f"platform +{d_platform:.1f}s ({extra_records / d_platform:,.0f} records/s), "
                f"DuckDB +{d_duckdb:.1f}s ({extra_records / d_duckdb:,.0f} records/s): "
                f"**marginal ratio {d_platform / d_duckdb:.1f}x**{_marginal_spread(small, large)}."
                if d_platform > 0 and d_duckdb > 0
                else "Marginal ratio: not measurable (a larger scale was not slower).")
    generator = (f"The generator alone (numpy): scale {alone['scale']:g}, {alone['days']} days, "
                 f"{alone['order_lines']:,} order lines ({alone['records']:,} records) in {alone['seconds']:.1f}s, "
                 f"{alone['order_lines'] / alone['seconds']:,.0f} order lines/s.")
    return (f"{days} daily batches per scale, every dataset; wall time of a fresh process on a fresh warehouse, "
            f"median of {reps}, order alternated.\n\n{table}\n\n{marginal}\n\n{generator}")


def _marginal_spread(small: dict, large: dict) -> str:
    """The marginal ratio of each repetition (the i-th run at one scale against the i-th at the other).
    The platform's increase is small beside its fixed costs, so this says how far the median can be trusted."""
    if "samples" not in small or "samples" not in large:
        return ""
    ratios = [(lp - sp) / (ld - sd)
              for sp, lp, sd, ld in zip(small["samples"]["platform"], large["samples"]["platform"],
                                        small["samples"]["duckdb"], large["samples"]["duckdb"])
              if lp > sp and ld > sd]
    if len(ratios) < 2:
        return ""
    return f" (per repetition {min(ratios):.1f}x to {max(ratios):.1f}x)"
