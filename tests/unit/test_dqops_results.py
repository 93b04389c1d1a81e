"""DQOps's table status as ops.dqops_checks rows (lakehouse/quality/dqops_results.py); the
copy itself runs against a real DQOps in tests/system/test_quality_dashboard.py."""

from __future__ import annotations

from datetime import datetime, UTC

from lakehouse.quality.dqops_results import status_rows
from lakehouse.tables import DQOPS_CHECKS_SCHEMA

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
EXECUTED_MS = 1_795_500_000_000


def _check(severity: str, executed: int | None = EXECUTED_MS, **more) -> dict:
    return {"current_severity": severity, "last_executed_at": executed, "check_type": "monitoring",
            "category": "volume", "quality_dimension": "Completeness", **more}


def test_table_and_column_checks_become_one_row_each_with_the_schemas_columns():
    status = {"checks": {"daily_row_count": _check("valid"), "daily_data_freshness": _check("warning")},
              "columns": {"email": {"checks": {"daily_texts_not_matching_regex_percent": _check("warning")}},
                          "id": {"checks": {}}}}
    rows = status_rows("silver.customers", status, "run-1", NOW)
    assert {(r["column_name"], r["check_name"], r["severity"]) for r in rows} == {
        (None, "daily_row_count", "valid"), (None, "daily_data_freshness", "warning"),
        ("email", "daily_texts_not_matching_regex_percent", "warning")}
    for r in rows:
        assert list(r) == DQOPS_CHECKS_SCHEMA.fieldNames()
        assert r["executed_at"] == datetime.fromtimestamp(EXECUTED_MS / 1000, UTC)
        assert (r["table_name"], r["run_id"], r["recorded_at"]) == ("silver.customers", "run-1", NOW)


def test_a_check_never_executed_has_no_row_and_an_empty_status_none():
    status = {"checks": {"daily_row_count": _check("valid", executed=None)}, "columns": None}
    assert status_rows("gold.daily_revenue", status, "run-1", NOW) == []
    assert status_rows("gold.daily_revenue", {}, "run-1", NOW) == []


def test_the_execution_instant_is_read_as_the_server_writes_it_or_as_its_model_says():
    iso = status_rows("t.x", {"checks": {"c": _check("valid", executed="2026-11-24T05:28:12.345Z")}}, "r", NOW)
    millis = status_rows("t.x", {"checks": {"c": _check("valid", executed=1_795_500_000_000)}}, "r", NOW)
    assert iso[0]["executed_at"] == datetime(2026, 11, 24, 5, 28, 12, 345000, tzinfo=UTC)
    assert millis[0]["executed_at"] == datetime.fromtimestamp(1_795_500_000, UTC)
