"""The DAG files parsed by Airflow's own DagBag, with no Spark, no services and no database:
a throwaway AIRFLOW_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.orchestration.dags import SPARK_POOL

DAGS = PROJECT_ROOT / "airflow" / "dags"


# Before Airflow is imported (it reads its configuration once): a throwaway home, our DAG
# folder, which Airflow puts on sys.path (lakehouse_plan.py is imported from there).
_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
# (Only AIRFLOW_* variables: this runs at collection, for the whole test session.)
os.environ.update({"AIRFLOW_HOME": str(_HOME), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)})
sys.path.insert(0, str(DAGS))


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    # known_pools: a task naming a pool the platform does not create is an import error.
    bag = DagBag(dag_folder=str(DAGS), known_pools={"default_pool", SPARK_POOL})
    yield bag
    shutil.rmtree(_HOME, ignore_errors=True)


def parse_in_subprocess(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Parse the DAG folder in a fresh interpreter (what a DAG processor does), with `env`."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=PROJECT_ROOT, timeout=300)
