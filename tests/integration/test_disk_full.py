"""The embedded lakehouse's disk refuses a write in the middle of a run (issue 20, item 3).

Simulated with the run's own JVM: once its session has started, its file size limit
(RLIMIT_FSIZE) drops to 1 MiB, and one landing record is 3 MiB of text, so the write of its
data file fails in the kernel as a full disk's would (EFBIG, "File too large", in place of
ENOSPC, "No space left on device"). Every other file the run writes (its logs, Delta's
commits, the other data files) stays under the limit: the one write refused is a table's.
"""

from __future__ import annotations

import base64
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse.config import load_settings
from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog
from tests.conftest import reset_catalog

pytestmark = pytest.mark.integration
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
LIMIT = 1024 * 1024
GOLD = ("daily_revenue", "customer_lifetime_value", "product_performance")


def _landing(tmp_path: Path) -> Path:
    """The sample at a small scale, and one product whose name is 3 MiB of random text."""
    home = tmp_path / "generated"
    generate(home / "landing", scale=0.05, days=1)
    name = base64.b64encode(random.Random(7).randbytes(3 * LIMIT * 3 // 4)).decode()
    big = {"product_id": "P9999999", "name": name, "category": "books", "price": 12.5,
           "updated_at": "2026-01-01T23:00:00Z", "op": "I"}
    (file,) = (home / "landing" / "products" / "2026-01-01").glob("*.jsonl")
    with file.open("a") as out:
        out.write(json.dumps(big) + "\n")
    return home / "landing"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAKEHOUSE_HOME": str(home)}
    return subprocess.run([LAKEHOUSE, *args], capture_output=True, text=True, env=env, timeout=900)


def _jvm_of(home: Path, proc: subprocess.Popen) -> int:
    """The run's JVM, as soon as its session has started (the lock names it then)."""
    lock = home / "lakehouse.lock"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            note = json.loads(lock.read_text() or "{}")
        except (OSError, ValueError):
            note = {}
        if note.get("processes"):
            return note["processes"][0][0]
        time.sleep(0.02)
    raise AssertionError(f"the run's session never started: {proc.communicate()}")


def test_a_write_the_disk_refuses_is_one_line_loses_nothing_and_the_rerun_converges(spark, tmp_path):
    landing = _landing(tmp_path)
    faulted = tmp_path / "faulted"
    shutil.copytree(landing, faulted / "landing")
    run = subprocess.Popen([LAKEHOUSE, "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "LAKEHOUSE_HOME": str(faulted)})
    try:
        resource.prlimit(_jvm_of(faulted, run), resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))
        out, err = run.communicate(timeout=900)
    finally:
        run.kill()
    assert run.returncode == 1 and "Traceback" not in out + err, out + err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "the disk refused a write (File too large); free space" in errors[0], err
    assert "\tat " not in out + err  # no JVM stack trace on the terminal

    # Every table is at a committed version; products never got one with the refused file.
    warehouse = faulted / "warehouse"
    for log in warehouse.glob("*/*/_delta_log"):
        spark.read.format("delta").load(str(log.parent)).count()
    assert not list((warehouse / "bronze" / "products" / "_delta_log").glob("*.json")) or \
        spark.read.format("delta").load(str(warehouse / "bronze" / "products")).count() == 0

    rerun = _cli(faulted, "run")  # room again
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    accounted = _cli(faulted, "sql", "SELECT sum(rows_unaccounted) AS lost FROM ops.accounting", "--format", "json")
    assert accounted.returncode == 0, accounted.stderr
    assert json.loads(accounted.stdout)[0]["lost"] == 0

    # The same gold as a run the disk never refused, over the same landing files.
    reset_catalog(spark)
    undisturbed = load_settings(home=tmp_path / "undisturbed", shuffle_partitions=2)
    shutil.copytree(landing, undisturbed.landing_uri)
    run_pipeline(spark, undisturbed, load_catalog(undisturbed.specs_dir))
    for table in GOLD:
        a = spark.read.format("delta").load(f"{undisturbed.warehouse_uri}/gold/{table}")
        b = spark.read.format("delta").load(str(warehouse / "gold" / table))
        assert a.count() and a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0, table
