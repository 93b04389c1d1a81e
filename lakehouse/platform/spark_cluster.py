"""The Spark standalone master and worker (the Thrift server and the jobs are its applications)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

from lakehouse.config import PROJECT_ROOT, Settings
from lakehouse.platform.process import Launch, Service, data_dir, http_json, required_secret
from lakehouse.spark import rpc_security, write_properties_file

SPARK_CONF_DIR = PROJECT_ROOT / "spark" / "conf"


def spark_bin(tool: str) -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / tool)


def spark_version(settings: Settings) -> str:
    import pyspark

    return pyspark.__version__


def daemon_properties(settings: Settings) -> Path:
    """Master and worker: RPC authenticated with the shared secret, REST submission off."""
    required_secret(settings, "spark_auth_secret")  # one clear line, not an AttributeError, when it is unset
    props = {
        **rpc_security(settings),
        # Spark 4.1 turned the unauthenticated REST submission server (6066) back on.
        "spark.master.rest.enabled": "false",
        "spark.worker.cleanup.enabled": "true",
    }
    return write_properties_file(settings.platform_dir / "conf" / "spark-daemon.properties", props)


ALL_INTERFACES = "0.0.0.0"  # containers: listen everywhere, advertise the container's hostname


def spark_env(settings: Settings) -> dict[str, str]:
    env = {"SPARK_CONF_DIR": str(SPARK_CONF_DIR), "SPARK_LOG_DIR": str(settings.platform_dir / "logs"),
           "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": sys.executable, "SPARK_DAEMON_JAVA_OPTS": settings.jvm_options}
    if settings.bind_host != ALL_INTERFACES:
        env["SPARK_LOCAL_IP"] = settings.bind_host
    return env


def host_option(settings: Settings) -> list[str]:
    return [] if settings.bind_host == ALL_INTERFACES else ["--host", settings.bind_host]


def master_host_port(settings: Settings) -> tuple[str, int]:
    url = urlparse(settings.spark_master)
    return url.hostname, url.port or 7077


def master_state(settings: Settings) -> dict | None:
    host, _ = master_host_port(settings)
    return http_json(f"http://{host}:{settings.spark_master_ui_port}/json/")


def _master_launch(settings: Settings) -> Launch:
    host, port = master_host_port(settings)
    return Launch([spark_bin("spark-class"), "org.apache.spark.deploy.master.Master",
                   "--host", host, "--port", str(port),
                   "--webui-port", str(settings.spark_master_ui_port),
                   "--properties-file", str(daemon_properties(settings))], env=spark_env(settings))


def _master_probe(settings: Settings) -> bool:
    return (master_state(settings) or {}).get("status") == "ALIVE"


def _worker_launch(settings: Settings) -> Launch:
    return Launch([spark_bin("spark-class"), "org.apache.spark.deploy.worker.Worker", *host_option(settings),
                   "--webui-port", str(settings.spark_worker_ui_port),
                   "--cores", str(settings.spark_worker_cores), "--memory", settings.spark_worker_memory,
                   "--work-dir", str(data_dir(settings, "spark-worker")),
                   "--properties-file", str(daemon_properties(settings)), settings.spark_master],
                  env=spark_env(settings))


def _worker_probe(settings: Settings) -> bool:
    """This worker answers on its own UI and the master lists it (by id) as alive."""
    host = "127.0.0.1" if settings.bind_host == ALL_INTERFACES else settings.bind_host
    me = http_json(f"http://{host}:{settings.spark_worker_ui_port}/json/") or {}
    workers = (master_state(settings) or {}).get("workers", [])
    return any(w.get("id") == me.get("id") and w.get("state") == "ALIVE" for w in workers) and "id" in me


MASTER = Service("spark-master", lambda s: master_host_port(s)[1],
                 lambda s: f"http://{master_host_port(s)[0]}:{s.spark_master_ui_port}",
                 _master_launch, _master_probe, spark_version, None, None, 60)
WORKER = Service("spark-worker", lambda s: s.spark_worker_ui_port, lambda s: f"http://{s.bind_host}:{s.spark_worker_ui_port}",
                 _worker_launch, _worker_probe, spark_version, None, None, 60, needs=("spark-master",))
