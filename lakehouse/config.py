"""Every setting of the platform, in one place, read from LAKEHOUSE_* environment variables.

One profile switch (LAKEHOUSE_PROFILE) selects where things run:
- ``local``: the embedded default. Local Spark, Delta tables on local disk under
  LAKEHOUSE_HOME, registered in each session's in-memory catalog. No services.
- ``cluster``: a Spark standalone master, tables on S3 (MinIO) through s3a://, a Hive
  Metastore and the Spark Thrift Server. Same jobs, same keys; only these values change.

No secret has a default: the cluster profile refuses to start without its credentials.
`lakehouse up` generates them on first start into the runtime directory
(<home>/platform/secrets.env, mode 0600), which this module reads after the environment;
docker compose passes the same LAKEHOUSE_* keys from .env.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakehouse.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "LAKEHOUSE_"

# The metastore databases of the medallion layers, plus one for quarantine and audit.
BRONZE, SILVER, GOLD, OPS = "bronze", "silver", "gold", "ops"
DATABASES = (BRONZE, SILVER, GOLD, OPS)
# The DQOps connection dqops_userhome/ defines: the Spark Thrift Server, holding every silver
# and gold table (written by lakehouse.quality.dqops_userhome, checked by the DAG's task).
DQOPS_CONNECTION = "lakehouse"

BUILD_DIR = PROJECT_ROOT / "build"


@dataclass(frozen=True)
class S3Identity:
    """One service's own account on the object store, and what it may do: read some buckets,
    read and write others (lakehouse.platform.object_store makes it a MinIO user with that
    policy). Only MinIO itself and that provisioning hold MinIO's root account."""

    name: str
    keys: tuple[str, str]        # the Settings fields of its access key and secret key
    reads: tuple[str, ...] = ()  # the Settings fields naming the buckets it reads
    writes: tuple[str, ...] = ()  # ... and those it reads and writes


S3_IDENTITIES = {i.name: i for i in (
    # The jobs (spark-submit, Airflow's tasks, `lakehouse run/sql/submit --profile cluster`):
    # they read what landed and write the tables.
    S3Identity("pipeline", ("s3_access_key", "s3_secret_key"), reads=("landing_bucket",), writes=("warehouse_bucket",)),
    # The Thrift server serves the tables to Superset and DQOps: it only reads them.
    S3Identity("thrift", ("thrift_s3_access_key", "thrift_s3_secret_key"), reads=("warehouse_bucket",)),
    # The metastore creates the databases' and tables' folders.
    S3Identity("metastore", ("metastore_s3_access_key", "metastore_s3_secret_key"), writes=("warehouse_bucket",)),
    # Whoever drops files into landing (`lakehouse generate --profile cluster` here).
    S3Identity("landing", ("landing_s3_access_key", "landing_s3_secret_key"), writes=("landing_bucket",)),
)}
MINIO_ROOT = ("minio_root_user", "minio_root_password")


# Every JVM's collector and C2 thresholds (Settings.jvm_options says why).
PARALLEL_GC = "-XX:+UseParallelGC"
C2_THRESHOLDS = ("-XX:Tier4InvocationThreshold=50000 -XX:Tier4MinInvocationThreshold=20000 "
                 "-XX:Tier4CompileThreshold=60000 -XX:Tier4BackEdgeThreshold=400000")
JVM_OPTIONS = f"{PARALLEL_GC} {C2_THRESHOLDS}"


def secrets_file(home: Path) -> Path:
    """Where `lakehouse up` keeps the credentials it generated (mode 0600)."""
    return home.expanduser().resolve() / "platform" / "secrets.env"


