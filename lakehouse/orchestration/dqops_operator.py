"""Run DQOps's checks of the lakehouse's tables from Airflow; fail the task on the configured
severity.

The `dqops` package on PyPI (pinned in pyproject) is DQOps's REST client and launcher. DQOps's
own Airflow operators are not in it (they live in DQOps's repository only, and import
airflow.models.baseoperator, deprecated in Airflow 3), so this is a thin operator on
airflow.sdk.BaseOperator over the client's `run_checks`, the call theirs makes.

Where no DQOps server runs (the native platform without a DQOps installation: its server is
on no package registry, see lakehouse/platform/dqops.py), LAKEHOUSE_DQOPS_URL is unset and the
task is skipped with the reason in its log: a skipped task is not a passed one. The server's
URL, API key and the severity that fails the task are read when the task runs
(lakehouse.config), never at parse time.

Parsing a DAG that uses this imports no DQOps client (1.5 s of generated models): execute does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from lakehouse.config import load_settings

CHECK_TYPES = ("monitoring", "partitioned", "profiling")
SEVERITIES = ("valid", "warning", "error", "fatal")  # DQOps's RuleSeverityLevel, in order
SKIP_MESSAGE = ("no DQOps server configured (LAKEHOUSE_DQOPS_URL unset): DQOps checks skipped, not run. "
                "`lakehouse up` runs one once `make platform` has installed DQOps (from LAKEHOUSE_DQOPS_HOME "
                "or ../shared/dqops); docker compose runs its image (service dqops)")


class DqopsRunChecksOperator(BaseOperator):
    """Runs the `check_type` checks of each table of a DQOps connection, one DQOps job per
    table, waiting for each. Fails when a job does not finish, when no check ran, when a
    check could not run (an execution error is not a pass), or when a check reaches
    `fail_severity` (default: LAKEHOUSE_DQOPS_FAIL_SEVERITY, read at run time)."""

    ui_color = "#e8f4e4"

    def __init__(self, *, connection: str, tables: Sequence[str], check_type: str = "monitoring",
                 fail_severity: str | None = None, wait_timeout: int = 300, **kwargs) -> None:
        super().__init__(**kwargs)
        if check_type not in CHECK_TYPES:
            raise ValueError(f"check_type {check_type!r}: one of {', '.join(CHECK_TYPES)}")
        if fail_severity is not None and fail_severity not in SEVERITIES[1:]:
            raise ValueError(f"fail_severity {fail_severity!r}: one of {', '.join(SEVERITIES[1:])}")
        if not tables:
            raise ValueError("tables: at least one schema.table")
        self.connection = connection
        self.tables = list(tables)
        self.check_type = check_type
        self.fail_severity = fail_severity
        self.wait_timeout = wait_timeout

    def execute(self, context) -> dict:
        settings = load_settings()
        if not settings.dqops_url:
            self.log.warning(SKIP_MESSAGE)
            raise AirflowSkipException(SKIP_MESSAGE)
        fail_at = self.fail_severity or settings.dqops_fail_severity
        client = _client(settings.dqops_url, settings.dqops_api_key, self.wait_timeout)
        results = {table: self._run(client, settings.dqops_url, table) for table in self.tables}
        problems = [f"{table}: {problem}" for table, result in results.items()
                    if (problem := verdict(result, fail_at))]
        if problems:
            # Same data, same verdict: retrying would only delay the failure.
            raise AirflowFailException(f"DQOps checks failed (fail severity {fail_at}): " + "; ".join(problems))
        return results

    def _run(self, client, url: str, table: str) -> dict:
        """One DQOps job for one table, awaited; its result as plain data (the task's XCom)."""
        import httpx
        from dqops.client.api.jobs import cancel_job, run_checks
        from dqops.client.models import (CheckSearchFilters, CheckType, DqoJobStatus, RunChecksParameters,
                                         RunChecksQueueJobResult)

        filters = CheckSearchFilters(connection=self.connection, full_table_name=table,
                                     check_type=CheckType(self.check_type), enabled=True)
        try:
            response = run_checks.sync_detailed(
                client=client, json_body=RunChecksParameters(check_search_filters=filters),
                wait=True, wait_timeout=self.wait_timeout)
        except httpx.HTTPError as exc:
            raise AirflowException(f"DQOps at {url}: running the checks of {table} failed: {exc}") from None
        # The server answers 201 Created with the job; the generated client parses 200 only.
        if response.status_code not in (200, 201):
            raise AirflowException(f"DQOps at {url}: running the checks of {table} answered "
                                   f"{response.status_code}: {response.content[:300]!r}")
        try:
            job = RunChecksQueueJobResult.from_dict(json.loads(response.content))
        except (ValueError, KeyError, TypeError) as exc:
            raise AirflowException(f"DQOps at {url}: unreadable answer to running the checks of {table}: "
                                   f"{exc}: {response.content[:300]!r}") from None
        status = job.status
        if status in (DqoJobStatus.QUEUED, DqoJobStatus.WAITING, DqoJobStatus.RUNNING):
            job_id = getattr(job.job_id, "job_id", None)
            if isinstance(job_id, int):  # do not leave it running into the retry's job
                try:
                    cancel_job.sync_detailed(str(job_id), client=client)
                except httpx.HTTPError as exc:
                    self.log.warning("could not cancel DQOps job %s: %s", job_id, exc)
            raise AirflowException(f"DQOps: the checks of {table} did not finish within {self.wait_timeout} s "
                                   f"(job {status}); cancelled")
        if status != DqoJobStatus.FINISHED:
            raise AirflowException(f"DQOps: the job running the checks of {table} ended {status}")
        result = job.result.to_dict() if hasattr(job.result, "to_dict") else {}
        self.log.info("DQOps %s checks of %s: %s", self.check_type, table, result)
        return result


def verdict(result: dict, fail_at: str) -> str | None:
    """Why a table's DQOps result fails the task, or None. Pure (the tested part)."""
    if not result.get("executed_checks"):
        return "no check ran (is the table in dqops_userhome, and the user home mounted?)"
    if result.get("execution_errors"):
        return f"{result['execution_errors']} check(s) could not run"
    highest = str(result.get("highest_severity") or "valid")
    if SEVERITIES.index(highest) >= SEVERITIES.index(fail_at):
        counts = ", ".join(f"{result.get(k, 0)} {k}" for k in ("warnings", "errors", "fatals"))
        return f"highest severity {highest} ({counts})"
    return None


def _client(url: str, api_key, wait_timeout: int):
    """DQOps's client, waiting a little longer than DQOps waits for the job."""
    from lakehouse.quality.dqops_api import client

    return client(url, api_key, wait_timeout + 30)
