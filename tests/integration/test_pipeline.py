"""The whole pipeline on a temporary warehouse, checked against the generator's manifest.

Batches are processed in two runs (the first two days, then the rest) so the second run
takes the incremental paths: multi-batch MERGE against existing silver, SCD2 closes, and
gold recomputed from the change feed."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from rich.console import Console

from lakehouse import ops_views, tables
from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline
from lakehouse.report import print_summary
from lakehouse.runs import OUTCOMES, BatchFilter
from lakehouse.specs import load_catalog
from tests.conftest import reset_catalog

pytestmark = pytest.mark.integration
DAYS = 4


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    reset_catalog(spark)
    home = tmp_path_factory.mktemp("pipeline")
    settings = load_settings(home=home, shuffle_partitions=2)
    manifest = generate(Path(settings.landing_uri), scale=0.3, seed=11, days=DAYS)
    catalog = load_catalog(settings.specs_dir)
    first = run_pipeline(spark, settings, catalog, selection=BatchFilter(end=date(2026, 1, 3)))
    second = run_pipeline(spark, settings, catalog)
    return SimpleNamespace(settings=settings, manifest=manifest, catalog=catalog, first=first, second=second,
                           runs=first.runs + second.runs)


def _silver_runs(built):
    return {(r.table_name.split(".")[1], r.batch_id): r for r in built.runs if r.layer == "silver"}


def test_every_batch_was_processed_once(built):
    for layer in ("bronze", "silver"):
        keys = [(r.table_name, r.batch_id) for r in built.runs if r.layer == layer]
        assert len(keys) == len(set(keys)) == 4 * DAYS


def test_bronze_keeps_every_landing_line(spark, built):
    counts = {(r["_batch_id"]): r["count"] for r in spark.table("bronze.orders").groupBy("_batch_id").count().collect()}
    for dataset in built.catalog.datasets:
        got = {r["_batch_id"]: r["count"]
               for r in spark.table(f"bronze.{dataset}").groupBy("_batch_id").count().collect()}
        assert got == {b: d[dataset]["rows"] for b, d in built.manifest["batches"].items()}, dataset
    assert counts


def test_silver_accounting_matches_the_manifest_exactly(built):
    runs = _silver_runs(built)
    for batch_id, datasets in built.manifest["batches"].items():
        for dataset, m in datasets.items():
            run = runs[(dataset, batch_id)]
            got = (run.rows_read, run.inserted, run.updated, run.deleted, run.duplicates, run.superseded,
                   run.quarantined, run.dropped)
            want = (m["rows"], m["inserts"], m["updates"], m["deletes"], m["duplicates"], m["superseded"],
                    _bad(m), 0)
            assert got == want, (dataset, batch_id)
            assert _by_kind(run.quarantined_by_rule) == _manifest_kinds(m), (dataset, batch_id)


def _bad(m: dict) -> int:
    return m["null_required"] + m["malformed"] + m["out_of_range"] + m["orphans"]


def _kind(rule: str) -> str:
    return {"malformed": "malformed", "customer_exists": "orphan"}.get(rule, "null" if rule.startswith("not_null")
                                                                     else "range")


def _by_kind(counts: dict[str, int]) -> Counter:
    out = Counter()
    for rule, n in counts.items():
        out[_kind(rule)] += n
    return out - Counter()


def _manifest_kinds(m: dict) -> Counter:
    return Counter(malformed=m["malformed"], null=m["null_required"], range=m["out_of_range"],
                   orphan=m["orphans"]) - Counter()


def test_great_expectations_judged_exactly_the_manifests_bad_records(spark, built):
    """GX's unexpected counts per rule, kept in ops.validations, are the manifest's defects
    (each defect record breaks exactly one rule; malformed records are parsing, not GX's)."""
    rows = spark.table("ops.validations").where("layer = 'silver'").collect()
    for dataset in built.catalog.datasets:
        judged = {}
        for r in rows:
            if r["table_name"] == f"silver.{dataset}" and r["unexpected_count"]:
                judged[r["rule"]] = judged.get(r["rule"], 0) + r["unexpected_count"]
        want = sum((_manifest_kinds(d[dataset]) for d in built.manifest["batches"].values()), Counter())
        assert _by_kind(judged) == want - Counter(malformed=want["malformed"]), dataset
        for r in rows:  # GX judged every record that parsed, in the batches it was given
            if r["table_name"] == f"silver.{dataset}":
                batches = r["scope"].removeprefix("batches ").split(",")
                m = built.manifest["batches"]
                assert r["element_count"] == sum(m[b][dataset]["rows"] - m[b][dataset]["malformed"] for b in batches)
        assert all(r["outcome"] == ("passed" if not r["unexpected_count"] else "quarantined")
                   for r in rows if r["table_name"] == f"silver.{dataset}" and r["action"] == "quarantine")


def test_every_validation_is_in_the_data_docs_and_the_summary(spark, built):
    docs = Path(built.settings.quality_dir) / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert built.second.data_docs == (docs / "index.html").as_uri()
    pages = {r["docs_page"] for r in spark.table("ops.validations").collect()}
    assert len(pages) == len(built.first.validations) + len(built.second.validations) == 2 * 7
    for page in pages:
        assert Path(page.removeprefix("file://")).is_file(), page
    index = (docs / "index.html").read_text()
    assert all(f"silver.{d}" in index for d in built.catalog.datasets)
    assert all(f"gold.{g}" in index for g in built.catalog.gold)
    console = Console(record=True, width=160)
    print_summary(console, built.second, 1.0)
    text = console.export_text()
    assert "customer_exists" in text and built.second.data_docs in text.replace("\n", "")


def test_quarantine_keeps_raw_text_file_and_reason(spark, built):
    q = spark.table("ops.quarantine")
    expected = sum(_bad(d[ds]) for d in built.manifest["batches"].values() for ds in d)
    assert q.count() == expected
    assert q.where("raw IS NULL OR reason IS NULL OR source_file IS NULL OR rule IS NULL").count() == 0
    bad_csv = q.where("dataset = 'orders' AND rule = 'malformed'").collect()
    assert bad_csv and all(r["reason"].startswith(("too many fields", "too few fields")) for r in bad_csv)
    assert all(len(r["raw"].split(",")) != 7 for r in bad_csv)
    bad_json = q.where("dataset = 'order_items' AND rule = 'malformed'").collect()
    assert bad_json and all(not r["raw"].endswith("}") for r in bad_json)


def test_final_silver_state_matches_the_generator(spark, built):
    final = built.manifest["final"]
    for dataset in ("products", "orders", "order_items"):
        assert spark.table(f"silver.{dataset}").count() == final[dataset]["live_keys"], dataset
    customers = spark.table("silver.customers")
    assert customers.count() == final["customers"]["history_rows"]
    assert customers.where("is_current").count() == final["customers"]["live_keys"]
    assert customers.where("is_current").select("customer_id").distinct().count() == final["customers"]["live_keys"]


def test_scd2_history_chains_versions(spark, built):
    rows = spark.table("silver.customers").orderBy("customer_id", "valid_from").collect()
    by_key: dict[str, list] = {}
    for r in rows:
        by_key.setdefault(r["customer_id"], []).append(r)
    updated = [v for v in by_key.values() if len(v) > 1]
    assert updated, "the generator updates customers; silver must keep their history"
    for versions in updated:
        for older, newer in zip(versions, versions[1:]):
            assert older["valid_to"] == newer["valid_from"] and not older["is_current"]
        assert all(v["valid_to"] is None or v["valid_to"] > v["valid_from"] for v in versions)
        assert sum(v["is_current"] for v in versions) <= 1


def _deleted_keys(settings, dataset: str, key: str) -> set[str]:
    import csv

    out = set()
    for path in Path(settings.landing_uri, dataset).rglob("*.csv"):
        for row in csv.DictReader(path.read_text().splitlines()):
            if row.get("op") == "D":
                out.add(row[key])
    return out


@pytest.mark.parametrize("dataset", ["products", "customers"])  # SCD1 and SCD2
def test_silver_merges_leave_out_matched_clauses_only_when_the_plan_only_inserts(spark, built, dataset):
    """The history load, inserts alone into an empty table, is an append; after it, a MERGE
    keeps its matched clauses exactly when it updates or deletes (Delta's insert-only MERGE
    reads its source once)."""
    writes = [r for r in spark.sql(f"DESCRIBE HISTORY silver.{dataset}").orderBy("version").collect()
              if r["operation"] in ("WRITE", "MERGE")]
    assert (writes[0]["operation"], writes[0]["operationParameters"]["mode"]) == ("WRITE", "Append")
    merges = writes[1:]
    assert merges and {r["operation"] for r in merges} == {"MERGE"}
    clauses = [json.loads(r["operationParameters"]["matchedPredicates"]) for r in merges]
    changed = [sum(int(r["operationMetrics"].get(m, "0")) for m in ("numTargetRowsUpdated", "numTargetRowsDeleted"))
               for r in merges]
    assert any(changed) and all(bool(c) == bool(n) for c, n in zip(clauses, changed)), list(zip(clauses, changed))


def test_a_days_merge_into_silver_is_one_file(spark, built):
    """Silver's MERGEs pack the files they write by size (tables._execute_packed): a day's
    changes are one data file, not one per shuffle partition of the plan that made them."""
    for dataset in ("orders", "order_items", "customers", "products"):
        added = [int(r["operationMetrics"]["numTargetFilesAdded"])
                 for r in spark.sql(f"DESCRIBE HISTORY silver.{dataset}").collect() if r["operation"] == "MERGE"]
        assert added and all(n <= 1 for n in added), (dataset, added)


def test_deletes_are_applied(spark, built):
    orders = _deleted_keys(built.settings, "orders", "order_id")
    assert orders
    assert spark.table("silver.orders").where(F.col("order_id").isin(list(orders))).count() == 0
    assert spark.table("silver.order_items").where(F.col("order_id").isin(list(orders))).count() == 0
    customers = _deleted_keys(built.settings, "customers", "customer_id")
    assert customers
    closed = spark.table("silver.customers").where(F.col("customer_id").isin(list(customers)))
    assert closed.where("is_current").count() == 0 and closed.count() >= len(customers)


def test_audit_records_every_run_and_accounting_closes(spark, built):
    audit = spark.table("ops.audit").where("layer = 'silver'").collect()
    assert len(audit) == 4 * DAYS
    for r in audit:
        accounted = sum(r[c] for c in ("inserted", "updated", "deleted", "quarantined", "dropped", "duplicates",
                                       "superseded"))
        assert r["rows_read"] == accounted and r["status"] == "ok" and r["delta_version"] is not None


def test_incremental_gold_equals_a_full_recompute(spark, built):
    incremental = [r for r in built.second.runs if r.table_name == "gold.daily_revenue"]
    assert incremental and incremental[0].detail.startswith("recomputed")
    for spec in built.catalog.gold.values():
        table, fresh = spark.table(f"gold.{spec.name}"), spark.sql(spec.sql)
        assert table.count() == fresh.count() > 0, spec.name
        assert table.exceptAll(fresh).count() == 0 and fresh.exceptAll(table).count() == 0, spec.name


def test_gold_revenue_excludes_cancelled_and_deleted_orders(spark, built):
    total = spark.sql("SELECT SUM(revenue) FROM gold.daily_revenue").collect()[0][0]
    live = spark.sql("""SELECT SUM(i.quantity * i.unit_price) FROM silver.orders o
                        JOIN silver.order_items i ON i.order_id = o.order_id
                        WHERE o.status <> 'cancelled'
                          AND i.product_id IN (SELECT product_id FROM silver.products)""").collect()[0][0]
    assert total == live and total > 0


def _versions(spark):
    out = {}
    for db in ("bronze", "silver", "gold", "ops"):
        for t in [t for t in spark.catalog.listTables(db) if t.tableType != "VIEW"]:  # views have no history
            out[f"{db}.{t.name}"] = spark.sql(f"DESCRIBE HISTORY {db}.{t.name} LIMIT 1").collect()[0]["version"]
    return out


def _checksums(spark, catalog):
    return {g: spark.sql(f"SELECT COUNT(*), SUM(hash(*)) FROM gold.{g}").collect()[0][:] for g in catalog.gold}


def _comments(spark, table: str) -> dict[str, str]:
    """The column comments DESCRIBE shows (its rows up to the first section header)."""
    out = {}
    for row in spark.sql(f"DESCRIBE {table}").collect():
        if not row["col_name"] or row["col_name"].startswith("#"):
            break
        if row["comment"]:
            out[row["col_name"]] = row["comment"]
    return out


def test_column_descriptions_are_the_tables_column_comments(spark, built, tmp_path):
    for spec in built.catalog.datasets.values():
        described = {c.name: c.description for c in spec.columns if c.description}
        assert described, spec.name  # the shipped specs describe their columns
        assert _comments(spark, f"bronze.{spec.name}") == described, spec.name
        held = spark.table(f"silver.{spec.name}").columns
        assert _comments(spark, f"silver.{spec.name}") == {c: d for c, d in described.items() if c in held}, spec.name
    for name, spec in built.catalog.gold.items():
        assert spec.columns and _comments(spark, f"gold.{name}") == spec.columns, name

    # A changed description is the comment after the next run: a metadata commit, no new data.
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    orders = specs / "datasets" / "orders.yaml"
    orders.write_text(orders.read_text().replace("description: the shop's order number",
                                                 "description: 'the order''s number, as the shop prints it'"))
    revenue = specs / "gold" / "daily_revenue.yaml"
    revenue.write_text(revenue.read_text().replace("  units: items sold that day\n", ""))
    versions = _versions(spark)
    changed = run_pipeline(spark, built.settings, load_catalog(specs))
    assert changed.runs == [] and changed.published == []
    for table in ("bronze.orders", "silver.orders"):
        assert _comments(spark, table)["order_id"] == "the order's number, as the shop prints it"
        assert spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").collect()[0]["operation"] == "CHANGE COLUMN"
    assert "units" not in _comments(spark, "gold.daily_revenue")
    moved = {t for t, v in _versions(spark).items() if v != versions[t]}
    assert moved == {"bronze.orders", "silver.orders", "gold.daily_revenue"}
    restored = run_pipeline(spark, built.settings, built.catalog)
    assert restored.runs == [] and _comments(spark, "silver.orders")["order_id"] == "the shop's order number"
    assert _comments(spark, "gold.daily_revenue")["units"] == "items sold that day"


def test_rerun_changes_nothing(spark, built):
    before, sums = _versions(spark), _checksums(spark, built.catalog)
    result = run_pipeline(spark, built.settings, built.catalog)
    assert result.runs == []
    assert _versions(spark) == before
    assert _checksums(spark, built.catalog) == sums


def test_replaying_an_applied_batch_writes_no_data(spark, built):
    """Even when the audit forgets a batch (a crash after the MERGE), replaying it is a no-op."""
    last = max(built.manifest["batches"])
    spark.sql(f"DELETE FROM ops.audit WHERE table_name = 'silver.orders' AND batch_id = '{last}'")
    before, sums = _versions(spark), _checksums(spark, built.catalog)
    result = run_pipeline(spark, built.settings, built.catalog, datasets=["orders"], layers=("silver", "gold"))
    (run,) = [r for r in result.runs if r.layer == "silver"]
    m = built.manifest["batches"][last]["orders"]
    assert (run.inserted, run.updated, run.deleted) == (0, 0, 0)
    assert run.superseded == m["inserts"] + m["updates"] + m["deletes"] + m["superseded"]
    assert [r for r in result.runs if r.layer == "gold"] == []
    after = _versions(spark)
    assert after["silver.orders"] == before["silver.orders"]
    assert {k: v for k, v in after.items() if k.startswith("gold")} == \
        {k: v for k, v in before.items() if k.startswith("gold")}
    assert _checksums(spark, built.catalog) == sums
    writes = [r["operation"] for r in spark.sql("DESCRIBE HISTORY silver.orders").orderBy("version").collect()
              if r["operation"] in ("WRITE", "MERGE")]
    assert writes == ["WRITE", "MERGE"]  # one per run that had new batches (the first into an empty table)



def test_a_gold_table_registered_again_over_its_folder_is_merged_into_not_appended_to(spark, built):
    """DROP TABLE keeps an external table's files; the next build registers the name over the
    same log, which holds its rows: the build finds nothing differing (it appends only into a
    table whose log says it holds nothing), so no row is there twice and no version is made."""
    spec = built.catalog.gold["daily_revenue"]
    before = tables.current_version(spark, "gold.daily_revenue")
    spark.sql("DROP TABLE gold.daily_revenue")
    run_pipeline(spark, built.settings, built.catalog, layers=("gold",))
    assert tables.current_version(spark, "gold.daily_revenue") == before
    table, fresh = spark.table("gold.daily_revenue"), spark.sql(spec.sql)
    assert table.count() == fresh.count() > 0
    assert table.exceptAll(fresh).count() == 0 and fresh.exceptAll(table).count() == 0


# -- the benchmark's baseline (benchmarks/duckdb_pipeline.py) on the same landing files -----
# The hand-written DuckDB full rebuild must reach what these two incremental runs built: the
# same gold tables (every row, column and type), silver row counts and record accounting.
# And delta-rs, which the serving benchmark reads the platform's tables with, reads them.
GOLD_TABLES = ("customer_lifetime_value", "daily_revenue", "product_performance")


@pytest.fixture(scope="module")
def reference(built, tmp_path_factory):
    from benchmarks.duckdb_pipeline import run

    db = tmp_path_factory.mktemp("duckdb-reference") / "reference.duckdb"
    counts = run(Path(built.settings.landing_uri), db_path=db)
    con = duckdb.connect(str(db), read_only=True)
    yield SimpleNamespace(counts=counts, con=con)
    con.close()


def _value(v):
    return str(v) if isinstance(v, Decimal) else v


def _sorted(rows) -> list[tuple]:
    return sorted((tuple(_value(v) for v in r) for r in rows), key=repr)


def assert_gold_equals_duckdb(spark, con, counts: dict) -> None:
    """Every gold table equals the DuckDB baseline's: every row, column and type."""
    for name in GOLD_TABLES:
        df = spark.table(f"gold.{name}")
        ours = con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                           f"WHERE table_schema = 'gold' AND table_name = '{name}' ORDER BY ordinal_position")
        spark_types = [(c, {"string": "VARCHAR"}.get(t, t.upper())) for c, t in df.dtypes]
        assert ours.fetchall() == spark_types, name
        # Timestamps as text on both sides: PySpark would turn them into the process's local time.
        timestamps = [c for c, t in df.dtypes if t == "timestamp"]
        theirs = df.select(*[F.col(c).cast("string").alias(c) if c in timestamps else F.col(c) for c in df.columns])
        cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" if c in timestamps else c for c in df.columns)
        ours = con.execute(f"SELECT {cols} FROM gold.{name}").fetchall()
        assert ours, name
        assert _sorted(ours) == _sorted(theirs.collect()), name
        assert counts["gold"][name] == len(ours)


