"""The native platform for real: PostgreSQL, MinIO, Hive Metastore, Spark master + worker and
the Thrift server, started by `lakehouse up` (see conftest). Tests run in file order: the
restart tests come last."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import psutil
import pytest

from lakehouse import lease, ops_views, runlog, tables
from lakehouse.class_archive import archive_path
from lakehouse.config import BRONZE, DATABASES, GOLD, OPS, PROJECT_ROOT, SILVER
from lakehouse.platform import landing, lifecycle, object_store
from lakehouse.platform.registry import SERVICES
from lakehouse.platform.metastore import metastore_databases
from lakehouse.platform.thrift_server import thrift_connect
from lakehouse.platform.secrets import GENERATED
from lakehouse.platform.secrets import read as secrets_read
from lakehouse.specs import load_catalog
from tests.system import reference
from tests.system.conftest import cli, platform_pids, platform_processes, still_running
from tests.unit.test_lease import WRITER

pytestmark = pytest.mark.system


def thrift_query(settings, sql: str) -> list[tuple]:
    conn = thrift_connect(settings)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        conn.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def test_up_started_every_service_healthy(platform, platform_home):
    _, output, pids = platform_home
    assert set(pids) == {s.name for s in SERVICES}
    statuses = lifecycle.status(platform)
    assert [s.state for s in statuses] == ["running"] * len(SERVICES), statuses
    assert f"({len(SERVICES)} service(s) started)" in output


def test_secrets_are_generated_private_and_read_by_config(platform):
    path = platform.platform_dir / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    assert set(values) == set(GENERATED)
    assert platform.s3_secret_key.get_secret_value() == values["LAKEHOUSE_S3_SECRET_KEY"]
    for generated in (platform.platform_dir / "conf").iterdir():  # configuration holding credentials
        assert stat.S_IMODE(generated.stat().st_mode) == 0o600, generated
    # No service accepts a well-known default: MinIO's root account is not minioadmin.
    assert values["LAKEHOUSE_S3_ACCESS_KEY"] != "minioadmin" and len(values["LAKEHOUSE_S3_SECRET_KEY"]) >= 32


def test_up_again_starts_nothing(platform, platform_home):
    home, _, pids = platform_home
    again = cli(home, "up")
    assert "(0 service(s) started)" in again.stdout
    assert platform_pids(home) == pids


def test_status_json(platform_home):
    home, _, pids = platform_home
    rows = json.loads(cli(home, "status", "--format", "json").stdout)
    assert {r["name"]: r["pid"] for r in rows} == pids
    for row in rows:
        assert row["state"] == "running" and row["url"] and row["version"] not in ("", "unknown")
        # Airflow's scheduler, DAG processor and triggerer listen on no port of their own.
        assert row["port"] or row["name"] in {"airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
        assert row["memory_mb"] > 0
    assert {r["name"]: r["version"] for r in rows}["hive-metastore"] == "3.1.3"


def test_services_listen_on_loopback_only(platform_home):
    """Every service, the metastore included (hive/metastore-bind-host.patch), is on 127.0.0.1."""
    home, _, _ = platform_home
    listening = set()
    for proc in platform_processes(home):
        try:
            listening |= {(c.laddr.ip, c.laddr.port) for c in proc.net_connections(kind="inet")
                          if c.status == psutil.CONN_LISTEN}
        except psutil.Error:  # exited meanwhile (a PostgreSQL backend, say)
            pass
    assert listening, "no listening socket found"
    exposed = {(ip, port) for ip, port in listening if ip not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")}
    assert not exposed, exposed
    assert any(port == 9083 for _, port in listening), "the metastore's port was not found"


def test_no_secret_on_any_command_line(platform, platform_home):
    home, _, _ = platform_home
    values = [v for v in secrets_read(platform.platform_dir / "secrets.env").values() if len(v) >= 16]
    for proc in platform_processes(home):
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:  # exited meanwhile
            continue
        assert not [v for v in values if v in cmdline], f"a credential is on the command line of {proc.pid}"


def _allowed(platform, identity: str, action) -> bool:
    import botocore.exceptions

    try:
        action(object_store.s3_client(platform, identity))
        return True
    except botocore.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc
        return False


def test_each_s3_account_does_its_job_and_is_refused_the_rest(platform, cluster_run):
    """The MinIO users `up` made, tried for real: each may do what its service does and nothing more."""
    landing_key, table_key = "probe/landing.csv", "probe/warehouse.txt"
    actions = {
        "read landing": lambda s3: s3.list_objects_v2(Bucket=platform.landing_bucket),
        "write landing": lambda s3: s3.put_object(Bucket=platform.landing_bucket, Key=landing_key, Body=b"x"),
        "read warehouse": lambda s3: s3.get_object(Bucket=platform.warehouse_bucket,
                                                   Key=_any_key(platform, platform.warehouse_bucket)),
        "write warehouse": lambda s3: s3.put_object(Bucket=platform.warehouse_bucket, Key=table_key, Body=b"x"),
        "delete in warehouse": lambda s3: s3.delete_object(Bucket=platform.warehouse_bucket, Key=table_key),
        "create a bucket": lambda s3: s3.create_bucket(Bucket="intruder"),
    }
    allowed = {
        "pipeline": {"read landing", "read warehouse", "write warehouse", "delete in warehouse"},
        "thrift": {"read warehouse"},
        "metastore": {"read warehouse", "write warehouse", "delete in warehouse"},
        "landing": {"read landing", "write landing"},
    }
    for identity, expected in allowed.items():
        done = {name for name, action in actions.items() if _allowed(platform, identity, action)}
        assert done == expected, identity
    object_store.s3_client(platform, "landing").delete_object(Bucket=platform.landing_bucket, Key=landing_key)


def _any_key(platform, bucket: str) -> str:
    return object_store.s3_client(platform, "root").list_objects_v2(Bucket=bucket, MaxKeys=1)["Contents"][0]["Key"]


def test_only_minio_holds_the_root_account(platform, platform_home):
    """Neither the configuration files the platform generated nor any service's environment
    (MinIO's aside) holds MinIO's root keys."""
    home, _, _ = platform_home
    root = set(platform.s3_keys("root"))
    for path in [*(platform.platform_dir / "conf").iterdir(), platform.home / "spark-submit.properties"]:
        assert not [v for v in root if v in path.read_text()], path
    for proc in platform_processes(home):
        try:
            environment = proc.environ()
        except psutil.Error:
            continue
        if any(part.endswith("minio") for part in proc.cmdline()[:1]):
            continue
        assert not root & set(environment.values()), f"{proc.pid} {proc.cmdline()[:2]} holds MinIO's root account"


def test_rest_submission_port_is_off_and_metastore_answers(platform):
    assert not port_open(6066), "the Spark master's REST submission server must be off"
    assert "default" in metastore_databases(platform)


def test_cluster_pipeline_fills_minio_and_the_metastore(platform, cluster_run):
    output, _ = cluster_run
    assert "uploaded" in output and "submitting the pipeline to spark://" in output
    assert "gold.daily_revenue" in output  # the run's summary, printed by the driver
    s3 = object_store.s3_client(platform, "pipeline")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=platform.warehouse_bucket)["Contents"]]
    for db in (BRONZE, SILVER, GOLD, OPS):
        assert any(k.startswith(f"{db}/") and "/_delta_log/" in k for k in keys), f"no Delta table of {db} on MinIO"
    assert set(DATABASES) <= set(metastore_databases(platform))


def test_the_file_log_holds_every_landing_file_once_as_bronze_names_it(platform, cluster_run):
    # Listed by boto3 in the cluster profile (lakehouse.storage): the log's paths are the
    # landing bucket's keys, each loaded once, under the name bronze gives its records.
    s3 = object_store.s3_client(platform, "landing")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=platform.landing_bucket)
    landed = {f"s3a://{platform.landing_bucket}/{o['Key']}": o["Size"] for page in pages
              for o in page.get("Contents", []) if not o["Key"].startswith(("_", "probe/", f"{LISTING_PROBE}/"))}
    logged = thrift_query(platform, "SELECT path, size, outcome, batch_id, records FROM ops.landing_files")
    assert sorted(r[0] for r in logged) == sorted(landed)
    assert all(r[2] == "loaded" and r[1] == landed[r[0]] and r[3] in r[0] for r in logged)
    for spec in load_catalog(platform.specs_dir).datasets.values():
        held = dict(thrift_query(platform, f"SELECT _source_file, COUNT(*) FROM {BRONZE}.{spec.name} "
                                           "GROUP BY _source_file"))
        mine = {r[0]: r[4] for r in logged if f"/{spec.landing_folder}/" in r[0]}
        assert held == mine, spec.name


# A task's Python worker is a child of its executor's JVM (through PySpark's daemon): it
# names the class archives that JVM maps.
EXECUTOR_ARCHIVES = """
import psutil
def archives(_):
    jvm = psutil.Process()
    while jvm is not None and 'org.apache.spark.executor.CoarseGrainedExecutorBackend' not in jvm.cmdline():
        jvm = jvm.parent()
    return [m.path for m in jvm.memory_maps() if m.path.endswith('.jsa')] if jvm else ['no executor JVM']
print('EXECUTOR_ARCHIVES', sorted(set(spark.sparkContext.parallelize([0], 1).flatMap(archives).collect())))
"""


LISTING_PROBE = "listing-probe"
LISTING_NAMES = ["2026-01-01/a b.csv", "2026-01-01/sub/c[1].csv", "2026-01-02/ü.csv", "2026-01-02/_hidden.csv",
                 "_tmp/x.csv", "top.csv"]


@pytest.fixture(scope="module")
def adhoc_submit(platform, platform_home, cluster_run) -> str:
    """One ad-hoc job submitted to the cluster (`lakehouse submit`), for the tests of what a
    job there sees: how it lists S3 (LISTED), the gold it reads (GOLD_ROWS) and the class
    archives its executor maps (EXECUTOR_ARCHIVES). Its output."""
    home, _, _ = platform_home
    s3 = object_store.s3_client(platform, "landing")
    for name in LISTING_NAMES:
        s3.put_object(Bucket=platform.landing_bucket, Key=f"{LISTING_PROBE}/{name}", Body=name.encode())
    script = home / "adhoc.py"
    script.write_text(
        "from lakehouse import storage\nfrom lakehouse.config import load_settings\n"
        "from lakehouse.spark import build_session\nspark = build_session(load_settings(), 'adhoc')\n"
        f"uri = 's3a://{platform.landing_bucket}/{LISTING_PROBE}'\n"
        "listed = storage.list_files(spark, uri)\n"
        "print('LISTED', len(listed), listed == sorted(storage._walk_hadoop(spark, uri)))\n"
        "print('GOLD_ROWS', spark.table('gold.daily_revenue').count())\n" + EXECUTOR_ARCHIVES)
    try:
        return cli(home, "submit", str(script), "--profile", "cluster").stdout
    finally:
        for name in LISTING_NAMES:
            s3.delete_object(Bucket=platform.landing_bucket, Key=f"{LISTING_PROBE}/{name}")


def test_s3_is_listed_as_hadoop_lists_it(adhoc_submit):
    # boto3 lists S3 for a run (Hadoop's listing costs py4j calls per file): the paths, sizes
    # and times must be Hadoop's, which bronze's _source_file holds.
    assert "LISTED 4 True" in adhoc_submit, adhoc_submit[-2000:]


def _expected_columns(platform, ref: reference.Reference) -> dict[str, list[str]]:
    """Every table the pipeline creates, with its columns: bronze and silver from the specs,
    gold from the reference pipeline's gold (equal to the embedded pipeline's), ops fixed."""
    catalog = load_catalog(platform.specs_dir)
    expected = {f"{OPS}.{t.split('.')[1]}": s.fieldNames() for t, s in tables.OPS_TABLES.items()}
    expected |= {view.fqname: [c for c, _, _ in view.columns] for view in ops_views.views(catalog)}
    for spec in catalog.datasets.values():
        expected[f"{BRONZE}.{spec.name}"] = tables.bronze_schema(spec).fieldNames()
        expected[f"{SILVER}.{spec.name}"] = tables.silver_column_names(spec)
    for name in catalog.gold:
        expected[f"{GOLD}.{name}"] = ref.gold_columns(name)
    return expected


def _expected_comments(platform) -> dict[str, dict[str, str]]:
    """The column comments of bronze, silver and gold: the specs' descriptions."""
    catalog = load_catalog(platform.specs_dir)
    expected = {}
    for spec in catalog.datasets.values():
        described = {c.name: c.description for c in spec.columns if c.description}
        expected[f"{BRONZE}.{spec.name}"] = described
        held = tables.silver_column_names(spec)
        expected[f"{SILVER}.{spec.name}"] = {c: d for c, d in described.items() if c in held}
    return expected | {f"{GOLD}.{name}": dict(spec.columns) for name, spec in catalog.gold.items()}


