"""DQOps's check results, copied into ops.dqops_checks: the medallion DAG's dqops_results task
(a Spark job, after dqops_checks, whatever dqops_checks ended with) reads each table's current
data quality status from DQOps's REST API and adds the check executions the table does not
hold yet. So the lakehouse's own "Data quality" dashboard shows DQOps's verdicts beside the
pipeline's, and one Spark writer per table holds (DQOps itself writes only its own files).

Rerunning adds nothing: a row is one check's execution (table, column, check, executed_at),
and an execution already held is not added again.
"""

from __future__ import annotations

from datetime import datetime, UTC

from lakehouse.config import DQOPS_CONNECTION, Settings
from lakehouse.errors import LakehouseError


# The checks the DAG runs: the daily monitoring checks (the status would also name profiling
# checks DQOps ran on its own, e.g. when it imported a table).
STATUS_FILTER = {"monitoring": "true", "profiling": "false", "partitioned": "false", "checkTimeScale": "daily"}


def status_rows(table: str, status: dict, run_id: str, recorded_at: datetime) -> list[dict]:
    """One row per check of a table's status (DQOps's TableCurrentDataQualityStatusModel):
    the table's own checks and each column's. A check never executed has no row. Pure."""
    found = [(None, name, check) for name, check in (status.get("checks") or {}).items()]
    for column, column_status in (status.get("columns") or {}).items():
        found += [(column, name, check) for name, check in (column_status.get("checks") or {}).items()]
    rows = []
    for column, name, check in found:
        executed = check.get("last_executed_at")
        if executed is None:
            continue
        rows.append({"table_name": table, "column_name": column, "check_name": name,
                     "check_type": check.get("check_type"), "category": check.get("category"),
                     "quality_dimension": check.get("quality_dimension"),
                     "severity": check.get("current_severity"), "executed_at": _instant(executed),
                     "run_id": run_id, "recorded_at": recorded_at})
    return rows


def _instant(value: int | float | str) -> datetime:
    """DQOps's `last_executed_at`: epoch milliseconds in its OpenAPI model, an ISO-8601
    instant ("2026-11-24T05:28:12.345Z") in what the 1.13.1 server answers."""
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def fetch_statuses(settings: Settings, tables: list[str]) -> tuple[dict[str, dict], list[str]]:
    """Each table's current status from DQOps, and the tables DQOps does not know (a spec
    newer than the user home DQOps runs); an unreachable or refusing DQOps is one line."""
    import httpx

    from lakehouse.quality.dqops_api import client

    statuses, unknown = {}, []
    with client(settings.dqops_url, settings.dqops_api_key, 60).get_httpx_client() as http:
        for table in tables:
            schema, name = table.split(".")
            try:
                response = http.get(f"api/connections/{DQOPS_CONNECTION}/schemas/{schema}/tables/{name}/status",
                                    params=STATUS_FILTER)
            except httpx.HTTPError as exc:
                raise LakehouseError(f"DQOps at {settings.dqops_url}: reading {table}'s status failed: {exc}") from None
            if response.status_code == 404:
                unknown.append(table)
            elif response.status_code != 200:
                raise LakehouseError(f"DQOps at {settings.dqops_url}: reading {table}'s status answered "
                                     f"{response.status_code}: {response.text[:200]}")
            else:
                statuses[table] = response.json()
    return statuses, unknown


def record(spark, rows: list[dict]) -> int:
    """Add the executions ops.dqops_checks does not hold; returns how many were added."""
    from lakehouse import tables

    if not rows:
        return 0
    before = tables.current_version(spark, tables.DQOPS_CHECKS_TABLE)
    tables.merge_dqops_checks(spark, rows)
    commit = tables.commit_since(spark, tables.DQOPS_CHECKS_TABLE, before)
    return int(commit["metrics"].get("numTargetRowsInserted", 0)) if commit else 0
