"""Every service of the native platform, in start order: the core (one module each:
postgres, minio, metastore, spark_cluster, thrift_server), Airflow (airflow.py), Superset
(superset.py) and DQOps (dqops.py). A service's `needs` name services before it in this
order; `lakehouse up` starts each once those are healthy, the others side by side."""

from __future__ import annotations

from lakehouse.errors import LakehouseError
from lakehouse.platform import airflow, dqops, metastore, minio, postgres, spark_cluster, superset, thrift_server
from lakehouse.platform.process import Service

CORE_SERVICES: tuple[Service, ...] = (postgres.SERVICE, minio.SERVICE, metastore.SERVICE,
                                      spark_cluster.MASTER, spark_cluster.WORKER, thrift_server.SERVICE)
SERVICES: tuple[Service, ...] = CORE_SERVICES + airflow.SERVICES + superset.SERVICES + dqops.SERVICES


def service(name: str) -> Service:
    for svc in SERVICES:
        if svc.name == name:
            return svc
    raise LakehouseError(f"unknown service {name!r}; one of: {', '.join(s.name for s in SERVICES)}")