def test_thrift_lists_every_table_with_columns_and_data_equal_to_the_reference(platform, cluster_run, tmp_path):
    """The cluster run's tables, through the Thrift server, against the reference pipeline on
    the very same landing files (tests/system/reference.py): every table with its columns,
    every landing record in bronze, silver's rows, the quarantine, and gold row for row."""
    ref = reference.build(landing.sample_dir(platform), tmp_path)
    expected = _expected_columns(platform, ref)
    for db in DATABASES:
        served = sorted(f"{db}.{row[1]}" for row in thrift_query(platform, f"SHOW TABLES IN {db}"))
        assert served == sorted(t for t in expected if t.startswith(f"{db}.")), db
    comments = _expected_comments(platform)
    for name, columns in expected.items():
        described = [row for row in thrift_query(platform, f"DESCRIBE {name}") if row[0] and not row[0].startswith("#")]
        assert [row[0] for row in described[: len(columns)]] == columns, name
        if name in comments:  # the specs' descriptions, as an analyst's SQL client shows them
            assert {row[0]: row[2] for row in described[: len(columns)] if row[2]} == comments[name], name
    for dataset, c in ref.counts["datasets"].items():
        assert thrift_query(platform, f"SELECT count(*) FROM {BRONZE}.{dataset}") == [(c["read"],)], dataset
        assert thrift_query(platform, f"SELECT count(*) FROM {SILVER}.{dataset}") == [(c["silver_rows"],)], dataset
        [(quarantined,)] = thrift_query(platform, f"SELECT count(*) FROM {OPS}.quarantine WHERE dataset = '{dataset}'")
        assert quarantined == c["quarantined"], dataset
    for name in ref.counts["gold"]:
        rows = ref.gold_rows(name)
        assert rows and reference.served_gold_rows(platform, name, ref.gold_columns(name)) == rows, name


