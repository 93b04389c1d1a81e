"""The `lakehouse` command as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def cli(*args, env=None, home=None):
    full_env = {**os.environ, "LAKEHOUSE_SCALE": "0.05", "LAKEHOUSE_DAYS": "2", **(env or {})}
    if home:
        full_env["LAKEHOUSE_HOME"] = str(home)
    return subprocess.run([LAKEHOUSE, *args], capture_output=True, text=True, env=full_env, timeout=600)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A lakehouse built by `lakehouse run` from nothing: the main job."""
    home = tmp_path_factory.mktemp("cli")
    proc = cli("run", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "generated" in proc.stdout and "lakehouse run" in proc.stdout
    for word in ("customers", "orders", "gold.daily_revenue", "quarantined by rule"):
        assert word in proc.stdout
    # Where its time went, one line (rich may wrap it).
    timing = " ".join(proc.stdout[proc.stdout.rindex("\ntime "):].split())
    for phase in ("start-up", "catalog", "bronze", "silver", "merge", "quality", "gold", "publish"):
        assert f"{phase} " in timing, timing
    return home


def test_a_rerun_finding_everything_as_left_starts_no_spark(home):
    """A run that would find nothing new, because everything is as the last clean run left
    it, says so without starting Spark; a landing file touched since (a new modification
    time) makes the next run start Spark and look (the file is re-delivered unchanged). First
    after the module's run: a later test's run with other settings would make `first` start
    Spark, a JVM for nothing."""
    first = cli("run", home=home)
    assert first.returncode == 0, first.stderr
    assert "Nothing new to process" in first.stdout
    again = cli("run", home=home)
    assert again.returncode == 0 and "Spark not started" in again.stdout, again.stdout + again.stderr
    touched = sorted((home / "landing" / "orders").rglob("*.csv"))[0]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    looked = cli("run", home=home)
    assert looked.returncode == 0 and "Spark not started" not in looked.stdout, looked.stdout + looked.stderr
    assert "Nothing new to process" in looked.stdout
    assert "Spark not started" in cli("run", home=home).stdout


def test_second_run_processes_nothing(home):
    """Its driver maps the class archive `make install` built (-Xshare:on: a JVM that cannot
    map its archive refuses to start)."""
    from lakehouse.class_archive import archive_path
    from lakehouse.config import Settings, load_settings

    assert archive_path(load_settings()).is_file(), "make install builds the local drivers' class archive"
    strict = f"{Settings.model_fields['jvm_options'].default} -Xshare:on"
    proc = cli("run", home=home, env={"LAKEHOUSE_JVM_OPTIONS": strict})
    assert proc.returncode == 0, proc.stderr
    assert "Nothing new to process" in proc.stdout


def test_sql_returns_rows_as_json_and_csv(home):
    proc = cli("sql", "SELECT COUNT(*) AS n FROM gold.daily_revenue", "--format", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])[0]["n"] > 0
    proc = cli("sql", "SELECT order_id, status FROM silver.orders ORDER BY order_id LIMIT 2", "-f", "csv", home=home)
    assert proc.stdout.splitlines()[0] == "order_id,status" and len(proc.stdout.splitlines()) == 3


