"""The benchmark scripts run once, at a tiny size, so they cannot rot (B3 and B4 need the
native platform, as does B10: tests/system/test_benchmarks.py runs them on the test run's). Nothing here
asserts a time: benchmarks measure, BENCHMARKS.md reports (see benchmarks/run.py).

The tiny runs (marker `bench`) are `make bench-smoke`, not `make test`: B1, B2 and B9 start
several pipeline runs each, B1 and B9 each in a fresh process, about 22 minutes of a test
worker on a slow day. The reports' arithmetic and the command line's errors stay in `make test`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks import b1_throughput, b4_serving, b9_new_process
from benchmarks.run import ALL, render
from lakehouse.config import PROJECT_ROOT


def bench(tmp_path: Path, *args: str, timeout: float = 1800) -> tuple[str, dict]:
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--tiny", "--out", str(out),
                           "--workdir", str(tmp_path / "work"), *args],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return out.read_text(), json.loads((tmp_path / "results.json").read_text())


def test_b4_runs_every_chart_of_the_dashboard():
    charts = {yaml.safe_load(p.read_text())["slice_name"]
              for p in (PROJECT_ROOT / "superset/assets/charts").glob("*.yaml")}
    assert set(b4_serving.QUERIES) == charts


def test_report_renders_sections_in_order_with_the_machine():
    machine = {"date": "2026-11-22 06:00 UTC", "cpu": "cpu", "cores": 2, "memory_gib": 23.0, "os": "Linux",
               "python": "3.11", "java": "17", "packages": {"pyspark": "4.1.1"}}
    results = {"sections": {k: {"title": f"{k}: t", "markdown": f"table {k}", "machine": machine}
                            for k in ("B2", "B1")}}
    text = render(results)
    assert text.index("## B1: t") < text.index("## B2: t") and "pyspark 4.1.1" in text
    assert ALL == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10"]


def test_b1_marginal_ratio_removes_fixed_costs():
    scales = [{"scale": s, "records": r, "order_lines": r // 2, "generate_s": 1.0, "platform_s": p, "duckdb_s": d}
              for s, r, p, d in ((1, 1_000, 100.0, 1.0), (10, 10_000, 190.0, 4.0))]
    text = b1_throughput._markdown(scales, days=1, reps=3, alone={"scale": 1, "days": 1, "records": 10,
                                                                    "order_lines": 5, "seconds": 1.0})
    # 9,000 more records: the platform needed 90 s more (100 records/s), DuckDB 3 s more.
    assert "platform +90.0s (100 records/s), DuckDB +3.0s (3,000 records/s): **marginal ratio 30.0x**" in text
    assert "| 100.0x |" in text and "| 47.5x |" in text  # the ratios at each scale keep them


def test_b1_marginal_ratio_per_repetition():
    small = {"samples": {"platform": [100.0, 110.0], "duckdb": [1.0, 1.0]}}
    large = {"samples": {"platform": [190.0, 170.0], "duckdb": [4.0, 5.0]}}
    # repetition 1: 90 s / 3 s = 30x; repetition 2: 60 s / 4 s = 15x
    assert b1_throughput._marginal_spread(small, large) == " (per repetition 15.0x to 30.0x)"
    assert b1_throughput._marginal_spread({}, large) == ""


def test_unknown_benchmark_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "B11", "--out", str(tmp_path / "x.md")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 2 and proc.stderr.strip() == ("error: unknown benchmark(s) B11; "
                                                            "choose from B1, B2, B3, B4, B5, B6, B7, B8, B9, B10")


@pytest.mark.integration
@pytest.mark.bench
@pytest.mark.timeout(2400)
def test_b1_tiny_platform_and_duckdb_side_by_side(tmp_path):
    text, results = bench(tmp_path, "--only", "B1")
    b1 = results["sections"]["B1"]["data"]
    assert [s["scale"] for s in b1["scales"]] == [0.02]
    for s in b1["scales"]:
        assert s["records"] > 0 and len(s["samples"]["platform"]) == len(s["samples"]["duckdb"]) == 1
        assert s["platform_s"] > 0 and s["duckdb_s"] > 0
    assert b1["generator_alone"]["order_lines"] > 0
    assert "## B1: end-to-end throughput" in text and "Marginal ratio: not measurable" in text  # one scale


@pytest.mark.integration
@pytest.mark.bench
@pytest.mark.timeout(2400)
def test_b2_b5_b7_and_b8_tiny(tmp_path):
    text, results = bench(tmp_path, "--only", "B2,B5,B7,B8")
    for size in results["sections"]["B2"]["data"]["sizes"]:
        assert 0 < size["changed"] <= size["orders_rows"]
        # The incremental run wrote to silver.orders; the full rebuild wrote every table.
        assert size["incremental_written"]["silver.orders"] >= size["changed"]
        assert all(size["full_written"].values())
    assert "## B2: incremental vs full rebuild" in text
    b5 = results["sections"]["B5"]["data"]
    [gate] = b5["results"]
    assert gate["rows"] == 100 and gate["spark_s"] > 0 and gate["pandas_s"] > 0
    assert all(len(b5["gc"]["samples"][k]) == 1 and b5["gc"]["cpu_s"][k] > 0 for k in ("G1", "java_c2", "default"))
    assert "### The JVMs' garbage collector and C2 thresholds" in text
    archive = b5["class_archive"]["samples"]["sql"]
    assert all(len(archive[k]) == 1 and archive[k][0] > 0 for k in ("with the archive", "without"))
    assert "### The drivers' class archive" in text
    b7 = results["sections"]["B7"]["data"]
    assert b7["files"] == 200 and all(len(s) == 1 and s[0] > 0 for s in b7["samples"].values())
    assert "## B7: discovering landing files" in text
    b8 = results["sections"]["B8"]["data"]
    formats = ["CSV", "CSV, gzip", "JSON lines", "JSON lines, gzip", "Parquet"]
    assert b8["records"] == 500 and sorted(b8["samples"]) == sorted(f"{f}|{n}" for f in formats for n in (1, 500))
    assert all(len(s) == 1 and s[0] > 0 for s in b8["samples"].values())
    assert "## B8: ingestion throughput per landing format" in text


@pytest.mark.integration
@pytest.mark.bench
@pytest.mark.timeout(2400)
def test_b9_tiny(tmp_path):
    """B9's four runs of the checkout. Not beside a revision (`--before REV` runs a worktree's
    four too): beside the platform's tests, the two took over nine minutes."""
    text, results = bench(tmp_path, "--only", "B9")
    samples = results["sections"]["B9"]["data"]["samples"]
    assert sorted(samples) == ["this checkout"]
    for runs in samples.values():
        assert len(runs) == 1 and list(runs[0]) == list(b9_new_process.STEPS) and all(runs[0].values())
    assert "## B9: `lakehouse run` from a new process" in text and "| nothing new (no Spark) |" in text


def test_b6_report_says_what_dqops_adds():
    from benchmarks import b6_startup

    medians = {"with DQOps": {"first_up_s": 120.0, "restart_up_s": 60.0, "services": 12, "idle_mb": 4000.0,
                              "dqops_mb": 650.0},
               "without DQOps": {"first_up_s": 100.0, "restart_up_s": 50.0, "services": 11, "idle_mb": 3300.0,
                                 "dqops_mb": 0.0}}
    text = b6_startup._markdown(medians, 2)
    assert "| with DQOps | 12 | 120 | 60.00 | 4,000 | 650 |" in text
    assert "| without DQOps | 11 | 100 | 50.00 | 3,300 | 0.00 |" in text
    assert ("DQOps adds +20.0 s to the first `up` (1.20x), +10.0 s to a restart (1.20x) and +700 MB to the "
            "idle platform (1.21x)") in text
