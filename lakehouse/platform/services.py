"""The platform's services: how each one is launched, probed and prepared.

One definition serves both ways of running them: `lakehouse up` starts these commands as
local processes on loopback; the containers of docker-compose.yaml run `lakehouse serve
<name>`, which executes the same command in the foreground. Each service names the ones it
needs healthy before it starts (`needs`, earlier in the registry's order); `up` starts the
others side by side.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from urllib.parse import urlparse

from lakehouse.config import BUILD_DIR, DATABASES, PROJECT_ROOT, Settings
from lakehouse.errors import LakehouseError
from lakehouse.files import write_private
from lakehouse.platform import object_store, tls
from lakehouse.spark import cluster_driver_java_options, rpc_security, spark_conf, write_properties_file

SPARK_CONF_DIR = PROJECT_ROOT / "spark" / "conf"
HIVE_CONF_DIR = PROJECT_ROOT / "hive" / "conf"
HIVE_DIR = BUILD_DIR / "hive"
MINIO_BIN = BUILD_DIR / "bin" / "minio"
THRIFT_AUTH_CLASS = "io.lakehouse.thrift.LakehousePasswordAuthenticator"
READ_ONLY_GUARD_CLASS = "io.lakehouse.thrift.ReadOnlySqlGuard"  # spark/thrift-auth, like the password check


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # PostgreSQL refuses to run as root


@dataclass(frozen=True)
class Service:
    name: str
    port: Callable[[Settings], int | None]  # None: listens on no port of its own
    url: Callable[[Settings], str]
    launch: Callable[[Settings], Launch]
    probe: Callable[[Settings], bool]
    version: Callable[[Settings], str]
    prepare: Callable[[Settings], None] | None = None      # before the first start (init, schema)
    after_start: Callable[[Settings], None] | None = None  # once healthy, idempotent (roles, buckets)
    start_timeout: float = 120.0
    # Why this machine cannot run it (an optional service that is not installed), or None:
    # `up` reports the reason in one line and goes on without it.
    missing: Callable[[Settings], str | None] = lambda settings: None
    needs: tuple[str, ...] = ()  # services that must be healthy before this one starts


def data_dir(settings: Settings, name: str) -> Path:
    """Private to the platform: table files are readable here without S3 credentials."""
    root = settings.platform_dir / "data"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)  # traversable for PostgreSQL's own user, not listable
    path = root / name
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _http_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def http_ok(url: str) -> bool:
    """A health endpoint answers 200 (a service still starting refuses or answers 503)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def required_secret(settings: Settings, name: str) -> str:
    """A credential a service cannot start without, secret or login name (a Settings field
    name, e.g. "airflow_fernet_key", "dqops_thrift_user")."""
    value = getattr(settings, name)
    if value is None or value == "":
        raise LakehouseError(f"LAKEHOUSE_{name.upper()} is not set "
                             "(`lakehouse up` generates it; compose takes it from .env)")
    return value if isinstance(value, str) else value.get_secret_value()


