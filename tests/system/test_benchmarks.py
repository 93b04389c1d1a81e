"""B3, B4 and B10 (benchmarks/) once at a tiny size on the test run's platform, after the cluster
run filled it: so the scripts that need the native platform cannot rot either (`make
bench-smoke`, marker `bench`; not `make test`). No timing
is asserted; that both engines answered the dashboard's queries alike is (B4 checks it)."""

from __future__ import annotations

import pytest

from tests.benchmarks.test_bench_scripts import bench

# The first system test under `make bench-smoke`: its time holds the platform's start and cluster run.
pytestmark = [pytest.mark.system, pytest.mark.bench, pytest.mark.timeout(2400)]


def test_b3_b4_and_b10_tiny_on_the_platform(platform, cluster_run, tmp_path):
    text, results = bench(tmp_path, "--only", "B3,B4,B10", "--platform-home", str(platform.home))
    layers = results["sections"]["B3"]["data"]["samples"]
    assert list(layers) == ["direct Python call", "warm SparkSession (local)", "bare spark-submit (local[*])",
                            "lakehouse submit (embedded profile)", "lakehouse submit (cluster profile)"]
    assert all(len(s) == 1 and s[0] > 0 for s in layers.values())
    idle = results["sections"]["B3"]["data"]["nothing_new"]  # each run said which way it went
    assert list(idle) == ["Spark started", "checked before Spark"] and all(len(s) == 1 for s in idle.values())
    served = results["sections"]["B4"]["data"]["results"]
    assert set(served) == {f"{e}, {n} client(s)" for e in ("Thrift server", "DuckDB + delta-rs") for n in (1, 4)}
    assert all(0 < r["p50_s"] <= r["p95_s"] for r in served.values())
    assert "## B3: fixed overhead per layer" in text and "## B4: serving the dashboard's queries" in text
    month = results["sections"]["B10"]["data"]  # 12 days, 72 files: past the weekly maintenance and the limit (64)
    for profile in ("local", "cluster"):
        files = month[profile]["files"]
        assert files["compacted weekly"] < files["never compacted"], files
        assert files["compacted as each task ends"] < files["never compacted"], files
        assert all(len(reads) == 12 for reads in month[profile]["reads"].values())
    assert "## B10: the ops tables after a month" in text
