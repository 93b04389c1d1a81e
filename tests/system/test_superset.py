"""Superset on the native platform, after the cluster pipeline ran: the provisioned
database, datasets, charts and dashboard answer with real gold data through the Thrift
server, over the REST API and in a real browser; a default login gets nowhere.

Timings (each chart query, the dashboard's load) go to build/test-output/superset.json,
next to the dashboard's screenshot."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import threading
import time
import urllib.request

import pytest
import yaml

from lakehouse.config import GOLD, PROJECT_ROOT
from lakehouse.platform import lifecycle, superset, superset_datasets
from lakehouse.specs import load_catalog
from tests.system.conftest import cli, driver_api
from tests.system.superset_client import (NetworkLog, SupersetAPI, SupersetError, chromium, log_in, open_dashboard,
                                          wait_for)
from tests.system.test_platform import thrift_query

pytestmark = pytest.mark.system

OUTPUT = PROJECT_ROOT / "build" / "test-output"
ASSETS = {kind: [yaml.safe_load(p.read_text()) for p in sorted((superset.ASSETS_DIR / kind).rglob("*.yaml"))]
          for kind in ("databases", "datasets", "charts", "dashboards")}
TIMINGS: dict = {}


def _record(**values) -> None:
    TIMINGS.update(values)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "superset.json").write_text(json.dumps(TIMINGS, indent=2))


@pytest.fixture(scope="module")
def api(platform, cluster_run):
    return SupersetAPI(superset.url(platform), platform.superset_admin_user,
                       platform.superset_admin_password.get_secret_value())


def test_admin_password_is_printed_by_the_first_up_only(platform, platform_home):
    home, first_up, _ = platform_home
    password = platform.superset_admin_password.get_secret_value()
    assert f"Superset: {superset.url(platform)}  user {platform.superset_admin_user}, password {password} " in first_up
    again = cli(home, "up").stdout
    assert password not in again and "LAKEHOUSE_SUPERSET_ADMIN_PASSWORD" in again


def test_pages_allow_no_telemetry_host(platform):
    """Superset's content security policy (superset_config.py) leaves out the hosts of its
    telemetry pixel and keeps the rest of the default policy."""
    with urllib.request.urlopen(f"{superset.url(platform)}/login/", timeout=30) as page:
        policy = page.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert "scarf" not in policy, policy
    assert directives["img-src"][:3] == ["'self'", "blob:", "data:"] and directives["default-src"] == ["'self'"]


def test_default_and_wrong_logins_are_refused(platform):
    for user, password in (("admin", "admin"), (platform.superset_admin_user, "wrong-password")):
        with pytest.raises(SupersetError) as refused:
            SupersetAPI(superset.url(platform), user, password)
        assert refused.value.status == 401


def _uuids(api, listing: str) -> list[str]:
    return sorted(str(h.get("uuid") or api.get(f"/{listing}/{h['id']}")["result"].get("uuid"))
                  for h in api.listing(listing))


def test_assets_are_provisioned_once_even_when_provisioned_again(platform, platform_home, api):
    """`up` provisioned at start (and again after test_platform's down and up); once more
    here: still exactly the assets in superset/assets and the datasets generated from the
    specs (every gold and ops table has one), no duplicate."""
    home, _, _ = platform_home
    out = cli(home, "superset", "provision").stdout
    synced = _generated_datasets(platform.specs_dir)  # the ops tables and views no hand-made dataset covers
    assert "provisioned 1 databases" in out and f"{synced} generated datasets synced with their tables" in out, out
    bundle = _bundle(platform)
    for kind, listing in (("databases", "database"), ("datasets", "dataset"), ("charts", "chart"),
                          ("dashboards", "dashboard")):
        expected = {str(d["uuid"]) for name, d in bundle.items() if name.startswith(kind + "/")}
        assert _uuids(api, listing) == sorted(expected), kind


def _generated_datasets(specs_dir) -> int:
    bundle = superset_datasets.bundle(load_catalog(specs_dir), superset.ASSETS_DIR)
    return sum(superset_datasets.GENERATED in (yaml.safe_load(text).get("extra") or {})
               for name, text in bundle.items() if name.startswith("datasets/"))


def _bundle(platform) -> dict[str, dict]:
    """What provisioning imports: superset/assets, the generated datasets and the generated
    "Data quality" dashboard."""
    catalog = load_catalog(platform.specs_dir)
    return {name: yaml.safe_load(text) for name, text in superset_datasets.bundle(catalog, superset.ASSETS_DIR).items()}


def test_datasets_have_the_tables_columns_as_the_thrift_server_reports_them(platform, api):
    for dataset in ASSETS["datasets"]:
        described = thrift_query(platform, f"DESCRIBE {dataset['schema']}.{dataset['table_name']}")
        actual = {row[0] for row in described if row[0] and not row[0].startswith("#")}
        physical = {c["column_name"] for c in dataset["columns"] if not c["expression"]}
        # Gold: every column, as analysts expect. Ops: the columns the charts need (no maps).
        assert physical == actual if dataset["schema"] == GOLD else physical <= actual, dataset["table_name"]


def test_every_chart_query_returns_rows_through_the_rest_api(platform, api, dqops_recorded):
    charts = {c["slice_name"]: c["id"] for c in api.listing("chart")}
    assert set(charts) == {d["slice_name"] for name, d in _bundle(platform).items() if name.startswith("charts/")}
    cold, warm = {}, {}
    for name, chart_id in sorted(charts.items()):
        for timings in (cold, warm):  # the first query of a table plans its Delta snapshot
            t0 = time.monotonic()
            answer = api.chart_data(chart_id)
            timings[name] = round(time.monotonic() - t0, 2)
            for result in answer["result"]:
                assert result.get("status") in (None, "success") and not result.get("error"), (name, result)
                assert result["rowcount"] > 0 and result["data"], f"{name}: no rows"
    slowest = max(warm, key=warm.get)
    _record(chart_query_seconds={"first": cold, "again": warm},
            slowest_chart_query={"chart": slowest, "seconds": warm[slowest], "first_time": cold[slowest]})


def test_dashboard_renders_every_chart_with_data_in_chromium(platform, api):
    (dashboard,) = ASSETS["dashboards"]
    expected = len(ASSETS["charts"])
    driver = chromium(network_log=True)
    try:
        log_in(driver, superset.url(platform), platform.superset_admin_user,
               platform.superset_admin_password.get_secret_value())
        network = NetworkLog(driver)
        state = open_dashboard(driver, superset.url(platform), dashboard["slug"], expected,
                               OUTPUT / "superset-dashboard.png")
        _record(dashboard_load_seconds=state["load_seconds"])
        assert not state["errors"], f"charts in an error state: {state['errors']}"
        assert not state["empty"], f"charts with no data: {state['empty']}"
        assert state["rendered"] == expected
        # Superset's telemetry pixel (superset_config.py's policy): drawn, and refused by the
        # browser, not sent (this machine resolves no outside host: a sent one fails too).
        telemetry = network.outcomes("scarf.sh")
        assert telemetry and all(line.endswith(": blocked csp") for line in telemetry), telemetry
    finally:
        driver.quit()
    assert (OUTPUT / "superset-dashboard.png").stat().st_size > 10_000


def test_analysts_open_dashboards_but_not_sql_lab(platform, platform_home, api):
    """An Analyst (`lakehouse superset add-user`, the default role) sees the dashboard and its
    data; SQL Lab is refused: it is only for roles granted it."""
    home, _, _ = platform_home
    added = cli(home, "superset", "add-user", "analyst").stdout
    password = re.search(r"password (\S+) \(shown once\)", added)[1]
    analyst = SupersetAPI(superset.url(platform), "analyst", password)
    titles = sorted(d["dashboard_title"] for name, d in _bundle(platform).items() if name.startswith("dashboards/"))
    assert sorted(d["dashboard_title"] for d in analyst.listing("dashboard")) == titles, "the sales and quality ones"
    chart_id = analyst.listing("chart")[0]["id"]
    assert all(r["rowcount"] > 0 for r in analyst.chart_data(chart_id)["result"])
    (database,) = api.listing("database")
    with pytest.raises(SupersetError) as refused:
        analyst.sql_lab(database["id"], "SELECT count(*) FROM gold.daily_revenue")
    assert refused.value.status in (401, 403), refused.value


def test_sql_lab_serves_the_lakehouse_tables_and_nothing_else(platform, api):
    """Whoever has SQL Lab still reaches the tables through the read-only Thrift server: the
    platform's secrets, other files, storage by path and Java calls are refused (writes too:
    Superset's own allow_dml is off, and test_served_sql tries them on the Thrift server)."""
    (database,) = api.listing("database")
    answer = api.sql_lab(database["id"], "SELECT count(*) AS n FROM gold.daily_revenue")
    assert answer["data"][0]["n"] > 0
    secrets = platform.platform_dir / "secrets.env"
    for sql in (f"SELECT * FROM text.`file://{secrets}`", f"SELECT * FROM delta.`s3a://{platform.warehouse_bucket}/gold/daily_revenue`",
                "SELECT reflect('java.lang.System', 'getenv', 'LAKEHOUSE_THRIFT_PASSWORD')"):
        with pytest.raises(SupersetError) as refused:
            api.sql_lab(database["id"], sql)
        assert "read-only" in str(refused.value), (sql, refused.value)
        assert platform.thrift_password.get_secret_value() not in str(refused.value)


def _dataset(api, table: str) -> dict | None:
    found = [d for d in api.listing("dataset") if d["table_name"] == table]
    return api.get(f"/dataset/{found[0]['id']}")["result"] if found else None


def test_generated_ops_datasets_have_the_tables_columns_and_a_time_column(platform, api):
    for table in ("published", "validations", "dqops_checks", "landing_files", "delete_markers"):
        dataset = _dataset(api, table)
        described = thrift_query(platform, f"DESCRIBE ops.{table}")
        # The columns come first; a partitioned table's partition section repeats its columns.
        actual = list(itertools.takewhile(lambda n: n and not n.startswith("#"), (row[0] for row in described)))
        names = [c["column_name"] for c in dataset["columns"]]  # Superset's order is its own
        assert sorted(names) == sorted(actual), table
        assert dataset["main_dttm_col"] == superset_datasets.OPS_DOCS[table][1]
        assert dataset["description"] == superset_datasets.OPS_DOCS[table][0]


def test_a_new_gold_spec_is_explorable_after_provisioning_and_leaves_with_its_spec(platform, platform_home, api,
                                                                                    tmp_path):
    """A data engineer adds a gold spec: after the pipeline built its table and Superset was
    provisioned, the table has a dataset (columns, descriptions, keys) whose data answers
    through Superset's chart-data API; changing the spec updates that dataset, removing the
    spec removes it. No clicking, no hand-written YAML."""
    home, _, _ = platform_home
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    spec = {"name": "order_status_counts", "description": "Orders per day and status.", "sources": ["orders"],
            "keys": ["order_date", "status"], "columns": {"orders": "orders with that status now"},
            "sql": "SELECT CAST(order_ts AS DATE) AS order_date, status, COUNT(*) AS orders, "
                   "MAX(order_ts) AS last_order_ts FROM silver.orders GROUP BY CAST(order_ts AS DATE), status"}
    (specs / "gold" / "order_status_counts.yaml").write_text(yaml.safe_dump(spec))
    with_spec = {"LAKEHOUSE_SPECS_DIR": str(specs)}
    cli(home, "run", "--profile", "cluster", env=with_spec)
    out = cli(home, "superset", "provision", env=with_spec).stdout
    synced = _generated_datasets(specs)  # with the new spec's table
    assert f"{synced} generated datasets synced with their tables" in out, out

    dataset = _dataset(api, "order_status_counts")
    assert str(dataset["uuid"]) == superset_datasets.dataset_uuid(GOLD, "order_status_counts")
    columns = {c["column_name"]: c for c in dataset["columns"]}
    assert {name: c["description"] for name, c in columns.items()} == {
        "order_date": "key: one row per order_date, status", "status": "key: one row per order_date, status",
        "orders": "orders with that status now", "last_order_ts": None}
    # Types as the Thrift server reports them; the date and timestamp columns are time
    # columns, and the date key is the default one.
    assert all(c["type"] for c in columns.values()), columns
    assert {name for name, c in columns.items() if c["is_dttm"]} == {"order_date", "last_order_ts"}
    assert dataset["main_dttm_col"] == "order_date"
    assert dataset["description"] == "Orders per day and status. One row per order_date, status."
    answer = api.post("/chart/data", {
        "datasource": {"id": dataset["id"], "type": "table"}, "force": True, "result_format": "json",
        "result_type": "full", "queries": [{"columns": ["status"], "metrics": ["count"], "row_limit": 100}]})
    (result,) = answer["result"]
    served = dict(thrift_query(platform, "SELECT status, count(*) FROM gold.order_status_counts GROUP BY status"))
    assert {row["status"]: row["count"] for row in result["data"]} == served and len(served) > 1

    before = {name: (c["id"], c["type"]) for name, c in columns.items()}
    cli(home, "superset", "provision", env=with_spec)
    again = _dataset(api, "order_status_counts")
    assert {c["column_name"]: (c["id"], c["type"]) for c in again["columns"]} == before, "provisioning again churned"

    spec["description"] = "Orders per status, cancelled ones included."
    (specs / "gold" / "order_status_counts.yaml").write_text(yaml.safe_dump(spec))
    cli(home, "superset", "provision", env=with_spec)
    updated = _dataset(api, "order_status_counts")
    assert updated["id"] == dataset["id"] and updated["description"].startswith("Orders per status, cancelled")

    # The shipped specs (no order_status_counts) less orders' row_count_change rule: the
    # generated dataset and the quality dashboard's volume chart of orders go with their specs.
    no_band = tmp_path / "no_band"
    shutil.copytree(PROJECT_ROOT / "pipelines", no_band)
    orders = no_band / "datasets" / "orders.yaml"
    orders.write_text("".join(line for line in orders.read_text().splitlines(keepends=True)
                              if "row_count_change" not in line))
    volume = "Volume of orders against its band"
    out = cli(home, "superset", "provision", env={"LAKEHOUSE_SPECS_DIR": str(no_band)}).stdout
    assert "removed: gold.order_status_counts" in out and f"removed generated charts no spec makes: {volume}" in out
    assert _dataset(api, "order_status_counts") is None
    assert volume not in {c["slice_name"] for c in api.listing("chart")}
    cli(home, "superset", "provision")  # the shipped specs again
    assert volume in {c["slice_name"] for c in api.listing("chart")}
    assert len(api.listing("dataset")) == len(ASSETS["datasets"]) + _generated_datasets(PROJECT_ROOT / "pipelines")


def _running_jobs(platform) -> int:
    """Spark jobs the Thrift server is running now (its driver's monitoring API)."""
    return len(driver_api(platform.thrift_ui_port, "jobs?status=running")[1])


def test_a_query_cut_by_a_thrift_server_restart_fails_cleanly_and_the_next_succeeds(platform, api):
    """The Thrift server restarted while an analyst's query runs through Superset: that query
    ends at once with Superset's error (the database's message, no hang, no trace), and the
    next dashboard query, on a new connection to the new server, returns its rows."""
    (database,) = api.listing("database")
    slow = "SELECT sum(hash(a.id, b.id)) AS s FROM range(200000) a CROSS JOIN range(200000) b"  # minutes on its 1 core
    answer: dict = {}

    def query() -> None:
        try:
            answer["rows"] = api.sql_lab(database["id"], slow)
        except SupersetError as exc:
            answer["error"] = exc

    running = threading.Thread(target=query)
    running.start()
    try:
        wait_for(lambda: _running_jobs(platform), timeout=120, what="the slow query running on the Thrift server")
    finally:  # and if it never ran, the server goes anyway: it must not keep computing it
        stopped = lifecycle.stop(platform, "spark-thrift")
        running.join(timeout=60)
        restarted = lifecycle.up(platform)  # whatever happened, the later tests need their Thrift server
    assert stopped and restarted == ["spark-thrift"]
    assert not running.is_alive(), "the query outlived its Thrift server"
    error = answer.get("error")
    assert error is not None and error.status >= 400, answer
    assert "hive error" in str(error) and "Traceback" not in str(error) and "\tat " not in str(error), error
    chart = next(c for c in api.listing("chart") if c["slice_name"] in {a["slice_name"] for a in ASSETS["charts"]})
    assert all(r["rowcount"] > 0 and not r.get("error") for r in api.chart_data(chart["id"])["result"])
