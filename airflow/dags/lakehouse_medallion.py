"""The medallion pipeline, one run per data interval: bronze -> silver -> gold -> publish,
then DQOps's checks of every silver and gold table (dqops_checks), then their results copied
into ops.dqops_checks (dqops_results).

Each task is one Spark application submitted to the master (SparkSubmitOperator, connection
`spark_default`) and processes exactly the run's interval. Bronze and silver cover every
dataset of the plan (lakehouse_plan.py, compiled from the pipeline specs): adding a dataset
spec extends them with no Python. One application per layer, not per dataset: each costs
20-30 s of fixed start-up on one machine (README, "Orchestration").

dqops_checks runs DQOps's monitoring checks (dqops_userhome/, generated from the same specs)
on the DQOps server of LAKEHOUSE_DQOPS_URL and fails on LAKEHOUSE_DQOPS_FAIL_SEVERITY; where
no DQOps server runs it is skipped, saying so. dqops_results is a teardown: it runs however
dqops_checks ended (a failed check's results are the ones most worth keeping), and, as
Airflow ignores teardowns when it decides a run's state, a failed dqops_checks still fails
the run.

Parsing this file reads no file and imports no pyspark.
"""

from __future__ import annotations

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

from lakehouse.orchestration import dags
from lakehouse.orchestration.dqops_operator import DqopsRunChecksOperator
from lakehouse_plan import PLAN

cfg = dags.settings()
datasets = [arg for name in PLAN["datasets"] for arg in ("--dataset", name)]

with DAG(
    dag_id=dags.MEDALLION_DAG,
    description="bronze -> silver -> gold -> publish -> DQOps checks -> their results, one data interval per run",
    # A run covers the interval between two schedule points (Airflow 3's plain cron schedules
    # give runs an empty interval).
    schedule=CronDataIntervalTimetable(cfg.schedule, timezone="UTC"),
    start_date=dags.utc(cfg.start_date),
    end_date=dags.utc(cfg.end_date) if cfg.end_date else None,
    catchup=cfg.catchup,
    max_active_runs=1,  # runs never overlap: one writer per table (with the pool, see dags.SPARK_POOL)
    default_args=dags.default_args(cfg),
    tags=["lakehouse", "medallion"],
    doc_md=__doc__,
):
    bronze = SparkSubmitOperator(**dags.spark_job("bronze", "bronze", [*datasets, *dags.INTERVAL_ARGS]))
    silver = SparkSubmitOperator(**dags.spark_job("silver", "silver", [*datasets, *dags.INTERVAL_ARGS]))
    gold = SparkSubmitOperator(**dags.spark_job("gold", "gold"))
    publish = SparkSubmitOperator(**dags.spark_job("publish", "publish", dags.INTERVAL_ARGS))
    dqops_checks = DqopsRunChecksOperator(**dags.dqops_checks(PLAN, cfg))
    dqops_results = SparkSubmitOperator(**dags.dqops_results(PLAN))
    bronze >> silver >> gold >> publish >> dqops_checks >> dqops_results.as_teardown()
