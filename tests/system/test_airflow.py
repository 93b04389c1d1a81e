"""Airflow on the native platform, for real: DAG runs triggered through the REST API submit
every layer to the Spark master. After the cluster run (conftest's cluster_run) has processed
the first two days, these tests land more days and let Airflow process them, one
interval per run. They run after test_platform.py (see conftest).

- a run for one interval processes exactly that day, and survives MinIO killed while bronze
  writes (down 10 s, then started again), its silver spark-submit killed mid-task
  (retried, no duplicate row, no Spark application left behind) and the Hive Metastore killed
  while gold commits (that attempt fails in one line, the retry finishes); an analyst's query
  through the Thrift server while silver merges sees a committed version; its DQOps
  task runs the checks of every silver and gold table on the platform's DQOps, and passes;
- clearing that run (rerunning the interval) changes no table, and its four Spark tasks
  find nothing new without starting Spark (lakehouse.task_state);
- the soak: a backfill runs the next days (1 in `make test`, 30 in `make soak`), though the
  Spark worker is killed (with its executors) in the middle of day 4's silver stage and
  started again, and task spark-submits are killed at seeded random points; every run ends
  in success, and bronze, silver and the quarantine then hold what the reference pipeline
  (DuckDB, held equal to the embedded one) makes of the same days, gold equals its gold row
  for row, no key is there twice, and every batch is recorded once with its accounting closed;
- day 4 carries one customer whose email breaks the spec's `warn` rule email_is_plausible
  (landed on purpose, in the reference's input too): silver keeps it and counts the warning,
  DQOps reports its regex check at warning, so the DAG's task (configured severity: error)
  passes and the same task at severity warning fails.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shlex
import signal
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest
from airflow.sdk.exceptions import AirflowFailException

from lakehouse.class_archive import archive_path
from lakehouse.config import DQOPS_CONNECTION, PROJECT_ROOT
from lakehouse.generate import generate
from lakehouse.orchestration.dags import MEDALLION_DAG, dqops_tables
from lakehouse.orchestration.dqops_operator import DqopsRunChecksOperator
from lakehouse.orchestration.plan import build_plan
from lakehouse.platform import dqops, lifecycle, object_store
from lakehouse.platform.airflow import api_url
from lakehouse.platform.spark_cluster import master_state
from lakehouse.processes import wait_exited
from lakehouse.specs import load_catalog
from tests.system import reference
from tests.system.airflow_api import AirflowAPI, AirflowError, token
from tests.system.conftest import DATA, LAST_DAY, driver_api, SOAK_DAYS, SOAK_FAULTS, SOAK_SEED
from tests.system.test_dqops import _get as dqops_get
from tests.system.test_platform import _commits, _snapshot, latest_version, thrift_query

# A DAG run takes minutes; a fixture may also wait for the cluster run before it, and the
# soak's fixture for each of its days.
pytestmark = [pytest.mark.system, pytest.mark.timeout(max(3000, 1800 + 600 * SOAK_DAYS))]

DAY3, DAY4 = date(2026, 1, 3), date(2026, 1, 4)
RUN_TIMEOUT = 1800
OUTPUT = PROJECT_ROOT / "build" / "test-output"  # the module's reports: what was injected, and how long it took
REGEX_CHECK = "daily_texts_not_matching_regex_percent"  # what email_is_plausible is in DQOps


def _break_one_email(landing: Path, day: date) -> str:
    """In `day`'s customers file, give one new customer (inserted that day, once, in a valid
    row) an email without its @; returns that email. Every other byte stays."""
    earlier = {line.split(",", 1)[0] for path in landing.glob("customers/*/*.csv")
               if path.parent.name < day.isoformat() for line in path.read_text().splitlines()[1:]}
    (path,) = landing.glob(f"customers/{day.isoformat()}/*.csv")
    lines = path.read_text().splitlines(keepends=True)
    ids = Counter(line.split(",", 1)[0] for line in lines[1:])
    for i, line in enumerate(lines[1:], start=1):
        fields = next(csv.reader([line]))
        if (len(fields) == 8 and fields[7] == "I" and ids[fields[0]] == 1 and fields[0] not in earlier
                and fields[1].count("@") == 1 and fields[3] in ("DE", "FR", "GB", "US")):
            broken = fields[1].replace("@", ".at.")
            lines[i] = line.replace(fields[1], broken)
            path.write_text("".join(lines))
            return broken
    raise AssertionError(f"{path}: no plain new customer to give an implausible email")


@pytest.fixture(scope="module")
def all_days(platform, cluster_run, tmp_path_factory):
    """The sample from day 1 to the soak's last day (same seed: days 1-2 are the ones already
    processed); day 3 onwards go to the landing bucket for Airflow."""
    local = tmp_path_factory.mktemp("all-days")
    days = (LAST_DAY - platform.start_date).days + 1
    generate(local, scale=float(DATA["LAKEHOUSE_SCALE"]), seed=platform.seed, days=days, start_date=platform.start_date)
    _break_one_email(local, DAY4)
    s3 = object_store.s3_client(platform, "landing")
    airflows = {(DAY3 + timedelta(days=i)).isoformat() for i in range((LAST_DAY - DAY3).days + 1)}
    for path in sorted(local.rglob("*")):
        key = path.relative_to(local).as_posix()
        if path.is_file() and any(part in airflows for part in key.split("/")):
            s3.upload_file(str(path), platform.landing_bucket, key)
    return local


@pytest.fixture(scope="module")
def api(platform):
    client = AirflowAPI(api_url(platform), platform.airflow_admin_user,
                        platform.airflow_admin_password.get_secret_value())
    assert client.dag(MEDALLION_DAG)["is_paused"], "DAGs start paused: nothing runs before a user decides"
    client.set_paused(MEDALLION_DAG, False)
    return client


def _audit_batches(platform, layer: str) -> set[tuple[str, str]]:
    rows = thrift_query(platform, "SELECT table_name, batch_id FROM ops.audit "
                                  f"WHERE layer = '{layer}' AND status = 'ok'")
    return {(t, b) for t, b in rows}


def _submitted_to_a_master(proc: psutil.Process) -> bool:
    """A driver of the platform's cluster, not one of a local-mode test running meanwhile
    (make test runs two pytest workers): its JVM, or the JVM that started its Python side,
    was given a spark:// master."""
    try:
        for candidate in (proc, proc.parent()):
            cmd = candidate.cmdline() if candidate else []
            if "org.apache.spark.deploy.SparkSubmit" in cmd:
                return any(a.startswith("spark://") for a in cmd)
    except psutil.Error:
        pass
    return False