def _run(argv: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LakehouseError(f"{what} failed: {' | '.join(tail) or f'exit {proc.returncode}'}")
    return proc


# --- PostgreSQL: the metastore's database (and, later, Airflow's and Superset's) ------------

def postgres_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(tool)
    if not path:
        raise LakehouseError(f"PostgreSQL's {tool} not found: run `make platform` (installs Debian's postgresql)")
    return path


def _postgres_user() -> str | None:
    """PostgreSQL will not run as root; as root we run it as Debian's `postgres` user."""
    return "postgres" if os.geteuid() == 0 else None


def _chown_for_postgres(path: Path) -> None:
    if _postgres_user():
        shutil.chown(path, user="postgres", group="postgres")


def _check_reachable_by_postgres(path: Path) -> None:
    """As root, the server runs as `postgres`: every folder above its data must let it pass."""
    blocked = [p for p in path.parents if p.exists() and p.stat().st_mode & 0o001 == 0 and p.owner() != "postgres"]
    if blocked:
        raise LakehouseError(f"PostgreSQL runs as user postgres, which cannot enter {blocked[-1]}: "
                             f"choose a LAKEHOUSE_HOME outside it, or `chmod o+x {blocked[-1]}`")


def _postgres_prepare(settings: Settings) -> None:
    pgdata = data_dir(settings, "postgres")
    if (pgdata / "PG_VERSION").exists():
        return
    if _postgres_user():
        _check_reachable_by_postgres(pgdata)
    os.chmod(pgdata, 0o700)
    _chown_for_postgres(pgdata)
    pwfile = write_private(settings.platform_dir / "run" / "postgres.pw",
                           required_secret(settings, "postgres_password") + "\n")
    _chown_for_postgres(pwfile)
    try:
        _run([postgres_bin("initdb"), "-D", str(pgdata), "-U", "lakehouse", f"--pwfile={pwfile}",
              "-A", "scram-sha-256", "-E", "UTF8", "--no-instructions"],
             "initdb", user=_postgres_user(), group=_postgres_user(), extra_groups=[] if _postgres_user() else None,
             cwd="/")
    finally:
        pwfile.unlink(missing_ok=True)


def _postgres_launch(settings: Settings) -> Launch:
    return Launch([postgres_bin("postgres"), "-D", str(data_dir(settings, "postgres")),
                   "-p", str(settings.postgres_port), "-c", f"listen_addresses={settings.bind_host}",
                   "-c", "unix_socket_directories="], user=_postgres_user())


def _postgres_probe(settings: Settings) -> bool:
    return subprocess.run([postgres_bin("pg_isready"), "-q", "-h", settings.postgres_host,
                           "-p", str(settings.postgres_port)]).returncode == 0


def psql(settings: Settings, sql: str, database: str = "postgres", env: dict[str, str] | None = None) -> str:
    """Run SQL as the platform's superuser; the SQL goes on stdin, never the command line."""
    env = {**os.environ, **(env or {}), "PGPASSWORD": required_secret(settings, "postgres_password")}
    return _run([postgres_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", settings.postgres_host,
                 "-p", str(settings.postgres_port), "-U", "lakehouse", "-d", database],
                "psql", input=sql, env=env).stdout


def ensure_database(settings: Settings, name: str, owner: str, password: str) -> None:
    """A role and a database it owns, created once; the password is (re)set every time.
    psql reads the password from its environment and quotes it: never spliced into SQL."""
    psql(settings, f"""
\\getenv pw LAKEHOUSE_ROLE_PASSWORD
SELECT 'CREATE ROLE {owner} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}')\\gexec
ALTER ROLE {owner} PASSWORD :'pw';
SELECT 'CREATE DATABASE {name} OWNER {owner}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}')\\gexec
""", env={"LAKEHOUSE_ROLE_PASSWORD": password})


def _postgres_after_start(settings: Settings) -> None:
    ensure_database(settings, "metastore", "hive", required_secret(settings, "metastore_db_password"))


def _postgres_version(settings: Settings) -> str:
    return _run([postgres_bin("postgres"), "--version"], "postgres --version").stdout.split()[2]


# --- MinIO: the S3 server holding landing files and every table -----------------------------

def _minio_port(settings: Settings) -> int:
    return urlparse(settings.s3_endpoint).port or 9000


def _minio_launch(settings: Settings) -> Launch:
    if not MINIO_BIN.exists():
        raise LakehouseError(f"{MINIO_BIN} not found: run `make platform` (builds MinIO with Go)")
    return Launch(
        [str(MINIO_BIN), "server", str(data_dir(settings, "minio")), "--quiet",
         "--address", f"{settings.bind_host}:{_minio_port(settings)}",
         "--console-address", f"{settings.bind_host}:{settings.minio_console_port}"],
        env={"MINIO_ROOT_USER": settings.s3_keys("root")[0], "MINIO_ROOT_PASSWORD": settings.s3_keys("root")[1],
             "MINIO_UPDATE": "off", "MINIO_BROWSER_REDIRECT": "off"})


def _minio_probe(settings: Settings) -> bool:
    return http_ok(f"{settings.s3_endpoint}/minio/health/ready")


def _minio_version(settings: Settings) -> str:
    stamp = MINIO_BIN.parent / "minio.version"
    return stamp.read_text().strip() if stamp.exists() else "unknown"


# --- Hive Metastore 3.1.3 on PostgreSQL -----------------------------------------------------

def _metastore_port(settings: Settings) -> int:
    return urlparse(settings.metastore_uri).port or 9083


def pyspark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _metastore_java(settings: Settings, main_class: str, *args: str) -> Launch:
    home = HIVE_DIR / "metastore"
    if not home.is_dir():
        raise LakehouseError(f"{home} not found: run `make platform` (fetches the Hive Metastore)")
    # Hadoop comes from pyspark (the same client the jobs use), s3a from the cluster jars.
    hadoop = sorted(str(p) for p in pyspark_jars().glob("hadoop-client-*.jar"))
    # patched/ first: its SecurityUtils binds to the host below instead of every interface.
    classpath = [str(HIVE_CONF_DIR), f"{HIVE_DIR}/patched/*", f"{home}/lib/*", f"{HIVE_DIR}/extra/*",
                 *hadoop, f"{settings.cluster_jars_dir}/*"]
    env = {
        "METASTORE_HOME": str(home),  # the schema tool finds its SQL scripts here
        "LAKEHOUSE_POSTGRES_HOST": settings.postgres_host,
        "LAKEHOUSE_POSTGRES_PORT": str(settings.postgres_port),
        "LAKEHOUSE_METASTORE_DB_PASSWORD": required_secret(settings, "metastore_db_password"),
        "LAKEHOUSE_S3_ENDPOINT": settings.s3_endpoint,
        "LAKEHOUSE_METASTORE_S3_ACCESS_KEY": settings.s3_keys("metastore")[0],
        "LAKEHOUSE_METASTORE_S3_SECRET_KEY": settings.s3_keys("metastore")[1],
        "LAKEHOUSE_WAREHOUSE_BUCKET": settings.warehouse_bucket,
    }
    bind = f"-Dlakehouse.metastore.bind.host={settings.bind_host}"
    return Launch(["java", "-Xmx1g", *shlex.split(settings.jvm_options), bind, "-cp", ":".join(classpath),
                   main_class, *args], env=env)


def _metastore_prepare(settings: Settings) -> None:
    """Create the metastore's schema with its own schema tool, once."""
    tool = "org.apache.hadoop.hive.metastore.tools.MetastoreSchemaTool"
    info = _metastore_java(settings, tool, "-dbType", "postgres", "-info")
    env = {**os.environ, **info.env}
    if subprocess.run(info.argv, env=env, capture_output=True).returncode == 0:
        return
    init = _metastore_java(settings, tool, "-dbType", "postgres", "-initSchema")
    _run(init.argv, "metastore schema init", env=env)


def _metastore_launch(settings: Settings) -> Launch:
    return _metastore_java(settings, "org.apache.hadoop.hive.metastore.HiveMetaStore",
                           "-p", str(_metastore_port(settings)))


def metastore_databases(settings: Settings) -> list[str]:
    """The metastore's own answer to get_all_databases(), over its Thrift protocol."""
    from thrift.protocol import TBinaryProtocol
    from thrift.Thrift import TMessageType, TType
    from thrift.transport import TSocket, TTransport

    uri = urlparse(settings.metastore_uri)
    sock = TSocket.TSocket(uri.hostname, uri.port or 9083)
    sock.setTimeout(5000)
    transport = TTransport.TBufferedTransport(sock)
    proto = TBinaryProtocol.TBinaryProtocol(transport)
    transport.open()
    try:
        proto.writeMessageBegin("get_all_databases", TMessageType.CALL, 1)
        proto.writeStructBegin("get_all_databases_args")
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        transport.flush()
        _, kind, _ = proto.readMessageBegin()
        proto.readStructBegin()
        _, ftype, fid = proto.readFieldBegin()
        if kind != TMessageType.REPLY or fid != 0 or ftype != TType.LIST:
            raise LakehouseError("the metastore did not answer get_all_databases")
        _, size = proto.readListBegin()
        return [proto.readString() for _ in range(size)]
    finally:
        transport.close()


def _metastore_probe(settings: Settings) -> bool:
    logging.getLogger("thrift.transport.TSocket").setLevel(logging.CRITICAL)  # "could not connect" while starting
    try:
        return "default" in metastore_databases(settings)
    except Exception:  # noqa: BLE001 - any failure means: not ready yet
        return False


def _metastore_version(settings: Settings) -> str:
    jars = sorted((HIVE_DIR / "metastore" / "lib").glob("hive-standalone-metastore-*.jar"))
    return jars[0].stem.removeprefix("hive-standalone-metastore-") if jars else "unknown"


# --- Spark standalone master, worker and Thrift server --------------------------------------

def spark_bin(tool: str) -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / tool)


