"""Every service of the native platform: the core (services.py), Airflow (airflow.py),
Superset (superset.py) and DQOps (dqops.py). A service's `needs` name services before it
in this order; `lakehouse up` starts each once those are healthy, the others side by side."""

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
