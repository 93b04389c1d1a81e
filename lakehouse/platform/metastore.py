"""Hive Metastore 3.1.3 on PostgreSQL."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from lakehouse.config import BUILD_DIR, PROJECT_ROOT, Settings
from lakehouse.errors import LakehouseError
from lakehouse.platform.process import Launch, Service, required_secret, run_command

HIVE_CONF_DIR = PROJECT_ROOT / "hive" / "conf"
HIVE_DIR = BUILD_DIR / "hive"


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
    run_command(init.argv, "metastore schema init", env=env)


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


# Its schema lives in PostgreSQL; it creates the databases' folders in the warehouse bucket.
SERVICE = Service("hive-metastore", _metastore_port, lambda s: s.metastore_uri,
                  _metastore_launch, _metastore_probe, _metastore_version, _metastore_prepare, None, 120,
                  needs=("postgres", "minio"))