def _spark_version(settings: Settings) -> str:
    import pyspark

    return pyspark.__version__


def _daemon_properties(settings: Settings) -> Path:
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


def _spark_env(settings: Settings) -> dict[str, str]:
    env = {"SPARK_CONF_DIR": str(SPARK_CONF_DIR), "SPARK_LOG_DIR": str(settings.platform_dir / "logs"),
           "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": sys.executable, "SPARK_DAEMON_JAVA_OPTS": settings.jvm_options}
    if settings.bind_host != ALL_INTERFACES:
        env["SPARK_LOCAL_IP"] = settings.bind_host
    return env


def _host_option(settings: Settings) -> list[str]:
    return [] if settings.bind_host == ALL_INTERFACES else ["--host", settings.bind_host]


def master_host_port(settings: Settings) -> tuple[str, int]:
    url = urlparse(settings.spark_master)
    return url.hostname, url.port or 7077


def master_state(settings: Settings) -> dict | None:
    host, _ = master_host_port(settings)
    return _http_json(f"http://{host}:{settings.spark_master_ui_port}/json/")


def _master_launch(settings: Settings) -> Launch:
    host, port = master_host_port(settings)
    return Launch([spark_bin("spark-class"), "org.apache.spark.deploy.master.Master",
                   "--host", host, "--port", str(port),
                   "--webui-port", str(settings.spark_master_ui_port),
                   "--properties-file", str(_daemon_properties(settings))], env=_spark_env(settings))


