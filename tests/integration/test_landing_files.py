"""Every landing file is loaded once, with the file log (ops.landing_files) to show it: a file
landing late in a loaded day folder, a file changed after it was loaded, a re-delivery, files
in sub-folders and files outside any day folder (lakehouse.landing)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from lakehouse import tables
from lakehouse.errors import LandingError
from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
DAY1, DAY2, DAY3 = "2026-01-01", "2026-01-02", "2026-01-03"


def _run(spark, settings, **kw):
    kw.setdefault("layers", ("bronze", "silver"))
    return run_pipeline(spark, settings, load_catalog(settings.specs_dir), datasets=["customers"], **kw)


def _customers_file(landing: Path, day: str, prefix: str, n: int) -> Path:
    """A file of `n` customers of the day's file under new ids (`<prefix>1`...), written to
    the day's folder."""
    source = landing / "customers" / day / f"customers-{day}.csv"
    rows = list(csv.DictReader(io.StringIO(source.read_text())))[:n]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow({**row, "customer_id": f"{prefix}{i}", "country": "DE", "segment": "consumer", "op": ""})
    path = landing / "customers" / day / f"{prefix.lower()}.csv"
    path.write_text(out.getvalue())
    return path


def _log(spark) -> dict[str, list]:
    rows = spark.table(tables.LANDING_FILES_TABLE).where("dataset = 'customers'").orderBy("recorded_at").collect()
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r["path"].rsplit("/customers/", 1)[1], []).append(r)
    return out


def _versions(spark) -> dict[str, int]:
    return {t: tables.current_version(spark, t) for t in ("bronze.customers", "silver.customers")
            if spark.catalog.tableExists(t)}


def test_a_file_landing_late_in_a_loaded_folder_loads_with_the_next_batch(spark, lakehouse):
    landing = Path(lakehouse.landing_uri)
    generate(landing, scale=0.1, seed=5, days=2)
    _run(spark, lakehouse)
    log = _log(spark)
    assert {p: [r["batch_id"] for r in rows] for p, rows in log.items()} == {
        f"{DAY1}/customers-{DAY1}.csv": [DAY1], f"{DAY2}/customers-{DAY2}.csv": [DAY2]}
    assert all(r["outcome"] == "loaded" and r["fingerprint"].startswith("xxh64sum:") for rows in log.values()
               for r in rows)

    late = _customers_file(landing, DAY1, "LATE", 3)
    waited = _run(spark, lakehouse)  # no later batch to load it with: it waits, and the run says so
    assert waited.runs == [] and len(waited.notices) == 1 and f"{late.name} landed after batch {DAY1}" in \
        waited.notices[0]
    assert spark.table("bronze.customers").where("customer_id LIKE 'LATE%'").count() == 0

    (landing / "customers" / DAY3).mkdir()  # day 3 arrives
    _customers_file(landing, DAY2, "NEW", 5).rename(landing / "customers" / DAY3 / "new.csv")
    day3_records = 5
    result = _run(spark, lakehouse)
    bronze = {r.batch_id: r for r in result.by_layer("bronze")}
    assert list(bronze) == [DAY3] and "1 file(s) landed late for loaded batch(es) 2026-01-01" in bronze[DAY3].detail
    assert bronze[DAY3].rows_read == day3_records + 3
    held = {r["_batch_id"]: r["count"] for r in spark.table("bronze.customers").where("customer_id LIKE 'LATE%'")
            .groupBy("_batch_id").count().collect()}
    assert held == {DAY3: 3}
    assert spark.table("silver.customers").where("customer_id LIKE 'LATE%' AND is_current").count() == 3
    (silver,) = result.by_layer("silver")
    assert silver.rows_read == silver.accounted == day3_records + 3
    log = _log(spark)
    assert [r["batch_id"] for r in log[f"{DAY1}/{late.name}"]] == [DAY3]
    assert log[f"{DAY1}/{late.name}"][0]["records"] == 3

    before = _versions(spark)
    again = _run(spark, lakehouse)  # a rerun loads nothing twice and writes nothing
    assert again.runs == [] and again.notices == [] and _versions(spark) == before


def test_a_changed_file_is_refused_and_an_unchanged_redelivery_is_logged(spark, lakehouse):
    landing = Path(lakehouse.landing_uri)
    generate(landing, scale=0.1, seed=5, days=1)
    _run(spark, lakehouse, layers=("bronze",))
    path = landing / "customers" / DAY1 / f"customers-{DAY1}.csv"
    original = path.read_bytes()
    before = _versions(spark)

    # The same lines again, written anew (another modification time) and in another order.
    header, *lines = original.decode().splitlines(keepends=True)
    path.write_text(header + "".join(reversed(lines)))
    os.utime(path, (1_900_000_000, 1_900_000_000))
    assert _run(spark, lakehouse, layers=("bronze",)).runs == []
    entries = _log(spark)[f"{DAY1}/customers-{DAY1}.csv"]
    assert [r["outcome"] for r in entries] == ["loaded", "re-delivered unchanged"]
    assert entries[1]["modified_ms"] == 1_900_000_000_000 and entries[1]["fingerprint"] == entries[0]["fingerprint"]

    path.write_bytes(original + original.splitlines(keepends=True)[1])  # one record more
    with pytest.raises(LandingError, match=rf"customers-{DAY1}.csv: changed after batch {DAY1} loaded it "
                                           rf"\({len(original):,} bytes modified 2030-03-17 17:46:40 UTC then, "
                                           rf"{len(original) + len(lines[0]):,} bytes modified .* now\)"):
        _run(spark, lakehouse, layers=("bronze",))
    assert _versions(spark) == before and spark.table("bronze.customers").count() == len(lines) - \
        sum(1 for line in lines if not line.strip())


