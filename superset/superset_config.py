"""Superset's configuration, the same natively (`lakehouse up`) and in docker-compose.yaml.

Every value that differs between the two, and every secret, comes from the environment
that lakehouse/platform/superset.py builds from the LAKEHOUSE_* settings. There is no
fallback: a missing key stops Superset at start, so it can never run on a default
SECRET_KEY (CVE-2023-27524) or a local SQLite file instead of PostgreSQL.
"""

import os
import ssl
from datetime import timedelta


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set: start Superset with `lakehouse up` or `lakehouse serve superset`")
    return value


SECRET_KEY = _required("SUPERSET_SECRET_KEY")
SQLALCHEMY_DATABASE_URI = _required("SUPERSET_METADATA_DB_URI")
# PostgreSQL connections go stale when the platform's PostgreSQL restarts.
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

# Login attempts are rate limited (per worker: one gunicorn worker, so memory suffices).
RATELIMIT_ENABLED = True
RATELIMIT_STORAGE_URI = "memory://"
AUTH_RATE_LIMITED = True
SHOW_STACKTRACE = False

# Superset's frontend draws Scarf's telemetry pixel (an <img> from apachesuperset.gateway.scarf.sh)
# in every analyst's browser, and its default content security policies allow Scarf's hosts;
# the pip build has no switch for it. The same policies without those hosts make the browser
# refuse it. (superset.config defines both before it reads this file; lower-case names stay
# out of Superset's configuration.)
from superset.config import TALISMAN_CONFIG as _default, TALISMAN_DEV_CONFIG as _default_dev  # noqa: E402


def _without_telemetry(talisman: dict) -> dict:
    policy = talisman["content_security_policy"]
    return {**talisman, "content_security_policy": {
        **policy, "img-src": [source for source in policy["img-src"] if "scarf.sh" not in source]}}


TALISMAN_CONFIG = _without_telemetry(_default)
TALISMAN_DEV_CONFIG = _without_telemetry(_default_dev)  # what debug mode serves

# The default minute can be too short for a chart's first query on a cold Thrift server,
# which first loads the Delta snapshot of its table.
SUPERSET_WEBSERVER_TIMEOUT = int(timedelta(minutes=3).total_seconds())
SQLLAB_TIMEOUT = SUPERSET_WEBSERVER_TIMEOUT


# The Thrift server accepts TLS only (LAKEHOUSE_THRIFT_TLS). PyHive's hive:// dialect builds
# TLS for HTTP mode alone, so for the binary protocol every engine Superset creates for a
# hive:// database gets a connection factory: PyHive's own SASL PLAIN login over a socket that
# checks the server's certificate against the platform's CA and host name.
THRIFT_TLS_CA = os.environ.get("LAKEHOUSE_THRIFT_TLS_CA")


def _hive_over_tls(url):
    from pyhive import hive
    from thrift.transport.TSSLSocket import TSSLSocket
    import thrift_sasl

    host, port = url.host, url.port or 10000
    user, password = url.username, url.password
    socket = TSSLSocket(host, port, ssl_context=ssl.create_default_context(cafile=THRIFT_TLS_CA), server_hostname=host)
    transport = thrift_sasl.TSaslClientTransport(
        lambda: hive.get_installed_sasl(host=host, sasl_auth="PLAIN", service=None, username=user, password=password),
        "PLAIN", socket)
    return hive.connect(thrift_transport=transport, username=user, database=url.database or "default")


def DB_CONNECTION_MUTATOR(uri, params, username, security_manager, source):  # noqa: N802 - Superset's name
    if THRIFT_TLS_CA and uri.drivername == "hive":
        params["creator"] = lambda: _hive_over_tls(uri)
    return uri, params
