"""DQOps on the native platform, after the cluster pipeline ran: `lakehouse up` started it on
loopback with the user home generated from the specs; the DAG's operator runs its checks of
every silver and gold table through the Thrift server, for real, and fails at the configured
severity; its console shows the connection, the tables and their results in a real browser.

(The medallion DAG's own `dqops_checks` task runs in test_airflow.py.) The console's
screenshot goes to build/test-output/dqops-console.png."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import psutil
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from lakehouse.config import DQOPS_CONNECTION, PROJECT_ROOT
from lakehouse.orchestration.dags import dqops_tables
from lakehouse.orchestration.plan import build_plan
from lakehouse.orchestration.dqops_operator import DqopsRunChecksOperator
from lakehouse.platform import dqops
from lakehouse.quality import dqops_userhome
from lakehouse.specs import load_catalog
from tests.system.conftest import cli, platform_pids
from tests.system.superset_client import chromium, wait_for
from tests.system.test_platform import thrift_query

pytestmark = pytest.mark.system

OUTPUT = PROJECT_ROOT / "build" / "test-output"


def _get(platform, path: str):
    with urllib.request.urlopen(f"{dqops.url(platform)}{path}", timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def tables() -> list[str]:
    return dqops_tables(build_plan(load_catalog(PROJECT_ROOT / "pipelines")))


@pytest.fixture
def dqops_server(platform, monkeypatch):
    """The operator's configuration as Airflow's processes get it from `lakehouse up`."""
    monkeypatch.setenv("LAKEHOUSE_DQOPS_URL", dqops.url(platform))
    monkeypatch.delenv("LAKEHOUSE_DQOPS_API_KEY", raising=False)
    return dqops.url(platform)


@pytest.fixture(scope="module")
def checked(dqops_recorded, tables):
    """The daily monitoring checks of every table, run once by the DAG's operator at the
    platform's default fail severity (error), on the cluster run's data (the platform's
    fixture that copies the results to ops.dqops_checks ran them): per table, DQOps's result
    summary."""
    assert dqops_recorded["tables"] == tables
    return {"results": dqops_recorded["checked"]}


def test_dqops_runs_on_loopback_only_with_the_generated_checks(platform, platform_home):
    home, _, _ = platform_home
    status = json.loads(cli(home, "status", "--format", "json").stdout)
    (row,) = [s for s in status if s["name"] == "dqops"]
    assert (row["state"], row["version"], row["port"]) == ("running", "1.13.1", platform.dqops_port)
    # No login in DQOps's free edition: it must listen on loopback and nowhere else.
    pid = platform_pids(home)["dqops"]
    listening = {(c.laddr.ip.removeprefix("::ffff:"), c.laddr.port)  # Java's IPv4-mapped addresses
                 for p in [psutil.Process(pid), *psutil.Process(pid).children(True)]
                 for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert (platform.bind_host, platform.dqops_port) in listening
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening
    # Its user home's checks are the committed, generated ones.
    userhome = dqops.userhome(platform)
    committed = [*(dqops_userhome.USERHOME_DIR / "sources").rglob("*.yaml"), *dqops_userhome.policy_files()]
    for path in committed:
        copy = userhome / path.relative_to(dqops_userhome.USERHOME_DIR)
        assert copy.read_text() == path.read_text(), copy
    # The policies are the committed ones, nothing beside them.
    assert sorted(p.name for p in (userhome / dqops_userhome.POLICIES_DIR).iterdir()) == [
        p.name for p in dqops_userhome.policy_files()]


def test_dqops_knows_the_connection_and_every_silver_and_gold_table(platform, tables):
    assert [c["connection_name"] for c in _get(platform, "/api/connections")] == [DQOPS_CONNECTION]
    known = {f"{schema}.{t['target']['table_name']}"
             for schema in ("silver", "gold")
             for t in _get(platform, f"/api/connections/{DQOPS_CONNECTION}/schemas/{schema}/tables")}
    assert known == set(tables)


def test_dqops_scheduler_runs_the_monitoring_checks_on_the_declared_schedule(platform, tables):
    """DQOps's scheduler is running, and the user home's schedule (daily monitoring checks at
    MONITORING_DAILY_CRON) is the effective schedule DQOps computes for every table, next
    due within a day. (Its firing, at 06:00, is not waited for.)"""
    assert _get(platform, "/api/jobs/scheduler/isrunning") is True
    declared = _get(platform, f"/api/connections/{DQOPS_CONNECTION}/schedules/monitoring_daily")
    assert declared["cron_expression"] == dqops_userhome.MONITORING_DAILY_CRON
    for table in tables:
        now = datetime.now(UTC)
        schema, name = table.split(".")
        model = _get(platform, f"/api/connections/{DQOPS_CONNECTION}/schemas/{schema}/tables/{name}"
                               "/monitoring/daily/model")
        planned = model["effective_schedule"]
        assert planned["cron_expression"] == dqops_userhome.MONITORING_DAILY_CRON and not planned.get("disabled")
        due = datetime.fromisoformat(planned["time_of_execution"].replace("Z", "+00:00"))
        assert timedelta(0) < due - now <= timedelta(days=1), (table, planned)


def _declared_checks(table: str) -> int:
    """The monitoring checks (every time scale) the table's committed file declares, on it and
    its columns: what the operator's check_type=monitoring runs when no policy adds any."""
    path = dqops_userhome.USERHOME_DIR / dqops_userhome.table_file(*table.split("."))
    spec = yaml.safe_load(path.read_text())["spec"]
    nodes = [spec, *spec.get("columns", {}).values()]
    return sum(len(checks) for node in nodes for scale in node.get("monitoring_checks", {}).values()
               for checks in scale.values())


