"""Airflow on the native platform, for real: DAG runs triggered through the REST API submit
every layer to the Spark master. After the cluster run (conftest's cluster_run) has processed
the first two days, these tests land two more days and let Airflow process them, one
interval per run. They run after test_platform.py (see conftest).

- a run for one interval processes exactly that day, and survives its spark-submit being
  killed mid-task (retried, no duplicate row, no Spark application left behind); its DQOps
  task runs the checks of every silver and gold table on the platform's DQOps, and passes;
- clearing that run (rerunning the interval) changes no table;
- a backfill runs the next interval; the gold tables then equal, row for row, what the
  reference pipeline (DuckDB, held equal to the embedded one) builds from the same four days;
- day 4 carries one customer whose email breaks the spec's `warn` rule email_is_plausible
  (landed on purpose, in the reference's input too): silver keeps it and counts the warning,
  DQOps reports its regex check at warning, so the DAG's task (configured severity: error)
  passes and the same task at severity warning fails.
"""

from __future__ import annotations

import csv
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
from lakehouse.platform import dqops, object_store
from lakehouse.platform.airflow import api_url
from lakehouse.platform.spark_cluster import master_state
from lakehouse.specs import load_catalog
from tests.system import reference
from tests.system.airflow_api import AirflowAPI, AirflowError, token
from tests.system.conftest import DATA
from tests.system.test_dqops import _get as dqops_get
from tests.system.test_platform import _snapshot, thrift_query

# A DAG run takes minutes; a fixture may also wait for the cluster run before it.
pytestmark = [pytest.mark.system, pytest.mark.timeout(3000)]

DAY3, DAY4 = date(2026, 1, 3), date(2026, 1, 4)
RUN_TIMEOUT = 1800
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
def four_days(platform, cluster_run, tmp_path_factory):
    """The sample over four days (same seed: days 1-2 are the ones already processed); days
    3 and 4 go to the landing bucket for Airflow."""
    local = tmp_path_factory.mktemp("four-days")
    generate(local, scale=float(DATA["LAKEHOUSE_SCALE"]), seed=platform.seed, days=4, start_date=platform.start_date)
    _break_one_email(local, DAY4)
    s3 = object_store.s3_client(platform, "landing")
    for path in sorted(local.rglob("*")):
        key = path.relative_to(local).as_posix()
        if path.is_file() and any(f"/{d.isoformat()}/" in f"/{key}" for d in (DAY3, DAY4)):
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


@pytest.fixture(scope="module")
def day3_run(platform, api, four_days):
    """A manual run for [day 3, day 4), whose silver spark-submit is SIGKILLed in the middle
    of its work: once its log says the first dataset is done, while the next is merging."""
    bronze_before = _audit_batches(platform, "bronze")
    t0 = time.monotonic()
    run_id = api.trigger(MEDALLION_DAG, DAY3, DAY4)
    first_attempt = (platform.platform_dir / "airflow" / "logs" / f"dag_id={MEDALLION_DAG}" / f"run_id={run_id}"
                     / "task_id=silver" / "attempt=1.log")
    killed, commands = [], []

    def kill_silver_once(run):
        if killed or not first_attempt.is_file() or "silver silver.customers" not in first_attempt.read_text():
            return
        for proc in _job_processes("silver", jvm_only=True):
            commands.append(proc.info["cmdline"])  # as listed: the process may be gone by now
            proc.send_signal(signal.SIGKILL)
            killed.append(proc.pid)

    run = api.wait(MEDALLION_DAG, run_id, RUN_TIMEOUT, kill_silver_once)
    return {"run_id": run_id, "run": run, "killed": killed, "commands": commands, "seconds": time.monotonic() - t0,
            "bronze_before": bronze_before}


def test_a_run_processes_exactly_its_interval(platform, api, day3_run):
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


def _email_check(platform) -> dict:
    """DQOps's latest result of silver.customers' email regex check."""
    status = dqops_get(platform, f"/api/connections/{DQOPS_CONNECTION}/schemas/silver/tables/customers/status")
    return status["columns"]["email"]["checks"][REGEX_CHECK]


