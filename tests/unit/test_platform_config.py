"""The native platform's configuration, without starting anything: generated secrets, the
cluster profile's Spark settings, and the services' security options."""

from __future__ import annotations

import shlex
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from lakehouse.config import load_settings, properties_path
from lakehouse.errors import ConfigError, LakehouseError
from lakehouse.platform import postgres, registry, secrets, spark_cluster, thrift_server
from lakehouse.spark import person_cluster_driver_conf, spark_conf


@pytest.fixture
def no_secret_env(monkeypatch):
    for key in secrets.GENERATED:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("LAKEHOUSE_PROFILE", raising=False)


def test_secrets_are_generated_once_private_and_random(tmp_path, no_secret_env):
    path, generated = secrets.ensure(tmp_path)
    assert sorted(generated) == sorted(secrets.GENERATED)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = secrets.read(path)
    assert len({v for k, v in first.items() if k != "LAKEHOUSE_THRIFT_USER"}) == len(first) - 1  # all distinct
    assert secrets.ensure(tmp_path)[1] == []  # a second `up` generates nothing
    assert secrets.read(path) == first
    _, other = secrets.ensure(tmp_path / "other")
    assert secrets.read(tmp_path / "other" / "platform" / "secrets.env")["LAKEHOUSE_S3_SECRET_KEY"] != \
        first["LAKEHOUSE_S3_SECRET_KEY"]


def test_a_missing_key_is_added_and_the_environment_wins(tmp_path, no_secret_env, monkeypatch):
    path, _ = secrets.ensure(tmp_path)
    kept = secrets.read(path)
    path.write_text("".join(f"{k}={v}\n" for k, v in kept.items() if k != "LAKEHOUSE_THRIFT_PASSWORD"))
    monkeypatch.setenv("LAKEHOUSE_SPARK_AUTH_SECRET", "from-the-environment")
    assert secrets.ensure(tmp_path)[1] == ["LAKEHOUSE_THRIFT_PASSWORD"]
    now = secrets.read(path)
    assert {k: now[k] for k in kept if k != "LAKEHOUSE_THRIFT_PASSWORD"} == \
        {k: v for k, v in kept.items() if k != "LAKEHOUSE_THRIFT_PASSWORD"}
    settings = load_settings(profile="cluster", home=tmp_path)
    assert settings.spark_auth_secret.get_secret_value() == "from-the-environment"
    assert settings.thrift_password.get_secret_value() == now["LAKEHOUSE_THRIFT_PASSWORD"]


def test_cluster_profile_reads_generated_secrets_and_puts_jars_on_the_classpath(tmp_path, no_secret_env):
    secrets.ensure(tmp_path)
    jars = tmp_path / "cluster-jars"
    jars.mkdir()
    (jars / "hadoop-aws-3.4.2.jar").touch()
    settings = load_settings(profile="cluster", home=tmp_path, cluster_jars_dir=jars)
    conf = spark_conf(settings)
    assert "spark.jars" not in conf  # nothing shipped to executors: every node has the jars
    assert str(jars / "hadoop-aws-3.4.2.jar") in conf["spark.executor.extraClassPath"].split(":")
    assert conf["spark.driver.extraClassPath"] == conf["spark.executor.extraClassPath"]
    assert conf["spark.authenticate"] == "true" and conf["spark.cores.max"] == "2"
    # The local profile never sees the cluster's jars.
    assert str(jars) not in str(spark_conf(load_settings(home=tmp_path, cluster_jars_dir=jars)))