def test_sql_never_cuts_a_result_silently(home):
    proc = cli("sql", "SELECT id FROM range(5000)", "--format", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(rows) == 5000 and rows[-1] == {"id": 4999}
    proc = cli("sql", "SELECT id FROM range(5000)", home=home)  # the table format shows 1,000 rows and says so
    assert proc.returncode == 0, proc.stderr
    assert "showing 1,000 of 5,000 rows (--limit to change)" in proc.stderr
    assert " 999 " in proc.stdout and " 1000 " not in proc.stdout


def test_history_shows_the_commits(home):
    """The table's creation and its first load (an append into the empty table)."""
    proc = cli("history", "silver.orders", home=home)
    assert proc.returncode == 0, proc.stderr
    assert "WRITE" in proc.stdout and "CREATE TABLE" in proc.stdout


def test_bad_sql_and_unknown_tables_are_one_line(home):
    proc = cli("sql", "SELEC nonsense", home=home)
    log = home / "logs" / "lakehouse.log"
    assert_one_line_error(proc, "PARSE_SYNTAX_ERROR", f"(full trace: {log})")
    assert "Traceback" in log.read_text() and "ParseException" in log.read_text()
    # Spark's own logging goes to the log: a file read by a path that does not exist warns with a stack trace
    quiet = cli("sql", "SELECT * FROM csv.`/nonexistent/x.csv`", home=home)
    assert_one_line_error(quiet, "PATH_NOT_FOUND")
    assert " WARN " not in quiet.stderr and "\tat org." not in quiet.stderr, quiet.stderr
    assert "WARN org.apache.spark.sql.execution.streaming.sinks.FileStreamSink" in log.read_text()
    assert_one_line_error(cli("sql", "SELECT * FROM gold.nope", home=home), "TABLE_OR_VIEW_NOT_FOUND")
    assert_one_line_error(cli("history", "gold.nope", home=home), "gold.nope does not exist")


def test_reprocess_says_what_it_replayed_and_refuses_an_unknown_rule(home):
    landing = next(home.rglob("_manifest.json"))
    orphans = sum(b["orders"]["orphans"] for b in json.loads(landing.read_text())["batches"].values())
    proc = cli("reprocess", "orders", "--rule", "customer_exists", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The sample's orphans name customers that never arrive: they stay, and nothing is written.
    assert (f"{orphans:,} records of orders that customer_exists quarantined: every one still breaks it, "
            "nothing changed" if orphans else "nothing to replay") in " ".join(proc.stdout.split()), proc.stdout
    assert_one_line_error(cli("reprocess", "orders", "--rule", "customer_exist", home=home),
                          "orders has no rule 'customer_exist' that quarantines", "customer_exists")
    assert_one_line_error(cli("reprocess", "nope", "--rule", "x", home=home), "unknown dataset(s): nope")
    assert_one_line_error(cli("reprocess", "orders", home=home), "reprocess takes --rule (quarantined records) or "
                          "--file (landing files), one of the two")


def test_bad_input_before_spark_starts(tmp_path):
    assert_one_line_error(cli("run", "--dataset", "nope", home=tmp_path), "unknown dataset(s): nope")
    assert_one_line_error(cli("run", "--batch", "yesterday", home=tmp_path), "expected a date")
    assert_one_line_error(cli("run", env={"LAKEHOUSE_SCALE": "lots"}, home=tmp_path), "LAKEHOUSE_SCALE")
    bad = tmp_path / "specs"
    (bad / "datasets").mkdir(parents=True)
    (bad / "datasets" / "orders.yaml").write_text("name: orders\nsource: {format: csv}\n")
    assert_one_line_error(cli("validate", env={"LAKEHOUSE_SPECS_DIR": str(bad)}), "orders.yaml", "columns")
    assert not (tmp_path / "warehouse").exists()


def test_validate_refuses_a_bound_finer_than_the_columns_scale(tmp_path):
    specs = tmp_path / "specs"
    (specs / "datasets").mkdir(parents=True)
    (specs / "datasets" / "customers.yaml").write_text(
        "name: customers\nsource: {format: csv}\nkeys: [id]\nordering: id\n"
        "columns: [{name: id, type: string, required: true}, {name: balance, type: 'decimal(15,2)'}]\n"
        "expectations: [{name: balance_in_range, type: range, column: balance, min: -999.99, max: 9999.999}]\n")
    assert_one_line_error(cli("validate", env={"LAKEHOUSE_SPECS_DIR": str(specs)}), "customers.yaml",
                          "expectations.balance_in_range.max", "column balance (decimal(15,2))",
                          "more decimal places")


def test_a_reader_queries_while_a_run_writes(home, tmp_path, spark):
    """`lakehouse sql` during a `lakehouse run` of the same lakehouse: it does not wait for
    the writer, and every count it reads is that of a version of silver.orders the log holds
    (a committed one), while the run adds a version with new orders."""
    import shutil
    import time

    from lakehouse.generate import generate

    lakehouse = tmp_path / "lakehouse"
    shutil.copytree(home, lakehouse)
    generated = tmp_path / "generated"
    generate(generated, scale=0.05, days=3)  # the sample's third day: new orders
    for day in generated.glob("*/2026-01-03"):
        shutil.copytree(day, lakehouse / "landing" / day.parent.name / day.name)
    orders = lakehouse / "warehouse" / "silver" / "orders"

    def versions() -> list[int]:
        return sorted(int(p.stem) for p in (orders / "_delta_log").glob("*.json"))

    before = versions()
    env = {**os.environ, "LAKEHOUSE_SCALE": "0.05", "LAKEHOUSE_DAYS": "2", "LAKEHOUSE_HOME": str(lakehouse)}
    writer = subprocess.Popen([LAKEHOUSE, "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    reads = []
    try:
        deadline = time.monotonic() + 300
        while "bronze" not in writer.stdout.readline():  # the run has begun writing
            assert writer.poll() is None and time.monotonic() < deadline, writer.stderr.read()
        while writer.poll() is None and len(reads) < 3:
            read = cli("sql", "SELECT count(*) AS n FROM silver.orders", "--format", "json", home=lakehouse)
            assert read.returncode == 0 and "waiting" not in read.stderr, read.stderr
            reads.append((json.loads(read.stdout)[0]["n"], writer.poll() is None))
        out, err = writer.communicate(timeout=600)
    finally:
        writer.kill()
    assert writer.returncode == 0, out + err
    assert reads and reads[0][1], "the run ended before the first read: nothing was read during a write"
    after = versions()
    committed = {v: spark.read.format("delta").option("versionAsOf", v).load(str(orders)).count() for v in after}
    assert len(after) > len(before) and committed[after[-1]] != committed[before[-1]]  # the run added orders
    assert all(n in committed.values() for n, _ in reads), (reads, committed)
