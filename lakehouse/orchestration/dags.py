"""What every Spark task of the DAGs shares: the Spark connection, the job scripts, the
properties file, and the reliability settings (retries with backoff, timeout, pool).

Read at parse time, so: environment only (AirflowSettings), no file reads, no pyspark.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, UTC
from pathlib import Path

from lakehouse.config import (
    DQOPS_CONNECTION, ENV_PREFIX, GOLD, PROJECT_ROOT, SILVER, AirflowSettings, properties_path,
)

SPARK_CONN_ID = "spark_default"  # defined by AIRFLOW_CONN_SPARK_DEFAULT, never in code
# Every task that writes a Delta table takes the one slot of this pool (`lakehouse up`
# creates it): Delta's default log store on S3 is safe for one writing driver per table,
# and every Airflow task is its own driver. ops.audit is written by every task, so
# "one writer per table" means one Spark writer at a time, across both DAGs.
SPARK_POOL = "lakehouse_spark"
MEDALLION_DAG = "lakehouse_medallion"
MAINTENANCE_DAG = "lakehouse_maintenance"
# Airflow's own pool for what is not a Spark writer (see dqops_checks).
DEFAULT_POOL = "default_pool"

# The run's data interval, rendered by Airflow: each run processes exactly its batches.
INTERVAL_ARGS = ["--start", "{{ data_interval_start | ds }}", "--end", "{{ data_interval_end | ds }}"]


def settings() -> AirflowSettings:
    return AirflowSettings()


def utc(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def default_args(cfg: AirflowSettings) -> dict:
    return {
        "owner": "lakehouse",
        "retries": cfg.retries,
        "retry_delay": timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=cfg.max_retry_delay_seconds),
        # On timeout Airflow calls the operator's on_kill, which kills spark-submit: the
        # driver (client mode) dies with it and the master ends the application.
        "execution_timeout": timedelta(minutes=cfg.task_timeout_minutes),
        "pool": SPARK_POOL,
    }


def spark_job(job: str, task_id: str, args: list[str] | None = None) -> dict:
    """SparkSubmitOperator arguments for one of the scripts in jobs/."""
    home = Path(os.environ.get(ENV_PREFIX + "HOME", ".lakehouse"))
    return {
        "task_id": task_id,
        "conn_id": SPARK_CONN_ID,
        "application": str(PROJECT_ROOT / "jobs" / f"{job}.py"),
        "application_args": args or [],
        # Cluster settings and credentials, written by the platform at start (mode 0600).
        "properties_file": str(properties_path(home)),
        # The Spark application's name, as the master's UI lists it: task and interval.
        "name": f"lakehouse-{task_id}-{{{{ ds }}}}",
    }


def dqops_tables(plan: dict) -> list[str]:
    """Every table DQOps checks: silver per dataset, then gold, as the plan lists them."""
    return [f"{SILVER}.{name}" for name in plan["datasets"]] + [f"{GOLD}.{name}" for name in plan["gold"]]


def dqops_results(plan: dict) -> dict:
    """SparkSubmitOperator arguments of the task after dqops_checks, however that ended: DQOps's
    latest results of every table into ops.dqops_checks (a Delta table, so a Spark writer,
    in the Spark pool)."""
    return spark_job("dqops_results", "dqops_results",
                     [arg for table in dqops_tables(plan) for arg in ("--table", table)])


def dqops_checks(plan: dict, cfg: AirflowSettings) -> dict:
    """DqopsRunChecksOperator arguments: DQOps's daily monitoring checks of every table,
    after publish. The server, its API key and the severity that fails the task are read
    when the task runs (LAKEHOUSE_DQOPS_*), not here."""
    return {
        "task_id": "dqops_checks",
        "connection": DQOPS_CONNECTION,
        "tables": dqops_tables(plan),
        "check_type": "monitoring",
        "wait_timeout": cfg.dqops_wait_timeout_seconds,
        # Not the Spark pool: DQOps only reads, through the Thrift server (its own Spark
        # application), and writes no Delta table, so it is no "writer" the one slot
        # serialises; Delta readers see a snapshot, and VACUUM keeps their files for 7
        # days. Holding the slot would only delay the maintenance DAG's writers.
        "pool": DEFAULT_POOL,
    }
