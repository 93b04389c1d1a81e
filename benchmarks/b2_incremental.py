"""B2: incremental vs full. At growing table sizes, one batch updating about 1% of the
orders is processed incrementally (on top of the tables built from the earlier batches)
and by a full rebuild (every batch, from an empty warehouse).

Both run in one warm local SparkSession (JVM start is B3's subject, not this one's). Delta's
own commit metrics say how many rows each run wrote: the incremental run should write rows
in proportion to the batch, not to the table.
"""

from __future__ import annotations

import csv
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.common import Section, fresh_dir, local_session, log, markdown_table, median, side_by_side
from lakehouse.config import GOLD, SILVER, load_settings
from lakehouse.generate import COLUMNS, STATUS_FLOW, generate
from lakehouse.tables import drop_databases

SEED = 42
BASE_DAYS = 2
START = date(2026, 1, 1)
CHANGE_DAY = START + timedelta(days=BASE_DAYS)
WRITTEN_TABLES = [f"{SILVER}.orders", f"{GOLD}.daily_revenue", f"{GOLD}.customer_lifetime_value",
                  f"{GOLD}.product_performance"]


def _pipeline(spark, settings, selection=None):
    from lakehouse.pipeline import run_pipeline
    from lakehouse.runs import BatchFilter
    from lakehouse.specs import load_catalog

    return run_pipeline(spark, settings, load_catalog(settings.specs_dir), selection=selection or BatchFilter())


def _fresh_settings(workdir: Path, landing: Path):
    return load_settings(home=fresh_dir(workdir / "home"), landing_uri=str(landing))


def _write_change_batch(spark, landing: Path, fraction: float) -> int:
    """One day's orders file moving `fraction` of all orders one status on (paid -> shipped...),
    and an empty customers file for the same day (orders' foreign key waits for it)."""
    total = spark.table(f"{SILVER}.orders").count()
    movable = spark.table(f"{SILVER}.orders").where("status NOT IN ('delivered', 'cancelled')")
    rows = movable.orderBy("order_id").limit(max(1, round(total * fraction))).collect()
    day = CHANGE_DAY.isoformat()
    folder = fresh_dir(landing / "orders" / day)
    with open(folder / f"orders-{day}.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS["orders"])
        for i, r in enumerate(rows):
            updated = f"{day} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
            out.writerow([r["order_id"], r["customer_id"], r["order_ts"].strftime("%Y-%m-%d %H:%M:%S"),
                          STATUS_FLOW[r["status"]], r["ship_country"], updated, "U"])
    customers = fresh_dir(landing / "customers" / day)
    (customers / f"customers-{day}.csv").write_text(",".join(COLUMNS["customers"]) + "\n")
    return len(rows)


def _versions(spark) -> dict[str, int]:
    from lakehouse.tables import current_version

    return {t: current_version(spark, t) for t in WRITTEN_TABLES}


def _rows_written(spark, after: dict[str, int] | None = None) -> dict[str, int]:
    """Rows Delta wrote to each table in the commits after `after` (all commits if None):
    a MERGE that rewrites a file counts every row it copied into the new file."""
    from delta.tables import DeltaTable

    written = {}
    for table in WRITTEN_TABLES:
        since = (after or {}).get(table, -1)
        history = DeltaTable.forName(spark, table).history().where(f"version > {since}").collect()
        written[table] = sum(int((h["operationMetrics"] or {}).get("numOutputRows", 0)) for h in history)
    return written


def _size(spark, workdir: Path, scale: float, reps: int) -> dict:
    landing = fresh_dir(workdir / f"landing-{scale:g}")
    generate(landing, scale=scale, seed=SEED, days=BASE_DAYS, start_date=START)
    drop_databases(spark)
    settings = _fresh_settings(workdir, landing)
    _pipeline(spark, settings)
    table_rows = spark.table(f"{SILVER}.orders").count()
    changed = _write_change_batch(spark, landing, fraction=0.01)
    measured: dict = {}
    at_base = [settings]  # the catalog holds the tables before the batch: the next incremental starts there

    def incremental() -> float:
        from lakehouse.runs import BatchFilter

        settings = at_base.pop() if at_base else None
        if settings is None:
            drop_databases(spark)
            settings = _fresh_settings(workdir, landing)
            _pipeline(spark, settings, BatchFilter(end=CHANGE_DAY))  # the tables before the batch: not timed
        before = _versions(spark)
        t0 = time.perf_counter()
        _pipeline(spark, settings)
        elapsed = time.perf_counter() - t0
        measured["incremental_written"] = _rows_written(spark, before)
        return elapsed

    def full() -> float:
        at_base.clear()
        drop_databases(spark)
        settings = _fresh_settings(workdir, landing)
        t0 = time.perf_counter()
        _pipeline(spark, settings)
        elapsed = time.perf_counter() - t0
        measured["full_written"] = _rows_written(spark)
        return elapsed

    samples = side_by_side(reps, {"incremental": incremental, "full": full}, f"B2 scale {scale:g}")
    return {"scale": scale, "orders_rows": table_rows, "changed": changed, "samples": samples,
            "incremental_s": median(samples["incremental"]), "full_s": median(samples["full"]), **measured}


def run(workdir: Path, scales: list[float], reps: int) -> Section:
    spark = local_session(workdir)
    results = [_size(spark, workdir, scale, reps) for scale in scales]
    log("B2 done")
    return Section("B2", "B2: incremental vs full rebuild", _markdown(results, reps), {"reps": reps, "sizes": results})


def _markdown(results: list[dict], reps: int) -> str:
    rows = []
    for r in results:
        incremental, full = r["incremental_written"], r["full_written"]
        rows.append([r["orders_rows"], r["changed"], r["incremental_s"], r["full_s"],
                     f"{r['full_s'] / r['incremental_s']:.1f}x",
                     incremental[f"{SILVER}.orders"] / r["changed"], sum(incremental.values()) / r["changed"],
                     sum(full.values())])
    table = markdown_table(["silver.orders rows", "orders changed", "incremental (s)", "full rebuild (s)",
                            "full / incremental", "silver.orders rows written per change",
                            "rows written per change (silver.orders + gold)", "rows written by the full rebuild"], rows)
    return (f"Tables built from {BASE_DAYS} daily batches at growing scales; then one batch moving 1% of the orders "
            "one status on. Incremental: that batch on top of the tables; full: every batch from an empty "
            f"warehouse. Same warm local session, median of {reps}, order alternated. Rows written are Delta's "
            f"`numOutputRows` over the run's commits (a MERGE counts every row it copies into rewritten files).\n\n"
            f"{table}")