def properties_path(home: Path) -> Path:
    """The cluster's Spark properties for spark-submit (mode 0600, credentials inside)."""
    return home.expanduser().absolute() / "spark-submit.properties"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    profile: Literal["local", "cluster"] = "local"
    home: Path = Field(Path(".lakehouse"), description="runtime directory: state, logs, local data")
    specs_dir: Path = Field(PROJECT_ROOT / "pipelines", description="dataset and gold YAML specs")
    jars_dir: Path | None = Field(
        BUILD_DIR / "jars",
        description="Delta's JVM jars fetched by `make install`; empty when Spark already has them",
    )
    cluster_jars_dir: Path | None = Field(
        BUILD_DIR / "cluster-jars",
        description="s3a (hadoop-aws, AWS SDK) and the Thrift server's password check: `make platform`",
    )

    # Where data lives. Derived from the profile when unset.
    landing_uri: str | None = None
    warehouse_uri: str | None = None
    quality_dir: Path | None = Field(None, description="GX's context: validation results and "
                                     "Data Docs of every run; default <home>/quality")
    # Up to this many rows the quality gate judges a pandas copy (one Arrow transfer), beyond
    # it GX's Spark engine (each metric a Spark job): BENCHMARKS.md, B5. Tests set it low to
    # exercise the Spark engine on small data.
    gx_pandas_max_rows: int = Field(200_000, ge=0, description="largest frame GX judges with its pandas "
                                    "engine; larger ones with its Spark engine (0: always Spark)")

    # Spark
    spark_master: str | None = None
    shuffle_partitions: int = Field(4, ge=1, description="small on purpose: 2 cores, small batches")
    # Off in the sessions lakehouse builds (jobs, `lakehouse sql`, `submit`): in a few shuffle
    # partitions it saves little time, and it runs every shuffle stage of a query as a Spark job
    # of its own. A warm session's 1% batch (B2's, scale 0.1) ran 130 jobs without it instead
    # of 197; side by side, the embedded day-7 run took 80.7 and 87.5 s without it, 90.2 and
    # 92.1 s with it. Its run-time join choices did not pay at 1.08 million silver.orders rows
    # either: the 1% batch 41.5 s without, 40.8 s with; the full build 197 s without, 199 s with.
    # Without it a write whose last shuffle is its own makes a file per shuffle partition: every
    # MERGE and gold's appends pack their writes (tables._packed_writes). Turn it on with many
    # more shuffle partitions. The Thrift server keeps it, for analysts' queries of any shape.
    adaptive_execution: bool = Field(False, description="Spark's adaptive query execution in the jobs' sessions")
    driver_memory: str = "2g"
    # ParallelGC, not Java 17's default G1: on the 2-core reference machine G1's concurrent
    # threads and write barriers cost a small pipeline run 7-15% more CPU and 6-13% more
    # wall time (BENCHMARKS.md, B5, side by side; the larger figures on a busier host).
    # Heaps here are a few GB, where ParallelGC's pauses stay short.
    # The C2 thresholds: a new driver JVM spent about as much CPU in C2 as on everything else
    # (a small run on 2 cores: 120 s of C2 compiling in 150 s of wall), mostly on Catalyst's
    # and Delta's planning code, which runs thousands of times, not millions. C2 now takes a
    # method only after about 10x the calls or loop iterations (Java 17's Tier4 thresholds):
    # the per-row loops of a large batch still reach it within seconds. Side by side, a small
    # run (scale 0.05, 1 day): CPU 223-237 s instead of 273-287 s, wall 147-159 s against 149-153 s.
    jvm_options: str = Field(JVM_OPTIONS, description="options of every JVM the platform starts: "
                             "Spark drivers, executors, master, worker, Thrift server, metastore")
    # A cluster job's driver plans, commits and collects small results; its executors do the
    # heavy work. Compiled by C1 alone it warms up on about half the CPU: on the 2-core
    # reference machine, side by side on the native platform, a new driver's first Delta read
    # took 9.5 s of driver CPU instead of 17.4 s, and four first queries 61 s instead of 76 s.
    # Executors, the local profile's driver (its own executor) and the long-lived Thrift
    # server keep C2, where hot loops pay for it.
    cluster_driver_jvm_options: str = Field("-XX:TieredStopAtLevel=1", description="more options of a cluster "
                                            "job's driver JVM (spark-submit, Airflow tasks, in-process sessions)")
    # Class-data-sharing archives of the drivers' classes (lakehouse/class_archive.py): a driver
    # JVM, and a cluster executor, starts seconds sooner on the reference machine (README, the
    # setting's row; B5).
    class_archives: bool = Field(True, description="drivers map the class archive `make install` (or, for "
                                 "cluster drivers and executors, `make platform`) built for their JDK and class "
                                 "path, when there is one")
    class_archive_dir: Path = Field(BUILD_DIR / "jvm", description="where the class archives are")
    log_level: str = "WARN"
    # The lakehouse admits one writer at a time (home_lock.py, lease.py).
    wait_for_lakehouse: bool = Field(False, description="when another process is writing the lakehouse, wait "
                                     "for it to end instead of exiting (the CLI's --wait)")
    # The cluster lakehouse's writer lease (lease.py): a holder killed on another machine
    # frees it after this long; the holder renews it four times as often.
    writer_lease_seconds: int = Field(60, ge=4, description="cluster profile: how long a writer's lease lasts "
                                      "unrenewed (a killed writer on another machine holds the lakehouse this long)")
    # lakehouse/task_state.py: a layer task that would find nothing new ends before its session.
    skip_unchanged_tasks: bool = Field(True, description="cluster profile: a layer job (an Airflow task) whose "
                                       "last clean run left everything it reads as it is ends without starting Spark")

    # Cluster profile: S3 (MinIO), metastore, Thrift server. Credentials have no defaults.
    # Each service has its own S3 account (S3_IDENTITIES); s3_access_key is the jobs'.
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    thrift_s3_access_key: SecretStr | None = None
    thrift_s3_secret_key: SecretStr | None = None
    metastore_s3_access_key: SecretStr | None = None
    metastore_s3_secret_key: SecretStr | None = None
    landing_s3_access_key: SecretStr | None = None
    landing_s3_secret_key: SecretStr | None = None
    minio_root_user: SecretStr | None = Field(None, description="MinIO's root account: MinIO and provisioning only")
    minio_root_password: SecretStr | None = None
    s3_path_style_access: bool = True
    landing_bucket: str = "landing"
    warehouse_bucket: str = "warehouse"
    metastore_uri: str = "thrift://127.0.0.1:9083"
    thrift_host: str = "127.0.0.1"
    thrift_port: int = Field(10000, ge=1, le=65535)
    thrift_user: str | None = None
    thrift_password: SecretStr | None = None
    # DQOps's own login, read-only like every login: revoked or rotated apart from the analysts'.
    dqops_thrift_user: str | None = None
    dqops_thrift_password: SecretStr | None = None
    # TLS on the Thrift server's port: on by default, natively on loopback too, so the
    # configuration a deployment spanning machines runs is the tested one. The certificate
    # is generated like the secrets (lakehouse/platform/tls.py) into tls_dir.
    thrift_tls: bool = Field(True, description="the Thrift server accepts TLS connections only")
    thrift_tls_names: str = Field("", description="more host names for its certificate, comma-separated "
                                  "(compose: spark-thrift); thrift_host and loopback are always in it")
    thrift_keystore_password: SecretStr | None = Field(None, description="protects the Thrift server's key")
    thrift_truststore_password: SecretStr | None = Field(None, description="the Java clients' truststore "
                                                         "(DQOps, beeline): integrity, not secrecy")
    tls_dir: Path | None = Field(None, description="the Thrift server's CA, keystore and truststore; "
                                 "default <home>/platform/tls")
    # DQOps (its checks read the tables through the Thrift server): `lakehouse up` runs the
    # distribution `make platform` installed (lakehouse/platform/dqops.py), compose its image.
    # No URL and no server here: the DAG's DQOps task is skipped (and says so), never passed.
    dqops_url: str | None = Field(None, description="DQOps's base URL; default: the native platform's DQOps "
                                  "when it is installed (compose: http://dqops:8888)")
    dqops_home: Path = Field(BUILD_DIR / "dqops" / "home", description="the DQOps distribution (its DQO_HOME) "
                             "`lakehouse up` runs; `make platform` installs one here (scripts/install-dqops.sh)")
    dqops_port: int = Field(8888, ge=1, le=65535)
    dqops_api_key: SecretStr | None = Field(None, description="only for a DQOps that requires API keys")
    dqops_fail_severity: Literal["warning", "error", "fatal"] = Field(
        "error", description="the DAG's DQOps task fails when a check reaches this severity")
    spark_auth_secret: SecretStr | None = None
    # With the shared secret, Spark's RPC (driver, executors, master, workers, Thrift server,
    # block transfers) is AES-encrypted too, not only authenticated: on by default, natively
    # on loopback as well, so the configuration a deployment spanning machines runs is the
    # one the tests run.
    spark_network_crypto: bool = Field(True, description="spark.network.crypto.enabled (needs "
                                       "LAKEHOUSE_SPARK_AUTH_SECRET)")
    job_cores: int = Field(2, ge=1, description="cores one job takes from the cluster (spark.cores.max)")
    executor_memory: str = "2g"

    # Native platform (`lakehouse up`): services on loopback, their ports and credentials.
    bind_host: str = "127.0.0.1"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = Field(5432, ge=1, le=65535)
    postgres_password: SecretStr | None = None
    metastore_db_password: SecretStr | None = None
    minio_console_port: int = Field(9001, ge=1, le=65535)
    spark_master_ui_port: int = Field(8080, ge=1, le=65535)
    spark_worker_ui_port: int = Field(8081, ge=1, le=65535)
    spark_worker_cores: int = Field(4, ge=1, description="slots, not CPUs: Thrift server + jobs share them")
    spark_worker_memory: str = "8g"
    thrift_ui_port: int = Field(4040, ge=1, le=65535)

    # Airflow (native platform): the API server with the UI, its metadata in PostgreSQL.
    airflow_host: str = Field("127.0.0.1", description="where the API server answers (compose: its service name)")
    airflow_port: int = Field(8090, ge=1, le=65535, description="8080 is the Spark master's UI")
    airflow_admin_user: str = "admin"
    airflow_admin_password: SecretStr | None = None
    airflow_db_password: SecretStr | None = None
    airflow_fernet_key: SecretStr | None = None
    airflow_secret_key: SecretStr | None = None
    airflow_jwt_secret: SecretStr | None = None

    # Superset (native platform): dashboards through the Thrift server, metadata in PostgreSQL.
    superset_host: str = Field("127.0.0.1", description="where Superset answers (compose: its service name)")
    superset_port: int = Field(8088, ge=1, le=65535)
    superset_venv: Path = Field(BUILD_DIR / "superset-venv",
                                description="Superset's own environment (its pins conflict with Airflow's)")
    superset_admin_user: str = "admin"
    superset_admin_password: SecretStr | None = None
    superset_secret_key: SecretStr | None = None
    superset_db_password: SecretStr | None = None

    # Table maintenance (the maintenance DAG). Delta refuses less than its time-travel window.
    vacuum_retention_hours: int = Field(168, ge=168, description="VACUUM keeps files younger than this")

    # Sample data generator
    scale: float = Field(1.0, gt=0, description="1.0 is about 34k landing records over 7 days")
    seed: int = 42
    days: int = Field(7, ge=1, le=3650)
    start_date: date = date(2026, 1, 1)

    @field_validator("s3_access_key", "s3_secret_key", "thrift_s3_access_key", "thrift_s3_secret_key",
                     "metastore_s3_access_key", "metastore_s3_secret_key", "landing_s3_access_key",
                     "landing_s3_secret_key", "minio_root_user", "minio_root_password", "thrift_password",
                     "dqops_thrift_password",
                     "spark_auth_secret",
                     "postgres_password", "metastore_db_password", "airflow_admin_password",
                     "airflow_db_password", "airflow_fernet_key", "airflow_secret_key", "airflow_jwt_secret",
                     "superset_admin_password", "superset_secret_key", "superset_db_password",
                     "dqops_api_key", "thrift_keystore_password", "thrift_truststore_password")
    @classmethod
    def _no_empty_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # An exported empty variable (a copied .env.example) is not a credential.
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _derive_profile_defaults(self) -> Settings:
        home = self.home.expanduser().resolve()
        object.__setattr__(self, "home", home)
        if self.profile == "local":
            defaults = {
                "landing_uri": str(home / "landing"),
                "warehouse_uri": str(home / "warehouse"),
                "spark_master": "local[*]",
            }
        else:
            defaults = {
                "landing_uri": f"s3a://{self.landing_bucket}",
                "warehouse_uri": f"s3a://{self.warehouse_bucket}",
                "spark_master": "spark://127.0.0.1:7077",
            }
        defaults["quality_dir"] = home / "quality"
        defaults["tls_dir"] = home / "platform" / "tls"
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        return self

    def s3_keys(self, identity: str) -> tuple[str, str]:
        """The access key and secret key of one S3 identity (S3_IDENTITIES, or "root" for
        MinIO's root account). No defaults: unset is one clear error naming the variables."""
        fields = MINIO_ROOT if identity == "root" else S3_IDENTITIES[identity].keys
        values = [getattr(self, f) for f in fields]
        if None in values:
            names = " and ".join(ENV_PREFIX + f.upper() for f in fields)
            raise ConfigError(f"the cluster profile needs {names} (no defaults for secrets: `lakehouse up` "
                              "generates them, compose takes them from .env)")
        return values[0].get_secret_value(), values[1].get_secret_value()

    def table_location(self, database: str, table: str) -> str:
        return f"{self.warehouse_uri.rstrip('/')}/{database}/{table}"

    def landing_location(self, dataset: str) -> str:
        return f"{self.landing_uri.rstrip('/')}/{dataset}"

    @property
    def platform_dir(self) -> Path:
        """The native platform's runtime directory: state, logs, data, secrets."""
        return self.home / "platform"

    def jar_paths(self) -> list[str]:
        dirs = [self.jars_dir] + ([self.cluster_jars_dir] if self.profile == "cluster" else [])
        return sorted(str(p) for d in dirs if d is not None and d.is_dir() for p in d.glob("*.jar"))


