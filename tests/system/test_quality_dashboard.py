"""The "Data quality" dashboard on the native platform, after the cluster pipeline ran and
DQOps's checks ran with their results copied by the DAG's dqops_results job: it is
provisioned from the specs, every chart renders with data in a real browser, and every
number a chart answers with through Superset is what the ops tables say when queried
directly through the Thrift server (computed here from ops.audit, ops.validations,
ops.quarantine and ops.published, not from the views the charts read), and DQOps's results
are what DQOps's own API says."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, UTC
from urllib.parse import urlencode

import pytest
import yaml

from lakehouse.config import DQOPS_CONNECTION, PROJECT_ROOT
from lakehouse.platform import superset, superset_datasets, superset_quality
from lakehouse.quality.dqops_results import STATUS_FILTER
from lakehouse.specs import load_catalog
from tests.system.superset_client import SupersetAPI, chromium, log_in, open_dashboard
from tests.system.test_dqops import _get as dqops_get
from tests.system.test_platform import thrift_query

pytestmark = pytest.mark.system

SCREENSHOT = PROJECT_ROOT / "build" / "test-output" / "superset-quality-dashboard.png"


@pytest.fixture(scope="module")
def api(platform, cluster_run):
    return SupersetAPI(superset.url(platform), platform.superset_admin_user,
                       platform.superset_admin_password.get_secret_value())


@pytest.fixture(scope="module")
def charts(platform, api, dqops_recorded) -> dict[str, list[dict]]:
    """Each generated chart's rows, as its saved query answers through Superset's API, and
    the Thrift server's dates before and after (the freshness chart's lag is counted to today)."""
    bundle = superset_datasets.bundle(load_catalog(platform.specs_dir), superset.ASSETS_DIR)
    wanted = {doc["slice_name"] for name, doc in ((n, yaml.safe_load(t)) for n, t in bundle.items())
              if name.startswith("charts/") and doc.get("certified_by") == superset_quality.GENERATED_BY}
    found = {c["slice_name"]: c["id"] for c in api.listing("chart") if c["slice_name"] in wanted}
    assert set(found) == wanted
    out = {"today": [_today(platform)]}
    for name, chart_id in found.items():
        (result,) = api.chart_data(chart_id)["result"]
        assert not result.get("error"), (name, result)
        out[name] = result["data"]
    out["today"].append(_today(platform))
    return out


def _today(platform) -> date:
    ((today,),) = thrift_query(platform, "SELECT CAST(current_date() AS STRING)")
    return date.fromisoformat(today)


def _day(value) -> str:
    """A date as Superset answers it: epoch milliseconds (a time axis) or ISO text."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, UTC).date().isoformat()
    return str(value)[:10]


def _silver_batches(platform) -> dict[tuple[str, str], dict]:
    """ops.audit's completed silver steps, the latest per dataset and batch."""
    rows = thrift_query(platform, "SELECT table_name, batch_id, rows_read, quarantined, dropped, "
                                  "CAST(started_at AS STRING) FROM ops.audit "
                                  "WHERE layer = 'silver' AND status = 'ok' AND batch_id IS NOT NULL")
    latest = {}
    for table, batch, read, quarantined, dropped, _ in sorted(rows, key=lambda r: r[5]):
        latest[(table.split(".")[1], batch)] = {"read": read, "passed": read - quarantined - dropped}
    return latest


def test_the_quality_dashboard_renders_every_chart_with_data_in_chromium(platform, api, charts):
    driver = chromium(network_log=True)
    try:
        log_in(driver, superset.url(platform), platform.superset_admin_user,
               platform.superset_admin_password.get_secret_value())
        shown = len(charts) - 1  # less "today"
        state = open_dashboard(driver, superset.url(platform), superset_quality.SLUG, shown, SCREENSHOT)
        assert not state["errors"], f"charts in an error state: {state['errors']}"
        assert not state["empty"], f"charts with no data: {state['empty']}"
        assert state["rendered"] == shown
    finally:
        driver.quit()
    assert SCREENSHOT.stat().st_size > 10_000
    assert all(charts.values()), [name for name, rows in charts.items() if not rows]


def test_share_passing_freshness_and_volume_are_the_audits(platform, charts):
    batches = _silver_batches(platform)
    share = {(r["dataset"], _day(r["batch_date"])): r["share passing"]
             for r in charts["Share of records passing, per dataset"]}
    assert share == {key: pytest.approx(b["passed"] / b["read"]) for key, b in batches.items()}
    assert min(share.values()) < 1, "the sample quarantines records every day"

    newest = {}
    for dataset, batch in batches:
        newest[dataset] = max(newest.get(dataset, batch), batch)
    fresh = {r["dataset"]: (_day(r["last_batch"]), r["lag_days"]) for r in charts["Freshness per dataset"]}
    assert {d: b for d, (b, _) in fresh.items()} == newest
    for dataset, (batch, lag) in fresh.items():  # today as the Thrift server had it around the query
        assert lag in {(today - date.fromisoformat(batch)).days for today in charts["today"]}, dataset

    (rule,) = [e for e in load_catalog(platform.specs_dir).datasets["orders"].expectations
               if e.type == "row_count_change"]
    days = sorted(b for d, b in batches if d == "orders")
    volume = {_day(r["batch_date"]): r for r in charts["Volume of orders against its band"]}
    assert sorted(volume) == days
    for before, day in zip(days, days[1:]):
        previous = batches[("orders", before)]["read"]
        row = volume[day]
        assert row["records"] == batches[("orders", day)]["read"]
        assert (row["band low"], row["band high"]) == (pytest.approx(previous * (1 - float(rule.max_change))),
                                                       pytest.approx(previous * (1 + float(rule.max_change))))


