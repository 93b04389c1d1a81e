"""Every service of the native platform, in start order: the core (services.py), then
Airflow (airflow.py), which needs PostgreSQL and the Spark master before it, then Superset
(superset.py), which needs PostgreSQL and the Thrift server, and DQOps (dqops.py), which
needs the Thrift server."""

from __future__ import annotations

from lakehouse.errors import LakehouseError
from lakehouse.platform import airflow, dqops, services, superset
from lakehouse.platform.services import Service

SERVICES: tuple[Service, ...] = services.CORE_SERVICES + airflow.SERVICES + superset.SERVICES + dqops.SERVICES


def service(name: str) -> Service:
    for svc in SERVICES:
        if svc.name == name:
            return svc
    raise LakehouseError(f"unknown service {name!r}; one of: {', '.join(s.name for s in SERVICES)}")
