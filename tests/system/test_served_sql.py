"""What the Thrift server serves, tried as an analyst or a quality tool would try it with the
platform's Thrift login: it reads the lakehouse's tables and nothing else. Every attempt to
read the platform's secrets or other files, to read storage by path, to write, to change a
setting or to run code is refused (spark/thrift-auth/ReadOnlySqlGuard.java), and none
leaves a trace in the data. It speaks TLS only, with the certificate the platform generated."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from lakehouse.errors import LakehouseError
from lakehouse.platform import tls
from lakehouse.platform.secrets import read as secrets_read
from lakehouse.platform.spark_cluster import spark_bin
from lakehouse.platform.thrift_server import thrift_connect
from lakehouse.quality import dqops_userhome as du
from lakehouse.quality import dqops_validation as dv
from tests.system.test_platform import delta_tables

pytestmark = pytest.mark.system


def _run(settings, sql: str, configuration: dict | None = None, **login) -> list[tuple]:
    conn = thrift_connect(settings, configuration=configuration, **login)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        conn.close()


def _refused(settings, sql: str, configuration: dict | None = None, **login) -> str:
    with pytest.raises(Exception) as failure:
        rows = _run(settings, sql, configuration, **login)
        raise AssertionError(f"served: {sql!r} returned {rows!r}")
    message = str(failure.value)
    assert not isinstance(failure.value, AssertionError), message
    return message


@pytest.fixture(scope="module")
def secret_values(platform) -> list[str]:
    return [v for v in secrets_read(platform.platform_dir / "secrets.env").values() if len(v) >= 16]


@pytest.fixture(scope="module")
def versions_before(platform, cluster_run) -> dict:
    return _versions(platform)


def _versions(settings) -> dict:
    return {name: _run(settings, f"DESCRIBE HISTORY {name} LIMIT 1")[0][0] for name in delta_tables(settings)}


def test_reads_the_lakehouse_tables(platform, versions_before):
    assert set(versions_before) >= {"gold.daily_revenue", "silver.orders", "bronze.orders", "ops.audit"}
    for sql in ("SELECT count(*) FROM gold.daily_revenue", "SELECT count(*) FROM spark_catalog.silver.orders",
                "WITH o AS (SELECT * FROM silver.orders) SELECT count(*) FROM o WHERE order_id IN "
                "(SELECT order_id FROM bronze.orders)",
                "SELECT count(*) FROM table_changes('silver.orders', 1)", "SELECT count(*) FROM range(3)"):
        assert _run(platform, sql)[0][0] > 0, sql
    assert _run(platform, "DESCRIBE gold.daily_revenue order_date")
    assert _run(platform, "EXPLAIN SELECT * FROM gold.daily_revenue")


@pytest.mark.parametrize("what, sql", [
    ("the platform's secrets", "SELECT * FROM text.`file://{secrets}`"),
    ("a local file", "SELECT * FROM text.`file:///etc/passwd`"),
    ("a local file, as JSON", "SELECT * FROM json.`file:///etc/passwd`"),
    ("a file through a view", "CREATE TEMPORARY VIEW leak USING text OPTIONS (path 'file://{secrets}')"),
    ("a file into a table", "LOAD DATA LOCAL INPATH '{secrets}' INTO TABLE gold.daily_revenue"),
    ("storage by path", "SELECT * FROM parquet.`s3a://{warehouse}/gold/daily_revenue`"),
    ("a Delta table by path", "SELECT * FROM delta.`s3a://{warehouse}/gold/daily_revenue`"),
    ("a change feed by path", "SELECT * FROM table_changes_by_path('s3a://{warehouse}/silver/orders', 1)"),
    ("a history by path", "DESCRIBE HISTORY 's3a://{warehouse}/gold/daily_revenue'"),
    ("the landing bucket", "SELECT * FROM text.`s3a://{landing}/orders`"),
    ("another database", "SELECT * FROM default.anything"),
    ("CREATE TABLE", "CREATE TABLE gold.intruder (a INT) USING delta"),
    ("CREATE TABLE AS SELECT", "CREATE TABLE gold.intruder USING delta AS SELECT * FROM gold.daily_revenue"),
    ("CREATE VIEW", "CREATE VIEW gold.intruder AS SELECT 1 AS a"),
    ("CREATE DATABASE", "CREATE DATABASE intruder"),
    ("DROP TABLE", "DROP TABLE gold.daily_revenue"),
    ("INSERT", "INSERT INTO ops.published SELECT * FROM ops.published"),
    ("INSERT OVERWRITE", "INSERT OVERWRITE gold.daily_revenue SELECT * FROM gold.daily_revenue"),
    ("DELETE", "DELETE FROM gold.daily_revenue"),
    ("UPDATE", "UPDATE silver.orders SET status = 'paid'"),
    ("MERGE", "MERGE INTO gold.daily_revenue t USING gold.daily_revenue s ON false WHEN NOT MATCHED THEN INSERT *"),
    ("ALTER", "ALTER TABLE gold.daily_revenue SET TBLPROPERTIES ('lakehouse.note' = 'mine')"),
    ("VACUUM", "VACUUM gold.daily_revenue"),
    ("a directory write", "INSERT OVERWRITE DIRECTORY 's3a://{landing}/out' USING parquet SELECT 1"),
    ("SET of a credential", "SET spark.hadoop.fs.s3a.secret.key=guess"),
    ("SET reading a credential", "SET spark.hadoop.fs.s3a.secret.key"),
    ("SET listing settings", "SET -v"),
    ("SQL on files, switched on", "SET spark.sql.runSQLOnFiles=true"),
    ("RESET", "RESET"),
    ("ADD JAR", "ADD JAR file:///tmp/anything.jar"),
    ("a function from a class", "CREATE TEMPORARY FUNCTION f AS 'java.lang.System'"),
    ("Java by reflection", "SELECT reflect('java.lang.System', 'getenv', 'LAKEHOUSE_THRIFT_PASSWORD')"),
    ("Java by java_method", "SELECT java_method('java.lang.System', 'getenv', 'LAKEHOUSE_THRIFT_PASSWORD')"),
    ("a shell command", "SELECT TRANSFORM(order_date) USING 'cat {secrets}' FROM gold.daily_revenue"),
    ("SQL built at run time", "EXECUTE IMMEDIATE 'DROP TABLE gold.daily_revenue'"),
    ("a SQL script", "BEGIN DROP TABLE gold.daily_revenue; END"),
    ("a table named at run time", "SELECT * FROM IDENTIFIER('gold.daily_revenue')"),
    ("a table outside, named like a CTE elsewhere",
     "SELECT * FROM published CROSS JOIN (WITH published AS (SELECT 1 AS a) SELECT * FROM published) x"),
    ("RESTORE", "RESTORE TABLE gold.daily_revenue TO VERSION AS OF 0"),
    ("CLONE", "CREATE TABLE gold.intruder SHALLOW CLONE gold.daily_revenue LOCATION 'file:/tmp/intruder'"),
    ("options on a table", "SELECT * FROM gold.daily_revenue WITH ('fs.s3a.endpoint' = 'http://127.0.0.1:1')"),
    ("listing another database", "SHOW TABLES IN default"),
    ("a session variable", "DECLARE VARIABLE v INT"),
    ("REFRESH", "REFRESH TABLE gold.daily_revenue"),
])
def test_refused(platform, versions_before, secret_values, what, sql):
    statement = sql.format(secrets=platform.platform_dir / "secrets.env", warehouse=platform.warehouse_bucket,
                           landing=platform.landing_bucket)
    message = _refused(platform, statement)
    assert "read-only" in message, f"{what}: {message[:500]}"
    assert not [v for v in secret_values if v in message], f"{what}: a credential is in the error"


def test_environment_is_not_substituted(platform, versions_before, secret_values):
    [(value,)] = _run(platform, "SELECT '${env:LAKEHOUSE_THRIFT_PASSWORD}'")
    assert value == "${env:LAKEHOUSE_THRIFT_PASSWORD}"
    assert value not in secret_values


@pytest.mark.parametrize("kind, setting, sql", [
    ("hiveconf", "spark.sql.runSQLOnFiles", "SELECT * FROM text.`file:///etc/passwd`"),
    ("hiveconf", "spark.sql.variable.substitute", "SELECT '${env:LAKEHOUSE_THRIFT_PASSWORD}'"),
    ("hivevar", "spark.hadoop.fs.s3a.access.key", "SELECT count(*) FROM gold.daily_revenue"),
])
def test_settings_given_when_a_session_opens_are_refused(platform, versions_before, kind, setting, sql):
    """A client may pass settings when it opens a session (a JDBC URL's ?key=value, PyHive's
    configuration with set:hiveconf: or set:hivevar:), which Spark applies to the session
    without a statement: such a session gets nothing."""
    message = _refused(platform, sql, configuration={f"set:{kind}:{setting}": "true"})
    assert "read-only" in message and setting in message, message[:500]


# --- TLS ---------------------------------------------------------------------------------------

def test_served_over_tls_only(platform, tmp_path):
    """A client in clear gets no session; a TLS client that trusts another CA refuses the
    server; every query of this module went through the platform's CA (thrift_connect)."""
    from pyhive import hive

    with pytest.raises(Exception) as clear:
        hive.connect(host=platform.thrift_host, port=platform.thrift_port, username=platform.thrift_user,
                     password=platform.thrift_password.get_secret_value(), auth="CUSTOM")
    assert "read 0 bytes" in str(clear.value) or "reset" in str(clear.value).lower(), clear.value
    other, _ = tls.ensure(tmp_path / "other", ["127.0.0.1"], "other-keystore-pw", "other-trust-pw")
    with pytest.raises(LakehouseError, match="CERTIFICATE_VERIFY_FAILED"):
        thrift_connect(platform, ca_file=other.ca_cert)
    assert _run(platform, "SELECT 1") == [(1,)]


