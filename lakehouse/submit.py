"""spark-submit with the platform's configuration: for the jobs in jobs/ and engineers'
ad-hoc scripts alike.

The configuration goes in a properties file (mode 0600) rather than on the command line,
so credentials of the cluster profile never show in the process list.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lakehouse.config import PROJECT_ROOT, Settings
from lakehouse.spark import driver_local_ip, person_cluster_driver_conf, write_properties


def spark_submit_bin() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def submit_command(settings: Settings, script: str | Path, args: list[str], name: str | None = None) -> list[str]:
    """A person's spark-submit (the CLI's): in the cluster profile its driver logs to the home's
    log file, not the terminal, as in the local profile."""
    logging = person_cluster_driver_conf(settings) if settings.profile == "cluster" else []
    return [
        str(spark_submit_bin()),
        "--master", settings.spark_master,
        "--name", name or Path(script).stem,
        "--properties-file", str(write_properties(settings)),
        *logging,
        str(script), *args,
    ]


def submit_env(settings: Settings) -> dict[str, str]:
    """The driver runs this interpreter (the project's venv) and sees the same settings."""
    env = dict(os.environ)
    env.update({
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "LAKEHOUSE_PROFILE": settings.profile,
        "LAKEHOUSE_HOME": str(settings.home),
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p),
    })
    if settings.wait_for_lakehouse:  # the CLI's --wait, for the driver's lock or lease
        env["LAKEHOUSE_WAIT_FOR_LAKEHOUSE"] = "true"
    local_ip = driver_local_ip(settings)
    if local_ip:
        env["SPARK_LOCAL_IP"] = local_ip
    return env


def job_path(layer: str) -> Path:
    return PROJECT_ROOT / "jobs" / f"{layer}.py"