def test_only_a_cluster_jobs_driver_is_compiled_by_c1_alone(tmp_path, no_secret_env):
    """Short-lived cluster drivers warm up on C1 alone; executors, the local driver (its own
    executor) and the long-lived Thrift server keep C2; an empty setting turns it off."""
    secrets.ensure(tmp_path)
    c1 = "-XX:TieredStopAtLevel=1"
    cluster = load_settings(profile="cluster", home=tmp_path)
    jobs = spark_conf(cluster)
    assert f"{cluster.jvm_options} {c1}" in jobs["spark.driver.extraJavaOptions"]
    assert c1 not in jobs["spark.executor.extraJavaOptions"]
    assert c1 not in thrift_server.thrift_properties(cluster)["spark.driver.extraJavaOptions"]
    assert "log4j2" in thrift_server.thrift_properties(cluster)["spark.driver.extraJavaOptions"]
    assert c1 not in spark_conf(load_settings(home=tmp_path))["spark.driver.extraJavaOptions"]
    off = load_settings(profile="cluster", home=tmp_path, cluster_driver_jvm_options="")
    assert c1 not in spark_conf(off)["spark.driver.extraJavaOptions"]


def test_the_jobs_run_without_adaptive_execution_and_the_thrift_server_with_it(tmp_path, no_secret_env, monkeypatch):
    secrets.ensure(tmp_path)
    monkeypatch.delenv("LAKEHOUSE_ADAPTIVE_EXECUTION", raising=False)
    for profile in ("local", "cluster"):
        assert spark_conf(load_settings(profile=profile, home=tmp_path))["spark.sql.adaptive.enabled"] == "false"
    cluster = load_settings(profile="cluster", home=tmp_path)
    assert thrift_server.thrift_properties(cluster)["spark.sql.adaptive.enabled"] == "true"
    monkeypatch.setenv("LAKEHOUSE_ADAPTIVE_EXECUTION", "true")  # a user with many shuffle partitions
    assert spark_conf(load_settings(profile="cluster", home=tmp_path))["spark.sql.adaptive.enabled"] == "true"


def test_every_spark_jvm_runs_in_utc_whatever_the_settings_say(tmp_path, no_secret_env):
    """The embedded driver, a cluster job's driver (Airflow's, or one a person started), its
    executors and the Thrift server: the zone option comes last, so a user.timezone in the JVM
    settings does not take it back (Java keeps the last -D of a property)."""
    secrets.ensure(tmp_path)
    berlin = "-Duser.timezone=Europe/Berlin"
    for settings in (load_settings(home=tmp_path), load_settings(home=tmp_path, jvm_options=berlin),
                     load_settings(profile="cluster", home=tmp_path, jvm_options=berlin,
                                   cluster_driver_jvm_options=berlin)):
        conf = spark_conf(settings)
        options = [conf["spark.driver.extraJavaOptions"]]
        if settings.profile == "cluster":
            options += [conf["spark.executor.extraJavaOptions"],
                        thrift_server.thrift_properties(settings)["spark.driver.extraJavaOptions"],
                        person_cluster_driver_conf(settings)[1].removeprefix("spark.driver.extraJavaOptions=")]
        for jvm in options:
            zones = [o for o in shlex.split(jvm) if o.startswith("-Duser.timezone=")]
            assert zones[-1] == "-Duser.timezone=UTC", jvm


def test_a_cluster_driver_the_cli_submits_logs_to_the_homes_log_file(tmp_path, no_secret_env, monkeypatch):
    """Its JVM's logging goes to <home>/logs/lakehouse.log, not the terminal (LAKEHOUSE_DEBUG=1
    brings the console back); Airflow's tasks read the properties file, which keeps stderr
    (their task log); a local driver has it in the properties file already."""
    from lakehouse.submit import submit_command

    monkeypatch.delenv("LAKEHOUSE_DEBUG", raising=False)
    secrets.ensure(tmp_path)
    cluster = load_settings(profile="cluster", home=tmp_path)
    command = submit_command(cluster, "jobs/pipeline.py", [])
    conf = command[command.index("--conf") + 1]
    assert conf.startswith("spark.driver.extraJavaOptions=")
    options = shlex.split(conf.split("=", 1)[1])
    assert f"-Dlakehouse.log.file={tmp_path / 'logs' / 'lakehouse.log'}" in options
    assert "-Dlakehouse.console.level=OFF" in options
    assert set(shlex.split(spark_conf(cluster)["spark.driver.extraJavaOptions"])) <= set(options)  # and the rest
    properties = Path(command[command.index("--properties-file") + 1]).read_text()
    assert "lakehouse.log.file" not in properties
    monkeypatch.setenv("LAKEHOUSE_DEBUG", "1")
    assert "-Dlakehouse.console.level=WARN" in submit_command(cluster, "jobs/pipeline.py", [])[-2]
    assert "--conf" not in submit_command(load_settings(home=tmp_path), "jobs/pipeline.py", [])