def _job_processes(job: str, jvm_only: bool = False) -> list[psutil.Process]:
    """Processes running jobs/<job>.py on the cluster: spark-submit's JVM (the driver) and
    its Python side."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if any(a.endswith(f"jobs/{job}.py") for a in cmd) and _submitted_to_a_master(proc) and (
                not jvm_only or "org.apache.spark.deploy.SparkSubmit" in cmd):
            found.append(proc)
    return found


def _wait_until_no_job_application(platform, timeout: float = 120) -> list[str]:
    """Names of the applications still running on the master, once only the Thrift server's remain."""
    deadline = time.monotonic() + timeout
    while True:
        names = [a["name"] for a in (master_state(platform) or {}).get("activeapps", [])]
        if names == ["lakehouse-thrift-server"] or time.monotonic() > deadline:
            return names
        time.sleep(2)


def _app_running_a_stage(driver: psutil.Process) -> str | None:
    """The application id of a Spark driver that is running a stage now, from its UI's
    monitoring API (on the port from 4040 up it listens on: Spark's UI takes the next free one)."""
    try:
        listening = {c.laddr.port for c in driver.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    except psutil.Error:  # the driver ended meanwhile
        return None
    for port in sorted(p for p in listening if 4040 <= p < 4100):
        try:
            app, stages = driver_api(port, "stages?status=active", timeout=2)
            return app if stages else None
        except (OSError, ValueError):
            continue  # the driver's other ports (RPC, block manager) speak no HTTP
    return None


def _kill_service(platform, name: str, down_for: float = 0.0, restart: bool = True) -> dict:
    """SIGKILL a service with its children (one process group: a worker's executors), leave it
    down `down_for` seconds, then (unless not to `restart`) start it again as `lakehouse up` does."""
    service = lifecycle.running_process(platform, name)
    group = [service, *service.children(recursive=True)]
    commands = []
    for child in group[1:]:
        try:
            commands.append(child.cmdline())
        except psutil.Error:
            pass
    os.killpg(service.pid, signal.SIGKILL)
    wait_exited(group, timeout=10)
    time.sleep(down_for)
    if restart:
        assert lifecycle.up(platform) == [name]
    return {"pid": service.pid, "children": commands}


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


DAY3_REPORT = OUTPUT / "day3_run.json"
MINIO_OUTAGE_S = 10  # longer than a blip, shorter than the writer's lease lets a driver go unrenewed


@pytest.fixture(scope="module")
def day3_run(platform, api, all_days):
    """A manual run for [day 3, day 4), with three faults and a reader:
    - MinIO SIGKILLed while bronze writes (once its log says the first dataset is done), down
      for MINIO_OUTAGE_S, then started again;
    - silver's spark-submit SIGKILLed in the middle of its work (once its log says the first
      dataset is done, while the next is merging);
    - the Hive Metastore SIGKILLed while gold commits (as soon as a gold table has a new commit
      in the warehouse bucket while its driver runs), and started again once that attempt ended;
    - an analyst's query of silver.orders through the Thrift server on every poll while silver's
      drivers run, and once when gold's driver starts (silver done)."""
    bronze_before = _audit_batches(platform, "bronze")
    orders_from = latest_version(platform, "silver.orders")
    commits_before = _commits(platform)
    t0 = time.monotonic()
    run_id = api.trigger(MEDALLION_DAG, DAY3, DAY4)
    logs = platform.platform_dir / "airflow" / "logs" / f"dag_id={MEDALLION_DAG}" / f"run_id={run_id}"
    first_attempt = logs / "task_id=silver" / "attempt=1.log"
    bronze_attempt = logs / "task_id=bronze" / "attempt=1.log"
    killed, commands, outage, reads, metastore = [], [], [], [], {}

    def stop_minio_once() -> None:
        if outage or not bronze_attempt.is_file() or "bronze bronze.customers" not in bronze_attempt.read_text():
            return
        bronze = _job_processes("bronze", jvm_only=True)
        outage.append({**_kill_service(platform, "minio", down_for=MINIO_OUTAGE_S), "while_bronze_ran": bool(bronze)})

    def kill_silver_once() -> None:
        if killed or not first_attempt.is_file() or "silver silver.customers" not in first_attempt.read_text():
            return
        for proc in _job_processes("silver", jvm_only=True):
            commands.append(proc.info["cmdline"])  # as listed: the process may be gone by now
            proc.send_signal(signal.SIGKILL)
            killed.append(proc.pid)

    def read_orders(writer: str, drivers: list[psutil.Process]) -> None:
        """What an analyst sees of silver.orders while `writer`'s drivers run; `during_write`:
        they still ran when the answer came (a query that waited for them does not count)."""
        asked = time.monotonic()
        try:
            [(rows,)] = thrift_query(platform, "SELECT count(*) FROM silver.orders")
        except Exception as exc:  # noqa: BLE001 - the test reports what failed
            reads.append({"writer": writer, "error": f"{type(exc).__name__}: {exc}"[:300]})
            return
        reads.append({"writer": writer, "rows": rows, "seconds": round(time.monotonic() - asked, 2),
                      "during_write": all(_running(p) for p in drivers)})

    def kill_the_metastore_while_gold_commits() -> None:
        """Once gold's driver runs: one read (silver is done), then, as soon as a gold table has
        a new commit, SIGKILL the metastore; wait for that attempt to end and start it again."""
        if metastore or not (gold := _job_processes("gold", jvm_only=True)):
            return
        read_orders("gold", gold)
        deadline = time.monotonic() + 180
        while any(_running(p) for p in gold) and time.monotonic() < deadline:
            if _commits(platform, "gold/") - commits_before:
                metastore.update(_kill_service(platform, "hive-metastore", restart=False), at=time.monotonic())
                break
            time.sleep(0.2)
        else:
            metastore["missed"] = "gold's driver ended before a gold table had a new commit"
            return
        while any(_running(p) for p in gold) and time.monotonic() < deadline:
            time.sleep(0.2)  # the attempt fails at its next catalog call, after the Hive client's retries
        metastore["attempt_ended_after_s"] = round(time.monotonic() - metastore["at"], 1)
        assert lifecycle.up(platform) == ["hive-metastore"]
        metastore["restarted_after_s"] = round(time.monotonic() - metastore["at"], 1)

    def inject(run) -> None:
        stop_minio_once()
        kill_silver_once()
        if silver := _job_processes("silver", jvm_only=True):
            read_orders("silver", silver)
        kill_the_metastore_while_gold_commits()

    try:
        run = api.wait(MEDALLION_DAG, run_id, RUN_TIMEOUT, inject)
    finally:
        if lifecycle.running_process(platform, "hive-metastore") is None:
            try:
                lifecycle.up(platform)  # whatever ended the wait: the tests after need it
            except Exception as exc:  # noqa: BLE001 - keep the failure that ended the wait
                print(f"day3_run: could not start the metastore again: {exc}")
    orders = {v: thrift_query(platform, f"SELECT count(*) FROM silver.orders VERSION AS OF {v}")[0][0]
              for v in range(orders_from, latest_version(platform, "silver.orders") + 1)}
    DAY3_REPORT.parent.mkdir(parents=True, exist_ok=True)  # what was injected, and when
    DAY3_REPORT.write_text(json.dumps({"seconds": round(time.monotonic() - t0, 1), "minio_outage": outage,
                                       "silver_killed": killed, "metastore": metastore, "reads": reads,
                                       "orders_versions": orders}, indent=2))
    return {"run_id": run_id, "run": run, "killed": killed, "commands": commands, "seconds": time.monotonic() - t0,
            "bronze_before": bronze_before, "minio_outage": outage, "reads": reads, "orders_versions": orders,
            "metastore": metastore, "logs": logs}


def test_a_run_processes_exactly_its_interval(platform, api, day3_run):
    assert day3_run["minio_outage"] and day3_run["minio_outage"][0]["while_bronze_ran"], day3_run["minio_outage"]
    assert day3_run["run"]["state"] == "success", api.task_states(MEDALLION_DAG, day3_run["run_id"])
    assert api.task_states(MEDALLION_DAG, day3_run["run_id"]) == {
        "bronze": "success", "silver": "success", "gold": "success", "publish": "success", "dqops_checks": "success",
        "dqops_results": "success"}
    # The platform's DQOps ran the checks of every silver and gold table (what the task
    # returned is DQOps's summary per table): all executed, none reached an error.
    checks = api.return_value(MEDALLION_DAG, day3_run["run_id"], "dqops_checks")
    assert set(checks) == set(dqops_tables(build_plan(load_catalog(PROJECT_ROOT / "pipelines"))))
    for table, result in checks.items():
        assert result["executed_checks"] > 0 and result["execution_errors"] == 0, (table, result)
        assert result["highest_severity"] in ("valid", "warning"), (table, result)
    new = _audit_batches(platform, "bronze") - day3_run["bronze_before"]
    assert {b for _, b in new} == {DAY3.isoformat()}, new
    assert {t for t, _ in new} == {f"bronze.{d}" for d in ("customers", "orders", "order_items", "products")}
    # Each layer ran as its own Spark application on the master, named by task and interval.
    done = [a["name"] for a in master_state(platform)["completedapps"]]
    for task in ("bronze", "silver", "gold", "publish"):
        assert f"lakehouse-{task}-{DAY3.isoformat()}" in done, task
    published = thrift_query(platform, "SELECT DISTINCT CAST(interval_start AS STRING) FROM ops.published "
                                       f"WHERE interval_start = DATE'{DAY3.isoformat()}'")
    assert published == [(DAY3.isoformat(),)]
    assert _email_check(platform)["current_severity"] == "valid", "no implausible email before day 4"


def test_the_metastore_killed_while_gold_commits_fails_that_attempt_in_one_line_and_the_retry_finishes(
        platform, api, day3_run):
    """Gold's tables are Delta tables: what the first attempt committed stays, and the retry
    builds what it had not (the soak later finds gold equal to the reference pipeline's)."""
    fault = day3_run["metastore"]
    assert "pid" in fault and "restarted_after_s" in fault, fault
    tries = {t["task_id"]: t["try_number"] for t in api.task_instances(MEDALLION_DAG, day3_run["run_id"])}
    assert tries["gold"] >= 2, (tries, fault)  # a retry that started before the metastore was back takes a third
    said = (day3_run["logs"] / "task_id=gold" / "attempt=1.log").read_text()
    assert "error: the Hive Metastore at thrift://" in said and "cannot be reached" in said, said[-3000:]


def test_an_analyst_reading_while_silver_merges_sees_a_committed_version(day3_run):
    """The Thrift server (what Superset and DQOps read through) answers while silver's drivers
    run day 3, the first of them killed mid-work, and every answer is the row count of one
    committed version of silver.orders (never a half-applied batch). At least one read while
    silver ran saw the version before day 3's commit, and the read once silver was done saw day 3's."""
    reads, committed = day3_run["reads"], day3_run["orders_versions"]
    assert reads and not [r for r in reads if "error" in r], reads
    during = [r for r in reads if r["writer"] == "silver" and r["during_write"]]
    assert len(during) >= 3, reads
    assert {r["rows"] for r in reads} <= set(committed.values()), (reads, committed)
    # Some read during silver came before its commit: the old version was served meanwhile.
    before_day3 = committed[min(committed)]
    assert before_day3 in {r["rows"] for r in during}, (reads, committed)
    (after_silver,) = [r for r in reads if r["writer"] == "gold"]
    assert after_silver["rows"] == committed[max(committed)] != before_day3, (reads, committed)


def _customers_status(platform) -> dict:
    """DQOps's status of silver.customers' checks: each one's latest result."""
    return dqops_get(platform, f"/api/connections/{DQOPS_CONNECTION}/schemas/silver/tables/customers/status")


def _email_check(platform) -> dict:
    """DQOps's latest result of silver.customers' email regex check."""
    return _customers_status(platform)["columns"]["email"]["checks"][REGEX_CHECK]


def _dqops_severities(platform) -> dict[str, str]:
    """silver.customers's checks in DQOps's status now: [column.]check -> its latest result's
    severity. (The status's last_executed_at moves only when a check's readout changes, so
    which checks one run executed cannot be read from it: the tests take it before and after.)"""
    status = _customers_status(platform)
    named = list(status.get("checks", {}).items())
    named += [(f"{col}.{name}", c) for col, cs in status.get("columns", {}).items()
              for name, c in cs.get("checks", {}).items()]
    return {name: c.get("current_severity") for name, c in named}


def test_a_killed_spark_submit_is_retried_without_duplicates_or_leftovers(platform, api, day3_run):
    assert day3_run["killed"], "silver's spark-submit was never seen running"
    # The task's driver JVM started with the cluster driver's options (C1 alone, see config),
    # mapping the class archive `make platform` built. The tasks read the home's
    # spark-submit.properties, which the last cluster submit wrote: in `make test` one of the
    # system tests' (conftest.DATA: -Xshare:on, so a driver whose archive does not fit would
    # not start); in a plain `pytest` run, which runs test_benchmarks first, B3's (default options).
    options = {*shlex.split(platform.cluster_driver_jvm_options), f"-XX:SharedArchiveFile={archive_path(platform)}"}
    for cmd in day3_run["commands"]:
        assert options <= set(cmd), f"missing {sorted(options - set(cmd))} in {cmd}"
    tries = {t["task_id"]: t["try_number"] for t in api.task_instances(MEDALLION_DAG, day3_run["run_id"])}
    # Bronze rides out MinIO's outage in its S3 client's retries, or fails and is retried.
    # Gold's first attempt lost the metastore (test_the_metastore_killed_while_gold_commits_...).
    assert tries["silver"] == 2 and tries["bronze"] in (1, 2) and tries["gold"] >= 2, tries
    for table, keys in {"silver.orders": "order_id", "silver.products": "product_id",
                        "silver.order_items": "order_id, line_no"}.items():
        [(rows, distinct)] = thrift_query(platform, f"SELECT count(*), count(DISTINCT {keys}) FROM {table}")
        assert rows == distinct, f"{table}: duplicate keys after the retry"
    [(current, keys)] = thrift_query(platform, "SELECT count(*), count(DISTINCT customer_id) FROM silver.customers "
                                               "WHERE is_current")
    assert current == keys
    assert _wait_until_no_job_application(platform) == ["lakehouse-thrift-server"]
    assert not [p.pid for p in _job_processes("silver") if _running(p)]


def test_clearing_the_run_reruns_the_interval_and_changes_nothing(platform, api, day3_run):
    """Nothing but ops.dqops_checks: the rerun's dqops_checks ran DQOps's checks again, and
    dqops_results copies those new executions (DQOps's own history grows the same way)."""
    before = _snapshot(platform)
    apps = Counter(a["name"] for a in master_state(platform)["completedapps"])
    api.clear(MEDALLION_DAG, day3_run["run_id"])
    time.sleep(5)
    run = api.wait(MEDALLION_DAG, day3_run["run_id"], RUN_TIMEOUT)
    assert run["state"] == "success", api.task_states(MEDALLION_DAG, day3_run["run_id"])
    after = _snapshot(platform)
    assert after.pop("ops.dqops_checks")[0] > before.pop("ops.dqops_checks")[0]
    assert after == before
    # Every commit since each Spark task's first run names a task after it (dqops_results
    # wrote one more): each found nothing new before its session, and started no application.
    logs = platform.platform_dir / "airflow" / "logs" / f"dag_id={MEDALLION_DAG}" / f"run_id={day3_run['run_id']}"
    instances = api.task_instances(MEDALLION_DAG, day3_run["run_id"])
    tries = {t["task_id"]: t["try_number"] for t in instances}
    # How long each task of the cleared run took, start to end as Airflow counts it (a report for
    # BENCHMARKS.md's goal of an Airflow task with nothing to do; no time is asserted).
    CLEARED_REPORT.parent.mkdir(parents=True, exist_ok=True)
    CLEARED_REPORT.write_text(json.dumps({t["task_id"]: t["duration"] for t in instances}, indent=2))
    for task in SOAK_TASKS:
        log = (logs / f"task_id={task}" / f"attempt={tries[task]}.log").read_text()
        assert f"{task}: nothing new since run " in log and "Spark not started" in log, log[-3000:]
    assert _wait_until_no_job_application(platform) == ["lakehouse-thrift-server"]
    assert Counter(a["name"] for a in master_state(platform)["completedapps"]) - apps == Counter(
        {f"lakehouse-dqops_results-{DAY3.isoformat()}": 1})


SOAK_TASKS = ("bronze", "silver", "gold", "publish")  # each its jobs/<task>.py spark-submit
SOAK_REPORT = OUTPUT / "soak.json"
CLEARED_REPORT = OUTPUT / "cleared_run.json"


def _fault_plan(seed: int, faults: int, days: int) -> list[dict]:
    """`faults` task kills, each a (day, task) pair drawn without repeats from a seeded generator,
    and a point in the task's first attempt: seconds after its log appears (its spark-submit
    starting, its session, or its work)."""
    rng = random.Random(seed)
    pairs = rng.sample([(d, t) for d in range(days) for t in SOAK_TASKS], k=min(faults, days * len(SOAK_TASKS)))
    return [{"day": (DAY4 + timedelta(days=d)).isoformat(), "task": t, "after_s": round(rng.uniform(2, 12), 1)}
            for d, t in sorted(pairs)]


def _wait_for_run(api, day: date, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while not (runs := [r for r in api.runs(MEDALLION_DAG) if r["logical_date"].startswith(day.isoformat())]):
        assert time.monotonic() < deadline, f"the backfill created no run for {day}"
        time.sleep(3)
    return runs[0]["dag_run_id"]


def _run_with_faults(platform, api, day: date, faults: list[dict], worker_killed: list[dict]) -> dict:
    """Wait for the backfill's run of `day`, injecting its faults; each fault gets its outcome."""
    run_id = _wait_for_run(api, day)
    logs = platform.platform_dir / "airflow" / "logs" / f"dag_id={MEDALLION_DAG}" / f"run_id={run_id}"

    def kill_the_worker_mid_stage_once() -> None:
        silver = list((logs / "task_id=silver").glob("attempt=*.log"))
        if worker_killed or not any("silver silver.customers" in p.read_text() for p in silver):
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for driver in _job_processes("silver", jvm_only=True):
                if app := _app_running_a_stage(driver):
                    worker_killed.append({**_kill_service(platform, "spark-worker"), "silver_app": app})
                    return
            time.sleep(0.2)

    def first_attempt_over(task: str) -> bool:
        (ti,) = [t for t in api.task_instances(MEDALLION_DAG, run_id) if t["task_id"] == task]
        return ti["try_number"] > 1 or ti["state"] not in ("running", "queued", "scheduled")

    def inject(run) -> None:
        if day == DAY4:
            kill_the_worker_mid_stage_once()
        for fault in (f for f in faults if "outcome" not in f):
            if not (logs / f"task_id={fault['task']}" / "attempt=1.log").is_file():
                continue
            seen = fault.setdefault("seen", time.monotonic())
            if time.monotonic() - seen < fault["after_s"]:
                continue
            killed = 0
            for jvm in _job_processes(fault["task"], jvm_only=True):
                try:
                    jvm.send_signal(signal.SIGKILL)
                    killed += 1
                except psutil.NoSuchProcess:
                    pass
            if killed:
                fault["outcome"] = "killed"
            elif first_attempt_over(fault["task"]):
                fault["outcome"] = "missed: its first attempt had ended"
            # else: the attempt has not started its spark-submit yet; the next poll tries again

    run = api.wait(MEDALLION_DAG, run_id, RUN_TIMEOUT, inject)
    for fault in faults:
        fault.setdefault("outcome", "missed: the task never ran")
    tis = api.task_instances(MEDALLION_DAG, run_id)
    run["tries"] = {t["task_id"]: t["try_number"] for t in tis}
    # Each task's last try, start to end: where a soak day's time goes.
    run["task_seconds"] = {t["task_id"]: round(t["duration"], 1) for t in tis if t.get("duration") is not None}
    return run


@pytest.fixture(scope="module")
def soak(platform, api, day3_run) -> dict:
    """The soak (issue 20): a backfill of day 4 to conftest.LAST_DAY, one run per day, one at a
    time, with faults. The Spark worker is SIGKILLed with its executors while day 4's silver
    driver runs a stage (once its log says the first dataset is done), then started again; and
    SOAK_FAULTS task spark-submits are SIGKILLed at seeded random points (_fault_plan). Each
    killed task is Airflow's to retry. What was injected, and how long it took, goes to
    build/test-output/soak.json. `make test` runs it small (1 day, 1 random kill), `make soak`
    a month."""
    plan = _fault_plan(SOAK_SEED, SOAK_FAULTS, SOAK_DAYS)
    dqops_before = _dqops_severities(platform)  # after day 3's runs, before day 4's email lands
    t0 = time.monotonic()
    api.backfill(MEDALLION_DAG, DAY4, LAST_DAY)
    runs, worker_killed = [], []
    SOAK_REPORT.parent.mkdir(parents=True, exist_ok=True)
    for day in (DAY4 + timedelta(days=i) for i in range(SOAK_DAYS)):
        runs.append(_run_with_faults(platform, api, day, [f for f in plan if f["day"] == day.isoformat()],
                                     worker_killed))
        report = {"days": SOAK_DAYS, "done": len(runs), "seed": SOAK_SEED, "seconds": round(time.monotonic() - t0, 1),
                  "worker_killed_mid_stage": len(worker_killed),
                  "task_kills": [{k: v for k, v in f.items() if k != "seen"} for f in plan],
                  "runs": {r["logical_date"][:10]: {"state": r["state"], "tries": r["tries"],
                                                       "task_seconds": r["task_seconds"]}
                           for r in runs}}
        SOAK_REPORT.write_text(json.dumps(report, indent=2))  # after each day: a long soak shows its progress
    return {**report, "run_list": runs, "worker_killed": worker_killed, "dqops_before": dqops_before}


@pytest.fixture(scope="module")
def day4_backfill(soak) -> dict:
    return soak["run_list"][0]


def test_the_soak_converges_to_the_reference_with_no_duplicate_and_every_batch_accounted(platform, soak, all_days,
                                                                                          tmp_path):
    """After the soak's faults, every run succeeded, each killed task by a retry; every day,
    each processed by its own run (the cluster run, then Airflow's), gives bronze, silver, the
    quarantine and the gold tables the reference pipeline builds from the same files in one go
    (gold row for row); no key twice; every batch of every dataset recorded once, and every
    run's accounting closes."""
    assert len(soak["worker_killed"]) == 1, "silver's stage was never seen running"
    worker = soak["worker_killed"][0]  # with an executor of silver's application, which ran its stage
    assert any(f"--app-id {worker['silver_app']}" in " ".join(cmd) for cmd in worker["children"]), worker
    killed = [f for f in soak["task_kills"] if f["outcome"] == "killed"]
    assert len(killed) == len(soak["task_kills"]) == min(SOAK_FAULTS, SOAK_DAYS * len(SOAK_TASKS)), soak["task_kills"]
    for run in soak["run_list"]:
        assert run["state"] == "success" and run["run_type"] == "backfill", (run["logical_date"], run["tries"])
    for fault in killed:
        assert soak["runs"][fault["day"]]["tries"][fault["task"]] >= 2, fault
    ref = reference.build(all_days, tmp_path)
    days = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range((LAST_DAY - date(2026, 1, 1)).days + 1)]
    for layer in ("bronze", "silver"):
        recorded = thrift_query(platform, f"SELECT table_name, batch_id, count(*) FROM ops.audit WHERE layer = "
                                          f"'{layer}' AND status = 'ok' GROUP BY table_name, batch_id")
        assert {(t, b) for t, b, _ in recorded} == {(f"{layer}.{d}", day) for d in ref.counts["datasets"]
                                                    for day in days}, layer
        assert all(n == 1 for _, _, n in recorded), (layer, recorded)
    unclosed = thrift_query(platform, "SELECT run_id, rows_unaccounted FROM ops.accounting WHERE steps_not_ok = 0 "
                                      "AND rows_unaccounted <> 0")
    assert not unclosed, unclosed
    for name in ref.counts["gold"]:
        expected = ref.gold_rows(name)
        assert expected and reference.served_gold_rows(platform, name, ref.gold_columns(name)) == expected, name
    for dataset, c in ref.counts["datasets"].items():  # every landing record once, MinIO's outage or not
        assert thrift_query(platform, f"SELECT count(*) FROM bronze.{dataset}") == [(c["read"],)], dataset
        assert thrift_query(platform, f"SELECT count(*) FROM silver.{dataset}") == [(c["silver_rows"],)], dataset
        [(quarantined,)] = thrift_query(platform, f"SELECT count(*) FROM ops.quarantine WHERE dataset = '{dataset}'")
        assert quarantined == c["quarantined"], dataset
    for table, keys in {"silver.orders": "order_id", "silver.products": "product_id",
                        "silver.order_items": "order_id, line_no"}.items():
        [(rows, distinct)] = thrift_query(platform, f"SELECT count(*), count(DISTINCT {keys}) FROM {table}")
        assert rows == distinct, f"{table}: duplicate keys"


def test_a_landed_rule_breaking_record_is_kept_reported_by_dqops_and_fails_the_task_at_its_severity(
        platform, api, soak, day4_backfill, all_days, monkeypatch):
    """silver.customers's freshness check warns on every run of the (old) sample, so a task at
    severity warning would fail anyway: what the email adds is one more check at warning, and
    DQOps names it."""
    assert day4_backfill["state"] == "success"
    ((email,),) = thrift_query(platform, "SELECT email FROM silver.customers WHERE email NOT LIKE '%@%'")
    ((warned,),) = thrift_query(platform, "SELECT max(warnings['email_is_plausible']) FROM ops.audit WHERE "
                                          f"table_name = 'silver.customers' AND batch_id = '{DAY4.isoformat()}'")
    assert warned == 1, "silver kept it (a warn rule) and counted it"
    # The DAG's own task ran DQOps's checks at the configured severity (error): a warning
    # passes it, and DQOps names the check that warned.
    checks = api.return_value(MEDALLION_DAG, day4_backfill["dag_run_id"], "dqops_checks")["silver.customers"]
    assert checks["highest_severity"] == "warning", checks
    # The run's dqops_results task (a teardown: its failure would not fail the run) copied
    # DQOps's verdicts into the lakehouse.
    states = api.task_states(MEDALLION_DAG, day4_backfill["dag_run_id"])
    assert states["dqops_results"] == "success", states
    # Which checks went from valid to warning, from DQOps's verdicts per check before the soak
    # and now, not from the job's warning counts: two CIs counted 3, then 1, on day 4 against
    # day 3's 1, and in the second DQOps's status after the run had both the email and the
    # freshness checks at warning.
    before, after = soak["dqops_before"], _dqops_severities(platform)
    flagged = {c for c, severity in after.items() if severity != "valid"}
    newly = flagged - {c for c, severity in before.items() if severity != "valid"}
    context = {"day 4's task": checks, "before": sorted(c for c, s in before.items() if s != "valid"),
               "after": sorted(flagged), "checks": (len(before), len(after))}
    # Freshness follows the clock, not the data: it is not asked to stay as it was.
    assert newly - {"daily_data_freshness"} == {f"email.{REGEX_CHECK}"}, context
    assert before.get(f"email.{REGEX_CHECK}") == "valid" and after[f"email.{REGEX_CHECK}"] == "warning", context
    assert _email_check(platform)["current_severity"] == "warning", email
    copied = thrift_query(platform, "SELECT severity FROM ops.dqops_latest WHERE table_name = 'silver.customers' "
                                    f"AND column_name = 'email' AND check_name = '{REGEX_CHECK}'")
    assert copied == [("warning",)], copied
    # The same task configured to fail at warning fails, naming the table.
    monkeypatch.setenv("LAKEHOUSE_DQOPS_URL", dqops.url(platform))
    task = DqopsRunChecksOperator(task_id="dqops_checks", connection=DQOPS_CONNECTION,
                                  tables=["silver.customers"], fail_severity="warning")
    with pytest.raises(AirflowFailException, match=r"silver\.customers: highest severity warning"):
        task.execute(context={})
    assert _email_check(platform)["current_severity"] == "warning"


def test_the_api_refuses_default_and_wrong_credentials(platform):
    for password in ("admin", "airflow", "wrong-" + platform.airflow_admin_password.get_secret_value()):
        with pytest.raises(AirflowError, match="401|403|Invalid"):
            token(api_url(platform), "admin", password)


def test_airflow_keys_are_generated_not_defaults(platform):
    from cryptography.fernet import Fernet

    Fernet(platform.airflow_fernet_key.get_secret_value())  # a real Fernet key, generated
    for key in (platform.airflow_secret_key, platform.airflow_jwt_secret, platform.airflow_admin_password):
        assert len(key.get_secret_value()) >= 24
