"""Table maintenance on a schedule: compaction (OPTIMIZE), VACUUM with the configured
retention (never shorter than Delta's time-travel window), then table statistics. Each
step is one Spark application over every table of bronze, silver, gold and ops.
"""

from __future__ import annotations

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

from lakehouse.orchestration import dags

cfg = dags.settings()

with DAG(
    dag_id=dags.MAINTENANCE_DAG,
    description="OPTIMIZE, VACUUM and statistics of every table",
    schedule=CronDataIntervalTimetable(cfg.maintenance_schedule, timezone="UTC"),
    start_date=dags.utc(cfg.start_date),
    catchup=False,  # maintenance of past weeks is today's maintenance
    max_active_runs=1,
    default_args=dags.default_args(cfg),
    tags=["lakehouse", "maintenance"],
    doc_md=__doc__,
):
    steps = [SparkSubmitOperator(**dags.spark_job("maintenance", step, ["--step", step]))
             for step in ("optimize", "vacuum", "analyze")]
    steps[0] >> steps[1] >> steps[2]
