"""B8: ingestion throughput per landing format. The same records, as one day's file of each
format a spec reads (CSV, gzip-compressed CSV, JSON lines, gzip-compressed JSON lines,
Parquet), ingested into an empty bronze table as bronze ingests a batch
(lakehouse.layers.bronze.ingest_batches: the file read, its lines counted and fingerprinted,
every record parsed, bronze written and reconciled), without a run's other steps (the ops
tables, the file log, the audit: B1's subject). One warm local SparkSession, formats side by
side in alternating order. A write's fixed costs (a Delta commit, the reconciliation's query)
are the same for one record as for many: each format also ingests a file of one record, and
its throughput is the records beyond it over the time beyond it."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

from benchmarks.common import Section, fresh_dir, local_session, markdown_table, median, side_by_side, timed
from lakehouse.config import load_settings

DAY = "2026-01-01"
COLUMNS = ["event_id", "user_id", "page", "ms", "amount", "at"]
SPEC = """\
name: events
source: {{format: {format}}}
columns:
  - {{name: event_id, type: bigint, required: true}}
  - {{name: user_id, type: string, required: true}}
  - {{name: page, type: string}}
  - {{name: ms, type: int}}
  - {{name: amount, type: 'decimal(10,2)'}}
  - {{name: at, type: timestamp, required: true}}
keys: [event_id]
"""
FORMATS = {"CSV": ("csv", "events.csv"), "CSV, gzip": ("csv", "events.csv.gz"), "JSON lines": ("jsonl", "events.jsonl"),
           "JSON lines, gzip": ("jsonl", "events.jsonl.gz"), "Parquet": ("parquet", "events.parquet")}


def _records(n: int) -> list[dict]:
    return [{"event_id": i, "user_id": f"U{i % 997:04d}", "page": f"/shop/item/{i % 5003}, \"{i % 7}\"",
             "ms": i % 60_000, "amount": f"{i % 100_000 / 100:.2f}", "at": f"2026-01-01 {i // 3600 % 24:02d}:"
             f"{i // 60 % 60:02d}:{i % 60:02d}"} for i in range(n)]


def _write(folder: Path, records: list[dict]) -> dict[str, Path]:
    """One landing tree per format, the same records in each."""
    paths = {}
    for name, (_, file_name) in FORMATS.items():
        day = fresh_dir(folder / name.replace(", ", "-").replace(" ", "-") / "events" / DAY)
        path = day / file_name
        if file_name.endswith(".parquet"):
            import pandas as pd

            frame = pd.DataFrame(records)
            frame["amount"] = frame["amount"].map(Decimal)
            frame["at"] = pd.to_datetime(frame["at"]).astype("datetime64[us]")  # Spark reads no nanoseconds
            frame.to_parquet(path, index=False)
        else:
            opener = gzip.open if file_name.endswith(".gz") else open
            with opener(path, "wt", newline="", encoding="utf-8") as f:
                if ".csv" in file_name:
                    out = csv.DictWriter(f, COLUMNS)
                    out.writeheader()
                    out.writerows(records)
                else:
                    f.writelines(json.dumps(r) + "\n" for r in records)
        paths[name] = day.parent.parent
    return paths


def _specs(workdir: Path, fmt: str) -> Path:
    specs = fresh_dir(workdir / f"specs-{fmt}")
    (specs / "datasets").mkdir()
    (specs / "gold").mkdir()
    (specs / "datasets" / "events.yaml").write_text(SPEC.format(format=fmt))
    return specs


def run(workdir: Path, records: int, reps: int) -> Section:
    from lakehouse import tables
    from lakehouse.landing import LandedFile
    from lakehouse.layers.bronze import ingest_batches
    from lakehouse.specs import load_catalog

    all_records = _records(records)
    landings = {n: _write(fresh_dir(workdir / f"landing-{n}"), all_records[:n]) for n in (1, records)}
    spark = local_session(workdir)

    settings = load_settings(home=fresh_dir(workdir / "home"))
    tables.drop_databases(spark)
    tables.ensure_databases(spark, settings)

    def load(name: str, n: int):
        spec = load_catalog(_specs(workdir, FORMATS[name][0])).datasets["events"]
        spark.sql("DROP TABLE IF EXISTS bronze.events")
        # an external table's files outlive DROP: an empty table each time, not the last load's rows
        shutil.rmtree(settings.table_location("bronze", "events").removeprefix("file:"), ignore_errors=True)
        tables.ensure_table(spark, settings, "bronze.events", tables.bronze_schema(spec), partition_by=("_batch_id",))
        files = [p for p in (landings[n][name] / "events" / DAY).iterdir()]
        landed = [LandedFile(f"file:{p}", DAY, p.stat().st_size, 0, p.name) for p in files]

        def bronze():
            # an empty table, which run_bronze appends to
            [(run, _, _)] = ingest_batches(spark, spec, {DAY: landed}, replaces=False)
            if run.rows_read != n or run.inserted != n:
                raise RuntimeError(f"B8 {name}: bronze read {run.rows_read} and wrote {run.inserted} of {n}")
        return timed(bronze)

    load("CSV", 1)  # warm: the session's first tables and classes
    contenders = {f"{name}|{n}": (lambda name=name, n=n: load(name, n)) for name in FORMATS for n in (1, records)}
    samples = side_by_side(reps, contenders, "B8")
    medians = {key: median(s) for key, s in samples.items()}
    beyond = {name: medians[f"{name}|{records}"] - medians[f"{name}|1"] for name in FORMATS}
    sizes = {name: sum(p.stat().st_size for p in landings[records][name].rglob("*") if p.is_file())
             for name in FORMATS}
    rows = [[name, f"{sizes[name] / 1e6:,.1f}", f"{medians[f'{name}|{records}']:,.2f}", f"{medians[f'{name}|1']:,.2f}",
             f"{(records - 1) / beyond[name]:,.0f}" if beyond[name] > 0 else "not measurable",
             f"{beyond[name] / beyond['CSV']:.2f}x" if beyond["CSV"] > 0 and beyond[name] > 0 else "-"]
            for name in FORMATS]
    table = markdown_table(["format", "file (MB)", f"{records:,} records (s)", "1 record (s)",
                            "records/s beyond the fixed costs", "time vs CSV"], rows)
    text = (f"{records:,} records (6 columns: a bigint key, text with a comma and quotes, an int, a decimal, a "
            f"timestamp) in one day's file of each format, and a file of one of them, each ingested into an empty "
            f"bronze table; median of {reps}, order alternated.\n\n{table}")
    for n in (1, records):
        shutil.rmtree(workdir / f"landing-{n}", ignore_errors=True)
    return Section("B8", "B8: ingestion throughput per landing format", text,
                   {"records": records, "reps": reps, "samples": samples})