def test_the_checks_of_every_table_run_against_the_thrift_server(checked, tables):
    results = checked["results"]
    assert set(results) == set(tables)
    for table, result in results.items():
        # Every check reached the table through the Thrift server: none failed to execute.
        assert result["executed_checks"] > 0 and result["execution_errors"] == 0, (table, result)
        # As many checks as the specs declare: DQOps's default policies add none (87 on
        # silver.customers with them, against 35 declared).
        assert result["executed_checks"] == _declared_checks(table), (table, result)
        assert result["highest_severity"] in ("valid", "warning"), (table, result)  # clean data: no error


def test_a_check_reaching_the_fail_severity_fails_the_task_and_dqops_names_it(platform, dqops_server):
    """The sample's days lie months in the past: DQOps's freshness check of silver's ordering
    column warns (a warning, not an error, in the generated rules). At fail severity
    `warning` that fails the task; DQOps's table status names the check and the delay."""
    task = DqopsRunChecksOperator(task_id="dqops_checks", connection=DQOPS_CONNECTION,
                                  tables=["silver.customers"], fail_severity="warning")
    with pytest.raises(AirflowFailException, match=r"silver\.customers: highest severity warning"):
        task.execute(context={})
    status = _get(platform, f"/api/connections/{DQOPS_CONNECTION}/schemas/silver/tables/customers/status")
    warned = {name for name, check in status["checks"].items() if check["current_severity"] == "warning"}
    assert warned == {"daily_data_freshness"}, status["checks"]
    ((newest,),) = thrift_query(platform, "SELECT CAST(MAX(updated_at) AS STRING) FROM silver.customers")
    age_days = (datetime.now(UTC) - datetime.fromisoformat(newest).replace(tzinfo=UTC)).total_seconds() / 86400
    assert status["data_freshness_delay_days"] == pytest.approx(age_days, abs=0.1)


def test_the_console_shows_the_tables_and_their_check_results_in_chromium(platform, checked):
    base = dqops.url(platform)
    driver = chromium()
    try:
        from selenium.webdriver.common.by import By

        def body() -> str:
            return driver.find_element(By.TAG_NAME, "body").text

        driver.get(f"{base}/sources/connection/{DQOPS_CONNECTION}/schemas")
        wait_for(lambda: {"gold", "silver"} <= set(body().split()), 120, "the connection's schemas")
        driver.get(f"{base}/monitoring/connection/{DQOPS_CONNECTION}/schema/silver/table/customers/daily")
        # The results and the tree of tables beside them load separately: wait for both.
        silver = {"customers", "order_items", "orders", "products"}
        text = wait_for(lambda: (t := body()) and "daily_data_freshness" in t and silver <= set(t.split()) and t,
                        120, "silver.customers's check results beside the silver tables")
        assert f"Daily monitoring checks for {DQOPS_CONNECTION}.silver.customers" in text
        OUTPUT.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(OUTPUT / "dqops-console.png"))
    finally:
        driver.quit()
    assert (OUTPUT / "dqops-console.png").stat().st_size > 10_000
