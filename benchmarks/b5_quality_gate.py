"""B5: what profiling found and fixed, measured side by side (the garbage collector's part is
benchmarks/b5_jvm_gc.py, the drivers' class archive's benchmarks/b5_class_archive.py). First,
the quality gate: it judged every DataFrame with GX's Spark engine: a Spark job per metric
and about 2,000 py4j calls per validation, seconds for a batch of a few hundred rows. Up to
LAKEHOUSE_GX_PANDAS_MAX_ROWS it now judges a pandas copy of the checked columns (one Arrow
transfer). Here: one silver.orders validation (its 10 rules) with each engine, at growing row
counts.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import b5_class_archive, b5_jvm_gc
from benchmarks.common import Section, fresh_dir, local_session, markdown_table, median, side_by_side
from lakehouse.config import load_settings
from lakehouse.quality import checks as Q
from lakehouse.quality import gate as G
from lakehouse.specs import load_catalog


def _orders(spark, rows: int):
    """Parsed orders as silver's gate sees them, with the columns its derived rules read."""
    from pyspark.sql import functions as F

    return spark.range(rows).select(
        F.format_string("O%07d", "id").alias("order_id"),
        F.format_string("C%07d", F.col("id") % 1000).alias("customer_id"),
        F.current_timestamp().alias("order_ts"), F.element_at(F.array(*map(F.lit, ["placed", "paid", "shipped"])),
                                                              (F.col("id") % 3 + 1).cast("int")).alias("status"),
        F.lit("DE").alias("ship_country"), F.current_timestamp().alias("updated_at"),
        F.lit("2026-01-02").alias("_batch_id")).cache()


def _evidence(spark, rows: int) -> Q.Evidence:
    """What the derived rules are judged against: every customer the orders name, and the
    batch before with about as many records."""
    from pyspark.sql import functions as F

    customers = spark.range(1000).select(F.format_string("C%07d", "id").alias("customer_id"))
    return Q.Evidence(references={"customer_exists": customers},
                      batch_rows={"2026-01-01": rows, "2026-01-02": rows})


def run(workdir: Path, row_counts: list[int], reps: int, gc_run: tuple[float | None, int]) -> Section:
    """`gc_run`: the scale and days of the garbage collector's `lakehouse run` (scale None: tiny)."""
    spark = local_session(workdir)
    spec = load_catalog(Path(__file__).resolve().parents[1] / "pipelines").datasets["orders"]
    default = load_settings(home=workdir).gx_pandas_max_rows
    gate = G.QualityGate(fresh_dir(workdir / "gx"), default)
    results = []
    for rows in row_counts:
        frame, evidence = _orders(spark, rows), _evidence(spark, rows)
        frame.count()

        def validate(limit: int, frame=frame, evidence=evidence):  # this round's frames, bound now
            def timed() -> float:
                gate.pandas_max_rows = limit
                checks = Q.silver_checks(spec)  # GX expectations belong to one suite: fresh ones
                t0 = time.perf_counter()
                gate.validate("silver", "silver.orders", "bench", Q.judged(frame, checks, evidence), checks)
                return time.perf_counter() - t0
            return timed

        validate(default)()  # warm: GX's import and context, the code paths
        samples = side_by_side(reps, {"spark": validate(0), "pandas": validate(max(default, rows))},
                               f"B5 {rows:,} rows")
        frame.unpersist()
        results.append({"rows": rows, "samples": samples, "spark_s": median(samples["spark"]),
                        "pandas_s": median(samples["pandas"])})
    rows_md = [[r["rows"], r["spark_s"], r["pandas_s"], f"{r['spark_s'] / r['pandas_s']:.1f}x"] for r in results]
    table = markdown_table(["rows judged", "GX Spark engine (s)", "GX pandas engine (s)", "speed-up"], rows_md)
    gate_text = (f"One validation of silver.orders' {len(Q.silver_checks(spec))} rules on a cached DataFrame, warm "
                 f"session and GX context; median of {reps}, order alternated. The gate uses pandas up to "
                 f"{default:,} rows.\n\n{table}")
    gc_text, gc_data = b5_jvm_gc.measure(workdir / "gc", *gc_run, reps)
    archive_text, archive_data = b5_class_archive.measure(workdir / "archive", *gc_run, reps)
    text = (f"### The quality gate's engine\n\n{gate_text}\n\n"
            f"### The JVMs' garbage collector and C2 thresholds\n\n{gc_text}\n\n"
            f"### The drivers' class archive\n\n{archive_text}")
    return Section("B5", "B5: what profiling found, before and after", text,
                   {"reps": reps, "results": results, "gc": gc_data, "class_archive": archive_data})