def test_duckdb_baseline_gold_tables_are_equal(spark, built, reference):
    assert_gold_equals_duckdb(spark, reference.con, reference.counts)


def test_duckdb_baseline_silver_row_counts_are_equal(spark, built, reference):
    for dataset, c in reference.counts["datasets"].items():
        assert c["silver_rows"] == spark.table(f"silver.{dataset}").count(), dataset
        assert c["silver_rows"] == reference.con.execute(f"SELECT count(*) FROM silver.{dataset}").fetchone()[0]
    history = reference.con.execute("SELECT count(*), count(*) FILTER (is_current) FROM silver.customers").fetchone()
    final = built.manifest["final"]["customers"]
    assert history == (final["history_rows"], final["live_keys"])


def test_duckdb_baseline_accounts_for_every_record_as_the_platform(spark, built, reference):
    platform = {}
    for r in built.runs:
        if r.layer == "silver":
            totals = platform.setdefault(r.table_name.split(".")[1], dict.fromkeys(("rows_read", *OUTCOMES), 0))
            for k in totals:
                totals[k] += getattr(r, k)
    for dataset, c in reference.counts["datasets"].items():
        assert c["read"] == c["valid"] + c["quarantined"] + c["dropped"], dataset
        assert c["read"] == spark.table(f"bronze.{dataset}").count() == sum(
            b[dataset]["rows"] for b in built.manifest["batches"].values()), dataset
        assert sum(c["quarantined_by_rule"].values()) == c["quarantined"]
        # Each record's fate as the platform counted it, batch by batch.
        assert {k: c[k] for k in OUTCOMES} == {k: v for k, v in platform[dataset].items() if k != "rows_read"}, dataset
    quarantined = reference.con.execute("SELECT count(*) FROM ops.quarantine WHERE raw IS NOT NULL").fetchone()[0]
    assert quarantined == sum(c["quarantined"] for c in reference.counts["datasets"].values()) > 0