def _beeline(platform, tmp_path, url: str, sql: str) -> subprocess.CompletedProcess:
    """Beeline with DQOps's login."""
    password_file = tmp_path / "password"
    password_file.write_text(platform.dqops_thrift_password.get_secret_value())
    password_file.chmod(0o600)
    return subprocess.run([spark_bin("beeline"), "-u", url, "-n", platform.dqops_thrift_user, "-w", str(password_file),
                           "--silent=true", "--outputformat=csv2", "-e", sql],
                          capture_output=True, text=True, timeout=180)


def test_dqops_connection_reaches_it_over_tls(platform, tmp_path):
    """The URL DQOps builds from dqops_userhome's connection, expanded from the environment
    DQOps gets, read by Hive's JDBC driver (beeline): served, with the server's certificate
    checked against the truststore the platform generated. Without that truststore the
    driver refuses the server."""
    spark = yaml.safe_load((du.USERHOME_DIR / du.CONNECTION_FILE).read_text())["spec"]["spark"]
    env = {"LAKEHOUSE_THRIFT_HOST": platform.thrift_host, "LAKEHOUSE_THRIFT_PORT": str(platform.thrift_port),
           "LAKEHOUSE_TLS_DIR": str(platform.tls_dir),
           "LAKEHOUSE_THRIFT_TRUSTSTORE_PASSWORD": platform.thrift_truststore_password.get_secret_value()}
    url = dv.jdbc_url(spark, env)
    served = _beeline(platform, tmp_path, url, "SELECT 40 + 2")
    assert served.returncode == 0 and "42" in served.stdout.split(), served.stdout + served.stderr
    host, port, database, _ = dv.parse_jdbc_url(url)
    refused = _beeline(platform, tmp_path, f"jdbc:hive2://{host}:{port}/{database};ssl=true", "SELECT 40 + 2")
    assert "42" not in refused.stdout.split() and "PKIX path building failed" in refused.stdout + refused.stderr, \
        refused.stdout + refused.stderr


def test_dqops_has_a_read_only_login_of_its_own(platform, versions_before):
    """DQOps's login (revocable apart from the analysts') reads the tables, is refused what
    every login is refused, and the two accounts' names and passwords do not mix."""
    dqops = {"user": platform.dqops_thrift_user, "password": platform.dqops_thrift_password.get_secret_value()}
    assert dqops["user"] != platform.thrift_user
    assert _run(platform, "SELECT COUNT(*) > 0 FROM silver.customers", **dqops) == [(True,)]
    assert "read-only" in _refused(platform, "DELETE FROM silver.customers", **dqops)
    mixed = {"user": platform.dqops_thrift_user, "password": platform.thrift_password.get_secret_value()}
    with pytest.raises(Exception, match="(?i)login|auth|password"):
        thrift_connect(platform, **mixed)


def test_nothing_was_changed(platform, versions_before):
    """Run after every refusal above (pytest keeps file order): no table got a new version and
    no table appeared or went."""
    assert _versions(platform) == versions_before