def test_an_in_process_cluster_session_logs_to_the_homes_log_file_too(tmp_path, no_secret_env, monkeypatch):
    """`lakehouse sql` and `history` start their cluster driver through PYSPARK_SUBMIT_ARGS: the
    same logging as a submitted driver's, and the properties file for the rest (secrets)."""
    from lakehouse.spark import in_process_cluster_submit_args

    monkeypatch.delenv("LAKEHOUSE_DEBUG", raising=False)
    secrets.ensure(tmp_path)
    cluster = load_settings(profile="cluster", home=tmp_path)
    submit_args = in_process_cluster_submit_args(cluster)
    args = shlex.split(submit_args)  # as PySpark splits them
    assert args[-1] == "pyspark-shell" and args[args.index("--properties-file") + 1] == str(properties_path(tmp_path))
    options = shlex.split(args[args.index("--conf") + 1].removeprefix("spark.driver.extraJavaOptions="))
    assert f"-Dlakehouse.log.file={tmp_path / 'logs' / 'lakehouse.log'}" in options
    assert "-Dlakehouse.console.level=OFF" in options
    for secret in (cluster.s3_secret_key, cluster.spark_auth_secret, cluster.thrift_password):
        assert secret.get_secret_value() not in submit_args


@pytest.mark.parametrize("name", ["spark-master", "spark-worker"])
def test_master_and_worker_refuse_unauthenticated_rpc_and_rest(tmp_path, no_secret_env, name):
    secrets.ensure(tmp_path)
    settings = load_settings(profile="cluster", home=tmp_path)
    launch = registry.service(name).launch(settings)
    props_file = Path(launch.argv[launch.argv.index("--properties-file") + 1])
    props = dict(line.split(" ", 1) for line in props_file.read_text().splitlines())
    assert props["spark.master.rest.enabled"] == "false" and props["spark.authenticate"] == "true"
    assert props["spark.authenticate.secret"] == settings.spark_auth_secret.get_secret_value()
    assert stat.S_IMODE(props_file.stat().st_mode) == 0o600
    assert settings.spark_auth_secret.get_secret_value() not in " ".join(launch.argv)