def _master_probe(settings: Settings) -> bool:
    return (master_state(settings) or {}).get("status") == "ALIVE"


def _worker_launch(settings: Settings) -> Launch:
    return Launch([spark_bin("spark-class"), "org.apache.spark.deploy.worker.Worker", *_host_option(settings),
                   "--webui-port", str(settings.spark_worker_ui_port),
                   "--cores", str(settings.spark_worker_cores), "--memory", settings.spark_worker_memory,
                   "--work-dir", str(data_dir(settings, "spark-worker")),
                   "--properties-file", str(_daemon_properties(settings)), settings.spark_master],
                  env=_spark_env(settings))


def _worker_probe(settings: Settings) -> bool:
    """This worker answers on its own UI and the master lists it (by id) as alive."""
    host = "127.0.0.1" if settings.bind_host == ALL_INTERFACES else settings.bind_host
    me = _http_json(f"http://{host}:{settings.spark_worker_ui_port}/json/") or {}
    workers = (master_state(settings) or {}).get("workers", [])
    return any(w.get("id") == me.get("id") and w.get("state") == "ALIVE" for w in workers) and "id" in me


def thrift_properties(settings: Settings) -> dict[str, str]:
    """The Thrift server is a Spark application like the jobs: same catalog, storage and
    metastore, but a small share of the cluster so jobs always find cores.

    It serves reads only, whoever logs in: its SQL parser is wrapped by ReadOnlySqlGuard
    (spark/thrift-auth), which refuses every statement that writes, sets, reads a file or a
    table by path, reads outside the lakehouse's databases or calls Java; SQL on files and
    ${...} substitution (${env:...} would print the server's environment) are off, and the
    guard refuses a session that turns them back on."""
    conf = spark_conf(settings, s3_identity="thrift")  # its own S3 account: it reads the warehouse, no more
    conf.update({"spark.cores.max": "1", "spark.executor.memory": "1g", "spark.driver.memory": "1g",
                 "spark.driver.extraJavaOptions": cluster_driver_java_options(settings, long_lived=True),
                 "spark.ui.port": str(settings.thrift_ui_port),
                 "spark.sql.extensions": f"{conf['spark.sql.extensions']},{READ_ONLY_GUARD_CLASS}",
                 "spark.lakehouse.readonly.databases": ",".join(DATABASES),
                 "spark.sql.runSQLOnFiles": "false",
                 "spark.sql.variable.substitute": "false"})
    if settings.thrift_tls:
        # HiveServer2 reads these from the Hadoop configuration; in this file (mode 0600)
        # the keystore's password stays off the command line.
        conf.update({"spark.hadoop.hive.server2.use.SSL": "true",
                     "spark.hadoop.hive.server2.keystore.path": str(thrift_tls_files(settings).keystore),
                     "spark.hadoop.hive.server2.keystore.password":
                         required_secret(settings, "thrift_keystore_password")})
    return conf