def test_wrong_thrift_password_is_refused(platform, cluster_run):
    with pytest.raises(Exception, match="(?i)login|auth|password"):
        thrift_connect(platform, password="wrong-" + platform.thrift_password.get_secret_value())
    with pytest.raises(Exception, match="(?i)login|auth|password"):
        thrift_connect(platform, password="")


def test_a_secret_the_object_store_refuses_is_one_line_naming_the_settings(platform, platform_home, cluster_run):
    """`lakehouse sql` and `history` with `--profile cluster` and the jobs' S3 secret wrong:
    their sessions read the table's Delta log through S3A, which MinIO refuses with a 403 (a
    job whose account is refused, before its Spark starts: tests/unit/test_wrong_credentials.py)."""
    home, _, _ = platform_home
    wrong = {"LAKEHOUSE_S3_SECRET_KEY": "wrong-" + platform.s3_secret_key.get_secret_value()}
    for args in (("sql", "SELECT count(*) FROM silver.orders"), ("history", "silver.orders")):
        said = cli(home, *args, "--profile", "cluster", check=False, env=wrong)
        assert said.returncode == 1 and said.stdout == "" and "Traceback" not in said.stderr, (args, said.stderr)
        errors = [line for line in said.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "the object store refused the request (403 Forbidden on s3a://" in errors[0], (
            args, said.stderr)
        assert "correct LAKEHOUSE_S3_ACCESS_KEY and LAKEHOUSE_S3_SECRET_KEY" in errors[0], args


def test_unauthenticated_submission_is_refused(platform, unauthenticated_submission):
    output, _ = unauthenticated_submission.communicate(timeout=300)
    assert unauthenticated_submission.returncode != 0
    assert "ROWS 10" not in output
    assert "All masters are unresponsive" in output
    state = json.loads(subprocess.run(["curl", "-s", f"http://127.0.0.1:{platform.spark_master_ui_port}/json/"],
                                      capture_output=True, text=True).stdout)
    names = [a["name"] for a in state["activeapps"] + state["completedapps"]]
    assert "unauthenticated" not in names and "lakehouse-pipeline" in names


def test_adhoc_submit_runs_on_the_cluster(platform, platform_home, adhoc_submit):
    """And its executor maps the cluster drivers' class archive (lakehouse.class_archive)."""
    home, _, _ = platform_home
    [(expected,)] = thrift_query(platform, "SELECT count(*) FROM gold.daily_revenue")
    assert f"GOLD_ROWS {expected}" in adhoc_submit
    [archives] = [line for line in adhoc_submit.splitlines() if line.startswith("EXECUTOR_ARCHIVES")]
    assert repr(str(archive_path(platform))) in archives, archives
    # An in-process session on the cluster (`lakehouse sql`) sees the same table.
    csv = cli(home, "sql", "SELECT count(*) AS n FROM gold.daily_revenue", "--profile", "cluster", "-f", "csv").stdout
    assert csv.split() == ["n", str(expected)]


def test_a_second_writer_of_the_cluster_lakehouse_is_refused_in_one_line(platform, platform_home, cluster_run):
    """While another writer holds the lease in the warehouse bucket (lakehouse.lease), a real
    cluster run's driver exits before its session starts, naming the holder; once the holder is
    killed, the next writer (the tests after this one) takes the lease at once."""
    home, _, _ = platform_home
    env = {**os.environ, "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "cluster"}
    holder = subprocess.Popen([sys.executable, "-c", WRITER, "600"], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=PROJECT_ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = cli(home, "run", "--profile", "cluster", check=False)
    finally:
        holder.kill()
        holder.wait()
    said = refused.stdout + refused.stderr  # spark-submit passes on its Python driver's stderr as stdout
    assert refused.returncode == 1 and "Traceback" not in said and "\tat " not in said, said
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, said  # one line, whatever else spark-submit's JVM prints around it
    assert (f"error: the lakehouse at s3://{platform.warehouse_bucket} is being written by pid {holder.pid} on "
            f"{socket.gethostname()} (-c 600, started ") in errors[0], said
    note = lease.read(object_store.s3_client(platform), platform)[1]
    assert note["pid"] == holder.pid and not note.get("released")  # killed: the next writer takes it over


def test_a_run_with_the_metastore_down_is_one_line_and_the_thrift_server_survives_its_restart(
        platform, platform_home, cluster_run):
    """A job started while the metastore is down exits with one line saying so and what to do
    (its driver's JVM logging in the home's log file, not on the terminal) and commits nothing,
    and so do `lakehouse sql` and `history`, whose sessions are in-process;
    the Thrift server, whose metastore went away under it, answers again once it is back."""
    home, _, _ = platform_home
    before = _commits(platform)
    log = runlog.home_log(home)
    logged = log.stat().st_size if log.exists() else 0
    assert before and lifecycle.stop(platform, "hive-metastore")
    try:
        # A run's submitted driver, and a person's query in a session of its own (no spark-submit).
        calls = []
        for args in (("run",), ("sql", "SELECT count(*) FROM gold.daily_revenue"), ("history", "silver.orders")):
            calls.append((args[0], cli(home, *args, "--profile", "cluster", check=False), _jvm_log(log, logged)))
            logged = log.stat().st_size
    finally:  # whatever happened, the later tests need their metastore
        restarted = lifecycle.up(platform)
    assert restarted == ["hive-metastore"]  # only what was down is started
    for command, proc, jvm_log in calls:
        said = proc.stdout + proc.stderr  # spark-submit passes on its Python driver's stderr as stdout
        assert proc.returncode == 1, (command, said)
        assert (f"error: the Hive Metastore at {platform.metastore_uri} cannot be reached (Connection refused); "
                "start it (`lakehouse up` starts what is down)") in said
        assert not any(word in said for word in ("Traceback", "\tat ", " WARN ", "Exception")), (command, said)
        assert "Failed to connect to the MetaStore Server" in jvm_log, command  # its JVM told the log file
    assert _commits(platform) == before, "the refused run wrote a commit"
    assert thrift_query(platform, "SELECT count(*) FROM gold.customer_lifetime_value")[0][0] > 0


def _jvm_log(log, offset: int) -> str:
    """What the home's log file got after `offset`."""
    with log.open() as f:
        f.seek(offset)
        return f.read()


def _commits(settings, prefix: str = "") -> set[str]:
    """Every Delta commit file in the warehouse bucket, or under `prefix` in it (one listing,
    without the metastore)."""
    pages = object_store.s3_client(settings).get_paginator("list_objects_v2").paginate(
        Bucket=settings.warehouse_bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])
            if "/_delta_log/" in o["Key"] and o["Key"].endswith(".json")}


def delta_tables(settings) -> list[str]:
    """Every table of the lakehouse's databases as the Thrift server lists them, less the
    views (ops's data-quality views: they have no history)."""
    found = []
    for db in DATABASES:
        views = {row[1] for row in thrift_query(settings, f"SHOW VIEWS IN {db}")}
        found += [f"{db}.{row[1]}" for row in thrift_query(settings, f"SHOW TABLES IN {db}") if row[1] not in views]
    return found


def latest_version(settings, table: str) -> int:
    return thrift_query(settings, f"DESCRIBE HISTORY {table} LIMIT 1")[0][0]


def _snapshot(settings) -> dict:
    snap = {}
    for name in delta_tables(settings):
        version = latest_version(settings, name)
        snap[name] = (thrift_query(settings, f"SELECT count(*) FROM {name}")[0][0], version)
    return snap


def test_down_and_up_loses_nothing_and_a_rerun_changes_nothing(platform, platform_home, cluster_run):
    home, _, _ = platform_home
    before = _snapshot(platform)
    secrets_before = (platform.platform_dir / "secrets.env").read_text()
    procs = platform_processes(home)
    cli(home, "down")
    assert not still_running(procs), "lakehouse down left processes"
    assert not any(port_open(p) for p in (platform.postgres_port, 9000, 9083, 7077, platform.thrift_port,
                                           platform.airflow_port, platform.superset_port, platform.dqops_port))
    assert f"({len(SERVICES)} service(s) started)" in cli(home, "up", timeout=600).stdout
    assert (platform.platform_dir / "secrets.env").read_text() == secrets_before
    assert _snapshot(platform) == before
    # The same batches again: nothing new, no table gets a new version.
    rerun = cli(home, "run", "--profile", "cluster").stdout
    assert "Nothing new to process" in rerun
    assert _snapshot(platform) == before
