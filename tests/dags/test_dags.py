"""The DAGs as Airflow's DagBag sees them: no import errors, the expected tasks and order,
every Spark step a SparkSubmitOperator on the `spark_default` connection with the run's
interval, the reliability settings, and parsing that reads no file and imports no pyspark."""

from __future__ import annotations

import json
from datetime import timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from lakehouse.config import PROJECT_ROOT, AirflowSettings
from lakehouse.orchestration import dags
from lakehouse.orchestration.plan import PLAN_FILE, build_plan, render
from lakehouse.specs import load_catalog
from tests.dags.conftest import DAGS, parse_in_subprocess

MEDALLION, MAINTENANCE = dags.MEDALLION_DAG, dags.MAINTENANCE_DAG


def test_no_import_errors_and_exactly_our_dags(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {MEDALLION, MAINTENANCE}


def test_medallion_runs_bronze_silver_gold_publish_in_order(dagbag):
    dag = dagbag.dags[MEDALLION]
    assert set(dag.task_ids) == {"bronze", "silver", "gold", "publish"}
    chain = ["bronze", "silver", "gold", "publish"]
    for before, after in zip(chain, chain[1:]):
        assert dag.get_task(before).downstream_task_ids == {after}
    assert dag.get_task("bronze").upstream_task_ids == set()


def test_every_task_submits_a_job_to_the_spark_connection(dagbag):
    for dag_id in (MEDALLION, MAINTENANCE):
        for task in dagbag.dags[dag_id].tasks:
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
            assert task.pool == dags.SPARK_POOL  # one Spark writer at a time, across both DAGs


def test_runs_cover_a_whole_day(dagbag):
    """Each scheduled run's data interval is one day: the daily landing batch it processes."""
    from datetime import datetime, timezone

    from airflow.serialization.serialized_objects import DagSerialization

    # The timetable as the scheduler sees it: the DAG serialized, then loaded back.
    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[MEDALLION]))
    interval = dag.timetable.infer_manual_data_interval(run_after=datetime(2026, 1, 5, tzinfo=timezone.utc))
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
        (PROJECT_ROOT / "pipelines" / "datasets" / "products.yaml").read_text().replace("name: products", "name: returns", 1))
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
    """What a DAG processor does every 30 s: no pyspark import, no file opened beyond Python's
    own imports (audit hook on `open`)."""
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
        print("OPENED", ours)
    """, {"AIRFLOW_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NO_PYSPARK" in proc.stdout
    assert "OPENED []" in proc.stdout, proc.stdout