def thrift_tls_files(settings: Settings) -> tls.TlsFiles:
    return tls.TlsFiles(settings.tls_dir)


def thrift_tls_hosts(settings: Settings) -> list[str]:
    """The names clients reach the Thrift server by: the configured ones and loopback."""
    extra = [name.strip() for name in settings.thrift_tls_names.split(",") if name.strip()]
    return [settings.thrift_host, *extra, "localhost", "127.0.0.1"]


def _thrift_prepare(settings: Settings) -> None:
    """The TLS certificate (made on the first start, renewed before it expires, made again
    for a new host name); a deployment's own keystore at the same path is used as it is."""
    if settings.thrift_tls:
        tls.ensure(settings.tls_dir, thrift_tls_hosts(settings), required_secret(settings, "thrift_keystore_password"),
                   required_secret(settings, "thrift_truststore_password"))


def _thrift_launch(settings: Settings) -> Launch:
    required_secret(settings, "spark_auth_secret")  # the master refuses an application without it
    props = write_properties_file(settings.platform_dir / "conf" / "spark-thrift.properties",
                                  thrift_properties(settings))
    hiveconf = {
        "hive.server2.thrift.bind.host": settings.bind_host,
        "hive.server2.thrift.port": str(settings.thrift_port),
        "hive.server2.authentication": "CUSTOM",
        "hive.server2.custom.authentication.class": THRIFT_AUTH_CLASS,
    }
    argv = [spark_bin("spark-submit"), "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            "--name", "lakehouse-thrift-server", "--master", settings.spark_master,
            "--properties-file", str(props), "spark-internal"]
    for key, value in hiveconf.items():
        argv += ["--hiveconf", f"{key}={value}"]
    env = {**_spark_env(settings),
           # Read by the password check (spark/thrift-auth), never written to a config file.
           "LAKEHOUSE_THRIFT_USER": settings.thrift_user,
           "LAKEHOUSE_THRIFT_PASSWORD": required_secret(settings, "thrift_password")}
    if settings.dqops_thrift_user or settings.dqops_thrift_password:  # DQOps's own login: both, or neither
        env.update({"LAKEHOUSE_DQOPS_THRIFT_USER": required_secret(settings, "dqops_thrift_user"),
                    "LAKEHOUSE_DQOPS_THRIFT_PASSWORD": required_secret(settings, "dqops_thrift_password")})
    return Launch(argv, env=env)