def test_files_in_sub_folders_load_and_a_file_outside_any_day_folder_is_refused(spark, lakehouse):
    landing = Path(lakehouse.landing_uri)
    generate(landing, scale=0.1, seed=5, days=1)
    nested = landing / "customers" / DAY1 / "region=eu" / "part-0"
    nested.mkdir(parents=True)
    moved = _customers_file(landing, DAY1, "EU", 4).rename(nested / "eu.csv")
    (landing / "customers" / "latest").mkdir()
    stray = landing / "customers" / "latest" / "customers.csv"
    stray.write_text("customer_id\n")
    with pytest.raises(LandingError, match=r"latest/customers.csv: not in a batch folder \(.*/customers/"
                                           r"<YYYY-MM-DD>/\), so no batch would load it"):
        _run(spark, lakehouse, layers=("bronze",))
    assert not spark.catalog.tableExists("bronze.customers") or spark.table("bronze.customers").count() == 0

    stray.unlink()
    (run,) = _run(spark, lakehouse, layers=("bronze",)).runs
    assert spark.table("bronze.customers").where(f"_source_file LIKE '%{moved.name}'").count() == 4
    assert run.rows_read == spark.table("bronze.customers").count()
    assert f"{DAY1}/region=eu/part-0/eu.csv" in _log(spark)


def test_files_bronze_loaded_but_the_log_lost_are_logged_not_loaded_again(spark, lakehouse):
    # A crash after the audit commit and before the file log's (or a lakehouse older than the
    # log): the files bronze holds under a done batch are logged from what they are, once.
    landing = Path(lakehouse.landing_uri)
    generate(landing, scale=0.1, seed=5, days=2)
    _run(spark, lakehouse, layers=("bronze",))
    spark.sql(f"DELETE FROM {tables.LANDING_FILES_TABLE}")
    before = _versions(spark)
    assert _run(spark, lakehouse, layers=("bronze",)).runs == []
    assert _versions(spark) == before
    log = _log(spark)
    assert sorted(log) == [f"{DAY1}/customers-{DAY1}.csv", f"{DAY2}/customers-{DAY2}.csv"]
    assert all(len(rows) == 1 and rows[0]["outcome"] == "loaded" and rows[0]["fingerprint"] for rows in log.values())

    # The landing path moves (another home or mount): the files are found loaded by their
    # path under it, and logged under their new names; one that changed meanwhile is refused.
    moved = Path(lakehouse.landing_uri).with_name("landing-moved")
    landing.rename(moved)
    elsewhere = lakehouse.model_copy(update={"landing_uri": str(moved)})
    day2 = moved / "customers" / DAY2 / f"customers-{DAY2}.csv"
    text = day2.read_text()
    day2.write_text(text + text.splitlines(keepends=True)[1])
    with pytest.raises(LandingError, match=rf"landing-moved/customers/{DAY2}/customers-{DAY2}.csv: changed after "
                                           rf"batch {DAY2} loaded it \(bronze holds [\d,]+ record\(s\) of it, the "
                                           rf"file now has [\d,]+\)"):
        _run(spark, elsewhere, layers=("bronze",))
    day2.write_text(text)
    assert _run(spark, elsewhere, layers=("bronze",)).runs == []
    assert _versions(spark) == before
    assert sum(r["path"].startswith("file:" + str(moved)) for rows in _log(spark).values() for r in rows) == 2


def test_local_disk_is_listed_as_hadoop_lists_it(spark, tmp_path):
    # Python walks local disk (Hadoop's recursive listing forks a process per file there);
    # the paths, sizes and times must be Hadoop's, which bronze's _source_file holds.
    from lakehouse import storage

    day = tmp_path / "orders" / DAY1 / "sub dir"
    day.mkdir(parents=True)
    for name in ("a b.csv", "x%20y.csv", "h#1.csv", "g[1].csv", "c{2}.csv", "ü.csv", "sub dir/n.csv", "_skip.csv",
                 ".hidden", "_tmp/x.csv"):
        (day.parent / name).parent.mkdir(exist_ok=True)
        (day.parent / name).write_text(name)
    for uri in (str(tmp_path / "orders"), f"file://{tmp_path}/orders"):
        listed = storage.list_files(spark, uri)
        assert listed == sorted(storage._walk_hadoop(spark, uri))
        assert len(listed) == 7 and all(path.startswith("file:/") for path, *_ in listed)
