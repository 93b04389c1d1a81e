"""DQOps as a service of the native platform: the data stewards' quality console, and the
server whose checks the DAG's `dqops_checks` task runs against the Thrift server.

Its server is on no package registry. `make platform` installs it (scripts/install-dqops.sh)
from, in order: LAKEHOUSE_DQOPS_HOME (a distribution the user has), `../shared/dqops/` beside
the clone (built from DQOps's public source; CI and development here). It also prepares the
Python environment DQOps evaluates its rules in, which DQOps would otherwise create with pip
at its first start. Without an installation `lakehouse up` says how to get one and goes on
without DQOps; the DAG's task is then skipped with that reason.

The user home DQOps opens, <home>/platform/data/dqops/userhome, is rendered from the specs
(LAKEHOUSE_SPECS_DIR) as dqops_userhome/ is: DQOps writes its results, logs and settings
there, and the committed folder stays code. Each start rewrites the checks of that copy (a
table whose spec is gone loses its file) and DQOps's default policies (disabled: see
lakehouse.quality.dqops_userhome.POLICIES_DIR), and keeps DQOps's results.

DQOps's free edition has no login: it listens on 127.0.0.1 whatever LAKEHOUSE_BIND_HOST
says, with DQOps Cloud (sign-in and synchronisation) off. It reads the tables with a Thrift
login of its own (LAKEHOUSE_DQOPS_THRIFT_USER), read-only like every login.
"""

from __future__ import annotations

from pathlib import Path

from lakehouse.config import Settings
from lakehouse.platform.process import Launch, Service, data_dir, http_ok, required_secret
from lakehouse.platform.thrift_server import thrift_tls_files
from lakehouse.quality import dqops_userhome
from lakehouse.specs import load_catalog

INSTALL_HINT = ("DQOps is not installed: `make platform` installs it from LAKEHOUSE_DQOPS_HOME (a DQOps "
                "distribution) or from ../shared/dqops beside the clone; without it DQOps's checks are skipped")
JVM_HEAP = "-Xmx1g"  # measured: 590-670 MB resident with this heap on the sample's tables
LOOPBACK = "127.0.0.1"  # no login in its free edition: never on another interface


def missing(settings: Settings) -> str | None:
    """Why `lakehouse up` cannot run DQOps here, or None."""
    if not (settings.dqops_home / "bin" / "dqo").is_file():
        return f"{INSTALL_HINT} (no DQOps at {settings.dqops_home})"
    return None


def url(settings: Settings) -> str:
    return f"http://{LOOPBACK}:{settings.dqops_port}"


def userhome(settings: Settings) -> Path:
    return data_dir(settings, "dqops") / "userhome"


def _prepare(settings: Settings) -> None:
    """The user home DQOps opens: connection and checks from the specs, DQOps's results kept."""
    target = userhome(settings)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    dqops_userhome.write_userhome(load_catalog(settings.specs_dir), target)


def dqops_env(settings: Settings) -> dict[str, str]:
    """DQOps's own settings, and the LAKEHOUSE_* values its connection file refers to."""
    env = {
        "DQO_HOME": str(settings.dqops_home),
        "DQO_USER_HOME": str(userhome(settings)),
        "DQO_USER_INITIALIZE_USER_HOME": "true",
        "DQO_JAVA_OPTS": f"{JVM_HEAP} {settings.jvm_options}",
        "SERVER_ADDRESS": LOOPBACK,
        "SERVER_PORT": str(settings.dqops_port),
        # Offline: no DQOps Cloud account (no prompt for one), no synchronisation with it.
        "DQO_CLOUD_START_WITHOUT_API_KEY": "true",
        "DQO_CLOUD_AUTHENTICATE_WITH_DQO_CLOUD": "false",
        "DQO_SCHEDULER_ENABLE_CLOUD_SYNC": "false",
        "DQO_INSTANCE_RETURN_BASE_URL": url(settings),
        # connection.dqoconnection.yaml: ${LAKEHOUSE_THRIFT_*} and the truststore's folder.
        "LAKEHOUSE_THRIFT_HOST": settings.thrift_host,
        "LAKEHOUSE_THRIFT_PORT": str(settings.thrift_port),
        "LAKEHOUSE_DQOPS_THRIFT_USER": required_secret(settings, "dqops_thrift_user"),
        "LAKEHOUSE_DQOPS_THRIFT_PASSWORD": required_secret(settings, "dqops_thrift_password"),
    }
    if settings.thrift_tls:
        env["LAKEHOUSE_TLS_DIR"] = str(thrift_tls_files(settings).truststore.parent)
        env["LAKEHOUSE_THRIFT_TRUSTSTORE_PASSWORD"] = required_secret(settings, "thrift_truststore_password")
    return env


def _launch(settings: Settings) -> Launch:
    # --headless: no terminal prompts; stdin is /dev/null (DQOps would wait for a shell otherwise).
    return Launch([str(settings.dqops_home / "bin" / "dqo"), "--silent", "run", "--headless"],
                  env=dqops_env(settings))


def _probe(settings: Settings) -> bool:
    """/api/ishealthy answers 200 once DQOps accepts jobs (503 while it starts)."""
    return http_ok(f"{url(settings)}/api/ishealthy")


def _version(settings: Settings) -> str:
    return (settings.dqops_home / "VERSION").read_text().strip()


SERVICES: tuple[Service, ...] = (
    # Its checks read the tables through the Thrift server, over the TLS that server's first
    # start sets up.
    Service("dqops", lambda s: s.dqops_port, url, _launch, _probe, _version, _prepare, None, 240,
            missing=missing, needs=("spark-thrift",)),
)
