"""The Spark Thrift server: SQL for DQOps, Superset and `lakehouse sql --profile cluster`, read only."""

from __future__ import annotations

from pathlib import Path

from lakehouse.config import DATABASES, Settings
from lakehouse.errors import LakehouseError
from lakehouse.platform import tls
from lakehouse.platform.process import Launch, Service, required_secret
from lakehouse.platform.spark_cluster import spark_bin, spark_env, spark_version
from lakehouse.spark import cluster_driver_java_options, spark_conf, write_properties_file

THRIFT_AUTH_CLASS = "io.lakehouse.thrift.LakehousePasswordAuthenticator"
READ_ONLY_GUARD_CLASS = "io.lakehouse.thrift.ReadOnlySqlGuard"  # spark/thrift-auth, like the password check


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
                 # Analysts' SQL, of any shape: joins and skew are only known at run time.
                 "spark.sql.adaptive.enabled": "true",
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
    env = {**spark_env(settings),
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


# An application of the cluster, on the metastore's tables.
SERVICE = Service("spark-thrift", lambda s: s.thrift_port, lambda s: f"hive://{s.thrift_host}:{s.thrift_port}",
                  _thrift_launch, _thrift_probe, spark_version, _thrift_prepare, None, 180,
                  needs=("hive-metastore", "spark-worker"))
