"""The DAGs as Airflow's DagBag sees them: no import errors, the expected tasks and order,
every Spark step a SparkSubmitOperator on the `spark_default` connection with the run's
interval, DQOps's checks after publish, the reliability settings, and parsing that reads no
file and imports no pyspark."""

from __future__ import annotations

import json
import os
from datetime import timedelta, UTC

import pytest
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowSkipException

from lakehouse.config import ENV_PREFIX, PROJECT_ROOT, AirflowSettings
from lakehouse.orchestration import dags
from lakehouse.orchestration.dqops_operator import SKIP_MESSAGE, DqopsRunChecksOperator, verdict
from lakehouse.orchestration.plan import PLAN_FILE, build_plan, render
from lakehouse.specs import load_catalog
from tests.dags.conftest import DAGS, parse_in_subprocess

MEDALLION, MAINTENANCE = dags.MEDALLION_DAG, dags.MAINTENANCE_DAG
DQOPS_TASK = "dqops_checks"


def spark_tasks(dag):
    return [t for t in dag.tasks if t.task_id != DQOPS_TASK]


def test_no_import_errors_and_exactly_our_dags(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {MEDALLION, MAINTENANCE}


def test_medallion_runs_bronze_silver_gold_publish_then_dqops_in_order(dagbag):
    dag = dagbag.dags[MEDALLION]
    chain = ["bronze", "silver", "gold", "publish", DQOPS_TASK, "dqops_results"]
    assert set(dag.task_ids) == set(chain)
    for before, after in zip(chain, chain[1:]):
        assert dag.get_task(before).downstream_task_ids == {after}
    assert dag.get_task("bronze").upstream_task_ids == set()
    # The results are copied however the checks ended, and a failed check still fails the run:
    # Airflow leaves teardowns out of a run's state.
    results = dag.get_task("dqops_results")
    assert results.is_teardown and not results.on_failure_fail_dagrun and results.downstream_task_ids == set()


def test_dqops_results_copies_the_results_of_every_checked_table(dagbag):
    dag = dagbag.dags[MEDALLION]
    args = dag.get_task("dqops_results").application_args
    assert [args[i + 1] for i, a in enumerate(args) if a == "--table"] == dag.get_task(DQOPS_TASK).tables


def test_every_task_submits_a_job_to_the_spark_connection(dagbag):
    for dag_id in (MEDALLION, MAINTENANCE):
        for task in spark_tasks(dagbag.dags[dag_id]):
            assert isinstance(task, SparkSubmitOperator), task.task_id
            assert task._conn_id == dags.SPARK_CONN_ID
            job = PROJECT_ROOT / task.application.removeprefix(str(PROJECT_ROOT) + "/")
            assert job.is_file() and job.parent == PROJECT_ROOT / "jobs", task.application
            assert task.properties_file.endswith("spark-submit.properties")
            assert "spark://" not in json.dumps(task.conf or {}), "the cluster comes from the connection"


def test_layers_cover_every_dataset_and_exactly_the_runs_interval(dagbag):
    dag = dagbag.dags[MEDALLION]
    catalog = load_catalog(PROJECT_ROOT / "pipelines")
    for layer in ("bronze", "silver"):
        args = dag.get_task(layer).application_args
        assert args[-4:] == dags.INTERVAL_ARGS
        assert [args[i + 1] for i, a in enumerate(args) if a == "--dataset"] == list(catalog.datasets)
    assert dag.get_task("publish").application_args == dags.INTERVAL_ARGS
    assert dags.INTERVAL_ARGS == ["--start", "{{ data_interval_start | ds }}", "--end", "{{ data_interval_end | ds }}"]


def test_reliability_settings(dagbag):
    cfg = AirflowSettings()
    dag = dagbag.dags[MEDALLION]
    assert dag.max_active_runs == 1 and dag.catchup is cfg.catchup
    for dag_id in (MEDALLION, MAINTENANCE):
        for task in dagbag.dags[dag_id].tasks:
            assert task.retries == cfg.retries >= 1
            assert task.retry_exponential_backoff
            assert task.retry_delay == timedelta(seconds=cfg.retry_delay_seconds)
            assert task.execution_timeout == timedelta(minutes=cfg.task_timeout_minutes)
            # One Spark writer at a time, across both DAGs; DQOps only reads (dags.dqops_checks).
            assert task.pool == (dags.DEFAULT_POOL if task.task_id == DQOPS_TASK else dags.SPARK_POOL)


def test_runs_cover_a_whole_day(dagbag):
    """Each scheduled run's data interval is one day: the daily landing batch it processes."""
    from datetime import datetime

    from airflow.serialization.serialized_objects import DagSerialization

    # The timetable as the scheduler sees it: the DAG serialized, then loaded back.
    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[MEDALLION]))
    interval = dag.timetable.infer_manual_data_interval(run_after=datetime(2026, 1, 5, tzinfo=UTC))
    assert interval.end - interval.start == timedelta(days=1)


