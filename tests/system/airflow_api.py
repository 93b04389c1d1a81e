"""A small client of Airflow 3's REST API (/api/v2), as a user's script would use it: log in
for a token (/auth/token), then trigger, watch, clear and backfill DAG runs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import date, datetime, UTC

FINISHED = {"success", "failed"}


class AirflowError(Exception):
    pass


def token(base_url: str, username: str, password: str) -> str:
    """A JWT for the API; raises AirflowError with the server's answer when refused."""
    answer = _call("POST", f"{base_url}/auth/token", {"username": username, "password": password})
    return answer["access_token"]


def _call(method: str, url: str, body: dict | None = None, bearer: str | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise AirflowError(f"{method} {url}: {exc.code} {exc.read().decode(errors='replace')[:500]}") from None
    return json.loads(raw) if raw else {}


def _utc(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


class AirflowAPI:
    def __init__(self, base_url: str, username: str, password: str):
        self.base = base_url.rstrip("/")
        self._token = token(self.base, username, password)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        return _call(method, f"{self.base}/api/v2{path}", body, self._token)

    def dag(self, dag_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, start: date, end: date) -> str:
        """A manual run for the interval [start, end); returns its run id."""
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", {
            "logical_date": _utc(start), "data_interval_start": _utc(start), "data_interval_end": _utc(end)})
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait(self, dag_id: str, run_id: str, timeout: float, on_poll=None) -> dict:
        """Poll until the run finishes; `on_poll(run)` is called on every poll."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if on_poll:
                on_poll(run)
            if run["state"] in FINISHED:
                return run
            time.sleep(3)
        raise AirflowError(f"{dag_id} {run_id} not finished after {timeout:.0f}s: {self.task_states(dag_id, run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run_id)}

    def return_value(self, dag_id: str, run_id: str, task_id: str):
        """What a task returned (its XCom `return_value`), deserialised."""
        entry = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
                                 "?deserialize=true")
        return entry["value"]

    def clear(self, dag_id: str, run_id: str) -> None:
        """Rerun every task of a finished run (the UI's "Clear" on a run)."""
        self.call("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", {"dry_run": False, "only_failed": False})

    def backfill(self, dag_id: str, start: date, end: date) -> dict:
        """Runs for every interval from `start` to `end` (Airflow's backfill, as the UI makes it)."""
        return self.call("POST", "/backfills", {"dag_id": dag_id, "from_date": _utc(start), "to_date": _utc(end),
                                                "reprocess_behavior": "none", "max_active_runs": 1})
