"""The benchmark runner's report and arguments, and `bench()`, which runs it at a tiny size
(tests/system/test_benchmarks.py runs B3 and B4 with it on the test run's platform). Nothing
here asserts a time: benchmarks measure, BENCHMARKS.md reports (see benchmarks/run.py).

B1, B2 and B5 at a tiny size are not in `make test` yet: together they took more than 15
minutes while the platform's tests ran on the other core, and `.ci/run` has no such
minutes to spare (see BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks import b4_serving
from benchmarks.run import ALL, render
from lakehouse.config import PROJECT_ROOT


def bench(tmp_path: Path, *args: str, timeout: float = 1500) -> tuple[str, dict]:
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--tiny", "--out", str(out),
                           "--workdir", str(tmp_path / "work"), *args],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return out.read_text(), json.loads((tmp_path / "results.json").read_text())


def test_b4_runs_every_chart_of_the_dashboard():
    charts = {yaml.safe_load(p.read_text())["slice_name"] for p in (PROJECT_ROOT / "superset/assets/charts").glob("*.yaml")}
    assert set(b4_serving.QUERIES) == charts


def test_report_renders_sections_in_order_with_the_machine():
    machine = {"date": "2026-11-22 06:00 UTC", "cpu": "cpu", "cores": 2, "memory_gib": 23.0, "os": "Linux",
               "python": "3.11", "java": "17", "packages": {"pyspark": "4.1.1"}}
    results = {"sections": {k: {"title": f"{k}: t", "markdown": f"table {k}", "machine": machine} for k in ("B2", "B1")}}
    text = render(results)
    assert text.index("## B1: t") < text.index("## B2: t") and "pyspark 4.1.1" in text
    assert ALL == ["B1", "B2", "B3", "B4", "B5"]


def test_unknown_benchmark_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "B9", "--out", str(tmp_path / "x.md")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: unknown benchmark(s) B9; choose from B1, B2, B3, B4, B5"