def test_deltalake_reads_the_platforms_delta_tables(spark, built):
    for name in GOLD_TABLES:
        table = DeltaTable(built.settings.table_location("gold", name))
        dataset = table.to_pyarrow_dataset()
        assert dataset.count_rows() == spark.table(f"gold.{name}").count(), name
        # ... and DuckDB queries it through Arrow.
        assert duckdb.connect().execute("SELECT count(*) FROM dataset").fetchone()[0] == dataset.count_rows()


def test_the_ops_views_answer_from_the_ops_tables(spark, built):
    """The data-quality views (lakehouse.ops_views) exist after a run, have their declared
    columns and types, and say what the ops tables say, computed here from their rows (the
    tests above may add runs: the expectations come from the tables, not from `built`)."""
    for view in ops_views.views(built.catalog):
        schema = spark.table(view.fqname).schema
        assert [(f.name, f.dataType.simpleString()) for f in schema] == [(c, t) for c, t, _ in view.columns], view.name
    audit = spark.table("ops.audit").collect()
    silver = {}
    done = [r for r in audit if r["layer"] == "silver" and r["status"] == "ok"]
    for r in sorted(done, key=lambda r: r["started_at"]):
        silver[(r["table_name"].split(".")[1], r["batch_id"])] = r  # the latest per batch
    by_batch = {(r["dataset"], r["batch_date"].isoformat()): r for r in spark.table("ops.quality_by_batch").collect()}
    assert set(by_batch) == set(silver) and len(silver) == 4 * DAYS
    for key, run in silver.items():
        passed = run["rows_read"] - run["quarantined"] - run["dropped"]
        row = by_batch[key]
        assert (row["rows_read"], row["passed"], row["warned"]) == (run["rows_read"], passed,
                                                                    sum((run["warnings"] or {}).values()))
        assert row["passed_share"] == pytest.approx(passed / run["rows_read"])
    volume = {(r["dataset"], r["batch_date"].isoformat()): r for r in spark.table("ops.volume").collect()}
    (band,) = [e.max_change for e in built.catalog.datasets["orders"].expectations if e.type == "row_count_change"]
    days = sorted(b for d, b in silver if d == "orders")
    for before, day in zip(days, days[1:]):
        row, previous = volume[("orders", day)], silver[("orders", before)]["rows_read"]
        assert (row["previous_rows"], row["band_high"]) == (previous, pytest.approx(previous * (1 + float(band))))
        assert row["outside_band"] == (abs(silver[("orders", day)]["rows_read"] / previous - 1) > band)
    assert volume[("customers", days[-1])]["max_change"] is None  # no row_count_change rule
    fresh = {r["dataset"]: r["last_batch"].isoformat() for r in spark.table("ops.freshness").collect()}
    assert fresh == {d: max(b for n, b in silver if n == d) for d, _ in silver}
    quarantine = spark.table("ops.quarantine").collect()
    by_rule = {(r["dataset"], r["rule"]): r for r in spark.table("ops.quarantine_by_rule").collect()}
    counted = Counter((q["dataset"], q["rule"]) for q in quarantine)
    assert {k: r["rows_quarantined"] for k, r in by_rule.items()} == counted
    for (dataset, rule), r in by_rule.items():  # the sample is one of the group's records, reason and raw together
        assert any((q["reason"], q["raw"]) == (r["sample_reason"], r["sample_raw"]) for q in quarantine
                   if (q["dataset"], q["rule"]) == (dataset, rule))
    accounting = {r["run_id"]: r for r in spark.table("ops.accounting").collect()}
    assert set(accounting) == {r["run_id"] for r in audit} >= {built.first.run_id, built.second.run_id}
    for run_id, row in accounting.items():
        steps = [r for r in audit if r["run_id"] == run_id]
        assert (row["rows_read"], row["rows_unaccounted"], row["steps"]) == (
            sum(r["rows_read"] for r in steps), 0, len(steps))
    validations = spark.table("ops.validations").collect()
    latest = {}
    for v in sorted(validations, key=lambda v: v["validated_at"]):
        latest[v["table_name"]] = v["run_id"]
    expected = Counter()
    for v in validations:
        if v["run_id"] == latest[v["table_name"]] and not v["success"]:
            expected[(v["table_name"], v["rule"])] += v["unexpected_count"]
    broken = {(r["table_name"], r["rule"]): r["rows_breaking"] for r in spark.table("ops.broken_rules").collect()}
    assert broken == dict(expected) and broken