def test_an_empty_secret_is_refused(tmp_path, no_secret_env, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SPARK_AUTH_SECRET", "")
    assert "LAKEHOUSE_SPARK_AUTH_SECRET" in secrets.ensure(tmp_path)[1]  # empty = not set: generated
    monkeypatch.setenv("LAKEHOUSE_THRIFT_PASSWORD", "")
    with pytest.raises(ConfigError, match="LAKEHOUSE_THRIFT_PASSWORD: must not be empty"):
        load_settings(profile="cluster", home=tmp_path)


def test_secrets_are_not_regenerated_for_existing_data(tmp_path, no_secret_env):
    path, _ = secrets.ensure(tmp_path)
    (path.parent / "data").mkdir()
    path.unlink()
    with pytest.raises(LakehouseError, match="lacks .*LAKEHOUSE_POSTGRES_PASSWORD.* restore the file"):
        secrets.ensure(tmp_path)


def test_an_upgrade_gets_the_credentials_of_new_services(tmp_path, no_secret_env):
    """A platform from before Airflow: its data stays, Airflow's credentials are added."""
    path, _ = secrets.ensure(tmp_path)
    (path.parent / "data").mkdir()
    older = {k: v for k, v in secrets.read(path).items() if not k.startswith("LAKEHOUSE_AIRFLOW_")
             or k == "LAKEHOUSE_AIRFLOW_FERNET_KEY"}
    path.write_text("".join(f"{k}={v}\n" for k, v in older.items()))
    added = secrets.ensure(tmp_path)[1]
    assert added and all(k.startswith("LAKEHOUSE_AIRFLOW_") for k in added)
    assert {k: secrets.read(path)[k] for k in older} == older


def test_thrift_server_requires_a_password_that_is_never_on_its_command_line(tmp_path, no_secret_env):
    secrets.ensure(tmp_path)
    settings = load_settings(profile="cluster", home=tmp_path)
    launch = registry.service("spark-thrift").launch(settings)
    assert "hive.server2.authentication=CUSTOM" in launch.argv
    assert f"hive.server2.custom.authentication.class={thrift_server.THRIFT_AUTH_CLASS}" in launch.argv
    assert "hive.server2.thrift.bind.host=127.0.0.1" in launch.argv
    password = settings.thrift_password.get_secret_value()
    assert password not in " ".join(launch.argv) and launch.env["LAKEHOUSE_THRIFT_PASSWORD"] == password
    props = thrift_server.thrift_properties(settings)
    assert props["spark.sql.catalog.spark_catalog"].endswith("DeltaCatalog")
    assert props["spark.hadoop.hive.metastore.uris"] == settings.metastore_uri
    assert props["spark.cores.max"] == "1"  # jobs always find cores beside it


def test_postgres_data_must_be_reachable_by_its_user():
    base = Path(tempfile.mkdtemp())  # pytest's tmp_path sits under a 0700 folder itself
    try:
        base.chmod(0o711)
        postgres._check_reachable_by_postgres(base / "data" / "postgres")  # passes
        closed = base / "closed"
        (closed / "data").mkdir(parents=True)
        closed.chmod(0o700)
        with pytest.raises(LakehouseError, match="cannot enter .*closed"):
            postgres._check_reachable_by_postgres(closed / "data" / "postgres")
    finally:
        shutil.rmtree(base)


def test_unknown_service_is_one_clear_error():
    with pytest.raises(LakehouseError, match="unknown service 'spark'.*spark-master"):
        registry.service("spark")


def test_each_service_gets_its_own_s3_account_and_none_the_root(tmp_path, no_secret_env):
    """The jobs, the Thrift server and the metastore each sign with their own MinIO account;
    MinIO's root account is MinIO's and the provisioning's only (lakehouse.platform.object_store)."""
    secrets.ensure(tmp_path)
    settings = load_settings(profile="cluster", home=tmp_path)
    root = settings.s3_keys("root")
    jobs = spark_conf(settings)
    thrift = thrift_server.thrift_properties(settings)
    metastore = registry.service("hive-metastore").launch(settings).env
    assert ((jobs["spark.hadoop.fs.s3a.access.key"], jobs["spark.hadoop.fs.s3a.secret.key"])
            == settings.s3_keys("pipeline"))
    assert (thrift["spark.hadoop.fs.s3a.access.key"], thrift["spark.hadoop.fs.s3a.secret.key"]) == \
        settings.s3_keys("thrift")
    assert (metastore["LAKEHOUSE_METASTORE_S3_ACCESS_KEY"], metastore["LAKEHOUSE_METASTORE_S3_SECRET_KEY"]) == \
        settings.s3_keys("metastore")
    minio = registry.service("minio").launch(settings).env
    assert (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]) == root
    for conf in (jobs, thrift, metastore):
        assert not set(root) & set(conf.values())
    assert len({settings.s3_keys(i)[0] for i in ("root", "pipeline", "thrift", "metastore", "landing")}) == 5