def test_a_killed_spark_submit_is_retried_without_duplicates_or_leftovers(platform, api, day3_run):
    assert day3_run["killed"], "silver's spark-submit was never seen running"
    # The task's driver JVM started with the cluster driver's options (C1 alone, see config),
    # mapping the class archive `make platform` built. Not -Xshare:on (conftest.DATA): the tasks
    # read the home's spark-submit.properties, which the last cluster submit wrote, here B3's
    # with the default options (test_benchmarks runs first).
    options = {*shlex.split(platform.cluster_driver_jvm_options), f"-XX:SharedArchiveFile={archive_path(platform)}"}
    for cmd in day3_run["commands"]:
        assert options <= set(cmd), f"missing {sorted(options - set(cmd))} in {cmd}"
    tries = {t["task_id"]: t["try_number"] for t in api.task_instances(MEDALLION_DAG, day3_run["run_id"])}
    assert tries["silver"] == 2 and tries["bronze"] == 1, tries
    for table, keys in {"silver.orders": "order_id", "silver.products": "product_id",
                        "silver.order_items": "order_id, line_no"}.items():
        [(rows, distinct)] = thrift_query(platform, f"SELECT count(*), count(DISTINCT {keys}) FROM {table}")
        assert rows == distinct, f"{table}: duplicate keys after the retry"
    [(current, keys)] = thrift_query(platform, "SELECT count(*), count(DISTINCT customer_id) FROM silver.customers "
                                               "WHERE is_current")
    assert current == keys
    assert _wait_until_no_job_application(platform) == ["lakehouse-thrift-server"]
    assert not [p.pid for p in _job_processes("silver") if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_clearing_the_run_reruns_the_interval_and_changes_nothing(platform, api, day3_run):
    """Nothing but ops.dqops_checks: the rerun's dqops_checks ran DQOps's checks again, and
    dqops_results copies those new executions (DQOps's own history grows the same way)."""
    before = _snapshot(platform)
    api.clear(MEDALLION_DAG, day3_run["run_id"])
    time.sleep(5)
    run = api.wait(MEDALLION_DAG, day3_run["run_id"], RUN_TIMEOUT)
    assert run["state"] == "success", api.task_states(MEDALLION_DAG, day3_run["run_id"])
    after = _snapshot(platform)
    assert after.pop("ops.dqops_checks")[0] > before.pop("ops.dqops_checks")[0]
    assert after == before


@pytest.fixture(scope="module")
def day4_backfill(platform, api, day3_run):
    backfill = api.backfill(MEDALLION_DAG, DAY4, DAY4)
    deadline = time.monotonic() + 120
    while not (runs := [r for r in api.runs(MEDALLION_DAG) if r["logical_date"].startswith(DAY4.isoformat())]):
        assert time.monotonic() < deadline, f"backfill {backfill.get('id')} created no run"
        time.sleep(3)
    return api.wait(MEDALLION_DAG, runs[0]["dag_run_id"], RUN_TIMEOUT)


def test_backfill_runs_the_next_interval_and_gold_equals_the_reference_pipeline(platform, day4_backfill,
                                                                               four_days, tmp_path):
    """Four days, each processed by its own run (the cluster run, then Airflow's), give the
    gold tables the reference pipeline builds from the same files in one go, row for row."""
    assert day4_backfill["state"] == "success"
    assert day4_backfill["run_type"] == "backfill"
    assert {b for _, b in _audit_batches(platform, "silver")} == {(date(2026, 1, 1) + timedelta(days=i)).isoformat()
                                                                   for i in range(4)}
    ref = reference.build(four_days, tmp_path)
    for name in ref.counts["gold"]:
        expected = ref.gold_rows(name)
        assert expected and reference.served_gold_rows(platform, name, ref.gold_columns(name)) == expected, name
    for dataset, c in ref.counts["datasets"].items():
        assert thrift_query(platform, f"SELECT count(*) FROM silver.{dataset}") == [(c["silver_rows"],)], dataset


def test_a_landed_rule_breaking_record_is_kept_reported_by_dqops_and_fails_the_task_at_its_severity(
        platform, api, day3_run, day4_backfill, four_days, monkeypatch):
    """silver.customers's freshness check warns on every run of the (old) sample, so a task at
    severity warning would fail anyway: what the email adds is one more warning, and DQOps
    names its check."""
    assert day4_backfill["state"] == "success"
    ((email,),) = thrift_query(platform, "SELECT email FROM silver.customers WHERE email NOT LIKE '%@%'")
    ((warned,),) = thrift_query(platform, "SELECT max(warnings['email_is_plausible']) FROM ops.audit WHERE "
                                          f"table_name = 'silver.customers' AND batch_id = '{DAY4.isoformat()}'")
    assert warned == 1, "silver kept it (a warn rule) and counted it"
    # The DAG's own task ran DQOps's checks at the configured severity (error): a warning
    # passes it, and DQOps names the check that warned.
    checks = api.return_value(MEDALLION_DAG, day4_backfill["dag_run_id"], "dqops_checks")
    day3 = api.return_value(MEDALLION_DAG, day3_run["run_id"], "dqops_checks")["silver.customers"]
    assert checks["silver.customers"]["highest_severity"] == "warning", checks["silver.customers"]
    assert checks["silver.customers"]["warnings"] == day3["warnings"] + 1, (day3, checks["silver.customers"])
    assert _email_check(platform)["current_severity"] == "warning", email
    # The run's dqops_results task copied DQOps's verdicts into the lakehouse.
    states = api.task_states(MEDALLION_DAG, day4_backfill["dag_run_id"])
    assert states["dqops_results"] == "success", states
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