class AirflowSettings(BaseSettings):
    """What the DAG files read when Airflow parses them: the environment only (no file, no
    secret), LAKEHOUSE_AIRFLOW_* like the rest."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "AIRFLOW_", extra="ignore", frozen=True)

    schedule: str = Field("@daily", description="one run per day: the landing batches are daily")
    start_date: date = date(2026, 1, 1)
    end_date: date | None = None
    catchup: bool = Field(False, description="Airflow's default; backfill a range on demand")
    retries: int = Field(3, ge=0)
    retry_delay_seconds: int = Field(60, ge=1, description="doubled on each retry (exponential backoff)")
    max_retry_delay_seconds: int = Field(900, ge=1)
    task_timeout_minutes: int = Field(60, ge=1, description="a task running longer is killed, Spark app with it")
    maintenance_schedule: str = "@weekly"
    dqops_wait_timeout_seconds: int = Field(300, ge=1, description="how long the DQOps task waits for one "
                                            "table's checks before it fails")


def load_settings(**overrides) -> Settings:
    """Settings from the environment, with explicit overrides; a bad value is one clear line."""
    given = {k: v for k, v in overrides.items() if v is not None}
    home = Path(given.get("home") or os.environ.get(ENV_PREFIX + "HOME") or Settings.model_fields["home"].default)
    generated = secrets_file(home)
    try:
        # Environment first, then the secrets `lakehouse up` generated (if any).
        return Settings(_env_file=generated if generated.is_file() else None, **given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        name = ENV_PREFIX + field.upper() if first["loc"] else "settings"
        raise ConfigError(f"{name}: {first['msg'].removeprefix('Value error, ')}") from None