def test_policies_grant_each_account_its_buckets_only(tmp_path, no_secret_env):
    from lakehouse.config import S3_IDENTITIES
    from lakehouse.platform.object_store import policy

    settings = load_settings(profile="local", home=tmp_path)

    def grants(name):
        found = {}
        for statement in policy(settings, S3_IDENTITIES[name])["Statement"]:
            for resource in statement["Resource"]:
                found.setdefault(resource.removeprefix("arn:aws:s3:::"), set()).update(statement["Action"])
        return found

    assert grants("thrift") == {"warehouse": {"s3:GetBucketLocation", "s3:ListBucket"}, "warehouse/*": {"s3:GetObject"}}
    pipeline = grants("pipeline")
    assert pipeline["landing/*"] == {"s3:GetObject"} and "s3:PutObject" in pipeline["warehouse/*"]
    assert (set(grants("landing")) == {"landing", "landing/*"}
            and set(grants("metastore")) == {"warehouse", "warehouse/*"})


def test_a_platform_from_before_the_accounts_keeps_its_root_account(tmp_path, no_secret_env):
    """Its LAKEHOUSE_S3_* pair was MinIO's root account (the data depends on it): it becomes
    LAKEHOUSE_MINIO_ROOT_*, and the jobs get an account of their own."""
    path, _ = secrets.ensure(tmp_path)
    old = {k: v for k, v in secrets.read(path).items() if "_S3_" not in k and "MINIO_ROOT" not in k}
    old.update({"LAKEHOUSE_S3_ACCESS_KEY": "lakehouseoldroot123", "LAKEHOUSE_S3_SECRET_KEY": "o" * 40})
    path.write_text("".join(f"{k}={v}\n" for k, v in old.items()))
    (path.parent / "data").mkdir()
    added = secrets.ensure(tmp_path)[1]
    now = secrets.read(path)
    assert (now["LAKEHOUSE_MINIO_ROOT_USER"], now["LAKEHOUSE_MINIO_ROOT_PASSWORD"]) == ("lakehouseoldroot123", "o" * 40)
    assert now["LAKEHOUSE_S3_ACCESS_KEY"] != "lakehouseoldroot123" and "LAKEHOUSE_S3_ACCESS_KEY" in added


@pytest.mark.parametrize("name, secret", [("spark-master", "spark_auth_secret"), ("spark-worker", "spark_auth_secret"),
                                          ("spark-thrift", "spark_auth_secret"), ("spark-thrift", "thrift_password"),
                                          ("hive-metastore", "metastore_db_password")])
def test_services_without_a_secret_fail_in_one_line(tmp_path, no_secret_env, name, secret):
    secrets.ensure(tmp_path)
    settings = load_settings(profile="cluster", home=tmp_path).model_copy(update={secret: None})
    with pytest.raises(LakehouseError, match=f"LAKEHOUSE_{secret.upper()} is not set"):
        registry.service(name).launch(settings)


def test_postgres_without_its_password_fails_in_one_line(tmp_path, no_secret_env):
    secrets.ensure(tmp_path)
    settings = load_settings(profile="cluster", home=tmp_path).model_copy(update={"postgres_password": None})
    with pytest.raises(LakehouseError, match="LAKEHOUSE_POSTGRES_PASSWORD is not set"):
        postgres.psql(settings, "SELECT 1")
    with pytest.raises(LakehouseError, match="LAKEHOUSE_METASTORE_DB_PASSWORD is not set"):
        registry.service("postgres").after_start(settings.model_copy(update={"metastore_db_password": None}))


def test_spark_rpc_is_encrypted_and_the_uis_cannot_kill(tmp_path, no_secret_env):
    secrets.ensure(tmp_path)
    settings = load_settings(profile="cluster", home=tmp_path)
    for conf in (spark_conf(settings), thrift_server.thrift_properties(settings)):
        assert conf["spark.authenticate"] == conf["spark.network.crypto.enabled"] == "true"
        assert conf["spark.ui.killEnabled"] == "false"
    daemon = spark_cluster.daemon_properties(settings).read_text()
    assert "spark.network.crypto.enabled true" in daemon and "spark.ui.killEnabled false" in daemon