def test_broken_rules_are_the_latest_validations(platform, charts):
    rows = thrift_query(platform, "SELECT table_name, run_id, CAST(validated_at AS STRING), rule, success, "
                                  "unexpected_count FROM ops.validations")
    latest = {}
    for table, run_id, *_ in sorted(rows, key=lambda r: r[2]):
        latest[table] = run_id
    expected = Counter()
    for table, run_id, _, rule, success, unexpected in rows:
        if run_id == latest[table] and not success:
            expected[(table, rule)] += unexpected
    shown = {(r["table_name"], r["rule"]): r["rows_breaking"] for r in charts["Rules broken in the latest run"]}
    assert shown == dict(expected) and shown


def test_quarantine_by_rule_is_the_quarantine(platform, charts):
    counted = {(d, rule): n for d, rule, n in thrift_query(
        platform, "SELECT dataset, rule, count(*) FROM ops.quarantine GROUP BY dataset, rule")}
    shown = charts["Quarantine by rule"]
    assert len(counted) < 100, "more groups than the chart shows: compare its top 100"
    assert {(r["dataset"], r["rule"]): r["rows_quarantined"] for r in shown} == counted
    for r in shown:  # the sample is one of the group's records, its reason and raw text together
        assert _quarantined(platform, r) >= 1, r


def _quarantined(platform, row: dict) -> int:
    """How many of the row's group in ops.quarantine have its sample reason and raw text."""
    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    ((n,),) = thrift_query(platform, f"SELECT count(*) FROM ops.quarantine WHERE dataset = {quoted(row['dataset'])} "
                                     f"AND rule = {quoted(row['rule'])} AND reason = {quoted(row['sample_reason'])} "
                                     f"AND raw = {quoted(row['sample_raw'])}")
    return n


def test_accounting_and_published_versions_are_the_ops_tables(platform, charts):
    rows = thrift_query(platform, "SELECT run_id, layer, CAST(started_at AS STRING), rows_read, inserted, updated, "
                                  "deleted, quarantined, dropped, duplicates, superseded FROM ops.audit")
    runs: dict[str, list] = {}
    for run_id, layer, started, read, inserted, updated, deleted, *rest in rows:
        accounted = inserted + updated + (0 if layer == "gold" else deleted) + sum(rest)
        total = runs.setdefault(run_id, [started, 0, 0])
        total[0], total[1], total[2] = min(total[0], started), total[1] + read, total[2] + read - accounted
    shown = {r["run_id"]: (r["rows_read"], r["rows_unaccounted"]) for r in charts["Accounting per run"]}
    newest = sorted(runs, key=lambda r: runs[r][0], reverse=True)[:50]
    assert set(shown) == set(newest)
    assert shown == {r: (runs[r][1], 0) for r in newest}, "a run whose accounting does not close"

    published = thrift_query(platform, "SELECT table_name, delta_version, row_count FROM ops.published "
                                       "ORDER BY published_at DESC LIMIT 50")
    shown = {(r["table_name"], r["delta_version"], r["row_count"]) for r in charts["Published gold versions"]}
    assert shown == set(published) and shown


def test_dqops_results_are_copied_once_and_are_what_dqops_says(platform, charts, dqops_recorded):
    assert " 0 new in ops.dqops_checks" not in dqops_recorded["first"], dqops_recorded["first"]
    assert " 0 new in ops.dqops_checks" in dqops_recorded["again"], "a rerun copied DQOps's results again"
    expected = {}
    for table in dqops_recorded["tables"]:
        schema, name = table.split(".")
        status = dqops_get(platform, f"/api/connections/{DQOPS_CONNECTION}/schemas/{schema}/tables/{name}/status?"
                                     + urlencode(STATUS_FILTER))
        checks = [(None, n, c) for n, c in status["checks"].items()]
        checks += [(col, n, c) for col, s in status["columns"].items() for n, c in s["checks"].items()]
        expected |= {(table, col, n): c["current_severity"] for col, n, c in checks if c.get("last_executed_at")}
    shown = {(r["table_name"], r["column_name"], r["check_name"]): r["severity"]
             for r in charts["DQOps checks: latest results"]}
    assert len(shown) == min(len(expected), 100)  # the chart's row limit
    assert shown.items() <= expected.items()
    ranks = ["valid", "warning", "error", "fatal"]
    seen = [ranks.index(r["severity"]) if r["severity"] in ranks else 4 for r in charts["DQOps checks: latest results"]]
    assert seen == sorted(seen, reverse=True), "problems first"
    assert "warning" in shown.values(), "the sample's freshness check warns (see test_dqops)"