def test_maintenance_optimizes_vacuums_then_analyzes(dagbag):
    dag = dagbag.dags[MAINTENANCE]
    steps = [t.application_args for t in (dag.get_task(i) for i in ("optimize", "vacuum", "analyze"))]
    assert steps == [["--step", "optimize"], ["--step", "vacuum"], ["--step", "analyze"]]
    assert dag.get_task("optimize").downstream_task_ids == {"vacuum"}
    assert dag.get_task("vacuum").downstream_task_ids == {"analyze"}


def test_the_committed_plan_matches_the_specs():
    """lakehouse_plan.py is what `lakehouse dags` makes of pipelines/: regenerate it if this fails."""
    assert PLAN_FILE.read_text() == render(build_plan(load_catalog(PROJECT_ROOT / "pipelines")))


def test_a_new_spec_extends_the_dag_without_python(tmp_path):
    """Compile a plan with one more dataset and parse the DAG file against it."""
    specs = tmp_path / "pipelines"
    (specs / "datasets").mkdir(parents=True)
    (specs / "gold").mkdir()
    for src in (PROJECT_ROOT / "pipelines").rglob("*.yaml"):
        (specs / src.relative_to(PROJECT_ROOT / "pipelines")).write_text(src.read_text())
    (specs / "datasets" / "returns.yaml").write_text(
        (PROJECT_ROOT / "pipelines" / "datasets" / "products.yaml").read_text()
        .replace("name: products", "name: returns", 1))
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    (plan_dir / "lakehouse_plan.py").write_text(render(build_plan(load_catalog(specs))))
    proc = parse_in_subprocess(f"""
        import sys
        sys.path.insert(0, {str(plan_dir)!r})  # the new plan shadows the committed one
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS / "lakehouse_medallion.py")!r})
        assert not bag.import_errors, bag.import_errors
        print(bag.dags["lakehouse_medallion"].get_task("silver").application_args)
    """, {"AIRFLOW_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'--dataset', 'returns'" in proc.stdout


def test_parsing_imports_no_pyspark_and_opens_no_file(tmp_path):
    """What a DAG processor does every 30 s: no pyspark import (nor DQOps's client), no file
    opened beyond Python's own imports (audit hook on `open`)."""
    proc = parse_in_subprocess(f"""
        import sys
        opened = []
        from airflow.dag_processing.dagbag import DagBag  # Airflow itself may read its config
        sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open" else None)
        for name in ("lakehouse_medallion", "lakehouse_maintenance"):
            sys.path.insert(0, {str(DAGS)!r})
            __import__(name)
        ours = [str(p) for p in opened if isinstance(p, str) and not p.endswith((".py", ".pyc", ".so"))
                and "site-packages" not in p and "/lib/python3" not in p]
        print("PYSPARK" if "pyspark" in sys.modules else "NO_PYSPARK")
        print("DQOPS_CLIENT" if "dqops.client" in sys.modules else "NO_DQOPS_CLIENT")  # 1.5 s: execute's
        print("OPENED", ours)
    """, {"AIRFLOW_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NO_PYSPARK" in proc.stdout
    assert "NO_DQOPS_CLIENT" in proc.stdout
    assert "OPENED []" in proc.stdout, proc.stdout


# --- DQOps -----------------------------------------------------------------------------------

def test_dqops_checks_every_silver_and_gold_table_of_the_user_home(dagbag):
    from lakehouse.quality import dqops_userhome

    task = dagbag.dags[MEDALLION].get_task(DQOPS_TASK)
    assert isinstance(task, DqopsRunChecksOperator)
    assert task.upstream_task_ids == {"publish"}
    catalog = load_catalog(PROJECT_ROOT / "pipelines")
    assert task.tables == [f"silver.{d}" for d in catalog.datasets] + [f"gold.{g}" for g in catalog.gold]
    # Exactly the tables dqops_userhome/ holds checks for, in the connection it defines.
    files = (dqops_userhome.USERHOME_DIR / dqops_userhome.SOURCES).glob(f"*{dqops_userhome.TABLE_SUFFIX}")
    assert sorted(task.tables) == sorted(p.name.removesuffix(dqops_userhome.TABLE_SUFFIX) for p in files)
    assert task.connection == dqops_userhome.CONNECTION == "lakehouse"
    assert task.check_type == "monitoring"  # the daily monitoring checks the user home defines
    assert task.wait_timeout == AirflowSettings().dqops_wait_timeout_seconds
    assert task.fail_severity is None  # LAKEHOUSE_DQOPS_FAIL_SEVERITY, read when the task runs
    assert task.pool == dags.DEFAULT_POOL


def test_dqops_checks_are_skipped_not_passed_without_a_dqops_server(dagbag, monkeypatch, tmp_path):
    """The native platform has no DQOps server: LAKEHOUSE_DQOPS_URL is unset, and the task
    raises Airflow's skip (state `skipped`, the reason in its log) before calling anything."""
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    task = dagbag.dags[MEDALLION].get_task(DQOPS_TASK)
    with pytest.raises(AirflowSkipException) as skipped:
        task.execute(context={})
    assert str(skipped.value) == SKIP_MESSAGE
    assert "LAKEHOUSE_DQOPS_URL unset" in SKIP_MESSAGE and "not run" in SKIP_MESSAGE


@pytest.mark.parametrize("result, fail_at, failed", [
    ({"executed_checks": 40, "highest_severity": "valid"}, "error", None),
    ({"executed_checks": 40, "highest_severity": "warning", "warnings": 2}, "error", None),
    ({"executed_checks": 40, "highest_severity": "warning", "warnings": 2}, "warning", "highest severity warning"),
    ({"executed_checks": 40, "highest_severity": "error", "errors": 1}, "error", "highest severity error"),
    ({"executed_checks": 40, "highest_severity": "fatal", "fatals": 1}, "error", "highest severity fatal"),
    ({"executed_checks": 40, "highest_severity": "error", "errors": 1}, "fatal", None),
    ({"executed_checks": 40, "highest_severity": "valid", "execution_errors": 3}, "error", "3 check(s) could not run"),
    ({"executed_checks": 0, "highest_severity": "valid"}, "fatal", "no check ran"),
])
def test_dqops_result_fails_the_task_at_the_configured_severity(result, fail_at, failed):
    problem = verdict(result, fail_at)
    assert (problem is None) if failed is None else (failed in problem), problem


def test_dqops_operator_refuses_bad_arguments():
    with pytest.raises(ValueError, match="check_type"):
        DqopsRunChecksOperator(task_id="t", connection="c", tables=["silver.x"], check_type="daily")
    with pytest.raises(ValueError, match="fail_severity"):
        DqopsRunChecksOperator(task_id="t", connection="c", tables=["silver.x"], fail_severity="valid")


def _dqops_answering(monkeypatch, status: int, body: bytes):
    """The operator's client on a stand-in HTTP transport answering run-checks with `body`."""
    import httpx

    from lakehouse.orchestration import dqops_operator
    from dqops.client import Client

    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body)

    monkeypatch.setattr(dqops_operator, "_client", lambda url, key, timeout: Client(
        base_url=url, httpx_args={"transport": httpx.MockTransport(answer)}))
    monkeypatch.setenv("LAKEHOUSE_DQOPS_URL", "http://dqops.test:8888")
    return seen


FINISHED_JOB = json.dumps({"jobId": {"jobId": 7}, "status": "finished", "result": {
    "highest_severity": "warning", "executed_checks": 12, "valid_results": 11, "warnings": 1, "errors": 0,
    "fatals": 0, "execution_errors": 0}}).encode()


@pytest.mark.parametrize("status", [200, 201])  # DQOps 1.13.1 answers 201; its generated client parsed 200 only
def test_dqops_operator_reads_the_finished_job_dqops_answers(monkeypatch, status):
    seen = _dqops_answering(monkeypatch, status, FINISHED_JOB)
    task = DqopsRunChecksOperator(task_id="t", connection="lakehouse", tables=["silver.orders"])
    assert task.execute(context={})["silver.orders"]["executed_checks"] == 12
    (request,) = seen
    assert request.url.path == "/api/jobs/runchecks" and json.loads(request.content)["check_search_filters"][
        "fullTableName"] == "silver.orders"


@pytest.mark.parametrize("status, body, message", [
    (500, b"boom", "answered 500"),
    (201, b"<html>not json</html>", "unreadable answer"),
])
def test_dqops_operator_turns_a_bad_answer_into_one_clear_task_error(monkeypatch, status, body, message):
    from airflow.sdk.exceptions import AirflowException

    _dqops_answering(monkeypatch, status, body)
    task = DqopsRunChecksOperator(task_id="t", connection="lakehouse", tables=["silver.orders"])
    with pytest.raises(AirflowException, match=message) as failed:
        task.execute(context={})
    assert "silver.orders" in str(failed.value) and "\n" not in str(failed.value)