def thrift_connect(settings: Settings, password: str | None = None, configuration: dict | None = None,
                   ca_file: Path | None = None, user: str | None = None):
    """A HiveServer2 client (PyHive) on the Thrift server, with the platform's credentials
    (or `user` and `password`), over TLS that checks the server's certificate against the
    platform's CA (or `ca_file`)."""
    from pyhive import hive

    password = password if password is not None else required_secret(settings, "thrift_password")
    user = user or settings.thrift_user
    if not settings.thrift_tls:
        return hive.connect(host=settings.thrift_host, port=settings.thrift_port, username=user,
                            password=password, auth="CUSTOM", configuration=configuration)
    import ssl

    import thrift_sasl
    from thrift.transport.TSSLSocket import TSSLSocket
    from thrift.transport.TTransport import TTransportException

    host = settings.thrift_host
    context = ssl.create_default_context(cafile=str(ca_file or thrift_tls_files(settings).ca_cert))
    socket = TSSLSocket(host, settings.thrift_port, ssl_context=context, server_hostname=host)
    try:
        # Opened here: opened by PyHive, a refused certificate ends in an AttributeError.
        socket.open()
    except TTransportException as exc:
        raise LakehouseError(f"no TLS connection to the Thrift server at {host}:{settings.thrift_port}: "
                             f"{exc.inner or exc}") from None
    # PyHive builds TLS only for HTTP mode; for the binary protocol it takes the transport:
    # the same SASL PLAIN login it would make, over the TLS socket.
    transport = thrift_sasl.TSaslClientTransport(
        lambda: hive.get_installed_sasl(host=host, sasl_auth="PLAIN", service=None, username=user, password=password),
        "PLAIN", socket)
    return hive.connect(thrift_transport=transport, username=user, configuration=configuration)


def _thrift_probe(settings: Settings) -> bool:
    try:
        conn = thrift_connect(settings)
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT 1")
            return cursor.fetchall() == [(1,)]
        finally:
            conn.close()
    except Exception:  # noqa: BLE001 - any failure means: not ready yet
        return False


# The platform's core, in start order; lakehouse.platform.registry adds Airflow.
CORE_SERVICES: tuple[Service, ...] = (
    Service("postgres", lambda s: s.postgres_port, lambda s: f"postgresql://{s.postgres_host}:{s.postgres_port}",
            _postgres_launch, _postgres_probe, _postgres_version, _postgres_prepare, _postgres_after_start, 60),
    Service("minio", _minio_port, lambda s: f"http://{s.bind_host}:{s.minio_console_port} (console)",
            _minio_launch, _minio_probe, _minio_version, None, object_store.provision, 60),
    # Its schema lives in PostgreSQL; it creates the databases' folders in the warehouse bucket.
    Service("hive-metastore", _metastore_port, lambda s: s.metastore_uri,
            _metastore_launch, _metastore_probe, _metastore_version, _metastore_prepare, None, 120,
            needs=("postgres", "minio")),
    Service("spark-master", lambda s: master_host_port(s)[1],
            lambda s: f"http://{master_host_port(s)[0]}:{s.spark_master_ui_port}",
            _master_launch, _master_probe, _spark_version, None, None, 60),
    Service("spark-worker", lambda s: s.spark_worker_ui_port, lambda s: f"http://{s.bind_host}:{s.spark_worker_ui_port}",
            _worker_launch, _worker_probe, _spark_version, None, None, 60, needs=("spark-master",)),
    # An application of the cluster, on the metastore's tables.
    Service("spark-thrift", lambda s: s.thrift_port, lambda s: f"hive://{s.thrift_host}:{s.thrift_port}",
            _thrift_launch, _thrift_probe, _spark_version, _thrift_prepare, None, 180,
            needs=("hive-metastore", "spark-worker")),
)
