"""The native platform, brought up once for the whole test run with the real CLI
(`lakehouse up`), and stopped after the last system test (`lakehouse down`, then no process
may remain). Package scope, not session: `make test` runs every system test first on one
worker, which then runs other modules; stopped at once, the idle services (about a tenth of
a core) no longer share the two cores with them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest

from lakehouse.config import DQOPS_CONNECTION, PROJECT_ROOT, load_settings
from lakehouse.orchestration.dags import dqops_tables
from lakehouse.orchestration.dqops_operator import DqopsRunChecksOperator
from lakehouse.orchestration.plan import build_plan
from lakehouse.processes import same_process, wait_exited
from lakehouse.platform import dqops
from lakehouse.platform.spark_cluster import spark_bin
from lakehouse.specs import load_catalog

LAKEHOUSE = Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")) / "bin" / "lakehouse"
# The soak (test_airflow): after day 3's run, a backfill of SOAK_DAYS days from day 4, with
# SOAK_FAULTS task processes killed at points drawn from SOAK_SEED. `make test` runs it small;
# `make soak` runs a month.
SOAK_DAYS = int(os.environ.get("SOAK_DAYS", "1"))
SOAK_FAULTS = int(os.environ.get("SOAK_FAULTS", "1"))
SOAK_SEED = int(os.environ.get("SOAK_SEED", "20"))
if SOAK_DAYS < 1:
    raise pytest.UsageError(f"SOAK_DAYS={SOAK_DAYS}: the soak backfills 1 day or more")
LAST_DAY = date(2026, 1, 4) + timedelta(days=SOAK_DAYS - 1)
# Small data: the point here is the services, not volume. Same seed as the embedded default.
# The DAGs may schedule nothing past the soak's last day and retry soon.
DATA = {"LAKEHOUSE_SCALE": "0.2", "LAKEHOUSE_DAYS": "2", "LAKEHOUSE_AIRFLOW_END_DATE": LAST_DAY.isoformat(),
        "LAKEHOUSE_AIRFLOW_RETRIES": "2", "LAKEHOUSE_AIRFLOW_RETRY_DELAY_SECONDS": "5",
        # -Xshare:on: a cluster driver of the CLI whose class archive does not fit refuses to
        # start instead of starting without it; test_airflow checks that the tasks' drivers name
        # the archive `make platform` built.
        "LAKEHOUSE_CLUSTER_DRIVER_JVM_OPTIONS": "-XX:TieredStopAtLevel=1 -Xshare:on"}
# Modules in the order they must run: what the Thrift server serves, the platform's own tests
# (their restart tests last), Superset's (both dashboards), DQOps's and the benchmarks'
# (`make bench-smoke`; `make test` deselects them) on the data the cluster run left, then
# Airflow's, which add days 3 and 4; schema evolution's last, since its dataset of its own
# adds tables that the others' lists of every table do not hold.
MODULE_ORDER = ["test_served_sql.py", "test_platform.py", "test_superset.py", "test_quality_dashboard.py",
                "test_dqops.py", "test_benchmarks.py", "test_airflow.py", "test_schema_evolution.py"]


def pytest_collection_modifyitems(session, config, items):
    here = Path(__file__).parent
    positions = [i for i, item in enumerate(items) if item.path.parent == here]
    ordered = sorted((items[i] for i in positions),
                     key=lambda item: MODULE_ORDER.index(item.path.name) if item.path.name in MODULE_ORDER else 0)
    for i, item in zip(positions, ordered):
        items[i] = item


def driver_api(port: int, query: str, timeout: float = 10) -> tuple[str, list]:
    """The application whose Spark UI listens on `port`, and the answer of its monitoring API
    to `query` (e.g. "jobs?status=running")."""
    base = f"http://127.0.0.1:{port}/api/v1/applications"
    with urllib.request.urlopen(base, timeout=timeout) as resp:
        (app,) = json.load(resp)
    with urllib.request.urlopen(f"{base}/{app['id']}/{query}", timeout=timeout) as resp:
        return app["id"], json.load(resp)


def cli(home: Path, *args: str, timeout: float = 900, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **DATA, "LAKEHOUSE_HOME": str(home), **(env or {})}
    env.pop("LAKEHOUSE_PROFILE", None)
    proc = subprocess.run([str(LAKEHOUSE), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=PROJECT_ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"lakehouse {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def platform_pids(home: Path) -> dict[str, int]:
    run = home / "platform" / "run"
    return {p.stem: int(p.read_text().split()[0]) for p in run.glob("*.pid")} if run.is_dir() else {}


def platform_processes(home: Path, strict: bool = True) -> list[psutil.Process]:
    """Every process of the running services, their children included: each the process its pid
    file names (the same start time). `strict`: a service
    whose process is gone fails the test instead of being passed over."""
    procs = []
    run = home / "platform" / "run"
    for pid_file in sorted(run.glob("*.pid")) if run.is_dir() else []:
        pid, started = pid_file.read_text().split()[:2]
        proc = same_process(pid, started)
        try:
            procs += [proc, *proc.children(recursive=True)] if proc else []
        except psutil.NoSuchProcess:
            proc = None
        assert proc or not strict, f"{pid_file.stem}: its process {pid} is gone"
    return procs


def still_running(procs: list[psutil.Process]) -> list[str]:
    """Those running, as `lakehouse down` counts them (no grace: it has waited): a zombie has
    exited once every thread of it has (lakehouse.processes.wait_exited), not while a thread
    of it still runs. A handle knows its process's start time, so a pid the kernel has since
    given to another process or thread (pids wrap at 32,768, and a CI run's JVM threads go
    round them) is not counted as ours."""
    running = []
    for proc in wait_exited(procs, timeout=0):
        try:
            running.append(f"{proc.pid} ({' '.join(proc.cmdline())[:160]})")
        except psutil.ZombieProcess:  # its main thread ended, another still runs: no command line
            running.append(f"{proc.pid} (stopping)")
        except psutil.NoSuchProcess:
            pass
        except psutil.Error as e:  # running, but not ours to read: still a survivor
            running.append(f"{proc.pid} ({e})")
    return running


@pytest.fixture(scope="package")
def platform_home():
    # Not under pytest's tmp (mode 0700): PostgreSQL runs as its own user and must reach it.
    # DQOps is one of the platform's services, and tested as one: without it, say how to get it.
    if reason := dqops.missing(load_settings(profile="local")):
        pytest.fail(f"the system tests need DQOps: {reason}")
    home = Path(tempfile.mkdtemp(prefix="lakehouse-system-"))
    home.chmod(0o711)
    try:
        started = cli(home, "up", timeout=600)
    except BaseException:  # a failed up leaves what it started running, to inspect: not here
        cli(home, "down", check=False)
        shutil.rmtree(home, ignore_errors=True)
        raise
    pids = platform_pids(home)
    first = platform_processes(home)
    try:
        yield home, started.stdout, pids
    finally:
        # Everything we started, and every child of it (executors, PostgreSQL's backends), is gone:
        # those of the first `up` and those of a restart since.
        ours = first + platform_processes(home, strict=False)
        down = cli(home, "down", check=False)
        left = still_running(ours)
        shutil.rmtree(home, ignore_errors=True)
        assert not left, f"processes left after lakehouse down: {left}\n{down.stdout}\n{down.stderr}"


@pytest.fixture(scope="package")
def platform(platform_home):
    home, _, _ = platform_home
    return load_settings(profile="cluster", home=home, scale=float(DATA["LAKEHOUSE_SCALE"]),
                         days=int(DATA["LAKEHOUSE_DAYS"]))


@pytest.fixture(scope="package")
def unauthenticated_submission(platform):
    """A spark-submit without the cluster's secret, started early: the master ignores it and
    the driver gives up after its registration retries (about a minute)."""
    script = platform.home / "tiny_job.py"
    script.write_text("from pyspark.sql import SparkSession\n"
                      "print('ROWS', SparkSession.builder.getOrCreate().range(10).count())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    proc = subprocess.Popen([spark_bin("spark-submit"), "--master", platform.spark_master, "--name", "unauthenticated",
                             str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    yield proc
    proc.kill()


@pytest.fixture(scope="package")
def cluster_run(platform, platform_home, unauthenticated_submission):
    """`lakehouse run --profile cluster`: sample data to MinIO, the pipeline on the master."""
    home, _, _ = platform_home
    t0 = time.time()
    proc = cli(home, "run", "--profile", "cluster")
    return proc.stdout, time.time() - t0


@pytest.fixture(scope="package")
def dqops_recorded(platform, platform_home, cluster_run) -> dict:
    """DQOps's checks of every table, run as the DAG's dqops_checks task runs them (once for
    every test: `checked`, per table DQOps's result summary), then the DAG's dqops_results job
    submitted to the cluster, twice (the second adds nothing)."""
    home, _, _ = platform_home
    tables = dqops_tables(build_plan(load_catalog(platform.specs_dir)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAKEHOUSE_DQOPS_URL", dqops.url(platform))
        task = DqopsRunChecksOperator(task_id="dqops_checks", connection=DQOPS_CONNECTION, tables=tables)
        checked = task.execute(context={})
    args = ["submit", "--profile", "cluster", str(PROJECT_ROOT / "jobs" / "dqops_results.py"),
            *[a for t in tables for a in ("--table", t)]]
    env = {"LAKEHOUSE_DQOPS_URL": dqops.url(platform)}
    first, again = (cli(home, *args, env=env).stdout for _ in range(2))
    return {"tables": tables, "checked": checked, "first": first, "again": again}