def test_without_a_dqops_installation_up_says_how_to_get_one_and_airflow_skips_its_checks(tmp_path, no_secret_env,
                                                                                         monkeypatch):
    from lakehouse.platform import airflow

    monkeypatch.delenv("LAKEHOUSE_DQOPS_URL", raising=False)
    secrets.ensure(tmp_path)
    settings = load_settings(profile="cluster", home=tmp_path, dqops_home=tmp_path / "no-dqops")
    reason = registry.service("dqops").missing(settings)
    assert reason and "\n" not in reason and "make platform" in reason and "LAKEHOUSE_DQOPS_HOME" in reason
    # The DAG's task then finds no server and skips with its own reason (tests/dags).
    assert "LAKEHOUSE_DQOPS_URL" not in airflow.airflow_env(settings)
    assert not any(svc.missing(settings) for svc in registry.SERVICES if svc.name != "dqops")


def test_dqops_runs_the_installed_distribution_on_loopback_with_the_generated_checks(tmp_path, no_secret_env,
                                                                                    monkeypatch):
    from lakehouse.platform import airflow, dqops
    from lakehouse.quality import dqops_userhome

    monkeypatch.delenv("LAKEHOUSE_DQOPS_URL", raising=False)
    secrets.ensure(tmp_path)
    home = tmp_path / "dqo-home"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "dqo").write_text("#!/bin/sh\n")
    settings = load_settings(profile="cluster", home=tmp_path, dqops_home=home)
    svc = registry.service("dqops")
    assert svc.missing(settings) is None
    assert airflow.airflow_env(settings)["LAKEHOUSE_DQOPS_URL"] == "http://127.0.0.1:8888"
    launch = svc.launch(settings)
    password = settings.dqops_thrift_password.get_secret_value()
    assert launch.argv[0] == str(home / "bin" / "dqo") and password not in " ".join(launch.argv)
    assert (launch.env["SERVER_ADDRESS"], launch.env["SERVER_PORT"]) == ("127.0.0.1", "8888")
    assert launch.env["DQO_CLOUD_START_WITHOUT_API_KEY"] == "true"
    assert launch.env["DQO_SCHEDULER_ENABLE_CLOUD_SYNC"] == "false"
    assert launch.env["DQO_CLOUD_AUTHENTICATE_WITH_DQO_CLOUD"] == "false"
    # The connection file's references resolve from DQOps's environment.
    assert launch.env["LAKEHOUSE_DQOPS_THRIFT_PASSWORD"] == password
    assert launch.env["LAKEHOUSE_DQOPS_THRIFT_USER"] == settings.dqops_thrift_user != settings.thrift_user
    assert "LAKEHOUSE_THRIFT_PASSWORD" not in launch.env  # the analysts' login is not DQOps's
    assert launch.env["LAKEHOUSE_TLS_DIR"] == str(settings.tls_dir)
    # Its user home: the committed checks, replaced on each start; DQOps's results kept.
    userhome = Path(launch.env["DQO_USER_HOME"])
    stale = userhome / "sources" / "lakehouse" / "silver.removed.dqotable.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("a table whose spec is gone")
    (userhome / ".data").mkdir()
    svc.prepare(settings)
    committed = dqops_userhome.USERHOME_DIR / "sources"
    assert sorted(p.relative_to(userhome / "sources") for p in (userhome / "sources").rglob("*")) == \
        sorted(p.relative_to(committed) for p in committed.rglob("*"))
    assert (userhome / dqops_userhome.MARKER_FILE).read_text() == dqops_userhome.MARKER_TEXT
    assert (userhome / ".data").is_dir()
    assert dqops.url(settings) == "http://127.0.0.1:8888"
    # No login in its free edition: on loopback even where the other services listen everywhere.
    everywhere = load_settings(profile="cluster", home=tmp_path, dqops_home=home, bind_host="0.0.0.0")
    assert svc.launch(everywhere).env["SERVER_ADDRESS"] == "127.0.0.1"


def test_each_service_needs_only_services_the_registry_starts_before_it():
    seen: set[str] = set()
    for svc in registry.SERVICES:
        assert set(svc.needs) <= seen, f"{svc.name} needs {set(svc.needs) - seen}, not registered before it"
        seen.add(svc.name)
    assert registry.service("spark-thrift").needs == ("hive-metastore", "spark-worker")
